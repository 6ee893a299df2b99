"""Moderation, live: the projector follows every decision, and held-back text reaches no socket."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from starlette.websockets import WebSocketDisconnect

from tests.conftest import BASE, browser, join, login, make_presentation, make_question, make_user

ORIGIN = {"Origin": BASE}
# A facilitator's decision is on the projector within a second (ticks are 20 ms here).
WITHIN_A_SECOND = 1.0
# How long a socket is watched for something that must never come.
QUIET = 0.5


def receive_within(ws: Any, seconds: float) -> str | None:
    """The next text frame of a test socket, or None when none comes in `seconds`."""

    async def receive() -> Any:
        with anyio.move_on_after(seconds):
            return await ws._send_rx.receive()
        return None

    message = ws.portal.call(receive)
    if message is None:
        return None
    if message["type"] == "websocket.close":
        raise WebSocketDisconnect(code=message.get("code", 1000))
    return str(message["text"])


def frames_until(ws: Any, predicate: Callable[[str], bool], seconds: float) -> list[str]:
    """Every frame up to and including the first that satisfies `predicate`."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        frame = receive_within(ws, left)
        if frame is None:
            continue
        seen.append(frame)
        if predicate(frame):
            return seen
    raise AssertionError(f"no matching frame within {seconds} s; last: {seen[-1:]}")


def drain(ws: Any, seconds: float) -> list[str]:
    """Every frame that comes within `seconds`."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        frame = receive_within(ws, left)
        if frame is not None:
            seen.append(frame)
    return seen


def wall(frame: str) -> list[str] | None:
    """The texts on the projector's wall (None: the frame has no wall)."""
    if 'id="stage"' not in frame:
        return None
    found = re.search(r'<ul class="wall">(.*?)</ul>', frame, re.S)
    if found is None:
        return []
    return [html.unescape(t) for t in re.findall(r"<bdi>(.*?)</bdi>", found[1], re.S)]


@pytest.fixture
def room(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(db, owner, presentation, "open", "Tips voor de locatie?")
    csrf = login(client, owner.email)
    client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "first"})
    return presentation, question, csrf


def answer(client, presentation, question, text: str) -> None:
    phone = browser(client)
    join(phone, presentation.join_code)
    r = phone.post(
        f"/p/{presentation.join_code}/vote", data={"question_id": str(question.id), "text": text}
    )
    assert r.status_code == 200, r.text


def item_id(client, presentation, text: str) -> int:
    page = client.get(f"/present/{presentation.id}/moderate").text
    for item, shown in re.findall(
        r'id="entry-(\d+)".*?<p class="entry-text"><bdi>(.*?)</bdi>', page, flags=re.S
    ):
        if html.unescape(shown) == text:
            return int(item)
    raise AssertionError(f"{text!r} is not in the queue")


def decide(client, presentation, csrf: str, text: str, action: str) -> None:
    r = client.post(
        f"/present/{presentation.id}/moderate/entries/{item_id(client, presentation, text)}",
        data={"csrf_token": csrf, "action": action},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_the_projector_follows_each_decision_within_a_second(client, room):
    presentation, question, csrf = room
    with client.websocket_connect(f"/ws/present/{presentation.id}", headers=ORIGIN) as ws:
        answer(client, presentation, question, "Meer koffie")
        answer(client, presentation, question, "Betere stoelen")
        frames_until(ws, lambda f: wall(f) == ["Betere stoelen", "Meer koffie"], 5.0)

        decide(client, presentation, csrf, "Meer koffie", "hide")
        frames_until(ws, lambda f: wall(f) == ["Betere stoelen"], WITHIN_A_SECOND)
        decide(client, presentation, csrf, "Meer koffie", "restore")
        frames_until(ws, lambda f: wall(f) == ["Betere stoelen", "Meer koffie"], WITHIN_A_SECOND)

        # Removing a participant takes their text off the screen too.
        page = client.get(f"/present/{presentation.id}/moderate").text
        link = re.search(
            r'id="entry-\d+".*?<bdi>Betere stoelen</bdi>.*?participants/(\d+)/remove', page, re.S
        )
        assert link is not None
        client.post(
            f"/present/{presentation.id}/moderate/participants/{link[1]}/remove",
            data={"csrf_token": csrf},
        )
        frames_until(ws, lambda f: wall(f) == ["Meer koffie"], WITHIN_A_SECOND)


def test_held_back_text_reaches_no_presenter_or_phone(client, room):
    presentation, question, csrf = room
    url = f"/present/{presentation.id}/moderate/premoderate"
    client.post(url, data={"csrf_token": csrf, "q": str(question.id), "value": "on"})
    phone_client = browser(client)
    cookie = join(phone_client, presentation.join_code)
    phone_headers = {**ORIGIN, "cookie": f"stemlab_p={cookie}"}
    with (
        client.websocket_connect(f"/ws/present/{presentation.id}", headers=ORIGIN) as presenter,
        client.websocket_connect(f"/ws/p/{presentation.join_code}", headers=phone_headers) as phone,
    ):
        answer(client, presentation, question, "Niet zonder toestemming")
        answer(client, presentation, question, "Wel goedgekeurd")
        decide(client, presentation, csrf, "Wel goedgekeurd", "approve")
        seen = frames_until(presenter, lambda f: wall(f) == ["Wel goedgekeurd"], 5.0)
        seen += drain(presenter, QUIET)
        # Pre-moderation off: what was never decided on shows; the word filter still holds
        # back what it caught.
        answer(client, presentation, question, "Wat een k\u200bu\u200bt zaal")
        client.post(url, data={"csrf_token": csrf, "q": str(question.id), "value": "off"})
        seen += frames_until(
            presenter,
            lambda f: wall(f) == ["Wel goedgekeurd", "Niet zonder toestemming"],
            WITHIN_A_SECOND,
        )
        seen += drain(presenter, QUIET)
        phone_frames = drain(phone, QUIET)

    before_off = seen[: next(i for i, f in enumerate(seen) if "Niet zonder" in f)]
    assert before_off and all("Niet zonder" not in f for f in before_off)
    assert all("zaal" not in f for f in seen)
    assert all("Niet zonder" not in f and "zaal" not in f for f in phone_frames)
    assert all("Wel goedgekeurd" not in f for f in phone_frames)  # phones show no results
