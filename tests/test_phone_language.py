"""The participant's own settings on the phone: the language switch and larger text.

Pages, errors, vote replies and live socket frames follow the language chosen on the phone;
the other phones of the same presentation keep the presentation's language. Frames are still
rendered once per language in use, not once per phone.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest

from app.live import fragments as fragments_module
from tests.conftest import BASE, browser, join, login, make_presentation, make_question, make_user

ORIGIN = {"Origin": BASE}
DUTCH_SAVED = "Je stem is opgeslagen"
ENGLISH_SAVED = "Your vote has been saved"
DUTCH_CLOSED = "Stemmen op deze vraag is gesloten."
ENGLISH_CLOSED = "Voting on this question is closed."


def _html_lang(page: str) -> str:
    found = re.search(r'<html lang="(\w+)">', page)
    assert found, page[:200]
    return found.group(1)


def _choose(phone, *, next_page: str, **fields: str):
    """Press one of the phone's switches (a plain form post, as without JavaScript)."""
    response = phone.post(
        "/phone/settings", data={"next": next_page, **fields}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return response


def _until(ws, predicate, limit: int = 50) -> str:
    for _ in range(limit):
        frame = ws.receive_text()
        if predicate(frame):
            return frame
    raise AssertionError("no frame matched")


@pytest.fixture
def room(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner)  # Dutch
    first = make_question(db, owner, presentation, "choice", "Huurverhoging?", options="Ja\nNee")
    second = make_question(db, owner, presentation, "wordcloud", "In één woord")
    csrf = login(client, owner.email)
    client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "first"})
    return presentation, first, second, csrf


def test_the_join_page_switches_to_english_and_back(client):
    phone = browser(client)
    page = phone.get("/").text
    assert _html_lang(page) == "nl" and "Vul de code in die op het scherm staat" in page
    # The switch is a form: a button in the other language, marked as such.
    assert re.search(
        r'<button[^>]*name="lang" value="en"[^>]*lang="en"[^>]*>English</button>', page
    )
    assert 'action="/phone/settings"' in page

    response = _choose(phone, next_page="/", lang="en")
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"].lower()
    assert "stemlab_lang=en" in cookie and "samesite=lax" in cookie and "max-age=31536000" in cookie
    page = phone.get("/").text
    assert _html_lang(page) == "en" and "Enter the code from the screen" in page
    assert re.search(r'value="nl"[^>]*lang="nl"[^>]*>Nederlands</button>', page)
    # An unknown code: the error in the chosen language too.
    error = phone.get("/join", params={"code": "99999999"})
    assert error.status_code == 404 and "We do not know this code" in error.text

    _choose(phone, next_page="/", lang="nl")
    page = phone.get("/").text
    assert _html_lang(page) == "nl" and "Enter the code" not in page


def test_without_a_choice_the_join_page_follows_the_browser(client):
    phone = browser(client)
    assert _html_lang(phone.get("/", headers={"Accept-Language": "en-GB,en"}).text) == "en"
    assert _html_lang(phone.get("/", headers={"Accept-Language": "nl-NL"}).text) == "nl"
    assert _html_lang(phone.get("/").text) == "nl"
    # A choice on the phone wins over the browser's language.
    _choose(phone, next_page="/", lang="nl")
    assert _html_lang(phone.get("/", headers={"Accept-Language": "en-GB,en"}).text) == "nl"


@pytest.mark.parametrize("value", ["de", "EN", "en-GB", "english", ""])
def test_a_bad_language_cookie_is_ignored(client, room, value):
    presentation, *_ = room
    phone = browser(client)
    join(phone, presentation.join_code)
    phone.cookies.set("stemlab_lang", value)
    page = phone.get(f"/p/{presentation.join_code}").text
    assert _html_lang(page) == "nl" and "Vraag 1 van 2" in page


def test_a_bad_choice_or_target_changes_nothing(client):
    phone = browser(client)
    response = _choose(phone, next_page="//evil.example/x", lang="de", text="huge")
    assert response.headers["location"] == "/"
    assert "set-cookie" not in response.headers
    response = _choose(phone, next_page="https://evil.example/", lang="en")
    assert response.headers["location"] == "/"


