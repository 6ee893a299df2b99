"""Clients of a real server for live tests: the demo facilitator, a projector socket, phones."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import sqlalchemy as sa
import websockets

from app.config import Settings
from app.db import Database
from app.models import Ballot
from tests.server import Server

PASSWORD = "een-lang-wachtwoord"  # the demo facilitator's (STEMLAB_DEMO_PASSWORD)
SAVED = "Je stem is opgeslagen"


def ws_url(base: str, path: str) -> str:
    return base.replace("http", "ws", 1) + path


@dataclass
class Facilitator:
    server: Server
    client: httpx.Client
    presentation_id: str
    code: str
    csrf: str

    @classmethod
    def presenting(cls, server: Server) -> Facilitator:
        """The demo facilitator, logged in at `server`, on the first question."""
        client = httpx.Client(base_url=server.url)
        client.post("/login", data={"email": "demo@stemlab.local", "password": PASSWORD})
        page = client.get("/manage").text
        presentation_id = re.search(r'href="/present/(\d+)"', page).group(1)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        code = re.search(r"/j/(\d{8})", server.text()).group(1)
        facilitator = cls(server, client, presentation_id, code, csrf)
        facilitator.move("first")
        return facilitator

    def move(self, to: str) -> None:
        r = self.client.post(
            f"/present/{self.presentation_id}/move", data={"csrf_token": self.csrf, "to": to}
        )
        assert r.status_code in (200, 303), r.text


@dataclass
class Screen:
    """A presenter socket that keeps the latest frame."""

    latest: str = ""
    task: asyncio.Task[None] | None = None
    socket: websockets.ClientConnection | None = None
    versions: list[int | None] = field(default_factory=list)

    def responses(self) -> int | None:
        shown = re.search(r'id="response-count"[^>]*><strong>(\d+)', self.latest)
        return int(shown.group(1)) if shown else None

    def connected(self) -> int | None:
        shown = re.search(r'class="online">(\d+)', self.latest)
        return int(shown.group(1)) if shown else None

    def version(self) -> int | None:
        shown = re.search(r'data-version="(\d+)"', self.latest)
        return int(shown.group(1)) if shown else None


@asynccontextmanager
async def watching(facilitator: Facilitator, base: str | None = None) -> AsyncIterator[Screen]:
    """A projector socket of `facilitator` (through `base`, a proxy say, if given)."""
    base = base or facilitator.server.url
    cookie = facilitator.client.cookies["stemlab_session"]
    screen = Screen()
    async with websockets.connect(
        ws_url(base, f"/ws/present/{facilitator.presentation_id}"),
        origin=facilitator.server.url,
        additional_headers={"Cookie": f"stemlab_session={cookie}"},
    ) as socket:
        screen.socket = socket

        async def follow() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for frame in socket:
                    screen.latest = str(frame)
                    screen.versions.append(screen.version())

        screen.task = asyncio.create_task(follow())
        try:
            yield screen
        finally:
            screen.task.cancel()


@dataclass
class Phone:
    """A participant's phone: its cookie, its socket, the question it shows, its last vote."""

    token: str = ""
    socket: websockets.ClientConnection | None = None
    question_id: str = ""
    key: str = ""
    value: str = ""

    async def join(self, client: httpx.AsyncClient, code: str) -> None:
        """Open the join link as a phone does: the server hands out the participant cookie."""
        response = await client.get(f"/j/{code}", follow_redirects=True)
        assert response.status_code == 200, response.text
        token = response.cookies.get("stemlab_p") or client.cookies.get("stemlab_p")
        assert token, "joining gave no participant cookie"
        self.token = token
        client.cookies.clear()

    async def connect(self, base: str, code: str, origin: str | None = None) -> None:
        """Open the phone socket at `base` (a server or a proxy) and wait for the question."""
        self.socket = await websockets.connect(
            ws_url(base, f"/ws/p/{code}"),
            origin=origin or base,
            additional_headers={"Cookie": f"stemlab_p={self.token}"},
        )
        await self.until(lambda frame: 'name="question_id"' in frame)

    async def until(self, wanted: Callable[[str], bool], timeout: float = 20.0) -> str:
        assert self.socket is not None
        async with asyncio.timeout(timeout):
            while True:
                frame = str(await self.socket.recv())
                shown = re.search(r'name="question_id" value="(\d+)"', frame)
                if shown:
                    self.question_id = shown.group(1)
                if wanted(frame):
                    return frame

    def message(self, value: str, key: str | None = None) -> str:
        """A scale vote as the page sends it over the socket (remembered as the last vote)."""
        self.key, self.value = key or secrets.token_hex(8), value
        form = {"question_id": self.question_id, "client_key": self.key, "s-s1": value}
        return json.dumps({**form, "HEADERS": {}})

    async def vote(self, value: str, key: str | None = None) -> bool:
        """Send a vote over the socket; True when the phone says it is saved."""
        assert self.socket is not None
        await self.socket.send(self.message(value, key))
        reply = await self.until(lambda frame: 'id="vote-status"' in frame)
        return SAVED in reply and '<div class="saved" hidden>' not in reply

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()


async def join_all(phones: list[Phone], base: str, code: str) -> None:
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        for phone in phones:  # one cookie jar, emptied after each join
            await phone.join(client, code)


def stored(database_url: str) -> dict[str, tuple[str, dict]]:
    """Every ballot in the database: client key -> (question, answer)."""
    db = Database(Settings(database_url=database_url))
    try:
        with db.session() as session:
            rows = session.execute(
                sa.select(Ballot.client_key, Ballot.question_id, Ballot.answer)
            ).all()
    finally:
        db.dispose()
    keys = [key for key, _, _ in rows]
    assert len(keys) == len(set(keys)), "a ballot was stored twice"
    return {key: (str(question), answer) for key, question, answer in rows}


async def converge(check, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


async def connect_all(phones: list[Phone], base: str, code: str) -> None:
    await asyncio.gather(*(phone.connect(base, code) for phone in phones))
