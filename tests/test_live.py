"""Websockets: presenters watch votes arrive; phones follow the facilitator; nobody steers."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from starlette.websockets import WebSocketDisconnect

from app.live.hub import Close, Frame, Hub
from tests.conftest import BASE, browser, join, login, make_presentation, make_question, make_user

ORIGIN = {"Origin": BASE}


def _counts(frame: str) -> list[int]:
    return [int(n) for n in re.findall(r'bar-count"><strong>(\d+)', frame)]


def _until(ws, predicate, limit: int = 50) -> str:
    """Receive frames until one satisfies `predicate` (each frame is the whole state)."""
    for _ in range(limit):
        frame = ws.receive_text()
        if predicate(frame):
            return frame
    raise AssertionError("no frame matched")


@pytest.fixture
def session_setup(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    first = make_question(db, owner, presentation, "choice", "SMART?", options="Ja\nNee\nDeels")
    second = make_question(db, owner, presentation, "wordcloud", "In één woord")
    csrf = login(client, owner.email)
    client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "first"})
    return presentation, first, second, csrf


def _phone(client, presentation) -> dict[str, str]:
    """Handshake headers of a new phone that joined the presentation."""
    return {**ORIGIN, "cookie": f"stemlab_p={join(browser(client), presentation.join_code)}"}


def _vote(phone, presentation, question, **data):
    join(phone, presentation.join_code)
    response = phone.post(
        f"/p/{presentation.join_code}/vote",
        data={"question_id": str(question.id), **data},
    )
    assert response.status_code == 200, response.text
    return response


def test_presenter_watches_phones_vote(client, session_setup):
    presentation, first, _, _ = session_setup
    with client.websocket_connect(f"/ws/present/{presentation.id}", headers=ORIGIN) as ws:
        assert _counts(ws.receive_text()) == [0, 0, 0]
        phones = [browser(client) for _ in range(5)]
        for i, phone in enumerate(phones):
            _vote(phone, presentation, first, option="o1" if i < 3 else "o3")
        frame = _until(ws, lambda f: _counts(f) == [3, 0, 2])
        assert "<strong>5</strong>" in frame  # responses
        _vote(phones[0], presentation, first, option="o2", client_key="changed")
        _until(ws, lambda f: _counts(f) == [2, 1, 2])


def test_frames_carry_a_growing_version(client, session_setup):
    presentation, first, _, _ = session_setup
    with client.websocket_connect(f"/ws/present/{presentation.id}", headers=ORIGIN) as ws:
        versions = [int(re.search(r'data-version="(\d+)"', ws.receive_text()).group(1))]
        for _ in range(3):
            _vote(browser(client), presentation, first, option="o2")
            frame = ws.receive_text()
            versions.append(int(re.search(r'data-version="(\d+)"', frame).group(1)))
        assert versions == sorted(versions) and len(set(versions)) == len(versions)


def test_phone_follows_the_facilitator_without_reloading(client, session_setup):
    presentation, _, second, csrf = session_setup
    with client.websocket_connect(
        f"/ws/p/{presentation.join_code}", headers=_phone(client, presentation)
    ) as phone:
        assert "SMART?" in phone.receive_text()
        client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "next"})
        frame = _until(phone, lambda f: "In één woord" in f)
        assert f'data-question="{second.id}"' in frame
        assert 'name="word"' in frame
        client.post(
            f"/present/{presentation.id}/voting", data={"csrf_token": csrf, "value": "close"}
        )
        frame = _until(phone, lambda f: 'data-state="closed"' in f)
        assert 'name="word"' not in frame


def test_phone_frames_hold_no_results_and_no_personal_data(client, session_setup):
    presentation, first, _, _ = session_setup
    _vote(browser(client), presentation, first, option="o1", client_key="secret-key-123")
    with client.websocket_connect(
        f"/ws/p/{presentation.join_code}", headers=_phone(client, presentation)
    ) as phone:
        frame = phone.receive_text()
    assert "bar-count" not in frame and "secret-key-123" not in frame
    assert "csrf" not in frame


def test_phone_that_is_up_to_date_gets_no_first_frame(client, session_setup):
    presentation, _, _, csrf = session_setup
    phone_page = browser(client)
    page = phone_page.get(f"/p/{presentation.join_code}").text
    version = re.search(r'ws-connect="/ws/p/\d+\?v=(\d+)"', page).group(1)
    url = f"/ws/p/{presentation.join_code}?v={version}"
    headers = {**ORIGIN, "cookie": f"stemlab_p={phone_page.cookies['stemlab_p']}"}
    with client.websocket_connect(url, headers=headers) as phone:
        client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "next"})
        # The first frame this phone sees is the move, not a copy of what it shows.
        assert "In één woord" in phone.receive_text()


@pytest.mark.parametrize(
    "headers", [{"Origin": "https://evil.example"}, {"Origin": "null"}, {}], ids=str
)
def test_presenter_socket_checks_origin(client, session_setup, headers):
    presentation, *_ = session_setup
    url = f"/ws/present/{presentation.id}"
    with pytest.raises(WebSocketDisconnect) as exc, client.websocket_connect(url, headers=headers):
        pass
    assert exc.value.code == 1008


def test_presenter_socket_needs_the_owner(client, db, session_setup):
    presentation, *_ = session_setup
    stranger = browser(client)
    with (
        pytest.raises(WebSocketDisconnect) as exc,
        client.websocket_connect(
            f"/ws/present/{presentation.id}",
            headers={**ORIGIN, "cookie": "stemlab_session=forged"},
        ) as ws,
    ):
        ws.receive_text()
    assert exc.value.code == 1008
    make_user(db, "bert@example.org")
    login(stranger, "bert@example.org")
    token = stranger.cookies["stemlab_session"]
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect(
            f"/ws/present/{presentation.id}",
            headers={**ORIGIN, "cookie": f"stemlab_session={token}"},
        ) as ws,
    ):
        ws.receive_text()


def test_phone_socket_cannot_steer(client, db, session_setup):
    presentation, first, _, _ = session_setup
    with client.websocket_connect(
        f"/ws/p/{presentation.join_code}", headers=_phone(client, presentation)
    ) as phone:
        phone.receive_text()
        # A command is not a vote: it gets a refusal and changes nothing ...
        phone.send_text('{"to": "next", "HEADERS": {}}')
        reply = _until(phone, lambda f: 'id="vote-status"' in f)
        assert '<p class="error-text">' in reply
        # ... and anything that is not a vote form at all closes the socket.
        phone.send_text("next")
        with pytest.raises(WebSocketDisconnect) as exc:
            for _ in range(10):
                phone.receive_text()
        assert exc.value.code == 1008
    from app.models import Presentation

    with db.session() as session:
        assert session.get(Presentation, presentation.id).current_question_id == first.id


def test_votes_over_the_phone_socket_are_acknowledged_after_commit(client, db, session_setup):
    import json

    import sqlalchemy as sa

    from app.models import Ballot

    presentation, first, _, _ = session_setup
    phone_page = browser(client)
    phone_page.get(f"/p/{presentation.join_code}")  # sets the participant cookie
    cookie = f"stemlab_p={phone_page.cookies['stemlab_p']}"
    headers = {**ORIGIN, "cookie": cookie}
    with (
        client.websocket_connect(f"/ws/present/{presentation.id}", headers=ORIGIN) as screen,
        client.websocket_connect(f"/ws/p/{presentation.join_code}", headers=headers) as phone,
    ):
        screen.receive_text()
        phone.receive_text()
        vote = {"question_id": str(first.id), "client_key": "k1", "option": "o2", "HEADERS": {}}
        phone.send_text(json.dumps(vote))
        reply = _until(phone, lambda f: 'id="vote-status"' in f)
        assert "Je stem is opgeslagen" in reply and 'id="client-key"' in reply
        with db.session() as session:
            assert session.execute(sa.select(sa.func.count()).select_from(Ballot)).scalar() == 1
        _until(screen, lambda f: _counts(f) == [0, 1, 0])
        # Several options at once arrive as a list; a bad one is refused with a reason.
        phone.send_text(json.dumps({**vote, "client_key": "k2", "option": ["o1", "o9"]}))
        reply = _until(phone, lambda f: 'id="vote-status"' in f)
        assert '<p class="error-text">' in reply
        assert '<div class="saved" hidden>' in reply
        # A retry of the same vote is acknowledged again and counted once.
        phone.send_text(json.dumps(vote))
        assert "Je stem is opgeslagen" in _until(phone, lambda f: 'id="vote-status"' in f)
        with db.session() as session:
            assert session.execute(sa.select(sa.func.count()).select_from(Ballot)).scalar() == 1


def test_results_are_rendered_once_per_tick_not_per_vote_per_socket(settings, db, monkeypatch):
    from fastapi.testclient import TestClient

    from app.main import create_app

    app = create_app(settings.model_copy(update={"presenter_tick_ms": 300}))
    with TestClient(app, base_url=BASE) as client:
        owner = make_user(db)
        presentation = make_presentation(db, owner)
        first = make_question(db, owner, presentation, "choice", "SMART?", options="Ja\nNee")
        csrf = login(client, owner.email)
        client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "first"})
        svc = client.app.state.services
        calls = []
        original = svc.fragments.presenter_frame

        def counting(presentation_id, version):
            calls.append(version)
            return original(presentation_id, version)

        monkeypatch.setattr(svc.fragments, "presenter_frame", counting)
        screens = [
            client.websocket_connect(f"/ws/present/{presentation.id}", headers=ORIGIN)
            for _ in range(3)
        ]
        sockets = [s.__enter__() for s in screens]
        try:
            for ws in sockets:
                ws.receive_text()
            initial = len(calls)
            started = time.monotonic()
            for _ in range(20):
                _vote(browser(client), presentation, first, option="o1")
            finals = [_until(ws, lambda f: _counts(f)[0] == 20) for ws in sockets]
            elapsed = time.monotonic() - started
            assert finals[0] == finals[1] == finals[2]  # the same frame for everyone
            renders = len(calls) - initial
            # 20 votes to 3 screens: at most one render per tick, never one per vote per socket.
            assert renders < 20
            assert renders <= elapsed / 0.3 + 2
        finally:
            for s in screens:
                s.__exit__(None, None, None)


async def test_hub_drops_a_slow_subscriber_without_delaying_others():
    hub = Hub(outbox_frames=2)
    slow = hub.subscribe("t")
    fast = hub.subscribe("t")
    for i in range(5):
        hub.publish("t", Frame(i, f"frame {i}"))
        if not fast.queue.empty():
            await fast.queue.get()
    assert slow.dropped and not fast.dropped
    assert await slow.queue.get() is Close.DROPPED  # tells its sender to close (1013)
    assert hub.count("t") == 1
    await asyncio.sleep(0)


def test_deleting_a_live_presentation_ends_its_sockets(client, session_setup):
    presentation, _, _, csrf = session_setup
    with client.websocket_connect(
        f"/ws/p/{presentation.join_code}", headers=_phone(client, presentation)
    ) as phone:
        phone.receive_text()
        client.post(f"/manage/presentations/{presentation.id}/delete", data={"csrf_token": csrf})
        frame = _until(phone, lambda f: 'data-state="ended"' in f)
        assert "Deze bijeenkomst is afgelopen" in frame and "This session has ended" in frame
        with pytest.raises(WebSocketDisconnect) as exc:
            phone.receive_text()
        assert exc.value.code == 1000  # a normal close: the phone does not come back


def test_editing_the_current_question_reaches_phones_and_reconnects(client, db, session_setup):
    presentation, first, _, csrf = session_setup
    phone_page = browser(client)
    page = phone_page.get(f"/p/{presentation.join_code}").text
    version = re.search(r'ws-connect="/ws/p/\d+\?v=(\d+)"', page).group(1)
    client.post(
        f"/manage/questions/{first.id}",
        data={"csrf_token": csrf, "title": "SMART genoeg?", "options": "Ja\nNee\nDeels\nWeet niet"},
    )
    # A phone that reconnects with the version of its old page gets the edited question.
    url = f"/ws/p/{presentation.join_code}?v={version}"
    headers = {**ORIGIN, "cookie": f"stemlab_p={phone_page.cookies['stemlab_p']}"}
    with client.websocket_connect(url, headers=headers) as phone:
        assert "Weet niet" in phone.receive_text()


def test_unchanged_stage_is_not_pushed_to_phones(client, session_setup):
    presentation, first, _, csrf = session_setup
    with client.websocket_connect(
        f"/ws/p/{presentation.join_code}", headers=_phone(client, presentation)
    ) as phone:
        shown = int(re.search(r'data-version="(\d+)"', phone.receive_text()).group(1))
        # Hiding results changes nothing on phones: no new frame (it would wipe what people
        # type). The next new frame a phone gets is the move to the next question.
        client.post(
            f"/present/{presentation.id}/results", data={"csrf_token": csrf, "value": "hide"}
        )
        client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "next"})
        while True:
            frame = phone.receive_text()
            version = int(re.search(r'data-version="(\d+)"', frame).group(1))
            if "In één woord" in frame:
                break
            # Only a repeat of what the phone already shows may come in between.
            assert version <= shown and f'data-question="{first.id}"' in frame


def test_phone_socket_guessing_counts_towards_the_limit(client, settings, session_setup):
    presentation, *_ = session_setup
    for i in range(settings.join_rate_per_minute):
        url = f"/ws/p/{10000000 + i}"
        with pytest.raises(WebSocketDisconnect), client.websocket_connect(url, headers=ORIGIN):
            pass
    # Past the limit, unknown codes over HTTP are refused as well ...
    assert browser(client).get("/join", params={"code": "99999999"}).status_code == 429
    # ... but the room's own code still works.
    assert browser(client).get(f"/p/{presentation.join_code}").status_code == 200


def test_a_phone_socket_that_floods_is_closed(client, settings, session_setup):
    presentation, *_ = session_setup
    phone_page = browser(client)
    phone_page.get(f"/p/{presentation.join_code}")
    headers = {**ORIGIN, "cookie": f"stemlab_p={phone_page.cookies['stemlab_p']}"}
    with client.websocket_connect(f"/ws/p/{presentation.join_code}", headers=headers) as phone:
        phone.receive_text()
        with pytest.raises(WebSocketDisconnect) as exc:
            for _ in range(settings.vote_rate_per_minute + 5):
                phone.send_text("{}")
                _until(phone, lambda f: 'id="vote-status"' in f)
        assert exc.value.code == 1008
