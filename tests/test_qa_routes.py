"""Q&A over HTTP: phones ask and upvote with plain forms and with htmx, names never reach a
phone, and the facilitator's queue is theirs alone, with CSRF on every change."""

from __future__ import annotations

import html
import re

import pytest

from tests.conftest import browser, join, login, make_presentation, make_question, make_user

HX = {"HX-Request": "true"}


@pytest.fixture
def room(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(
        db, owner, presentation, "qa", "Vragen aan de wethouder", max_length="280", allow_names="1"
    )
    csrf = login(client, owner.email)
    r = client.post(
        f"/present/{presentation.id}/move",
        data={"csrf_token": csrf, "to": "first"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    return presentation, question, csrf


def phone(client, presentation):
    p = browser(client)
    join(p, presentation.join_code)
    return p


def texts(page: str) -> list[str]:
    return [
        html.unescape(t) for t in re.findall(r'<p class="qa-text"><bdi>(.*?)</bdi>', page, re.S)
    ]


def queue_ids(client, presentation) -> dict[str, int]:
    page = client.get(f"/present/{presentation.id}/qa").text
    found = re.findall(r'id="qa-(\d+)".*?<p class="entry-text"><bdi>(.*?)</bdi>', page, re.S)
    return {html.unescape(t): int(i) for i, t in found}


def projector(client, presentation) -> list[str]:
    page = client.get(f"/present/{presentation.id}").text
    board = re.search(r'<ol class="qa-board">(.*?)</ol>', page, re.S)
    return texts(board[1]) if board else []


def test_a_phone_asks_and_upvotes_without_javascript(client, room):
    presentation, question, _ = room
    code = presentation.join_code
    a, b = phone(client, presentation), phone(client, presentation)
    page = a.get(f"/p/{code}")
    assert f'action="/p/{code}/qa/{question.id}/ask"' in page.text
    assert f'href="/p/{code}/qa/{question.id}"' in page.text  # the list without JavaScript
    r = a.post(f"/p/{code}/qa/{question.id}/ask", data={"text": "Wanneer komt de lift?"})
    assert r.status_code == 200 and r.url.path == f"/p/{code}/qa/{question.id}"
    assert "verstuurd" in r.text
    assert texts(r.text) == ["Wanneer komt de lift?"]
    assert "Jouw vraag" in r.text  # one's own: no button
    listing = b.get(f"/p/{code}/qa/{question.id}").text
    entry = re.search(r"/qa/entries/(\d+)/upvote", listing)
    assert entry is not None
    for _ in range(2):
        r = b.post(f"/p/{code}/qa/entries/{entry[1]}/upvote")
        assert r.status_code == 200
    assert 'data-upvoted="yes"' in r.text and "1 stem" in r.text
    assert projector(client, presentation) == ["Wanneer komt de lift?"]
    # A's own upvote of A's question is refused and changes nothing.
    r = a.post(f"/p/{code}/qa/entries/{entry[1]}/upvote")
    assert r.status_code == 422 and "1 stem" in r.text


def test_htmx_swaps_the_list_and_empties_the_form(client, room):
    presentation, question, _ = room
    code = presentation.join_code
    a = phone(client, presentation)
    r = a.post(f"/p/{code}/qa/{question.id}/ask", data={"text": "Vraag één"}, headers=HX)
    assert r.status_code == 200
    assert r.text.startswith(f'<section id="qa-list-{question.id}"')
    assert 'hx-swap-oob="true"' in r.text and "Vraag één</textarea>" not in r.text
    r = a.post(f"/p/{code}/qa/{question.id}/ask", data={"text": "x" * 300}, headers=HX)
    assert r.status_code == 422 and "280" in r.text
    assert "x" * 300 in r.text  # what was typed stays in the form
    r = a.get(f"/p/{code}/qa/{question.id}/list", headers=HX)
    assert texts(r.text) == ["Vraag één"]


def test_names_never_reach_a_phone(client, room):
    presentation, question, _ = room
    code = presentation.join_code
    a, b = phone(client, presentation), phone(client, presentation)
    a.post(f"/p/{code}/qa/{question.id}/ask", data={"text": "Met naam", "name": "Riaxyz"})
    assert "Riaxyz" in client.get(f"/present/{presentation.id}").text  # names allowed: projector
    for who in (a, b):
        assert "Riaxyz" not in who.get(f"/p/{code}").text
        assert "Riaxyz" not in who.get(f"/p/{code}/qa/{question.id}").text
        assert "Riaxyz" not in who.get(f"/p/{code}/qa/{question.id}/list", headers=HX).text


def test_only_joined_phones_on_the_current_question(client, room, db):
    presentation, question, _ = room
    code = presentation.join_code
    stranger = browser(client)
    r = stranger.post(f"/p/{code}/qa/{question.id}/ask", data={"text": "Hoi"}, headers=HX)
    assert r.status_code == 403
    a = phone(client, presentation)
    r = a.post(f"/p/{code}/qa/{question.id + 1000}/ask", data={"text": "Hoi"}, headers=HX)
    assert r.status_code == 409
    assert queue_ids(client, presentation) == {}
    r = a.post("/p/ZZZZZZ/qa/1/ask", data={"text": "Hoi"})
    assert r.status_code == 404


def test_asking_is_rate_limited(client, room):
    presentation, question, _ = room
    code = presentation.join_code
    a = phone(client, presentation)
    codes = [
        a.post(
            f"/p/{code}/qa/{question.id}/ask", data={"text": f"Vraag {i}"}, headers=HX
        ).status_code
        for i in range(8)
    ]
    assert codes[:6] == [200] * 6 and codes[6:] == [429, 429]
    assert len(queue_ids(client, presentation)) == 6


def test_the_queue_moderates_and_the_projector_follows(client, room):
    presentation, question, csrf = room
    code = presentation.join_code
    a, b = phone(client, presentation), phone(client, presentation)
    a.post(f"/p/{code}/qa/{question.id}/ask", data={"text": "Eerste"})
    b.post(f"/p/{code}/qa/{question.id}/ask", data={"text": "Tweede vraag met k.u.t"})
    ids = queue_ids(client, presentation)
    assert set(ids) == {"Eerste", "Tweede vraag met k.u.t"}
    assert projector(client, presentation) == ["Eerste"]
    assert "Tweede" not in a.get(f"/p/{code}/qa/{question.id}/list").text

    def act(text: str, action: str, **extra) -> int:
        return client.post(
            f"/present/{presentation.id}/qa/entries/{ids[text]}",
            data={"csrf_token": csrf, "action": action, "q": str(question.id)},
            follow_redirects=False,
            **extra,
        ).status_code

    assert act("Tweede vraag met k.u.t", "approve") == 303
    assert act("Tweede vraag met k.u.t", "pin") == 303
    assert projector(client, presentation) == ["Tweede vraag met k.u.t", "Eerste"]
    assert act("Tweede vraag met k.u.t", "answered") == 303
    assert act("Tweede vraag met k.u.t", "unpin") == 303
    assert projector(client, presentation) == ["Eerste", "Tweede vraag met k.u.t"]
    assert act("Eerste", "hide", headers=HX) == 200
    assert projector(client, presentation) == ["Tweede vraag met k.u.t"]
    assert act("Eerste", "bogus") == 422

    r = client.post(
        f"/present/{presentation.id}/qa/premoderate",
        data={"csrf_token": csrf, "q": str(question.id), "value": "on"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    a.post(f"/p/{code}/qa/{question.id}/ask", data={"text": "Wacht op goedkeuring"})
    assert "Wacht op goedkeuring" not in projector(client, presentation)
    assert "Wacht op goedkeuring" not in b.get(f"/p/{code}/qa/{question.id}/list").text
    assert "Wacht op goedkeuring" in a.get(f"/p/{code}/qa/{question.id}/list").text  # its own


def test_facilitator_actions_need_csrf_and_ownership(client, room, db):
    presentation, question, _ = room
    a = phone(client, presentation)
    a.post(f"/p/{presentation.join_code}/qa/{question.id}/ask", data={"text": "Vraag"})
    entry = queue_ids(client, presentation)["Vraag"]
    url = f"/present/{presentation.id}/qa/entries/{entry}"
    assert client.post(url, data={"action": "hide"}).status_code == 403
    assert client.post(url, data={"action": "hide", "csrf_token": "wrong"}).status_code == 403
    assert projector(client, presentation) == ["Vraag"]

    other = make_user(db, "bob@example.org")
    bob = browser(client)
    bob_csrf = login(bob, other.email)
    assert bob.get(f"/present/{presentation.id}/qa").status_code == 404
    r = bob.post(url, data={"action": "hide", "csrf_token": bob_csrf})
    assert r.status_code == 404
    own = make_presentation(db, other)
    r = bob.post(
        f"/present/{own.id}/qa/entries/{entry}", data={"action": "hide", "csrf_token": bob_csrf}
    )
    assert r.status_code == 404
    assert projector(client, presentation) == ["Vraag"]
    r = bob.post(
        f"/present/{presentation.id}/qa/participants/1/remove", data={"csrf_token": bob_csrf}
    )
    assert r.status_code == 404


def test_removing_a_participant_from_the_queue(client, room):
    presentation, question, csrf = room
    code = presentation.join_code
    a, b = phone(client, presentation), phone(client, presentation)
    a.post(f"/p/{code}/qa/{question.id}/ask", data={"text": "Van a"})
    b.post(f"/p/{code}/qa/{question.id}/ask", data={"text": "Van b"})
    page = client.get(f"/present/{presentation.id}/qa").text
    link = re.search(r"<bdi>Van a</bdi>.*?qa/participants/(\d+)/remove", page, re.S)
    assert link is not None
    confirm = client.get(f"/present/{presentation.id}/qa/participants/{link[1]}/remove")
    assert confirm.status_code == 200 and "confirm-remove" in confirm.text
    r = client.post(
        f"/present/{presentation.id}/qa/participants/{link[1]}/remove",
        data={"csrf_token": csrf, "q": str(question.id)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert projector(client, presentation) == ["Van b"]
    assert set(queue_ids(client, presentation)) == {"Van b"}
    r = a.post(f"/p/{code}/qa/{question.id}/ask", data={"text": "Nog eens"}, headers=HX)
    assert r.status_code == 403


def test_user_text_stays_text(client, room):
    presentation, question, _ = room
    a = phone(client, presentation)
    evil = '<script>alert(1)</script><img src=x onerror=alert(2)> hx-get="/x"'
    a.post(f"/p/{presentation.join_code}/qa/{question.id}/ask", data={"text": evil, "name": evil})
    for page in (
        client.get(f"/present/{presentation.id}").text,
        client.get(f"/present/{presentation.id}/qa").text,
        a.get(f"/p/{presentation.join_code}/qa/{question.id}").text,
    ):
        assert "<script>alert(1)" not in page and "<img src=x" not in page


def test_the_moderation_page_links_the_queue(client, room):
    presentation, question, _ = room
    page = client.get(f"/present/{presentation.id}/moderate").text
    assert f'href="/present/{presentation.id}/qa?q={question.id}"' in page


def test_a_phone_in_english_asks_in_english(client, room):
    """The phone's own language choice (the stemlab_lang cookie) holds for Q&A replies too."""
    presentation, question, _ = room
    code = presentation.join_code
    a = phone(client, presentation)
    a.cookies.set("stemlab_lang", "en")
    r = a.post(f"/p/{code}/qa/{question.id}/ask", data={"text": "When is the lift fixed?"})
    assert r.status_code == 200
    assert "Your question has been sent" in r.text and "verstuurd" not in r.text
    assert '<html lang="en">' in r.text
