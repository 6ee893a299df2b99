"""The countdown of a question: started from the projector, shown on projector and phones,
and voting closed in the database when it ends (by whichever worker gets there first)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.models import Presentation, Question, QuestionState
from app.services import control
from tests.conftest import BASE, browser, join, login, make_presentation, make_question, make_user

ORIGIN = {"Origin": BASE}
CLOSED_NL = "Stemmen op deze vraag is gesloten."


class WallClock:
    """A wall clock a test moves by hand (the closer and the routes read it)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _until(ws, predicate, limit: int = 80) -> str:
    for _ in range(limit):
        frame = ws.receive_text()
        if predicate(frame):
            return frame
    raise AssertionError("no frame matched")


@pytest.fixture
def clock(client) -> WallClock:
    wall = WallClock()
    client.app.state.services.clock = wall
    return wall


@pytest.fixture
def room(client, db, clock):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(
        db, owner, presentation, "choice", "SMART?", options="Ja\nNee", countdown_seconds="30"
    )
    make_question(db, owner, presentation, "choice", "Tweede", options="A\nB")
    csrf = login(client, owner.email)
    client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "first"})
    return presentation, question, csrf


def _post(client, presentation, csrf, action, **data):
    response = client.post(
        f"/present/{presentation.id}/{action}",
        data={"csrf_token": csrf, **data},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return response


def _question(db, question) -> Question:
    with db.session() as session:
        found = session.get(Question, question.id)
        assert found is not None
        return found


def _phone_headers(client, presentation) -> dict[str, str]:
    return {**ORIGIN, "cookie": f"stemlab_p={join(browser(client), presentation.join_code)}"}


def _vote(phone, presentation, question, option="o1"):
    return phone.post(
        f"/p/{presentation.join_code}/vote",
        data={"question_id": str(question.id), "option": option},
    )


def test_the_timer_length_is_set_in_the_question_form(client, db, room):
    _, question, csrf = room
    assert _question(db, question).countdown_seconds == 30
    url = f"/manage/questions/{question.id}"
    page = client.get(url).text
    assert 'name="countdown_seconds"' in page and 'value="30"' in page
    fields = {"csrf_token": csrf, "title": "SMART?", "options": "Ja\nNee"}
    for bad in ("abc", "4", "3601", "١٢٠", "12.5", "-30", "9" * 40):
        response = client.post(url, data={**fields, "countdown_seconds": bad})
        assert response.status_code == 422, bad
        assert "seconden" in response.text or "seconds" in response.text
        assert _question(db, question).countdown_seconds == 30
    client.post(url, data={**fields, "countdown_seconds": " 90 "})
    assert _question(db, question).countdown_seconds == 90
    client.post(url, data={**fields, "countdown_seconds": ""})
    assert _question(db, question).countdown_seconds is None


def test_start_opens_voting_and_projector_and_phones_show_the_end(client, db, room, clock):
    presentation, question, csrf = room
    _post(client, presentation, csrf, "voting", value="close")
    phone = browser(client)
    join(phone, presentation.join_code)
    with (
        client.websocket_connect(f"/ws/present/{presentation.id}", headers=ORIGIN) as screen,
        client.websocket_connect(
            f"/ws/p/{presentation.join_code}", headers=_phone_headers(client, presentation)
        ) as phone_ws,
    ):
        screen.receive_text()
        _post(client, presentation, csrf, "timer", value="start")
        saved = _question(db, question)
        assert saved.state == QuestionState.OPEN
        assert saved.closes_at == clock.now + timedelta(seconds=30)
        end = (clock.now + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        frame = _until(screen, lambda f: "data-closes-at" in f)
        assert f'data-closes-at="{end}"' in frame and 'data-timer="running"' in frame
        # The projector's frame carries the server's clock, so the screen counts right.
        assert 'data-now="' + clock.now.strftime("%Y-%m-%dT%H:%M:%S") in frame
        phone_frame = _until(phone_ws, lambda f: "data-closes-at" in f)
        assert f'data-closes-at="{end}"' in phone_frame
        # The frame all phones share holds no clock (it may be sent much later) ...
        assert "data-now" not in phone_frame
        # ... and the closing time is there as text, for a phone without JavaScript.
        assert re.search(r'class="countdown-value"[^>]*>\d\d:\d\d:\d\d', phone_frame)
    page = phone.get(f"/p/{presentation.join_code}").text
    assert f'data-closes-at="{end}"' in page
    # The page carries the server's clock; the phone's script counts from it.
    assert re.search(r'<main class="phone-page"[^>]*data-now="\d{4}-\d\d-\d\dT', page)
    assert _vote(phone, presentation, question).status_code == 200


def test_when_the_countdown_ends_voting_closes_everywhere(client, db, room, clock):
    presentation, question, csrf = room
    phone = browser(client)
    join(phone, presentation.join_code)
    _post(client, presentation, csrf, "timer", value="start")
    assert _vote(phone, presentation, question).status_code == 200
    with (
        client.websocket_connect(f"/ws/present/{presentation.id}", headers=ORIGIN) as screen,
        client.websocket_connect(
            f"/ws/p/{presentation.join_code}", headers=_phone_headers(client, presentation)
        ) as phone_ws,
    ):
        screen.receive_text()
        phone_ws.receive_text()
        clock.advance(31)  # the closer (every 0.5 s) sees the end
        frame = _until(screen, lambda f: 'data-voting="closed"' in f)
        assert 'data-timer="none"' in frame and "data-closes-at" not in frame
        phone_frame = _until(phone_ws, lambda f: 'data-state="closed"' in f)
        assert 'name="option"' not in phone_frame and "data-closes-at" not in phone_frame
    assert _question(db, question).state == QuestionState.CLOSED
    refused = _vote(phone, presentation, question, "o2")
    assert refused.status_code == 409 and CLOSED_NL in refused.text
    assert 'data-state="closed"' in phone.get(f"/p/{presentation.join_code}").text


def test_no_vote_counts_after_the_end_even_before_the_closer_ran(client, db, room, clock):
    presentation, question, csrf = room
    phone = browser(client)
    join(phone, presentation.join_code)
    _post(client, presentation, csrf, "timer", value="start")
    # The closer's clock stands still; the end passes by the real clock of the vote path.
    with db.write_session() as session:
        session.execute(
            sa.update(Question)
            .where(Question.id == question.id)
            .values(closes_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    refused = _vote(phone, presentation, question)
    assert refused.status_code == 409
    assert _question(db, question).state == QuestionState.OPEN  # not closed by anyone yet


def test_stopping_the_timer_keeps_voting_open(client, db, room, clock):
    presentation, question, csrf = room
    _post(client, presentation, csrf, "timer", value="start")
    _post(client, presentation, csrf, "timer", value="stop")
    saved = _question(db, question)
    assert saved.state == QuestionState.OPEN and saved.closes_at is None
    clock.advance(120)
    phone = browser(client)
    join(phone, presentation.join_code)
    assert _vote(phone, presentation, question).status_code == 200
    assert 'data-timer="none"' in client.get(f"/present/{presentation.id}").text


def test_closing_or_opening_by_hand_stops_the_timer(client, db, room, clock):
    presentation, question, csrf = room
    _post(client, presentation, csrf, "timer", value="start")
    _post(client, presentation, csrf, "voting", value="close")
    assert _question(db, question).closes_at is None
    _post(client, presentation, csrf, "timer", value="start")
    clock.advance(31)
    with db.write_session() as session:
        assert control.close_expired(session=session, now=clock()) in ([presentation.id], [])
    assert _question(db, question).state == QuestionState.CLOSED
    # Opening again by hand after the end: no timer, votes count.
    _post(client, presentation, csrf, "voting", value="open")
    assert _question(db, question).closes_at is None
    phone = browser(client)
    join(phone, presentation.join_code)
    assert _vote(phone, presentation, question).status_code == 200


def test_a_question_is_closed_once_however_many_workers_look(client, db, room, clock):
    presentation, question, csrf = room
    _post(client, presentation, csrf, "timer", value="start")
    client.app.state.services.clock = lambda: clock.now - timedelta(hours=1)  # this closer waits
    with db.session() as session:
        before = session.get(Presentation, presentation.id).version
    later = clock.now + timedelta(seconds=31)
    with db.write_session() as session:
        assert control.any_expired(session=session, now=later)
        assert control.close_expired(session=session, now=later) == [presentation.id]
    with db.write_session() as session:  # another worker, a moment later
        assert not control.any_expired(session=session, now=later)
        assert control.close_expired(session=session, now=later) == []
    with db.session() as session:
        assert session.get(Presentation, presentation.id).version == before + 1
    assert _question(db, question).state == QuestionState.CLOSED


def test_a_countdown_does_not_end_early(client, db, room, clock):
    presentation, question, csrf = room
    _post(client, presentation, csrf, "timer", value="start")
    with db.write_session() as session:
        at_end = clock.now + timedelta(seconds=29)
        assert control.close_expired(session=session, now=at_end) == []
    assert _question(db, question).state == QuestionState.OPEN


def test_timer_controls_need_the_owner_and_a_valid_value(client, db, room):
    presentation, _, csrf = room
    bad = client.post(
        f"/present/{presentation.id}/timer", data={"csrf_token": csrf, "value": "later"}
    )
    assert bad.status_code == 422
    assert (
        client.post(f"/present/{presentation.id}/timer", data={"value": "start"}).status_code == 403
    )
    stranger = browser(client)
    make_user(db, "bert@example.org")
    other_csrf = login(stranger, "bert@example.org")
    refused = stranger.post(
        f"/present/{presentation.id}/timer",
        data={"csrf_token": other_csrf, "value": "start"},
        follow_redirects=False,
    )
    assert refused.status_code == 404
