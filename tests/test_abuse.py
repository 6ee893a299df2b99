"""A real server under abuse and under a crowd: huge bodies, slow clients, several writers.

RELIABILITY.md items 1, 8, 26, 28 and 35, against `stemlab serve` processes.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

from tests.redis_server import SYSTEM_REDIS
from tests.rooms import PASSWORD, Facilitator, Phone, join_all, stored
from tests.server import running_server

pytestmark = pytest.mark.slow
ENV = {"STEMLAB_DEMO_PASSWORD": PASSWORD, "STEMLAB_VOTE_RATE_PER_MINUTE": "100000"}
MiB = 1024 * 1024


def _rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux /proc), with its worker children."""
    total = 0
    for candidate in [pid, *_children(pid)]:
        status = Path(f"/proc/{candidate}/status").read_text()
        total += int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024
    return total


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _question_id(base: str, code: str, token: str) -> str:
    page = httpx.get(f"{base}/p/{code}", headers={"Cookie": f"stemlab_p={token}"}).text
    return re.search(r'name="question_id" value="(\d+)"', page).group(1)


async def test_huge_bodies_are_refused_quickly_without_growing_the_server(new_database):
    with running_server(new_database, **ENV) as server:
        facilitator = Facilitator.presenting(server)
        vote = f"/p/{facilitator.code}/vote"
        baseline = _rss_bytes(server.process.pid)
        field = b"x" * (5 * MiB)
        bodies = [
            ("application/json", b'{"s-s1": "' + b"3" * (10 * MiB) + b'"}'),
            ("application/x-www-form-urlencoded", b"&".join(b"f%d=1" % i for i in range(100_000))),
            ("application/x-www-form-urlencoded", b"text=" + field),
            (
                "multipart/form-data; boundary=b",
                b'--b\r\nContent-Disposition: form-data; name="text"\r\n\r\n'
                + field
                + b"\r\n--b--",
            ),
        ]
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:

            async def send(kind: str, body: bytes) -> int:
                response = await client.post(vote, content=body, headers={"Content-Type": kind})
                return response.status_code

            async def streamed() -> int:
                async def chunks():
                    for _ in range(5 * 16):
                        yield b"x" * 65536

                response = await client.post(
                    vote,
                    content=chunks(),
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
                return response.status_code

            sends = [send(kind, body) for kind, body in bodies for _ in range(5)]
            statuses = await asyncio.gather(*sends, streamed(), client.get("/healthz"))
        *refused, health = statuses
        # Too large: 413; a streamed body the form parser gives up on first: 400.
        assert set(refused) <= {400, 413} and refused.count(413) >= 20, refused
        assert health.status_code == 200
        # 21 requests carrying 170 MiB between them; the server never held them.
        assert _rss_bytes(server.process.pid) - baseline < 50 * MiB
    assert stored(new_database) == {}


async def test_slow_clients_holding_connections_do_not_stop_a_room(new_database):
    """Slowloris: 300 connections that send a header byte now and then, while phones vote."""
    with running_server(new_database, **ENV) as server:
        facilitator = Facilitator.presenting(server)
        host, port = "127.0.0.1", int(server.url.rsplit(":", 1)[1])
        stop = asyncio.Event()

        async def dribble() -> None:
            try:
                _, writer = await asyncio.open_connection(host, port)
                writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
                while not stop.is_set():
                    writer.write(b"X")
                    await writer.drain()
                    await asyncio.sleep(1)
                writer.close()
            except OSError:
                return

        slow = [asyncio.create_task(dribble()) for _ in range(300)]
        await asyncio.sleep(1)
        phones = [Phone() for _ in range(100)]
        await join_all(phones, server.url, facilitator.code)
        question = _question_id(server.url, facilitator.code, phones[0].token)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:

            async def vote(phone: Phone) -> int:
                response = await client.post(
                    f"/p/{facilitator.code}/vote",
                    data={"question_id": question, "client_key": phone.token[:16], "s-s1": "3"},
                    headers={"Cookie": f"stemlab_p={phone.token}"},
                )
                return response.status_code

            statuses = await asyncio.gather(*(vote(p) for p in phones))
        stop.set()
        await asyncio.gather(*slow)
        assert statuses == [200] * 100
        assert len(stored(new_database)) == 100


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2])
async def test_votes_racing_close_voting_are_counted_before_it_or_refused(new_database, delay):
    """200 votes in flight while the facilitator closes: every acked vote is in the closed
    result, every refused one is not, and nothing is stored after the close (item 4)."""
    with running_server(new_database, **ENV) as server:
        facilitator = Facilitator.presenting(server)
        phones = [Phone() for _ in range(200)]
        await join_all(phones, server.url, facilitator.code)
        question = _question_id(server.url, facilitator.code, phones[0].token)
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:

            async def vote(i: int, phone: Phone) -> tuple[str, int]:
                key = f"race-{i}"
                response = await client.post(
                    f"/p/{facilitator.code}/vote",
                    data={"question_id": question, "client_key": key, "s-s1": "3"},
                    headers={"Cookie": f"stemlab_p={phone.token}"},
                )
                return key, response.status_code

            async def close() -> None:
                await asyncio.sleep(delay)
                await asyncio.to_thread(
                    facilitator.client.post,
                    f"/present/{facilitator.presentation_id}/voting",
                    data={"csrf_token": facilitator.csrf, "value": "close"},
                )

            *answers, _ = await asyncio.gather(*(vote(i, p) for i, p in enumerate(phones)), close())
            closed = stored(new_database)
            late = await client.post(
                f"/p/{facilitator.code}/vote",
                data={"question_id": question, "client_key": "late", "s-s1": "3"},
                headers={"Cookie": f"stemlab_p={phones[0].token}"},
            )
        assert set(dict(answers).values()) <= {200, 409}
        acked = {key for key, status in answers if status == 200}
        assert acked == set(closed)  # acked = stored, refused = not stored
        assert late.status_code == 409
        assert stored(new_database) == closed  # nothing after the close


