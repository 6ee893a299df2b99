"""Real server processes: acknowledged votes survive kill -9; a full room counts exactly."""

from __future__ import annotations

import asyncio
import re
import secrets

import httpx
import pytest
import sqlalchemy as sa
import websockets

from app.config import Settings
from app.db import Database
from app.models import Ballot
from tests.server import join, join_async, running_server

pytestmark = pytest.mark.slow
PASSWORD = "een-lang-wachtwoord"


def _present(server) -> tuple[str, str, str]:
    """Log in as the demo facilitator and start presenting; returns (code, presentation, csrf)."""
    client = httpx.Client(base_url=server.url)
    client.post("/login", data={"email": "demo@stemlab.local", "password": PASSWORD})
    page = client.get("/manage").text
    presentation_id = re.search(r'href="/present/(\d+)"', page).group(1)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post(f"/present/{presentation_id}/move", data={"csrf_token": csrf, "to": "first"})
    code = re.search(r"/j/(\d{8})", server.text()).group(1)
    return code, presentation_id, client.cookies["stemlab_session"]


def _question_id(server, code: str) -> str:
    page = httpx.get(f"{server.url}/p/{code}").text
    return re.search(r'name="question_id" value="(\d+)"', page).group(1)


def _ballot_keys(database: str) -> list[str]:
    db = Database(Settings(database_url=database))
    with db.session() as session:
        keys = list(session.execute(sa.select(Ballot.client_key)).scalars())
    db.dispose()
    return keys


async def _vote_until_killed(server, code: str, question_id: str, acked: list[str]) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:

        async def one_phone() -> None:
            while True:
                # Every vote from a new participant, so each acknowledged key is its own ballot.
                key = secrets.token_hex(8)
                try:
                    cookie = await join_async(client, code)
                    r = await client.post(
                        f"/p/{code}/vote",
                        data={"question_id": question_id, "client_key": key, "s-s1": "3"},
                        headers={"Cookie": f"stemlab_p={cookie}"},
                    )
                except (httpx.HTTPError, AssertionError):  # killed mid-join or mid-vote
                    return
                if r.status_code == 200:
                    acked.append(key)

        await asyncio.gather(*(one_phone() for _ in range(20)))


@pytest.mark.parametrize("round_", range(3))
async def test_acknowledged_votes_survive_kill_9(new_database, round_):
    database = new_database
    acked: list[str] = []
    with running_server(
        database,
        STEMLAB_DEMO_PASSWORD=PASSWORD,
        STEMLAB_VOTE_RATE_PER_MINUTE="100000",
        STEMLAB_JOIN_MINT_PER_MINUTE="100000",  # a new participant for every vote
    ) as server:
        code, _, _ = _present(server)
        question_id = _question_id(server, code)
        voting = asyncio.create_task(_vote_until_killed(server, code, question_id, acked))
        async with asyncio.timeout(60):  # the burst got going (each phone joins first)
            while len(acked) <= 20:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.5 + 0.3 * round_)
        server.kill()
        await voting
    assert len(acked) > 20, "the burst did not get going"
    keys = _ballot_keys(database)
    assert len(keys) == len(set(keys))
    missing = set(acked) - set(keys)
    assert not missing, f"{len(missing)} acknowledged votes lost"
    # The database is consistent and usable after the crash.
    with running_server(database):
        pass


async def test_a_hall_of_500_phones_is_counted_exactly(new_database):
    database = new_database
    with running_server(database, STEMLAB_DEMO_PASSWORD=PASSWORD) as server:
        code, presentation_id, session_token = _present(server)
        question_id = _question_id(server, code)
        ws_url = server.url.replace("http", "ws") + f"/ws/present/{presentation_id}"
        async with websockets.connect(
            ws_url,
            origin=server.url,
            additional_headers={"Cookie": f"stemlab_session={session_token}"},
            # This side's own keepalive is not under test: a busy test process could miss
            # its pong deadline while 500 phones vote (the server pings on its own).
            ping_interval=None,
        ) as presenter:
            await presenter.recv()
            limits = httpx.Limits(max_connections=100)
            async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:

                async def phone(i: int) -> int:
                    # 500 phones join from one address (the hall behind one venue NAT) at the
                    # default joining limit, then vote.
                    cookie = {"Cookie": f"stemlab_p={await join_async(client, code)}"}
                    # Like a phone on venue wifi: a lost response is retried with the same key.
                    for _ in range(3):
                        try:
                            r = await client.post(
                                f"/p/{code}/vote",
                                data={
                                    "question_id": question_id,
                                    "client_key": f"k{i}",
                                    "s-s1": str(1 + i % 5),
                                },
                                headers=cookie,
                            )
                            return r.status_code
                        except httpx.TransportError:
                            continue
                    return 0

                statuses = await asyncio.gather(*(phone(i) for i in range(500)))
            assert statuses.count(200) == 500
            # The presenter converges to exactly the database's number.
            async with asyncio.timeout(10):
                while True:
                    frame = await presenter.recv()
                    shown = re.search(r'id="response-count"[^>]*><strong>(\d+)', frame)
                    if shown and int(shown.group(1)) == 500:
                        break
    assert len(_ballot_keys(database)) == 500


async def test_fifty_identical_submissions_from_one_phone_count_once(new_database):
    database = new_database
    with running_server(database, STEMLAB_DEMO_PASSWORD=PASSWORD) as server:
        code, _, _ = _present(server)
        question_id = _question_id(server, code)
        with httpx.Client(base_url=server.url) as phone:
            token = join(phone, code)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:

            async def submit() -> int:
                r = await client.post(
                    f"/p/{code}/vote",
                    data={"question_id": question_id, "client_key": "same", "s-s1": "5"},
                    headers={"Cookie": f"stemlab_p={token}"},
                )
                return r.status_code

            statuses = await asyncio.gather(*(submit() for _ in range(50)))
    assert set(statuses) == {200}
    assert _ballot_keys(database) == ["same"]


async def test_an_oversized_socket_message_is_refused_by_the_server(new_database):
    """`stemlab serve` caps phone-socket messages (a vote form is a few hundred bytes)."""
    database = new_database
    with running_server(database, STEMLAB_DEMO_PASSWORD=PASSWORD) as server:
        code, _, _ = _present(server)
        url = server.url.replace("http", "ws") + f"/ws/p/{code}"
        with httpx.Client(base_url=server.url) as browser:
            cookie = {"Cookie": f"stemlab_p={join(browser, code)}"}
        async with websockets.connect(url, origin=server.url, additional_headers=cookie) as phone:
            await phone.recv()
            await phone.send("x" * 20_000)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                async with asyncio.timeout(10):
                    while True:
                        await phone.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
