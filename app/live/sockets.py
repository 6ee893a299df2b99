"""Websocket endpoints: presenters and phones listen; nobody steers over a socket."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from app.live import topics
from app.live.hub import Close, Frame, Subscriber
from app.services import NotFound, accounts
from app.services.presentations import get_presentation
from app.web import SESSION_COOKIE, Services, client_ip, origin_allowed

log = logging.getLogger(__name__)
router = APIRouter()

POLICY_VIOLATION = 1008


def _services(websocket: WebSocket) -> Services:
    services: Services = websocket.app.state.services
    return services


async def _pump(websocket: WebSocket, sub: Subscriber, first: Frame | None) -> None:
    """Send queued frames until the socket closes; close it if it sends anything or falls behind."""

    async def sender() -> None:
        if first is not None:
            sub.shown, sub.showing = first.version, first.content
            await websocket.send_text(first.text)
        while True:
            item = await sub.queue.get()
            if isinstance(item, Close):  # too slow (it reconnects and resyncs), or ended
                await websocket.close(code=item.value)
                return
            if item.version <= sub.shown or (item.content and item.content == sub.showing):
                continue  # it shows this already
            sub.shown, sub.showing = item.version, item.content
            await websocket.send_text(item.text)

    async def receiver() -> None:
        message = await websocket.receive()
        if message["type"] == "websocket.receive":
            # Listening sockets take no commands.
            await websocket.close(code=POLICY_VIOLATION)

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
    await websocket.accept()
    # Subscribe first, then read the version: a change in between is then seen twice at
    # worst, never missed.
    sub = svc.hub.subscribe(topics.phones(presentation_id))
    svc.ticker.presence_changed(presentation_id)
    try:
        current = await svc.stages.by_code(code)
        first: Frame | None = None
        shows = websocket.query_params.get("v", "")
        if shows.isdigit() and len(shows) < 12:
            sub.shown = int(shows)
        # A phone that already shows this version keeps its page (with its own answer on it).
        if current is not None and current.version > sub.shown:
            first = await svc.fragments.phone_frame_cached(presentation_id, current.version)
        await _pump(websocket, sub, first)
    finally:
        svc.hub.unsubscribe(sub)
        svc.ticker.presence_changed(presentation_id)
