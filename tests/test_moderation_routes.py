"""Moderation over HTTP: the facilitator's own pages only, CSRF on every change, plain forms."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.models import Ballot, Participant, Question
from tests.conftest import (
    all_routes,
    browser,
    join,
    login,
    make_presentation,
    make_question,
    make_user,
)


@pytest.fixture
def room(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(db, owner, presentation, "open", "Tips voor de locatie?")
    csrf = login(client, owner.email)
    r = client.post(
        f"/present/{presentation.id}/move",
        data={"csrf_token": csrf, "to": "first"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    return presentation, question, csrf


def answer(client, presentation, question, text: str):
    phone = browser(client)
    join(phone, presentation.join_code)
    r = phone.post(
        f"/p/{presentation.join_code}/vote", data={"question_id": str(question.id), "text": text}
    )
    assert r.status_code == 200, r.text
    return phone, r


def entry_ids(page: str) -> dict[str, int]:
    """Entry text -> item id, from the moderation page."""
    found = re.findall(
        r'id="entry-(\d+)".*?<p class="entry-text"><bdi>(.*?)</bdi>', page, flags=re.DOTALL
    )
    return {text: int(item) for item, text in found}


def wall(client, presentation) -> str:
    page = client.get(f"/present/{presentation.id}").text
    match = re.search(r'<ul class="wall">(.*?)</ul>', page, flags=re.DOTALL)
    return match.group(1) if match else ""


def test_the_page_lists_entries_newest_first_with_their_state(client, room):
    presentation, question, _ = room
    answer(client, presentation, question, "Meer koffie")
    _, saved = answer(client, presentation, question, "Wat een K.U.T. zaal")
    assert "opgeslagen" in saved.text.lower()  # the participant sees nothing unusual
    page = client.get(f"/present/{presentation.id}/moderate")
    assert page.status_code == 200
    assert list(entry_ids(page.text)) == ["Wat een K.U.T. zaal", "Meer koffie"]
    assert "woordfilter" in page.text or "word filter" in page.text
    assert 'data-state="hidden"' in page.text
    assert "Meer koffie" in wall(client, presentation)
    assert "K.U.T" not in wall(client, presentation)


def test_approve_hide_and_undo_as_plain_forms(client, room):
    presentation, question, csrf = room
    answer(client, presentation, question, "Meer koffie")
    answer(client, presentation, question, "k u t")
    ids = entry_ids(client.get(f"/present/{presentation.id}/moderate").text)
    url = f"/present/{presentation.id}/moderate/entries"

    r = client.post(
        f"{url}/{ids['k u t']}",
        data={"csrf_token": csrf, "action": "approve", "q": str(question.id)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/present/{presentation.id}/moderate?q={question.id}"
    assert "k u t" in wall(client, presentation)

    client.post(f"{url}/{ids['Meer koffie']}", data={"csrf_token": csrf, "action": "hide"})
    assert "Meer koffie" not in wall(client, presentation)
    client.post(f"{url}/{ids['Meer koffie']}", data={"csrf_token": csrf, "action": "restore"})
    assert "Meer koffie" in wall(client, presentation)

    r = client.post(f"{url}/{ids['Meer koffie']}", data={"csrf_token": csrf, "action": "delete"})
    assert r.status_code == 422


def test_htmx_gets_the_queue_back(client, room):
    presentation, question, csrf = room
    answer(client, presentation, question, "Meer koffie")
    ids = entry_ids(client.get(f"/present/{presentation.id}/moderate").text)
    r = client.post(
        f"/present/{presentation.id}/moderate/entries/{ids['Meer koffie']}",
        data={"csrf_token": csrf, "action": "hide", "q": str(question.id)},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<section id="queue"')
    assert "<html" not in r.text and 'data-state="hidden"' in r.text
    poll = client.get(
        f"/present/{presentation.id}/moderate?q={question.id}", headers={"HX-Request": "true"}
    )
    assert poll.text.lstrip().startswith('<section id="queue"')


def test_premoderation_toggle(client, db, room):
    presentation, question, csrf = room
    answer(client, presentation, question, "Meer koffie")
    url = f"/present/{presentation.id}/moderate/premoderate"
    r = client.post(url, data={"csrf_token": csrf, "q": str(question.id), "value": "on"})
    assert r.status_code == 200  # followed back to the page
    assert 'data-premoderated="on"' in r.text
    assert "Meer koffie" not in wall(client, presentation)
    with db.session() as session:
        found = session.get(Question, question.id)
        assert found is not None and found.config["premoderate"] is True
    assert "approve-waiting" in r.text
    upto = re.search(r'name="upto" value="(\d+)"', r.text)
    assert upto is not None
    answer(client, presentation, question, "Later binnen")
    client.post(
        f"/present/{presentation.id}/moderate/approve-waiting",
        data={"csrf_token": csrf, "q": str(question.id), "upto": upto[1]},
    )
    assert "Meer koffie" in wall(client, presentation)
    assert "Later binnen" not in wall(client, presentation)
    client.post(url, data={"csrf_token": csrf, "q": str(question.id), "value": "off"})
    assert "Later binnen" in wall(client, presentation)


def test_every_change_needs_the_csrf_token(client, db, room):
    presentation, question, _ = room
    answer(client, presentation, question, "Meer koffie")
    ids = entry_ids(client.get(f"/present/{presentation.id}/moderate").text)
    base = f"/present/{presentation.id}/moderate"
    with db.session() as session:
        participant_id = session.execute(sa.select(Participant.id)).scalar_one()
    posts = [
        (f"{base}/entries/{ids['Meer koffie']}", {"action": "hide"}),
        (f"{base}/premoderate", {"q": str(question.id), "value": "on"}),
        (f"{base}/approve-waiting", {"q": str(question.id), "upto": "999"}),
        (f"{base}/participants/{participant_id}/remove", {}),
        ("/manage/words", {"words_nl": "koffie", "words_en": ""}),
    ]
    for url, data in posts:
        for token in (None, "wrong"):
            sent = dict(data) if token is None else {**data, "csrf_token": token}
            r = client.post(url, data=sent, follow_redirects=False)
            assert r.status_code == 403, url
    assert "Meer koffie" in wall(client, presentation)
    with db.session() as session:
        participant = session.get(Participant, participant_id)
        assert participant is not None and participant.removed_at is None


def test_another_facilitator_gets_404(client, db, room):
    presentation, question, _ = room
    answer(client, presentation, question, "Meer koffie")
    ids = entry_ids(client.get(f"/present/{presentation.id}/moderate").text)
    with db.session() as session:
        participant_id = session.execute(sa.select(Participant.id)).scalar_one()
    other = make_user(db, "kees@example.org")
    intruder = browser(client)
    csrf = login(intruder, other.email)  # type: ignore[arg-type]
    base = f"/present/{presentation.id}/moderate"
    assert intruder.get(base).status_code == 404
    assert intruder.get(f"{base}/participants/{participant_id}/remove").status_code == 404
    for url, data in [
        (f"{base}/entries/{ids['Meer koffie']}", {"action": "hide"}),
        (f"{base}/premoderate", {"q": str(question.id), "value": "on"}),
        (f"{base}/participants/{participant_id}/remove", {}),
    ]:
        r = intruder.post(url, data={**data, "csrf_token": csrf})
        assert r.status_code == 404, url
    assert "Meer koffie" in wall(client, presentation)
    # And without logging in at all: to the login page.
    anonymous = browser(client)
    r = anonymous.get(base, follow_redirects=False)
    assert r.status_code in {302, 303} and "/login" in r.headers["location"]


def test_remove_participant_asks_first_then_removes_their_answers(client, db, room):
    presentation, question, csrf = room
    disruptive_phone, _ = answer(client, presentation, question, "Storend antwoord")
    answer(client, presentation, question, "Nuttig antwoord")
    page = client.get(f"/present/{presentation.id}/moderate").text
    links = re.findall(r'href="(/present/\d+/moderate/participants/(\d+)/remove[^"]*)"', page)
    assert len(links) == 2
    with db.session() as session:
        rows = session.execute(
            sa.select(Participant.id, Ballot.answer).join(
                Ballot, Ballot.participant_id == Participant.id
            )
        ).all()
    disruptive = next(pid for pid, a in rows if a["text"] == "Storend antwoord")
    confirm = client.get(f"/present/{presentation.id}/moderate/participants/{disruptive}/remove")
    assert confirm.status_code == 200
    assert 'class="card confirm-remove"' in confirm.text
    assert "Storend antwoord" in wall(client, presentation)  # asking changed nothing

    r = client.post(
        f"/present/{presentation.id}/moderate/participants/{disruptive}/remove",
        data={"csrf_token": csrf, "q": str(question.id)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    shown = wall(client, presentation)
    assert "Storend antwoord" not in shown and "Nuttig antwoord" in shown
    page = client.get(f"/present/{presentation.id}/moderate").text
    assert list(entry_ids(page)) == ["Nuttig antwoord"]
    with db.session() as session:
        participant = session.get(Participant, disruptive)
        assert participant is not None and participant.removed_at is not None
    # They stay removed: a new answer is refused and changes nothing.
    again = disruptive_phone.post(
        f"/p/{presentation.join_code}/vote",
        data={"question_id": str(question.id), "text": "Toch nog even"},
    )
    assert again.status_code == 403
    assert "Toch nog even" not in wall(client, presentation)
    with db.session() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Ballot)).scalar_one() == 1


def test_word_lists_page_saves_and_refuses(client, db, room):
    presentation, question, csrf = room
    page = client.get("/manage/words")
    assert page.status_code == 200
    assert "kut*" in page.text and "fuck*" in page.text
    # A vote before the change: the vote path has the question (and its list) cached now.
    answer(client, presentation, question, "Eerst vergaderen")
    assert "Eerst vergaderen" in wall(client, presentation)
    r = client.post(
        "/manage/words",
        data={"csrf_token": csrf, "words_nl": "Vergaderen\n", "words_en": "meeting"},
    )
    assert r.status_code == 200 and "saved-note" in r.text
    answer(client, presentation, question, "Nog een v e r g a d e r i n g? Nee, vergaderen!")
    answer(client, presentation, question, "kut")  # no longer on the list
    shown = wall(client, presentation)
    assert "vergaderen!" not in shown and "kut" in shown

    bad = client.post("/manage/words", data={"csrf_token": csrf, "words_nl": "k*t"})
    assert bad.status_code == 422
    assert 'class="alert error"' in bad.text and "k*t" in bad.text


def test_the_edit_page_sets_premoderation(client, db, room):
    presentation, question, csrf = room
    edit = client.get(f"/manage/questions/{question.id}")
    assert 'name="premoderate"' in edit.text and "/manage/words" in edit.text
    answer(client, presentation, question, "Meer koffie")
    r = client.post(
        f"/manage/questions/{question.id}",
        data={"csrf_token": csrf, "title": "Tips?", "max_length": "280", "premoderate": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "Meer koffie" not in wall(client, presentation)
    assert "checked" in client.get(f"/manage/questions/{question.id}").text


def test_routes_are_registered(app):
    paths = {path for path, _ in all_routes(app)}
    assert "/present/{presentation_id}/moderate" in paths
    assert "/manage/words" in paths


def test_entries_stay_text_on_the_moderation_page(client, room):
    presentation, question, _ = room
    payload = '<script>alert(1)</script><img src=x onerror=alert(1)> hx-get="/manage"'
    answer(client, presentation, question, payload)
    page = client.get(f"/present/{presentation.id}/moderate").text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
