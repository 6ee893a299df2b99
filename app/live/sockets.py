"""Websocket endpoints: presenters listen; phones listen and send votes; nobody steers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from app import i18n
from app.live import topics
from app.live.hub import Close, Frame, Subscriber
from app.routes.participant import rejoin_html, stage_code_expired, vote_message
from app.services import NotFound, accounts
from app.services.presentations import get_presentation
from app.web import PARTICIPANT_COOKIE, SESSION_COOKIE, Services, client_ip, origin_allowed

log = logging.getLogger(__name__)
router = APIRouter()

POLICY_VIOLATION = 1008


def _services(websocket: WebSocket) -> Services:
    services: Services = websocket.app.state.services
    return services


# Answers a message from the client with a reply to send back (None: close the socket).
MessageHandler = Callable[[str], Awaitable[str | None]]
# A frame as this socket shows it (a phone in a language of its own choosing).
Localiser = Callable[[Frame], Awaitable[Frame]]


async def _pump(
    websocket: WebSocket,
    sub: Subscriber,
    first: Frame | None,
    on_message: MessageHandler | None = None,
    localise: Localiser | None = None,
) -> None:
    """Send queued frames until the socket closes or falls behind; hand incoming messages to
    `on_message` (a socket without one only listens: anything it sends closes it)."""
    sending = asyncio.Lock()  # frames and replies never interleave

    async def send(text: str) -> None:
        async with sending:
            await websocket.send_text(text)

    async def sender() -> None:
        if first is not None:
            sub.shown, sub.showing = first.version, first.content
            await send(first.text)
        while True:
            item = await sub.queue.get()
            if isinstance(item, Close):  # too slow (it reconnects and resyncs), or ended
                await websocket.close(code=item.value)
                return
            if localise is not None and item.version > sub.shown:
                item = await localise(item)
            if item.version <= sub.shown or (item.content and item.content == sub.showing):
                continue  # it shows this already
            sub.shown, sub.showing = item.version, item.content
            await send(item.text)

    async def receiver() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] != "websocket.receive":
                return
            text = message.get("text")
            reply = await on_message(text) if on_message and isinstance(text, str) else None
            if reply is None:
                await websocket.close(code=POLICY_VIOLATION)
                return
            await send(reply)

    tasks = [asyncio.create_task(sender()), asyncio.create_task(receiver())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task


@router.websocket("/ws/present/{presentation_id}")
async def presenter_socket(websocket: WebSocket, presentation_id: int) -> None:
    svc = _services(websocket)
    if not origin_allowed(websocket, svc.settings, required=True):
        await websocket.close(code=POLICY_VIOLATION)
        return
    token = websocket.cookies.get(SESSION_COOKIE, "")

    def authorise() -> bool:
        with svc.db.session() as session:
            found = accounts.load_session(session=session, token=token)
            if found is None:
                return False
            try:
                get_presentation(
                    session=session, owner_id=found[1].id or 0, presentation_id=presentation_id
                )
            except NotFound:
                return False
            return True

    if not await asyncio.to_thread(authorise):
        await websocket.close(code=POLICY_VIOLATION)
        return
    await websocket.accept()
    sub = svc.hub.subscribe(topics.presenter(presentation_id))
    try:
        version = svc.ticker.next_version(presentation_id)
        text = await asyncio.to_thread(svc.fragments.presenter_frame, presentation_id, version)
        await _pump(websocket, sub, Frame(version, text) if text is not None else None)
    finally:
        svc.hub.unsubscribe(sub)


@router.websocket("/ws/p/{code}")
async def phone_socket(websocket: WebSocket, code: str) -> None:
    svc = _services(websocket)
    if not origin_allowed(websocket, svc.settings, required=True) or len(code) > 16:
        await websocket.close(code=POLICY_VIOLATION)
        return
    found = await svc.stages.by_code(code)
    if found is None:
        # Guessing codes over sockets counts towards the same limit as over HTTP.
        svc.limits.hit(svc.limits.join, "join", client_ip(websocket))
        await websocket.close(code=POLICY_VIOLATION)
        return
    presentation_id = found.presentation_id
    # The language the participant chose on this phone (None: the presentation's, which the
    # published frames are in).
    chosen = i18n.chosen(websocket.cookies.get(i18n.LANGUAGE_COOKIE))
    token = svc.tokens.find(websocket.cookies.get(PARTICIPANT_COOKIE), presentation_id)
    if token is None and stage_code_expired(svc, found):
        # An expired code is refused to a phone that never joined exactly like an unknown one.
        svc.limits.hit(svc.limits.join, "join", client_ip(websocket))
        await websocket.close(code=POLICY_VIOLATION)
        return
    await websocket.accept()
    if token is None:
        # No token of this presentation (never joined, a made-up or altered cookie): the phone
        # is told to join again, and the socket closes with a code after which it does not
        # reconnect by itself.
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await websocket.send_text(rejoin_html(chosen or found.language, found.join_code))
            await websocket.close(code=POLICY_VIOLATION)
        return
    # Subscribe first, then read the version: a change in between is then seen twice at
    # worst, never missed.
    sub = svc.hub.subscribe(topics.phones(presentation_id))
    if chosen is not None:
        svc.fragments.phone_chose(presentation_id, chosen)
    svc.presence_changed(presentation_id)
    try:
        current = await svc.stages.by_code(code)
        first: Frame | None = None
        shows = websocket.query_params.get("v", "")
        if shows.isdigit() and len(shows) < 12:
            sub.shown = int(shows)
        # A phone that already shows this version keeps its page (with its own answer on it).
        if current is not None and current.version > sub.shown:
            first = await svc.fragments.phone_frame_cached(
                presentation_id, current.version, chosen or current.language
            )

        async def on_vote(text: str) -> str | None:
            return await vote_message(svc, code, token, text, chosen)

        async def in_chosen_language(frame: Frame) -> Frame:
            return await svc.fragments.phone_frame_in(presentation_id, frame, chosen or "")

        localise = in_chosen_language if chosen is not None else None
        await _pump(websocket, sub, first, on_vote, localise)
    finally:
        svc.hub.unsubscribe(sub)
        if chosen is not None:
            svc.fragments.phone_left(presentation_id, chosen)
        svc.presence_changed(presentation_id)
