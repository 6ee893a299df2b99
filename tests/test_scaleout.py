"""Two server processes sharing PostgreSQL and Redis serve one room together.

The presenter watches from one process while 200 phones vote through the other; Redis stops in
the middle of a burst; a process is killed and its phones carry on at the other one.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
import sqlalchemy as sa
import websockets

from app.config import Settings
from app.db import Database
from app.models import Ballot
from tests.redis_server import SYSTEM_REDIS, redis_server
from tests.server import Server, running_server

pytestmark = [pytest.mark.slow, pytest.mark.postgresql_only]
PASSWORD = "een-lang-wachtwoord"
PHONES = 200
SAVED = "Je stem is opgeslagen"


def _env(redis_url: str, **extra: str) -> dict[str, str]:
    return {
        "STEMLAB_REDIS_URL": redis_url,
        "STEMLAB_REDIS_PREFIX": "stemlab-test-" + secrets.token_hex(4),
        "STEMLAB_DEMO_PASSWORD": PASSWORD,
        "STEMLAB_VOTE_RATE_PER_MINUTE": "100000",
        **extra,
    }


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

    def responses(self) -> int | None:
        shown = re.search(r'id="response-count"[^>]*><strong>(\d+)', self.latest)
        return int(shown.group(1)) if shown else None

    def connected(self) -> int | None:
        shown = re.search(r'class="online">(\d+)', self.latest)
        return int(shown.group(1)) if shown else None


@asynccontextmanager
async def watching(facilitator: Facilitator) -> AsyncIterator[Screen]:
    url = facilitator.server.url.replace("http", "ws") + (
        f"/ws/present/{facilitator.presentation_id}"
    )
    cookie = facilitator.client.cookies["stemlab_session"]
    screen = Screen()
    async with websockets.connect(
        url,
        origin=facilitator.server.url,
        additional_headers={"Cookie": f"stemlab_session={cookie}"},
    ) as socket:

        async def follow() -> None:
            async for frame in socket:
                screen.latest = str(frame)

        screen.task = asyncio.create_task(follow())
        try:
            yield screen
        finally:
            screen.task.cancel()


@dataclass
class Phone:
    """A participant's phone: its cookie, its socket, the question it shows, its last vote."""

    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    socket: websockets.ClientConnection | None = None
    question_id: str = ""
    key: str = ""
    value: str = ""

    async def connect(self, server: Server, code: str) -> None:
        self.socket = await websockets.connect(
            server.url.replace("http", "ws") + f"/ws/p/{code}",
            origin=server.url,
            additional_headers={"Cookie": f"stemlab_p={self.token}"},
        )
        await self.until(lambda frame: 'name="question_id"' in frame)

    async def until(self, wanted, timeout: float = 20.0) -> str:
        assert self.socket is not None
        async with asyncio.timeout(timeout):
            while True:
                frame = str(await self.socket.recv())
                shown = re.search(r'name="question_id" value="(\d+)"', frame)
                if shown:
                    self.question_id = shown.group(1)
                if wanted(frame):
                    return frame

    async def vote(self, value: str, key: str | None = None) -> bool:
        """Send a vote over the socket; True when the phone says it is saved."""
        assert self.socket is not None
        self.key, self.value = key or secrets.token_hex(8), value
        message = {"question_id": self.question_id, "client_key": self.key, "s-s1": value}
        await self.socket.send(json.dumps({**message, "HEADERS": {}}))
        reply = await self.until(lambda frame: 'id="vote-status"' in frame)
        return SAVED in reply and '<div class="saved" hidden>' not in reply

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()


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


async def connect_all(phones: list[Phone], server: Server, code: str) -> None:
    await asyncio.gather(*(phone.connect(server, code) for phone in phones))


