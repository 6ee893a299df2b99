"""Websocket endpoints: presenters and phones listen; nobody steers over a socket."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from app.live import topics
from app.live.hub import Subscriber
from app.services import NotFound, accounts
from app.services.presentations import get_by_code, get_presentation
from app.web import SESSION_COOKIE, Services, origin_allowed

log = logging.getLogger(__name__)
router = APIRouter()

POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013  # the htmx ws extension reconnects on this code


def _services(websocket: WebSocket) -> Services:
    services: Services = websocket.app.state.services
    return services


async def _pump(websocket: WebSocket, sub: Subscriber, first: str | None) -> None:
    """Send queued frames until the socket closes; close it if it sends anything or falls behind."""

    async def sender() -> None:
        if first is not None:
            await websocket.send_text(first)
        while True:
            frame = await sub.queue.get()
            if frame is None:  # dropped: too slow. Reconnecting resyncs it.
                await websocket.close(code=TRY_AGAIN_LATER)
                return
            await websocket.send_text(frame)

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
        first = await asyncio.to_thread(svc.fragments.presenter_frame, presentation_id, version)
        await _pump(websocket, sub, first)
    finally:
        svc.hub.unsubscribe(sub)


@router.websocket("/ws/p/{code}")
async def phone_socket(websocket: WebSocket, code: str) -> None:
    svc = _services(websocket)
    if not origin_allowed(websocket, svc.settings, required=True) or len(code) > 16:
        await websocket.close(code=POLICY_VIOLATION)
        return

    def lookup() -> tuple[int, int] | None:
        with svc.db.session() as session:
            try:
                presentation = get_by_code(session=session, code=code)
            except NotFound:
                return None
            return presentation.id or 0, presentation.version

    found = await asyncio.to_thread(lookup)
    if found is None:
        await websocket.close(code=POLICY_VIOLATION)
        return
    presentation_id, version = found
    await websocket.accept()
    topic = topics.phones(presentation_id)
    sub = svc.hub.subscribe(topic)
    svc.ticker.presence_changed(presentation_id)
    try:
        # A phone that already shows this version keeps its page (with its own answer on it).
        first = None
        if websocket.query_params.get("v") != str(version):
            first = await asyncio.to_thread(svc.fragments.phone_frame, presentation_id)
        await _pump(websocket, sub, first)
    finally:
        svc.hub.unsubscribe(sub)
        svc.ticker.presence_changed(presentation_id)
