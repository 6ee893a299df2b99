"""Real server processes: SIGTERM while phones vote loses no acknowledged vote; JSON logs."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest
import sqlalchemy as sa
import websockets

from app.config import Settings
from app.db import Database
from app.models import Ballot, Participant
from app.voting import participant_key
from tests.redis_server import redis_server
from tests.server import ROOT, join, running_server

pytestmark = pytest.mark.slow
PASSWORD = "een-lang-wachtwoord"
TRY_AGAIN = "Je stem is niet opgeslagen. Probeer het opnieuw."
SAVED = re.compile(r'class="saved"\s*>')


def _present(server) -> tuple[str, str, int]:
    """Log in as the demo facilitator, show the first question; (code, question, presentation)."""
    client = httpx.Client(base_url=server.url)
    client.post("/login", data={"email": "demo@stemlab.local", "password": PASSWORD})
    page = client.get("/manage").text
    presentation_id = re.search(r'href="/present/(\d+)"', page).group(1)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post(f"/present/{presentation_id}/move", data={"csrf_token": csrf, "to": "first"})
    code = re.search(r"/j/(\d{8})", server.text()).group(1)
    phone_page = httpx.get(f"{server.url}/p/{code}").text
    question_id = re.search(r'name="question_id" value="(\d+)"', phone_page).group(1)
    return code, question_id, int(presentation_id)


def _stored_keys(database) -> dict[str, str]:
    """The client key of every stored ballot, by participant (the hash of its cookie)."""
    db = Database(Settings(database_url=f"sqlite:///{database}"))
    with db.session() as session:
        rows = session.execute(
            sa.select(Participant.token_hash, Ballot.client_key).join(
                Ballot, Ballot.participant_id == Participant.id
            )
        ).all()
    db.dispose()
    return dict(rows)


@dataclass
class Phone:
    """One participant voting again and again; what it was told about each submission."""

    token: str = ""  # its participant cookie, once it joined
    told: list[tuple[str, str]] = field(default_factory=list)  # (client key, what it was told)
    close_code: int | None = None

    def check(self, presentation_id: int, stored: dict[str, str]) -> str | None:
        """What is wrong with the database's view of this phone's votes (None: nothing)."""
        keys = [key for key, _ in self.told]
        acked = [i for i, (_, said) in enumerate(self.told) if said == "saved"]
        key = stored.get(participant_key(presentation_id, self.token))
        if key is None:
            return f"{len(acked)} acknowledged, none stored" if acked else None
        said = self.told[keys.index(key)][1]
        if said == "try again":
            return "a vote refused with 'try again' was stored"
        if acked and keys.index(key) < acked[-1]:
            return "an acknowledged vote was lost (an older one is stored)"
        return None


async def _http_phone(server, code: str, question_id: str, phone: Phone) -> None:
    cookie = {"Cookie": f"stemlab_p={phone.token}"}
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        while True:
            key = secrets.token_hex(8)
            try:
                r = await client.post(
                    f"/p/{code}/vote",
                    data={"question_id": question_id, "client_key": key, "s-s1": "3"},
                    headers=cookie,
                )
            except httpx.HTTPError:
                phone.told.append((key, "nothing: connection gone"))
                return
            if r.status_code == 200 and SAVED.search(r.text):
                phone.told.append((key, "saved"))
            elif r.status_code == 503 and TRY_AGAIN in r.text:
                phone.told.append((key, "try again"))
            else:
                phone.told.append((key, f"unexpected {r.status_code} {r.text[:200]}"))


async def _socket_phone(server, code: str, question_id: str, phone: Phone) -> None:
    url = server.url.replace("http", "ws") + f"/ws/p/{code}"
    cookie = {"Cookie": f"stemlab_p={phone.token}"}
    async with websockets.connect(url, origin=server.url, additional_headers=cookie) as ws:
        try:
            await ws.recv()  # the current question
        except websockets.ConnectionClosed as closed:
            # On a slow machine the signal can come before this phone's first frame: it never
            # voted, which is allowed; the test still needs enough votes from the others.
            phone.close_code = closed.rcvd.code if closed.rcvd else None
            return
        while True:
            key = secrets.token_hex(8)
            try:
                await ws.send(
                    json.dumps({"question_id": question_id, "client_key": key, "s-s1": "4"})
                )
                reply = await ws.recv()
            except websockets.ConnectionClosed as closed:
                phone.told.append((key, "nothing: socket closed"))
                phone.close_code = closed.rcvd.code if closed.rcvd else None
                return
            if TRY_AGAIN in reply:
                phone.told.append((key, "try again"))
            elif SAVED.search(reply):
                phone.told.append((key, "saved"))
            else:
                phone.told.append((key, f"unexpected {reply[:200]}"))


async def test_sigterm_while_phones_vote_loses_no_acknowledged_vote(tmp_path):
    database = tmp_path / "stemlab.db"
    http_phones = [Phone() for _ in range(10)]
    socket_phones = [Phone() for _ in range(20)]
    with running_server(
        database,
        STEMLAB_DEMO_PASSWORD=PASSWORD,
        STEMLAB_VOTE_RATE_PER_MINUTE="1000000",
        STEMLAB_LOG_LEVEL="info",
    ) as server:
        code, question_id, presentation_id = _present(server)
        for phone in http_phones + socket_phones:
            with httpx.Client(base_url=server.url) as browser:
                phone.token = join(browser, code)
        voting = [_http_phone(server, code, question_id, phone) for phone in http_phones]
        voting += [_socket_phone(server, code, question_id, phone) for phone in socket_phones]
        tasks = [asyncio.create_task(v) for v in voting]
        # The signal comes while the room votes flat out: once a good number of votes were
        # saved (a slow machine takes longer to get there), and at least a second in.
        await asyncio.sleep(1.0)
        async with asyncio.timeout(30):
            while (
                sum(said == "saved" for p in http_phones + socket_phones for _, said in p.told) < 40
            ):
                await asyncio.sleep(0.05)
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            await asyncio.gather(*tasks)
            while server.process.poll() is None:
                await asyncio.sleep(0.01)
        took = time.monotonic() - signalled
        output = server.text()

    phones = http_phones + socket_phones
    told = Counter(said for phone in phones for _, said in phone.told)
    assert told["saved"] > 20, f"the votes did not get going: {told}"
    assert set(told) <= {
        "saved",
        "try again",
        "nothing: connection gone",
        "nothing: socket closed",
    }, told
    stored = _stored_keys(database)
    problems = [p for p in (phone.check(presentation_id, stored) for phone in phones) if p]
    assert not problems, problems
    # Every socket phone was told to come back (1012 "service restart"), none was just dropped.
    assert {phone.close_code for phone in socket_phones} == {1012}
    assert "SIGTERM received: draining" in output
    assert "ballot box drained" in output
    assert took < 5, f"shutdown took {took:.1f}s"
    print(f"\nSIGTERM to exit: {took:.2f}s; the phones were told {dict(told)}")


async def test_readiness_fails_before_the_server_stops_listening(tmp_path):
    """A load balancer polling /readyz sees 503 (or no answer), never a ready server that is
    in fact refusing votes."""
    database = tmp_path / "stemlab.db"
    with running_server(database, STEMLAB_DEMO_PASSWORD=PASSWORD) as server:
        _present(server)
        seen: list[str] = []
        async with httpx.AsyncClient(base_url=server.url, timeout=2) as client:
            assert (await client.get("/readyz")).status_code == 200
            server.process.send_signal(signal.SIGTERM)
            for _ in range(200):
                try:
                    r = await client.get("/readyz")
                    seen.append(f"{r.status_code} {r.text}")
                except httpx.HTTPError:
                    seen.append("closed")
                    break
                await asyncio.sleep(0.002)
        server.process.wait(timeout=15)
    assert seen[-1] == "closed"
    # A probe that the server took before the signal reached it may still say ready; once it
    # says "not ready" it never says ready again, and it says so before it stops listening.
    first_refusal = next(i for i, s in enumerate(seen) if not s.startswith("200"))
    assert all(s == "closed" or s.startswith("503") for s in seen[first_refusal:]), seen
    assert any('"shutting_down"' in s for s in seen), seen


def test_json_logs_are_one_object_per_line_without_addresses(tmp_path):
    database = tmp_path / "stemlab.db"
    with running_server(
        database, STEMLAB_LOG_FORMAT="json", STEMLAB_LOG_LEVEL="info", STEMLAB_SEED_DEMO="false"
    ) as server:
        httpx.get(f"{server.url}/readyz")
        httpx.get(f"{server.url}/p/00000000")
    lines = [json.loads(line) for line in server.text().splitlines() if line.strip()]
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line), line
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert {(line["method"], line["path"]) for line in access} >= {
        ("GET", "/readyz"),
        ("GET", "/p/00000000"),
    }
    assert all("127.0.0.1:" not in line["message"] for line in access)
    assert any(line["logger"] == "uvicorn.error" for line in lines)
    assert any(line["message"] == "SIGTERM received: draining" for line in lines)


def test_several_workers_share_the_port_and_each_drains(tmp_path):
    database = tmp_path / "stemlab.db"
    with (
        redis_server() as redis,
        running_server(
            database,
            STEMLAB_WORKERS="2",
            STEMLAB_REDIS_URL=redis.url,
            STEMLAB_REDIS_PREFIX="workers-" + secrets.token_hex(4),
            STEMLAB_LOG_FORMAT="json",
            STEMLAB_LOG_LEVEL="info",
            STEMLAB_SEED_DEMO="false",
        ) as server,
    ):
        for _ in range(20):
            assert httpx.get(f"{server.url}/readyz").json() == {"status": "ready"}
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=15)
        took = time.monotonic() - signalled
        lines = [json.loads(line) for line in server.text().splitlines() if line.strip()]
    workers = {
        line["process"] for line in lines if line["message"] == "Application startup complete."
    }
    drained = {line["process"] for line in lines if line["message"] == "SIGTERM received: draining"}
    assert len(workers) == 2 and drained == workers
    assert took < 10, f"shutdown took {took:.1f}s"


def test_serve_refuses_several_workers_without_redis(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEMLAB_")}
    env.update(STEMLAB_DATABASE_URL=f"sqlite:///{tmp_path / 'stemlab.db'}", STEMLAB_WORKERS="2")
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "STEMLAB_WORKERS=2 needs STEMLAB_REDIS_URL" in result.stderr