def test_the_participant_page_and_its_vote_replies_follow_the_phone(client, room):
    presentation, first, _, csrf = room
    code = presentation.join_code
    phone = browser(client)
    join(phone, code)
    page = phone.get(f"/p/{code}").text
    assert _html_lang(page) == "nl" and "Vraag 1 van 2" in page
    assert f'name="next" value="/p/{code}"' in page  # the switch comes back here

    assert _choose(phone, next_page=f"/p/{code}", lang="en").headers["location"] == f"/p/{code}"
    page = phone.get(f"/p/{code}").text
    assert _html_lang(page) == "en" and "Question 1 of 2" in page
    # The facilitator's own text stays as typed, and says that it is Dutch.
    assert '<h1 id="question-title" lang="nl">Huurverhoging?</h1>' in page

    option = first.config["options"][0]["id"]
    saved = phone.post(
        f"/p/{code}/vote",
        data={"question_id": str(first.id), "option": option},
        headers={"HX-Request": "true"},
    )
    assert saved.status_code == 200 and ENGLISH_SAVED in saved.text
    assert DUTCH_SAVED not in saved.text

    # Another phone of the same presentation keeps Dutch.
    other = browser(client)
    join(other, code)
    reply = other.post(
        f"/p/{code}/vote",
        data={"question_id": str(first.id), "option": option},
        headers={"HX-Request": "true"},
    )
    assert DUTCH_SAVED in reply.text and ENGLISH_SAVED not in reply.text

    # A refused vote: the reason in the phone's language (the page without JavaScript).
    client.post(f"/present/{presentation.id}/voting", data={"csrf_token": csrf, "value": "close"})
    refused = phone.post(f"/p/{code}/vote", data={"question_id": str(first.id), "option": option})
    assert refused.status_code == 409
    assert ENGLISH_CLOSED in refused.text and DUTCH_CLOSED not in refused.text
    assert _html_lang(refused.text) == "en"

    _choose(phone, next_page=f"/p/{code}", lang="nl")
    refused = phone.post(f"/p/{code}/vote", data={"question_id": str(first.id), "option": option})
    assert DUTCH_CLOSED in refused.text


def test_an_english_presentation_can_be_followed_in_dutch(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner, language="en", title="Annual meeting")
    make_question(db, owner, presentation, "choice", "Rent?", options="Yes\nNo")
    csrf = login(client, owner.email)
    client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "first"})
    phone = browser(client)
    join(phone, presentation.join_code)
    page = phone.get(f"/p/{presentation.join_code}").text
    assert _html_lang(page) == "en" and ">Nederlands</button>" in page
    _choose(phone, next_page="/", lang="nl")
    page = phone.get(f"/p/{presentation.join_code}").text
    assert _html_lang(page) == "nl" and "Vraag 1 van 1" in page and ">English</button>" in page


def test_the_group_page_follows_the_phone(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    make_question(db, owner, presentation, "choice", "Huurverhoging?", options="Ja\nNee")
    from app.models import Presentation

    with db.write_session() as session:
        saved = session.get(Presentation, presentation.id)
        saved.groups = ["huurder", "corporatie"]
        session.add(saved)
    phone = browser(client)
    code = presentation.join_code
    page = phone.get(f"/p/{code}").text
    assert "Bij welke groep hoor je?" in page
    assert f'name="next" value="/p/{code}/group"' in page
    _choose(phone, next_page=f"/p/{code}/group", lang="en")
    page = phone.get(f"/p/{code}/group").text
    assert "Which group are you in?" in page and "huurder" in page
    refused = phone.post(f"/p/{code}/group", data={"group": "nobody"})
    assert refused.status_code == 422 and _html_lang(refused.text) == "en"


def test_larger_text_is_a_switch_on_every_phone_page(client, room):
    presentation, *_ = room
    code = presentation.join_code
    phone = browser(client)
    join(phone, code)
    for url in ("/", f"/p/{code}"):
        page = phone.get(url).text
        assert re.search(r'<body class="phone">', page)
        assert re.search(r'name="text" value="large"[^>]*aria-pressed="false"', page)
        assert "Grotere letters" in page
    response = _choose(phone, next_page=f"/p/{code}", text="large")
    assert "stemlab_text=large" in response.headers["set-cookie"]
    for url in ("/", f"/p/{code}"):
        page = phone.get(url).text
        assert '<body class="phone text-large">' in page
        assert re.search(r'name="text" value="normal"[^>]*aria-pressed="true"', page)
    _choose(phone, next_page=f"/p/{code}", text="normal")
    assert '<body class="phone">' in phone.get(f"/p/{code}").text


def _socket_headers(phone) -> dict[str, str]:
    cookies = "; ".join(f"{name}={value}" for name, value in phone.cookies.items())
    return {**ORIGIN, "cookie": cookies}


def test_socket_frames_and_replies_follow_each_phone(client, room):
    presentation, first, _, csrf = room
    code = presentation.join_code
    english, dutch = browser(client), browser(client)
    join(english, code)
    join(dutch, code)
    _choose(english, next_page="/", lang="en")
    with (
        client.websocket_connect(f"/ws/p/{code}", headers=_socket_headers(english)) as en_ws,
        client.websocket_connect(f"/ws/p/{code}", headers=_socket_headers(dutch)) as nl_ws,
    ):
        en_first, nl_first = en_ws.receive_text(), nl_ws.receive_text()
        assert "Question 1 of 2" in en_first and "Vraag" not in en_first
        assert "Vraag 1 van 2" in nl_first and "Question 1" not in nl_first

        option = first.config["options"][0]["id"]
        vote = json.dumps({"question_id": str(first.id), "option": option, "client_key": "k-1"})
        en_ws.send_text(vote)
        reply = _until(en_ws, lambda f: 'id="vote-status"' in f)
        assert ENGLISH_SAVED in reply and DUTCH_SAVED not in reply

        client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "next"})
        en_next = _until(en_ws, lambda f: "In één woord" in f)
        nl_next = _until(nl_ws, lambda f: "In één woord" in f)
        assert "Question 2 of 2" in en_next and "Vraag 2 van 2" in nl_next
        version = re.search(r'data-version="(\d+)"', en_next).group(1)
        assert f'data-version="{version}"' in nl_next  # the same stage, in two languages