async def test_a_presenter_on_one_process_sees_every_vote_cast_through_the_other(new_database):
    env = _env(SYSTEM_REDIS)
    with (
        running_server(new_database, **env) as first,
        running_server(new_database, **{**env, "STEMLAB_SEED_DEMO": "false"}) as second,
    ):
        facilitator = Facilitator.presenting(first)
        async with watching(facilitator) as screen:
            phones = [Phone() for _ in range(PHONES)]
            await connect_all(phones, second, facilitator.code)
            # Every phone is counted by the projector, though none is connected to its process.
            await converge(lambda: screen.connected() == PHONES)

            saved = await asyncio.gather(*(p.vote(str(1 + i % 5)) for i, p in enumerate(phones)))
            assert all(saved)
            ballots = stored(new_database)
            assert len(ballots) == PHONES
            await converge(lambda: screen.responses() == len(ballots))

            # The facilitator moves on at the first process; the phones at the second follow.
            asked = phones[0].question_id
            facilitator.move("next")
            await asyncio.gather(
                *(p.until(lambda frame: f'value="{asked}"' not in frame) for p in phones)
            )
            assert {p.question_id for p in phones} != {asked}

            await asyncio.gather(*(p.close() for p in phones[:50]))
            await converge(lambda: screen.connected() == PHONES - 50)
            await asyncio.gather(*(p.close() for p in phones[50:]))


async def test_votes_go_on_while_redis_is_down_and_screens_converge_when_it_returns(new_database):
    with redis_server() as redis:
        env = _env(redis.url)
        with (
            running_server(new_database, **env) as first,
            running_server(new_database, **{**env, "STEMLAB_SEED_DEMO": "false"}) as second,
        ):
            facilitator = Facilitator.presenting(first)
            async with watching(facilitator) as screen:
                phones = [Phone() for _ in range(PHONES)]
                await connect_all(phones, second, facilitator.code)
                await converge(lambda: screen.connected() == PHONES)

                async def vote(i: int, phone: Phone) -> bool:
                    return await phone.vote(str(1 + i % 5))

                burst = [asyncio.create_task(vote(i, p)) for i, p in enumerate(phones)]
                await converge(lambda: sum(t.done() for t in burst) >= PHONES // 4)
                redis.stop()  # in the middle of the burst
                saved = await asyncio.gather(*burst)
                assert all(saved), "a vote failed because Redis was down"
                assert len(stored(new_database)) == PHONES

                redis.start()
                await converge(lambda: screen.responses() == PHONES)
                # Hints flow again: a change at the second process reaches the first at once.
                changed = [asyncio.create_task(p.vote("5")) for p in phones[:20]]
                assert all(await asyncio.gather(*changed))
                await converge(lambda: screen.responses() == PHONES)
                fives = [a for _, a in stored(new_database).values() if a == {"ratings": {"s1": 5}}]
                assert len(fives) >= 20
                await asyncio.gather(*(p.close() for p in phones))


async def test_phones_of_a_killed_process_carry_on_at_the_other_with_their_ballots(new_database):
    env = _env(SYSTEM_REDIS)
    with (
        running_server(new_database, **env) as first,
        running_server(new_database, **{**env, "STEMLAB_SEED_DEMO": "false"}) as second,
    ):
        facilitator = Facilitator.presenting(first)
        async with watching(facilitator) as screen:
            phones = [Phone() for _ in range(PHONES)]
            await connect_all(phones, second, facilitator.code)
            assert all(await asyncio.gather(*(p.vote("3") for p in phones)))
            before = stored(new_database)
            assert len(before) == PHONES

            second.kill()
            # Each phone reconnects (to the process still running) with its own cookie.
            await connect_all(phones, first, facilitator.code)
            # A phone that never heard back resends with the same key: counted once.
            resent = await asyncio.gather(*(p.vote(p.value, key=p.key) for p in phones[:100]))
            changed = await asyncio.gather(*(p.vote("1") for p in phones[100:]))
            assert all(resent) and all(changed)

            after = stored(new_database)
            assert len(after) == PHONES  # one ballot per phone, still
            for phone in phones[:100]:
                assert after[phone.key] == before[phone.key]
            ones = [a for _, a in after.values() if a == {"ratings": {"s1": 1}}]
            assert len(ones) == PHONES - 100
            await converge(lambda: screen.responses() == PHONES)
            # The killed process said no goodbye: its phones leave the count when its reports
            # expire, and the same phones count again at the first process.
            await converge(lambda: screen.connected() == PHONES, timeout=30)
            await asyncio.gather(*(p.close() for p in phones))