def _workers_env(database: str) -> dict[str, str]:
    prefix = "stemlab-test-" + secrets.token_hex(4)
    return {
        **ENV,
        "STEMLAB_DATABASE_URL": database,
        "STEMLAB_WORKERS": "4",
        "STEMLAB_REDIS_URL": SYSTEM_REDIS,
        "STEMLAB_REDIS_PREFIX": prefix,
    }


async def test_four_workers_on_one_database_count_a_crowd_exactly(new_database):
    """500 phones at once, and one phone sending the same vote 50 times at once, 20 rounds,
    through 4 worker processes writing to one database (a SQLite file in the SQLite run)."""
    with running_server(new_database, **_workers_env(new_database)) as server:
        facilitator = Facilitator.presenting(server)
        phones = [Phone() for _ in range(520)]
        await join_all(phones, server.url, facilitator.code)
        question = _question_id(server.url, facilitator.code, phones[0].token)
        vote = f"/p/{facilitator.code}/vote"
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:

            async def send(phone: Phone, key: str | None, value: str) -> int:
                form = {"question_id": question, "s-s1": value}
                if key is not None:
                    form["client_key"] = key
                response = await client.post(
                    vote, data=form, headers={"Cookie": f"stemlab_p={phone.token}"}
                )
                return response.status_code

            crowd = await asyncio.gather(
                *(send(p, f"crowd-{i}", str(1 + i % 5)) for i, p in enumerate(phones[:500]))
            )
            assert crowd == [200] * 500  # no "database is locked", no 5xx
            for round_, phone in enumerate(phones[500:]):
                key = f"same-{round_}" if round_ % 2 else None  # half without a client key
                same = await asyncio.gather(*(send(phone, key, "5") for _ in range(50)))
                assert same == [200] * 50
    ballots = stored(new_database)
    assert len(ballots) == 520  # one ballot per phone (I1), each acked key once (I3)
    assert all(f"crowd-{i}" in ballots for i in range(500))
    tally = [answer["ratings"]["s1"] for _, answer in ballots.values()]
    assert tally.count(5) == 100 + 20  # every fifth of the crowd, and the 20 repeaters


def test_a_deferred_transaction_that_reads_then_writes_meets_a_locked_database(tmp_path):
    """Why every write transaction starts with BEGIN IMMEDIATE (app/db.py): the negative control.

    Two deferred transactions both read, then both write: the one that writes second works on a
    snapshot the first has changed, and SQLite refuses it ("database is locked") however long
    the busy timeout. With BEGIN IMMEDIATE the second waits for the first and then succeeds.
    """
    path = tmp_path / "control.db"
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (n INTEGER)")
    setup.execute("INSERT INTO t VALUES (0)")
    setup.commit()
    setup.close()

    def race(begin: str) -> tuple[list[str], int]:
        errors: list[str] = []
        both_read = threading.Barrier(2, timeout=2)

        def writer() -> None:
            db = sqlite3.connect(path, timeout=5, isolation_level=None)
            try:
                db.execute(begin)
                db.execute("SELECT n FROM t").fetchone()
                if begin == "BEGIN":
                    both_read.wait()  # both hold a snapshot before either writes
                db.execute("UPDATE t SET n = n + 1")
                db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                errors.append(str(exc))
                db.execute("ROLLBACK")
            finally:
                db.close()

        threads = [threading.Thread(target=writer) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        check = sqlite3.connect(path)
        total = check.execute("SELECT n FROM t").fetchone()[0]
        check.close()
        return errors, total

    errors, total = race("BEGIN")
    assert errors and all("locked" in e for e in errors) and total == 1
    assert race("BEGIN IMMEDIATE") == ([], 3)