def test_results_frames_follow_each_phone(client, db, room):
    presentation, first, _, csrf = room
    from app.models import Presentation

    with db.write_session() as session:
        saved = session.get(Presentation, presentation.id)
        saved.results_on_phones = True
        session.add(saved)
    client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "first"})
    code = presentation.join_code
    english, dutch = browser(client), browser(client)
    join(english, code)
    join(dutch, code)
    _choose(english, next_page="/", lang="en")
    option = first.config["options"][0]["id"]
    with (
        client.websocket_connect(f"/ws/p/{code}", headers=_socket_headers(english)) as en_ws,
        client.websocket_connect(f"/ws/p/{code}", headers=_socket_headers(dutch)) as nl_ws,
    ):
        en_ws.receive_text()
        nl_ws.receive_text()
        voter = browser(client)
        join(voter, code)
        voter.post(f"/p/{code}/vote", data={"question_id": str(first.id), "option": option})
        en = _until(en_ws, lambda f: "phone-results" in f)
        nl = _until(nl_ws, lambda f: "phone-results" in f)
        assert ">Results<" in en and "Uitslag" not in en
        assert ">Uitslag<" in nl and ">Results<" not in nl


def test_frames_are_rendered_once_per_language_not_per_phone(client, room, monkeypatch):
    presentation, _, _, csrf = room
    code = presentation.join_code
    renders: list[tuple[str, str]] = []
    original = fragments_module.render_block

    def counting(name, block, language, context):
        if name == "participant.html":
            renders.append((block, language))
        return original(name, block, language, context)

    monkeypatch.setattr(fragments_module, "render_block", counting)
    phones = []
    for n in range(6):
        phone = browser(client)
        join(phone, code)
        if n % 2:
            _choose(phone, next_page="/", lang="en")
        phones.append(phone)
    sockets = [
        client.websocket_connect(f"/ws/p/{code}", headers=_socket_headers(p)) for p in phones
    ]
    opened = [s.__enter__() for s in sockets]
    try:
        firsts = [ws.receive_text() for ws in opened]
        assert sum("Question 1 of 2" in f for f in firsts) == 3
        assert sum("Vraag 1 van 2" in f for f in firsts) == 3
        renders.clear()
        client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "next"})
        frames = [_until(ws, lambda f: "In één woord" in f) for ws in opened]
        assert sum("Question 2 of 2" in f for f in frames) == 3
        assert sum("Vraag 2 van 2" in f for f in frames) == 3
        live = [language for block, language in renders if block == "live"]
        assert sorted(live) == ["en", "nl"], renders  # one render per language, not per phone
    finally:
        for s in sockets:
            s.__exit__(None, None, None)
    # Once the English phones have gone, English is no longer rendered.
    fragments = client.app.state.services.fragments
    for _ in range(100):
        if not fragments._chosen:
            break
        time.sleep(0.02)
    assert fragments._chosen == {}
    renders.clear()
    fragments.phone_frame(presentation.id)
    assert [language for block, language in renders if block == "live"] == ["nl"]


def test_a_frame_published_before_a_language_was_in_use_is_rendered_for_it(client, room):
    presentation, *_ = room
    fragments = client.app.state.services.fragments
    published = fragments.phone_frame(presentation.id)
    assert "Vraag 1 van 2" in published.text
    english = asyncio.run(fragments.phone_frame_in(presentation.id, published, "en"))
    assert "Question 1 of 2" in english.text and english.version == published.version
    again = asyncio.run(fragments.phone_frame_in(presentation.id, published, "en"))
    assert again is english  # cached: rendered once
    assert asyncio.run(fragments.phone_frame_in(presentation.id, published, "nl")) == published
