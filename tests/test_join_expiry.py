"""Join codes expire after the facilitator has not presented for a while: typed, the code is
refused exactly like an unknown one (same answer, same rate limit), while the QR link
(/l/<link token>) keeps joining and phones that joined keep taking part."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.conftest import (
    BASE,
    browser,
    fake_clock,
    join,
    login,
    make_presentation,
    make_question,
    make_user,
)

ORIGIN = {"Origin": BASE}
UNKNOWN = "12345678"
_VALUE = re.compile(r'value="[^"]*"')


class WallClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, hours: float) -> None:
        self.now += timedelta(hours=hours)


@pytest.fixture
def clock(client) -> WallClock:
    wall = WallClock()
    client.app.state.services.clock = wall
    return wall


@pytest.fixture
def room(client, db, clock):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(db, owner, presentation, "choice", "SMART?", options="Ja\nNee")
    make_question(db, owner, presentation, "choice", "Tweede", options="A\nB")
    csrf = login(client, owner.email)
    move(client, presentation, csrf)
    return presentation, question, csrf


def move(client, presentation, csrf, to: str = "first") -> None:
    response = client.post(
        f"/present/{presentation.id}/move",
        data={"csrf_token": csrf, "to": to},
        follow_redirects=False,
    )
    assert response.status_code == 303


def _same(text: str) -> str:
    return _VALUE.sub('value=""', text)


def _answers(client, code: str, question_id: int) -> tuple:
    """How a phone that never joined fares with a code: typed, opened, voted."""
    phone = browser(client)
    typed = phone.get("/join", params={"code": code})
    opened = phone.get(f"/p/{code}")
    voted = phone.post(f"/p/{code}/vote", data={"question_id": str(question_id), "option": "o1"})
    return (
        (typed.status_code, _same(typed.text)),
        (opened.status_code, _same(opened.text)),
        (voted.status_code, _same(voted.text)),
        "stemlab_p" in phone.cookies,
    )


def test_a_code_works_until_the_idle_time_has_passed(client, settings, room, clock):
    presentation, _, _ = room
    clock.advance(settings.join_code_idle_hours - 0.1)
    response = browser(client).get("/join", params={"code": presentation.join_code})
    assert response.status_code == 200 and 'id="stage"' in response.text


def test_an_expired_code_is_refused_exactly_like_an_unknown_one(client, settings, room, clock):
    presentation, question, _ = room
    clock.advance(settings.join_code_idle_hours + 0.1)
    expired = _answers(client, presentation.join_code, question.id or 0)
    unknown = _answers(client, UNKNOWN, question.id or 0)
    assert expired == unknown
    assert unknown[0][0] == unknown[1][0] == unknown[2][0] == 404
    assert unknown[3] is False
    # The projector says so, and offers to make the code work again.
    page = client.get(f"/present/{presentation.id}").text
    assert 'data-code="expired"' in page and f"/present/{presentation.id}/activate" in page


def test_expired_codes_count_towards_the_guessing_limit(client, settings, room, clock):
    presentation, _, _ = room
    clock.advance(settings.join_code_idle_hours + 1)
    runs = {}
    for code in (presentation.join_code, UNKNOWN):
        fake_clock(client.app)  # fresh counts for each code
        phone = browser(client)
        answers = [
            phone.get("/join", params={"code": code})
            for _ in range(3 + settings.join_rate_per_minute)
        ]
        runs[code] = [(r.status_code, _same(r.text), r.headers.get("retry-after")) for r in answers]
    assert runs[presentation.join_code] == runs[UNKNOWN]
    statuses = [status for status, _, _ in runs[UNKNOWN]]
    assert statuses[0] == 404 and statuses[-1] == 429


def test_the_qr_link_joins_when_the_code_has_expired(client, settings, room, clock):
    presentation, question, _ = room
    page = client.get(f"/present/{presentation.id}").text
    assert f'src="/qr/l/{presentation.link_token}.svg"' in page
    qr = client.get(f"/qr/l/{presentation.link_token}.svg")
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/svg+xml"
    from app.routes.presenter import _qr_svg

    assert qr.content == _qr_svg(f"{BASE}/l/{presentation.link_token}")

    clock.advance(settings.join_code_idle_hours + 1)
    phone = browser(client)
    response = phone.get(f"/l/{presentation.link_token}")
    assert response.status_code == 200 and 'id="stage"' in response.text
    assert "stemlab_p" in phone.cookies
    vote = phone.post(
        f"/p/{presentation.join_code}/vote",
        data={"question_id": str(question.id), "option": "o1"},
    )
    assert vote.status_code == 200
    headers = {**ORIGIN, "cookie": f"stemlab_p={phone.cookies['stemlab_p']}"}
    with client.websocket_connect(f"/ws/p/{presentation.join_code}", headers=headers) as ws:
        assert "SMART?" in ws.receive_text()


def test_an_unknown_link_is_refused_like_an_unknown_code(client, room):
    phone = browser(client)
    bad = phone.get("/l/not-a-real-token")
    unknown = phone.get(f"/p/{UNKNOWN}")
    assert bad.status_code == 404 and "stemlab_p" not in phone.cookies
    assert _same(bad.text) == _same(unknown.text)


def test_phones_that_joined_keep_taking_part(client, settings, room, clock):
    presentation, question, csrf = room
    phone = browser(client)
    token = join(phone, presentation.join_code)
    clock.advance(settings.join_code_idle_hours + 5)
    assert phone.get(f"/p/{presentation.join_code}").status_code == 200
    vote = phone.post(
        f"/p/{presentation.join_code}/vote",
        data={"question_id": str(question.id), "option": "o2"},
    )
    assert vote.status_code == 200
    headers = {**ORIGIN, "cookie": f"stemlab_p={token}"}
    with client.websocket_connect(f"/ws/p/{presentation.join_code}", headers=headers) as ws:
        ws.receive_text()
        move(client, presentation, csrf, "next")  # the phone still follows
        assert "Tweede" in ws.receive_text()


def test_presenting_again_makes_the_code_work(client, settings, room, clock):
    presentation, _, csrf = room
    clock.advance(settings.join_code_idle_hours + 1)
    assert browser(client).get(f"/p/{presentation.join_code}").status_code == 404
    move(client, presentation, csrf, "next")
    assert browser(client).get(f"/p/{presentation.join_code}").status_code == 200
    clock.advance(settings.join_code_idle_hours + 1)
    response = client.post(
        f"/present/{presentation.id}/activate", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert response.status_code == 303
    assert browser(client).get(f"/p/{presentation.join_code}").status_code == 200
    assert 'data-code="active"' in client.get(f"/present/{presentation.id}").text


def test_votes_do_not_keep_a_code_alive(client, settings, room, clock):
    presentation, question, _ = room
    phone = browser(client)
    join(phone, presentation.join_code)
    clock.advance(settings.join_code_idle_hours - 1)
    phone.post(
        f"/p/{presentation.join_code}/vote",
        data={"question_id": str(question.id), "option": "o1"},
    )
    clock.advance(2)
    assert browser(client).get(f"/p/{presentation.join_code}").status_code == 404


def test_a_new_phone_socket_on_an_expired_code_is_refused_like_an_unknown_code(
    client, settings, room, clock
):
    presentation, _, _ = room
    clock.advance(settings.join_code_idle_hours + 1)
    codes = {}
    for code in (presentation.join_code, UNKNOWN):
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect(f"/ws/p/{code}", headers=ORIGIN) as ws,
        ):
            ws.receive_text()
        codes[code] = refused.value.code
    assert codes[presentation.join_code] == codes[UNKNOWN] == 1008
