"""Results hidden until revealed (per question, with a presentation-wide default), and results
on phones: live, rendered once for all phones, and never a hidden number on any phone."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from app.models import Presentation, Question
from tests.conftest import BASE, browser, join, login, make_presentation, make_question, make_user

ORIGIN = {"Origin": BASE}
# Option labels whose counts are shown as "<label> ... <strong>n</strong>" on the projector.
COUNTS = re.compile(r'bar-count"><strong>(\d+)')


def _until(ws, predicate, limit: int = 80) -> str:
    for _ in range(limit):
        frame = ws.receive_text()
        if predicate(frame):
            return frame
    raise AssertionError("no frame matched")


def _settings(client, presentation, csrf, **flags: bool) -> None:
    data = {"csrf_token": csrf, "title": presentation.title, "language": "nl"}
    data.update({name: "1" for name, on in flags.items() if on})
    response = client.post(
        f"/manage/presentations/{presentation.id}", data=data, follow_redirects=False
    )
    assert response.status_code == 303, response.text


def _post(client, presentation, csrf, action, **data) -> None:
    response = client.post(
        f"/present/{presentation.id}/{action}",
        data={"csrf_token": csrf, **data},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def _vote(phone, presentation, question, option: str) -> None:
    join(phone, presentation.join_code)
    response = phone.post(
        f"/p/{presentation.join_code}/vote",
        data={"question_id": str(question.id), "option": option},
    )
    assert response.status_code == 200, response.text


def _phone(client, presentation) -> tuple[object, dict[str, str]]:
    phone = browser(client)
    token = join(phone, presentation.join_code)
    return phone, {**ORIGIN, "cookie": f"stemlab_p={token}"}


@pytest.fixture
def room(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    csrf = login(client, owner.email)
    return owner, presentation, csrf


def test_settings_are_saved_from_the_presentation_page(client, db, room):
    _, presentation, csrf = room
    page = client.get(f"/manage/presentations/{presentation.id}").text
    assert 'name="results_hidden_default"' in page and 'name="results_on_phones"' in page
    _settings(client, presentation, csrf, results_hidden_default=True, results_on_phones=True)
    with db.session() as session:
        saved = session.get(Presentation, presentation.id)
        assert saved.results_hidden_default and saved.results_on_phones
    assert page.count("checked") + 2 == client.get(
        f"/manage/presentations/{presentation.id}"
    ).text.count("checked")
    _settings(client, presentation, csrf)  # unticked boxes turn both off
    with db.session() as session:
        saved = session.get(Presentation, presentation.id)
        assert not saved.results_hidden_default and not saved.results_on_phones


def test_new_questions_follow_the_hidden_default(client, db, room):
    owner, presentation, csrf = room
    shown = make_question(db, owner, presentation, "choice", "Eerst", options="Ja\nNee")
    _settings(client, presentation, csrf, results_hidden_default=True)
    hidden = make_question(db, owner, presentation, "choice", "Daarna", options="Ja\nNee")
    added = client.post(
        f"/manage/presentations/{presentation.id}/questions",
        data={"csrf_token": csrf, "kind": "scale", "title": "Schaal"},
    )
    assert added.status_code == 200
    with db.session() as session:
        visible = {q.title: q.results_visible for q in session.exec(select(Question)).all()}
    assert visible == {shown.title: True, hidden.title: False, "Schaal": False}
    _post(client, presentation, csrf, "move", to=str(hidden.id))
    _vote(browser(client), presentation, hidden, "o1")
    page = client.get(f"/present/{presentation.id}").text
    assert 'data-results="hidden"' in page and not COUNTS.search(page)
    _post(client, presentation, csrf, "results", value="show")
    assert COUNTS.findall(client.get(f"/present/{presentation.id}").text) == ["1", "0"]


def test_phones_never_see_results_unless_revealed_and_switched_on(client, db, room):
    owner, presentation, csrf = room
    question = make_question(db, owner, presentation, "choice", "SMART?", options="Ja\nNee")
    _settings(client, presentation, csrf, results_on_phones=True, results_hidden_default=True)
    _post(client, presentation, csrf, "move", to="first")
    _post(client, presentation, csrf, "results", value="hide")
    phone, headers = _phone(client, presentation)
    frames: list[str] = []
    with client.websocket_connect(f"/ws/p/{presentation.join_code}", headers=headers) as ws:
        frames.append(ws.receive_text())
        for option in ("o1", "o1", "o2"):
            _vote(browser(client), presentation, question, option)
        _post(client, presentation, csrf, "voting", value="close")  # a frame after the votes
        frames.append(_until(ws, lambda f: 'data-state="closed"' in f))
        pages = [phone.get(f"/p/{presentation.join_code}").text]
        # Revealed, but the presentation does not show results on phones.
        _settings(client, presentation, csrf, results_on_phones=False)
        _post(client, presentation, csrf, "results", value="show")
        _post(client, presentation, csrf, "voting", value="open")
        frames.append(_until(ws, lambda f: 'data-state="open"' in f))
        _vote(browser(client), presentation, question, "o2")
        _post(client, presentation, csrf, "voting", value="close")
        frames.append(_until(ws, lambda f: 'data-state="closed"' in f))
        pages.append(phone.get(f"/p/{presentation.join_code}").text)
    for text in frames + pages:
        assert "bar-count" not in text and "phone-results" not in text
        assert not COUNTS.search(text)
    # The projector did see them all along.
    assert COUNTS.findall(client.get(f"/present/{presentation.id}").text) == ["2", "2"]


def test_revealed_results_reach_phones_live_and_go_when_hidden(client, db, room):
    owner, presentation, csrf = room
    question = make_question(db, owner, presentation, "choice", "SMART?", options="Ja\nNee")
    _settings(client, presentation, csrf, results_on_phones=True)
    _post(client, presentation, csrf, "move", to="first")
    _vote(browser(client), presentation, question, "o1")
    phone, headers = _phone(client, presentation)
    page = phone.get(f"/p/{presentation.join_code}").text
    assert f'id="phone-results-{question.id}"' in page and COUNTS.findall(page) == ["1", "0"]
    with client.websocket_connect(f"/ws/p/{presentation.join_code}", headers=headers) as ws:
        first = ws.receive_text()
        assert COUNTS.findall(first) == ["1", "0"]
        _vote(browser(client), presentation, question, "o2")
        # Only the results are swapped: the form somebody is filling in stays as it is.
        update = _until(ws, lambda f: COUNTS.findall(f) == ["1", "1"])
        assert update.lstrip().startswith(f'<section id="phone-results-{question.id}"')
        assert 'id="stage"' not in update and 'name="option"' not in update
        _post(client, presentation, csrf, "results", value="hide")
        hidden = _until(ws, lambda f: 'id="stage"' in f)
        assert "phone-results" not in hidden and not COUNTS.search(hidden)
        # New votes while hidden: no results frame at all.
        _vote(browser(client), presentation, question, "o2")
        _post(client, presentation, csrf, "voting", value="close")
        after = _until(ws, lambda f: 'data-state="closed"' in f)
        assert not COUNTS.search(after)
    assert not COUNTS.search(phone.get(f"/p/{presentation.join_code}").text)


def test_phone_results_are_rendered_once_for_all_phones(client, db, room, monkeypatch):
    owner, presentation, csrf = room
    question = make_question(db, owner, presentation, "choice", "SMART?", options="Ja\nNee")
    _settings(client, presentation, csrf, results_on_phones=True)
    _post(client, presentation, csrf, "move", to="first")
    fragments = client.app.state.services.fragments
    calls: list[int] = []
    original = fragments.phone_results_frame

    def counting(presentation_id):
        calls.append(presentation_id)
        return original(presentation_id)

    monkeypatch.setattr(fragments, "phone_results_frame", counting)
    sockets = [
        client.websocket_connect(
            f"/ws/p/{presentation.join_code}", headers=_phone(client, presentation)[1]
        )
        for _ in range(3)
    ]
    opened = [s.__enter__() for s in sockets]
    try:
        for ws in opened:
            ws.receive_text()
        for _ in range(6):
            _vote(browser(client), presentation, question, "o1")
        finals = [_until(ws, lambda f: COUNTS.findall(f)[:1] == ["6"]) for ws in opened]
        assert finals[0] == finals[1] == finals[2]  # the same frame for every phone
        assert 1 <= len(calls) <= 6  # at most one render per tick, not one per phone
    finally:
        for s in sockets:
            s.__exit__(None, None, None)
