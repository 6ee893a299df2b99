"""The performance harness of issue 6: one presentation, N phones, measured against the floors.

Usage: python -m bench.harness [--phones N] [--quick]
       python -m bench.harness --database postgresql [--processes P] [--phones N]

Starts `python -m app.cli serve` as its own process (production settings, SQLite file in WAL) on a
free loopback port, pinned to CPU 1; this process is the load generator (asyncio on uvloop, raw
HTTP/1.1 keep-alive connections for votes, the `websockets` client for sockets), pinned to CPU 0.
Scenarios: join, held, burst, advance, slow phones, sustained (+ vote to presenter), then the
floors (a bare `websockets` broadcast server and a bare group-commit loop on the database). Prints
a table and writes bench/results/latest.json. Nothing is asserted: every number is reported, a
scenario that could not run reports null and the reason under "notes".

Scale-out (issue 5): `--database postgresql` creates a uniquely named PostgreSQL database (and one
for the ballot-box floor) and drops them at the end; `--processes P` starts P servers on ports of
their own sharing that database and one Redis channel prefix (the first seeds the demo, the others
start after it without seeding). Phones are spread round robin over the processes; the
facilitator and the presenter socket stay on the first. Memory is the sum over all servers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.loadhttp import Pool, get, now, post_form
from bench.scaleout import (
    DEFAULT_POSTGRES_URL,
    DEFAULT_REDIS_URL,
    CpuSampler,
    PostgresDatabases,
    all_process_cpu,
    busiest,
    database_name,
    server_version,
    with_driver,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SERVER_CPU = 1
LOAD_CPU = 0
DEMO_EMAIL = "demo@stemlab.local"
DEMO_PASSWORD = "bench-password-0123456789"  # noqa: S105 - a throwaway database

SAVED_RE = re.compile(r'<div class="saved"\s*>')  # not hidden: the vote was stored
QUESTION_RE = re.compile(r'data-question="([0-9]*)"')
VERSION_RE = re.compile(rb'data-version="([0-9]+)"')
QID_RE = re.compile(rb'name="question_id" value="([0-9]+)"')
CODE_RE = re.compile(r"/j/([0-9]{8})")
COUNT_RE = re.compile(r'id="response-count"[^>]*><strong>([0-9]+)</strong>')
ONLINE_RE = re.compile(r'class="online">([0-9]+)')
DIST_RE = re.compile(r'<span class="v([0-9]+) of[0-9]+">[0-9]+: ([0-9]+)</span>')
PVERSION_RE = re.compile(r'data-version="([0-9]+)"')
COOKIE_RE = re.compile(rb"(?im)^set-cookie:[ \t]*stemlab_p=([^;\r\n]*)")


# --- process plumbing ------------------------------------------------------------------------


def raise_nofile() -> None:
    """Soft limit of open files up to the hard limit (sockets are files)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pin(cpu: int) -> bool:
    """Run the calling process on one CPU, when that CPU is ours to use."""
    try:
        if cpu in os.sched_getaffinity(0) and len(os.sched_getaffinity(0)) > 1:
            os.sched_setaffinity(0, {cpu})
            return True
    except (AttributeError, OSError):
        pass
    return False


def _child_setup(cpu: int | None) -> Callable[[], None]:
    def setup() -> None:
        raise_nofile()
        # The parent may already be pinned elsewhere: set the mask, do not narrow the inherited one.
        # None: every CPU of the machine.
        cpus = set(range(os.cpu_count() or 1)) if cpu is None else {cpu}
        if (os.cpu_count() or 1) > max(cpus):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, cpus)

    return setup


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_cpu_seconds() -> float:
    """CPU time all processes on this machine spent busy, from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Child:
    """A child process pinned to a CPU (None: free to use all) whose output a thread collects."""

    def __init__(self, argv: list[str], env: dict[str, str], cpu: int | None) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            argv,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=_child_setup(cpu),
        )
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()
        _CHILDREN.append(self)

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = pattern.search(line)
                if match:
                    return match
            if self.process.poll() is not None:
                raise RuntimeError(f"process exited early:\n{self.text()[-3000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"no {pattern.pattern!r} within {timeout}s:\n{self.text()[-3000:]}")

    def stop(self, timeout: float = 20) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


_CHILDREN: list[Child] = []
_CLEANUPS: list[Callable[[], object]] = []  # run after the children are gone, even by the watchdog


def _kill_children() -> None:
    for child in _CHILDREN:
        if child.process.poll() is None:
            child.process.kill()


def _clean_up() -> None:
    while _CLEANUPS:
        with contextlib.suppress(Exception):
            _CLEANUPS.pop()()


def watchdog(seconds: float) -> None:
    """Hard limit of the whole run: kill every child we started, clean up and exit."""

    def fire() -> None:
        print(f"harness: hard time limit of {seconds:.0f}s reached, stopping", flush=True)
        _kill_children()
        for child in _CHILDREN:
            with contextlib.suppress(Exception):
                child.process.wait(timeout=10)
        _clean_up()
        os._exit(3)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()


# --- statistics ------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of `values` (q in 0..1)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def r1(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def wait_healthy(server: Server, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            url = f"http://{server.host}/healthz"
            if httpx.get(url, timeout=2, trust_env=False).status_code == 200:
                return
        if server.child.process.poll() is not None:
            raise RuntimeError(
                f"server on port {server.port} exited:\n{server.child.text()[-3000:]}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(f"server on port {server.port} not healthy within {timeout:.0f}s")
        time.sleep(0.05)


# --- the load generator ----------------------------------------------------------------------


@dataclass(eq=False)
class Phone:
    token: str
    slow: bool = False
    rating: int = 0  # the scale value of its last acknowledged vote (0: none yet)
    reply: asyncio.Future[str] | None = None  # the answer to the vote it sent over its socket
    sending: asyncio.Lock = field(default_factory=asyncio.Lock)
    ws: ClientConnection | None = None
    question: str = ""
    adv_at: float | None = None
    close_code: int | None = None
    closed: bool = False
    watched: bool = False  # counted by the advance being measured
    server: int = 0  # index of the server process it joined (round robin)


@dataclass
class Frame:
    t: float
    question: str
    version: int
    count: int
    online: int
    dist: dict[int, int] = field(default_factory=dict)  # first statement: value -> count


@dataclass
class Votes:
    sent: int = 0
    acked: int = 0
    errors: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    exceptions: Counter[str] = field(default_factory=Counter)
    ack_ms: list[float] = field(default_factory=list)
    lag_ms: list[float] = field(default_factory=list)
    acks: list[tuple[float, int]] = field(default_factory=list)  # (ack time, ballots known then)
    # (ack time, value voted, phones known to be at that value then): socket votes
    value_acks: list[tuple[float, int, int]] = field(default_factory=list)
    first_send: float = 0.0
    last_ack: float = 0.0


@dataclass(eq=False)
class Server:
    """One `stemlab serve` process of the run, with a keep-alive pool of its own."""

    child: Child
    port: int
    pool: Pool | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.results: dict[str, Any] = {}
        self.notes: dict[str, str] = {}
        self.extra: dict[str, Any] = {}
        self.phones: list[Phone] = []
        self.frames: list[Frame] = []
        self.servers: list[Server] = []
        self.server: Child | None = None  # the first server: facilitator, presenter, profile
        self.database_url = ""
        self.redis_prefix = ""
        self.databases: PostgresDatabases | None = None
        self.sampler: CpuSampler | None = None
        self.server_cpu_cores: set[int] | None = None  # CPUs the servers may use
        self.port = 0
        self.host = ""
        self.origin = ""
        self.code = ""
        self.pid = 0
        self.qid = ""
        self.csrf = ""
        self.session_token = ""
        self.pool: Pool | None = None
        self.presenter: ClientConnection | None = None
        self.at_value: Counter[int] = Counter()  # phones known to be at each scale value
        self.gate = asyncio.Event()
        self.gate.set()
        self.adv_from: str | None = None
        self.adv_new = ""
        self.adv_done = 0
        self.adv_needed = 0
        self.adv_event = asyncio.Event()
        self.sample_frame = ""
        self.tasks: list[asyncio.Task[None]] = []
        self.ballots_known = 0
        self.phase = ""
        # What a scenario did, to divide its CPU by: scenario -> (unit, count), e.g. ("vote", 9000).
        self.units: dict[str, tuple[str, int]] = {}

    # --- server and facilitator ---

    def prepare_database(self) -> None:
        """The database the servers share: a SQLite file here, or a new PostgreSQL database."""
        if self.args.database == "sqlite":
            self.database_url = f"sqlite:///{self.tmp / 'bench.db'}"
            return
        self.databases = PostgresDatabases(self.args.postgres_url)
        _CLEANUPS.append(self.databases.drop_all)
        self.database_url = self.databases.create()
        self.extra["postgresql.database"] = database_name(self.database_url)
        self.extra["postgresql.server_version"] = server_version(self.database_url)

    def server_env(self, port: int, seed: bool) -> dict[str, str]:
        origin = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("STEMLAB_")}
        env.update(
            STEMLAB_DATABASE_URL=self.database_url,
            STEMLAB_HOST="127.0.0.1",
            STEMLAB_PORT=str(port),
            STEMLAB_PUBLIC_URL=origin,
            STEMLAB_DEMO_PASSWORD=DEMO_PASSWORD,
            STEMLAB_LOG_LEVEL="warning",
            STEMLAB_VOTE_RATE_PER_MINUTE="1000000",
            STEMLAB_JOIN_RATE_PER_MINUTE="1000000",
            # Every phone of the run joins from this one address.
            STEMLAB_JOIN_MINT_PER_MINUTE="1000000",
            PYTHONUNBUFFERED="1",
        )
        if not seed:
            env["STEMLAB_SEED_DEMO"] = "false"
        if self.redis_prefix:
            env["STEMLAB_REDIS_URL"] = self.args.redis_url
            env["STEMLAB_REDIS_PREFIX"] = self.redis_prefix
        if self.args.phone_tick_ms:
            env["STEMLAB_PHONE_TICK_MS"] = str(self.args.phone_tick_ms)
        return env

    def start_servers(self) -> None:
        """The first server migrates the database and seeds the demo; the others start after it
        (without seeding) on ports of their own; returns when every one answers /healthz."""
        n = self.args.processes
        if n > 1 or self.args.redis:
            self.redis_prefix = f"stemlab-bench-{secrets.token_hex(4)}"
        cpu = SERVER_CPU if self.args.pin == "split" else None
        argv = [sys.executable, "-m", "app.cli", "serve"]
        for i in range(n):
            port = free_port()
            child = Child(argv, self.server_env(port, seed=i == 0), cpu)
            self.servers.append(Server(child, port, Pool("127.0.0.1", port, self.args.connections)))
            if i == 0:
                self.code = child.wait_for(CODE_RE, 60).group(1)
        for server in self.servers:
            wait_healthy(server, 60)
        first = self.servers[0]
        self.server = first.child
        self.port = first.port
        self.host = first.host
        self.origin = f"http://{self.host}"
        self.pool = first.pool

    async def facilitator(self) -> None:
        import httpx

        async with httpx.AsyncClient(
            base_url=self.origin, trust_env=False, headers={"Origin": self.origin}, timeout=10
        ) as client:
            for _ in range(200):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.05)
            r = await client.post("/login", data={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
            if r.status_code != 303:
                raise RuntimeError(f"login answered {r.status_code}")
            self.session_token = client.cookies["stemlab_session"]
            manage = (await client.get("/manage")).text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', manage)
            present = re.search(r"/present/([0-9]+)", manage)
            if not csrf or not present:
                raise RuntimeError("no CSRF token or presentation on /manage")
            self.csrf, self.pid = csrf.group(1), int(present.group(1))
        if await self.move("first") != 303:
            raise RuntimeError("could not start presenting")
        assert self.pool is not None
        _, _, body = await self.pool.request(get(f"/p/{self.code}", self.host))
        qid = QID_RE.search(body)
        if not qid:
            raise RuntimeError("no question_id on the phone page")
        self.qid = qid.group(1).decode()

    async def move(self, to: str) -> int:
        assert self.pool is not None
        raw = post_form(
            f"/present/{self.pid}/move",
            self.host,
            f"to={to}&csrf_token={self.csrf}",
            {"Origin": self.origin, "Cookie": f"stemlab_session={self.session_token}"},
        )
        status, _, _ = await self.pool.request(raw)
        return status

    async def open_presenter(self) -> None:
        self.presenter = await connect(
            f"ws://{self.host}/ws/present/{self.pid}",
            origin=self.origin,  # type: ignore[arg-type]
            additional_headers={"Cookie": f"stemlab_session={self.session_token}"},
            compression=None,
            proxy=None,
            ping_interval=None,
            max_size=None,
        )
        self.tasks.append(asyncio.create_task(self._read_presenter(self.presenter)))

    async def _read_presenter(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                t = now()
                text = str(message)
                q = QUESTION_RE.search(text)
                v = PVERSION_RE.search(text)
                c = COUNT_RE.search(text)
                o = ONLINE_RE.search(text)
                dist: dict[int, int] = {}
                for value, count in DIST_RE.findall(text):
                    if int(value) in dist:
                        break  # the next statement's row starts
                    dist[int(value)] = int(count)
                self.frames.append(
                    Frame(
                        t,
                        q.group(1) if q else "",
                        int(v.group(1)) if v else -1,
                        int(c.group(1)) if c else -1,
                        int(o.group(1)) if o else -1,
                        dist,
                    )
                )

    # --- phones ---

    async def open_phone(self, phone: Phone, ws_port: int, path: str) -> None:
        kwargs: dict[str, Any] = {}
        if phone.slow:
            # A phone that stops reading: tiny receive buffer, at most one frame queued client-side.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", ws_port))
            kwargs.update(sock=sock, max_queue=1)
        phone.ws = await connect(
            f"ws://127.0.0.1:{ws_port}{path}",
            origin=f"http://127.0.0.1:{ws_port}",  # type: ignore[arg-type]
            additional_headers={"Cookie": f"stemlab_p={phone.token}"},
            compression=None,
            proxy=None,
            ping_interval=None,  # browsers do not ping; the server does
            open_timeout=30,
            **kwargs,
        )
        phone.closed = False
        phone.close_code = None
        self.tasks.append(asyncio.create_task(self._read_phone(phone, phone.ws)))

    async def _read_phone(self, phone: Phone, ws: ClientConnection) -> None:
        try:
            while True:
                if phone.slow and not self.gate.is_set():
                    await self.gate.wait()
                message = await ws.recv()
                t = now()
                text = message if isinstance(message, str) else message.decode()
                if 'id="stage"' not in text:  # the answer to a vote it sent
                    if phone.reply is not None and not phone.reply.done():
                        phone.reply.set_result(text)
                    continue
                match = QUESTION_RE.search(text)
                if match is None:
                    continue
                question = match.group(1)
                if (
                    phone.watched
                    and self.adv_from is not None
                    and question != self.adv_from
                    and phone.adv_at is None
                ):
                    phone.adv_at = t
                    self.adv_new = question
                    if len(text) > len(self.sample_frame):
                        self.sample_frame = text
                    self.adv_done += 1
                    if self.adv_done >= self.adv_needed:
                        self.adv_event.set()
                phone.question = question
        except ConnectionClosed as exc:
            phone.close_code = exc.rcvd.code if exc.rcvd else None
        finally:
            phone.closed = True

    async def join(self, phones: list[Phone], ws_port: int, stemlab: bool) -> tuple[float, int]:
        """Each phone loads its page (Stemlab) and opens its socket; bounded concurrency.

        Stemlab phones go to the server process they were given (`Phone.server`), page and
        socket alike; `ws_port` is the port of the floor's server otherwise.
        """
        sem = asyncio.Semaphore(self.args.join_concurrency)
        failures = 0
        reasons: Counter[str] = Counter()

        async def one(phone: Phone) -> None:
            nonlocal failures
            async with sem:
                try:
                    path = "/"
                    port = ws_port
                    if stemlab:
                        server = self.servers[phone.server]
                        assert server.pool is not None
                        port = server.port
                        status, head, body = await server.pool.request(
                            get(
                                f"/p/{self.code}",
                                server.host,
                                {"Cookie": f"stemlab_p={phone.token}"},
                            )
                        )
                        v = VERSION_RE.search(body)
                        if status != 200 or v is None:
                            raise RuntimeError(f"page answered {status}")
                        # The participant cookie the server hands out, as a browser keeps it.
                        cookie = COOKIE_RE.search(head)
                        if cookie is not None:
                            phone.token = cookie.group(1).decode()
                        path = f"/ws/p/{self.code}?v={v.group(1).decode()}"
                        phone.question = self.qid
                    await self.open_phone(phone, port, path)
                except Exception as exc:
                    failures += 1
                    phone.closed = True
                    reasons[f"{type(exc).__name__}: {exc}"[:120]] += 1

        started = now()
        await asyncio.gather(*(one(p) for p in phones))
        if reasons:
            key = f"{self.phase}.failure_reasons"
            self.extra[key] = dict(reasons.most_common(5))
        return now() - started, failures

    def connected(self) -> list[Phone]:
        return [p for p in self.phones if not p.closed]

    async def advance(self, trigger: Callable[[], Awaitable[None]], timeout: float) -> list[float]:
        """Latencies (ms) from the trigger until each reading phone has a new question."""
        reading = [p for p in self.connected() if not (p.slow and not self.gate.is_set())]
        watched = set(reading)
        for p in self.phones:
            p.adv_at = None
            p.watched = p in watched
        self.adv_done = 0
        self.adv_needed = len(reading)
        self.adv_event.clear()
        self.adv_from = reading[0].question if reading else ""
        t0 = now()
        await trigger()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.adv_event.wait(), timeout)
        self.adv_from = None
        got = [(p.adv_at - t0) * 1000 for p in reading if p.adv_at is not None]
        if len(got) < len(reading):
            key = f"{self.phase}.phones_without_frame"
            self.extra[key] = self.extra.get(key, 0) + len(reading) - len(got)
        return got

    async def stemlab_moves(self, rounds: int) -> list[float]:
        latencies: list[float] = []
        for i in range(rounds):
            to = "next" if i % 2 == 0 else "previous"

            async def trigger(to: str = to) -> None:
                status = await self.move(to)
                if status != 303:
                    raise RuntimeError(f"move {to} answered {status}")

            latencies += await self.advance(trigger, self.args.advance_timeout)
            await asyncio.sleep(0.5)
        return latencies

    # --- votes ---

    async def vote(
        self, token: str, key: str, rating: int, scheduled: float, out: Votes, server: Server
    ) -> None:
        assert server.pool is not None
        raw = post_form(
            f"/p/{self.code}/vote",
            server.host,
            f"question_id={self.qid}&client_key={key}&s-s1={rating}",
            {
                "Origin": f"http://{server.host}",
                "HX-Request": "true",
                "Cookie": f"stemlab_p={token}",
            },
        )
        out.sent += 1
        out.lag_ms.append((now() - scheduled) * 1000)
        try:
            status, _, _ = await server.pool.request(raw, timeout=self.args.vote_timeout)
        except Exception as exc:
            out.errors += 1
            out.exceptions[type(exc).__name__] += 1
            return
        t = now()
        out.statuses[status] += 1
        if status != 200:
            out.errors += 1
            return
        out.acked += 1
        self.ballots_known += 1
        out.last_ack = max(out.last_ack, t)
        out.ack_ms.append((t - scheduled) * 1000)
        out.acks.append((t, self.ballots_known))

    async def vote_socket(
        self, phone: Phone, key: str, rating: int, scheduled: float, out: Votes
    ) -> None:
        """A vote over the phone's open socket, as the page sends it (the form as JSON)."""
        async with phone.sending:  # a phone sends one vote at a time
            out.sent += 1
            out.lag_ms.append((now() - scheduled) * 1000)
            if phone.ws is None or phone.closed:
                out.errors += 1
                out.exceptions["socket_closed"] += 1
                return
            reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            phone.reply = reply
            message = {"question_id": self.qid, "client_key": key, "s-s1": str(rating)}
            try:
                await phone.ws.send(json.dumps(message))
                text = await asyncio.wait_for(reply, self.args.vote_timeout)
            except Exception as exc:
                out.errors += 1
                out.exceptions[type(exc).__name__] += 1
                return
            finally:
                phone.reply = None
        t = now()
        if not SAVED_RE.search(text):
            out.errors += 1
            out.statuses[422] += 1
            return
        out.statuses[200] += 1
        out.acked += 1
        if phone.rating:
            self.at_value[phone.rating] -= 1
        phone.rating = rating
        self.at_value[rating] += 1
        self.ballots_known += 1
        out.last_ack = max(out.last_ack, t)
        out.ack_ms.append((t - scheduled) * 1000)
        out.acks.append((t, self.ballots_known))
        out.value_acks.append((t, rating, self.at_value[rating]))

    async def paced_socket(self, plan: list[tuple[Phone, int]], rate: float, limit: float) -> Votes:
        """Open loop over phone sockets: vote i is due at start + i/rate; each due vote is sent
        by its own task (a phone is its own connection), latency counted from the due time."""
        out = Votes()
        start = now() + 0.02
        out.first_send = start
        tasks: list[asyncio.Task[None]] = []

        async def producer() -> None:
            for i, (phone, rating) in enumerate(plan):
                due = start + i / rate
                delay = due - now()
                if delay > 0.001:
                    await asyncio.sleep(delay)
                tasks.append(
                    asyncio.create_task(self.vote_socket(phone, f"w{i}-{rating}", rating, due, out))
                )

        feeding = asyncio.create_task(producer())
        deadline = start + limit
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(feeding), max(1.0, deadline - now()))
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=max(1.0, deadline - now()))
        else:
            pending = set()
        unsent = len(plan) - out.sent
        if pending or not feeding.done():
            feeding.cancel()
            for task in pending:
                task.cancel()
            await asyncio.gather(feeding, *pending, return_exceptions=True)
            out.errors += unsent + len(pending)
            out.exceptions["not_answered_by_limit"] += unsent + len(pending)
            self.notes.setdefault(
                "votes",
                f"{unsent} votes not yet sent and {len(pending)} unanswered at the "
                f"{limit:.0f}s limit",
            )
        return out

    async def paced(self, tokens: list[str], rate: float, limit: float) -> Votes:
        """Open loop: vote i is due at start + i/rate whatever happened to the earlier ones.

        Due votes wait in a FIFO for one of the pool's connections (one worker per connection);
        their latency counts from the time they were due, so a slow server is not hidden.
        Vote i goes to server i mod P (the server phone i joined).
        """
        out = Votes()
        due_votes: asyncio.Queue[tuple[int, str, float] | None] = asyncio.Queue()
        workers_n = self.args.connections
        start = now() + 0.02
        out.first_send = start

        async def producer() -> None:
            for i, token in enumerate(tokens):
                due = start + i / rate
                delay = due - now()
                if delay > 0.001:
                    await asyncio.sleep(delay)
                due_votes.put_nowait((i, token, due))
            for _ in range(workers_n):
                due_votes.put_nowait(None)

        stopped = False

        async def worker() -> None:
            while not stopped:
                item = await due_votes.get()
                if item is None:
                    return
                i, token, due = item
                server = self.servers[i % len(self.servers)]
                await self.vote(token, f"k{i}", 1 + i % 5, due, out, server)

        tasks = [asyncio.create_task(producer())]
        tasks += [asyncio.create_task(worker()) for _ in range(workers_n)]
        _, pending = await asyncio.wait(tasks, timeout=max(1.0, start + limit - now()))
        if pending:
            # A cancellation can be swallowed by wait_for (Python 3.11) when a reply lands at the
            # same moment: empty the queue and stop the loops too, so no worker carries on.
            stopped = True
            while not due_votes.empty():
                due_votes.get_nowait()
            in_flight = out.sent - sum(out.statuses.values()) - sum(out.exceptions.values())
            unsent = len(tokens) - out.sent
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            out.errors += unsent + in_flight
            out.exceptions["not_answered_by_limit"] += unsent + in_flight
            self.notes.setdefault(
                "votes",
                f"{unsent} votes not yet sent and {in_flight} unanswered at the {limit:.0f}s limit",
            )
        return out

    def ballots_in_db(self) -> int:
        """Ballots of the measured question, read from the database directly (any database)."""
        url = with_driver(self.database_url)
        args: dict[str, Any] = {"timeout": 10} if url.startswith("sqlite") else {}
        engine = sa.create_engine(url, poolclass=NullPool, connect_args=args)
        try:
            with engine.connect() as connection:
                count = connection.execute(
                    sa.text("SELECT COUNT(*) FROM ballot WHERE question_id = :q"),
                    {"q": int(self.qid)},
                ).scalar_one()
            return int(count)
        finally:
            engine.dispose()

    def screen_count(self) -> int | None:
        frames = [f for f in self.frames if f.question == self.qid and f.count >= 0]
        return frames[-1].count if frames else None

    # --- scenarios ---

    def rss(self) -> float | None:
        """Resident memory of all server processes together (None when one is gone)."""
        values = [rss_mib(server.child.pid) for server in self.servers]
        if not values or any(v is None for v in values):
            return None
        return round(sum(v for v in values if v is not None), 1)

    def exited(self) -> list[int]:
        """Ports of the server processes that are no longer running."""
        return [s.port for s in self.servers if s.child.process.poll() is not None]

    async def s_join(self) -> None:
        n = self.args.phones
        slow_every = 100
        processes = len(self.servers)
        self.phones = [
            Phone(f"ph{i:030d}", slow=(i % slow_every == slow_every - 1), server=i % processes)
            for i in range(n)
        ]
        self.extra["rss_before_join_mib"] = self.rss()
        seconds, failures = await self.join(self.phones, self.port, stemlab=True)
        self.results["join.seconds"] = round(seconds, 2)
        self.results["join.failures"] = failures
        self.units["join"] = ("phone", n - failures)

    async def s_held(self) -> None:
        before = self.extra["rss_before_join_mib"]
        samples: list[float] = []
        end = now() + self.args.hold
        while now() < end:
            await asyncio.sleep(min(1.0, max(0.0, end - now())))
            value = self.rss()
            if value is not None:
                samples.append(value)
        held = samples[-1] if samples else None
        self.results["held.connected"] = len(self.connected())
        self.results["held.rss_mib"] = held
        if len(self.servers) > 1:
            self.extra["held.rss_mib_per_process"] = [rss_mib(s.child.pid) for s in self.servers]
            self.extra["held.connected_per_process"] = [
                sum(1 for p in self.connected() if p.server == i) for i in range(len(self.servers))
            ]
        online = [f.online for f in self.frames if f.online >= 0]
        self.extra["held.server_reports_connected"] = online[-1] if online else None
        if held is not None and before is not None and self.args.phones:
            self.results["held.kib_per_phone"] = round((held - before) * 1024 / self.args.phones, 1)

    async def s_burst(self) -> None:
        n = self.args.burst
        before = self.ballots_in_db()
        self.ballots_known = before
        if self.args.votes_over == "socket":
            # The room's phones vote over the sockets they hold: one first vote each.
            voters = [p for p in self.phones if not p.closed][:n]
            plan = [(p, 1 + i % 5) for i, p in enumerate(voters)]
            if len(plan) < n:
                self.notes["burst"] = f"only {len(plan)} phones connected to vote"
            out = await self.paced_socket(
                plan, n / self.args.burst_window, self.args.burst_window + 60
            )
            n = len(plan)
        else:
            tokens = [p.token for p in self.phones[:n]]
            tokens += [f"bx{i:030d}" for i in range(n - len(tokens))]
            out = await self.paced(tokens, n / self.args.burst_window, self.args.burst_window + 60)
        await asyncio.sleep(1.0)  # a few presenter ticks
        self.results["burst.votes"] = n
        self.results["burst.acked"] = out.acked
        self.results["burst.in_db"] = self.ballots_in_db() - before
        screen = self.screen_count()
        self.results["burst.on_screen"] = None if screen is None else screen - before
        self.results["burst.seconds"] = (
            round(out.last_ack - out.first_send, 2) if out.acked else None
        )
        self.units["burst"] = ("vote", out.acked)
        self.extra["burst.p99_ack_ms"] = r1(pct(out.ack_ms, 0.99))
        self.extra["burst.statuses"] = dict(out.statuses)
        self.extra["burst.errors"] = out.errors
        self.extra["burst.exceptions"] = dict(out.exceptions)

    async def s_sustained(self) -> None:
        if self.args.votes_over == "socket":
            await self.s_sustained_socket()
            return
        rate, seconds = self.args.rate, self.args.seconds
        n = int(rate * seconds)
        tokens = [f"su{i:030d}" for i in range(n)]
        self.ballots_known = self.ballots_in_db()
        frames_from = len(self.frames)
        out = await self.profiled(seconds, self.paced(tokens, rate, seconds + 30))
        elapsed = self.report_sustained(out, n, rate, seconds)
        # Vote to presenter: the first presenter frame whose count covers the ballots known
        # (committed) when the vote was acknowledged; every 10th vote.
        frames = [f for f in self.frames[frames_from:] if f.question == self.qid and f.count >= 0]
        delays: list[float] = []
        missing = 0
        j = 0
        for t_ack, known in out.acks[::10]:
            while j < len(frames) and frames[j].count < known:
                j += 1
            if j == len(frames):
                missing += 1
                continue
            delays.append(max(0.0, (frames[j].t - t_ack) * 1000))
        self.report_vote_to_presenter(delays, missing, len(frames) / elapsed)

    def report_sustained(self, out: Votes, n: int, rate: float, seconds: float) -> float:
        """Record the sustained scenario's numbers; returns the seconds it took."""
        elapsed = max(seconds, (out.last_ack - out.first_send) if out.acked else seconds)
        self.results["sustained.target_per_s"] = rate
        self.results["sustained.achieved_per_s"] = round(out.acked / elapsed, 1)
        self.results["sustained.p50_ack_ms"] = r1(pct(out.ack_ms, 0.50))
        self.results["sustained.p99_ack_ms"] = r1(pct(out.ack_ms, 0.99))
        self.results["sustained.errors"] = out.errors
        self.units["sustained"] = ("vote", out.acked)
        self.extra["sustained.votes"] = n
        self.extra["sustained.acked"] = out.acked
        self.extra["sustained.statuses"] = dict(out.statuses)
        self.extra["sustained.exceptions"] = dict(out.exceptions)
        self.extra["sustained.send_delay_p99_ms"] = r1(pct(out.lag_ms, 0.99))
        return elapsed

    def report_vote_to_presenter(
        self, delays: list[float], missing: int, frames_per_s: float
    ) -> None:
        self.results["vote_to_presenter.p50_ms"] = r1(pct(delays, 0.50))
        self.results["vote_to_presenter.p99_ms"] = r1(pct(delays, 0.99))
        self.extra["vote_to_presenter.samples"] = len(delays)
        self.extra["vote_to_presenter.missing"] = missing
        self.extra["presenter_frames_per_s_during_sustained"] = round(frames_per_s, 1)

    async def profiled(self, seconds: float, votes: Awaitable[Votes]) -> Votes:
        """Run the votes (py-spy on the server meanwhile, with --profile); let ticks settle."""
        profiler = self.start_profiler(seconds)
        out = await votes
        if profiler is not None:
            await asyncio.to_thread(profiler.wait, 30)
        await asyncio.sleep(1.0)
        return out

    def start_profiler(self, seconds: float) -> subprocess.Popen[bytes] | None:
        if not (self.args.profile and self.server is not None):
            return None
        spy = Path(sys.executable).with_name("py-spy")
        return subprocess.Popen(  # noqa: S603 - py-spy from this virtualenv
            [
                *(str(spy), "record", "-d", str(int(seconds)), "-r", "100", "-f", "raw"),
                *("-o", str(self.args.profile), "--pid", str(self.server.pid)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def s_sustained_socket(self) -> None:
        """Paced changes of vote over the phones' sockets, in waves: in wave k every phone
        moves to value v_k, so the presenter's count of v_k only grows during the wave and the
        first frame whose count reaches the number acknowledged shows the vote."""
        rate, seconds = self.args.rate, self.args.seconds
        n = int(rate * seconds)
        phones = [p for p in self.phones if not p.closed]
        if not phones:
            raise RuntimeError("no phone connected")
        plan = []
        for i in range(n):
            wave, index = divmod(i, len(phones))
            plan.append((phones[index], 1 + (wave * 2 + 1) % 5))
        frames_from = len(self.frames)
        out = await self.profiled(seconds, self.paced_socket(plan, rate, seconds + 30))
        elapsed = self.report_sustained(out, n, rate, seconds)
        frames = [f for f in self.frames[frames_from:] if f.question == self.qid and f.dist]
        delays: list[float] = []
        missing = 0
        for t_ack, value, known in out.value_acks[::10]:
            shown = next(
                (f for f in frames if f.t >= t_ack and f.dist.get(value, 0) >= known), None
            )
            if shown is None:
                missing += 1
                continue
            delays.append((shown.t - t_ack) * 1000)
        self.report_vote_to_presenter(delays, missing, len(frames) / elapsed)

    async def s_advance(self) -> None:
        lat = await self.stemlab_moves(self.args.rounds)
        self.results["advance.p50_ms"] = r1(pct(lat, 0.50))
        self.results["advance.p99_ms"] = r1(pct(lat, 0.99))
        self.results["advance.max_ms"] = r1(max(lat) if lat else None)
        self.extra["advance.samples"] = len(lat)

    async def s_slow(self) -> None:
        slow = [p for p in self.connected() if p.slow]
        before = self.rss()
        self.gate.clear()
        try:
            lat = await self.stemlab_moves(self.args.rounds)
            after = self.rss()
        finally:
            self.gate.set()
        await asyncio.sleep(1.0)
        base = self.results.get("advance.p99_ms")
        p99 = pct(lat, 0.99)
        self.extra["slow_phones.count"] = len(slow)
        self.extra["slow_phones.advance_p99_ms"] = r1(p99)
        self.extra["slow_phones.closed_1013"] = sum(1 for p in slow if p.close_code == 1013)
        if base and p99 is not None:
            self.results["slow_phones.advance_p99_change_pct"] = r1(100 * (p99 - base) / base)
        if before is not None and after is not None:
            self.results["slow_phones.rss_growth_mib"] = r1(after - before)

    async def close_phones(self) -> None:
        for p in self.phones:
            if p.ws is not None and p.ws.transport is not None:
                p.ws.transport.abort()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()

    async def s_floor_ws(self) -> None:
        frame = self.sample_frame
        if not frame:
            raise RuntimeError("no phone frame was captured to broadcast")
        path = self.tmp / "frame.html"
        path.write_text(frame)
        port = free_port()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        child = Child(
            [
                sys.executable,
                "-m",
                "bench.floors",
                "ws",
                "--port",
                str(port),
                "--frame",
                str(path),
            ],
            env,
            self.floor_cpu(),
        )
        try:
            child.wait_for(re.compile("ready"), 30)
            self.phones = [Phone(f"fl{i:030d}") for i in range(self.args.phones)]
            seconds, failures = await self.join(self.phones, port, stemlab=False)
            self.extra["floor.join_seconds"] = round(seconds, 2)
            self.extra["floor.join_failures"] = failures
            self.extra["floor.rss_mib"] = rss_mib(child.pid)
            control = await connect(
                f"ws://127.0.0.1:{port}/control", compression=None, proxy=None, ping_interval=None
            )
            latencies: list[float] = []
            for i in range(self.args.rounds):
                qid = str(9000 + i % 2)

                async def trigger(qid: str = qid) -> None:
                    await control.send(f"go {qid}")

                latencies += await self.advance(trigger, self.args.advance_timeout)
                await control.recv()
                await asyncio.sleep(0.5)
            await control.close()
            floor = pct(latencies, 0.99)
            self.results["advance.floor_p99_ms"] = r1(floor)
            self.extra["floor.advance_p50_ms"] = r1(pct(latencies, 0.5))
            self.extra["floor.frame_bytes"] = len(frame.encode())
            mine = self.results.get("advance.p99_ms")
            if floor and mine is not None:
                self.results["advance.ratio_to_floor"] = round(mine / floor, 2)
        finally:
            await self.close_phones()
            child.stop()

    def floor_cpu(self) -> int | None:
        return SERVER_CPU if self.args.pin == "split" else None

    async def s_floor_db(self) -> None:
        """Group commit with nothing in front (the run's kind of database), then the ballot box."""
        if self.args.database == "postgresql":
            # In the bench database (its servers have stopped): two tables of the floor's own.
            target = ["postgresql", "--url", self.database_url]
        else:
            target = ["sqlite", "--db", str(self.tmp / "floor.db")]
        child = Child(
            [
                sys.executable,
                "-m",
                "bench.floors",
                *target,
                "--seconds",
                str(self.args.floor_seconds),
            ],
            dict(os.environ),
            self.floor_cpu(),
        )
        await asyncio.to_thread(child.process.wait, self.args.floor_seconds + 60)
        data = json.loads(child.lines[-1])
        floor = data["votes_per_s"]
        self.results["floor.group_commit_votes_per_s"] = floor
        achieved = self.results.get("sustained.achieved_per_s")
        if achieved is not None and floor:
            self.results["sustained.ratio_to_floor"] = round(achieved / floor, 3)
        # The app's own writer without HTTP in front of it (bench/writer.py), same CPU.
        votes, concurrency = (2000, 200) if self.args.quick else (20000, 1000)
        on_database: list[str] = []
        if self.databases is not None:
            on_database = ["--database-url", self.databases.create("writer")]
        writer = Child(
            [
                sys.executable,
                "-m",
                "bench.writer",
                "--votes",
                str(votes),
                "--concurrency",
                str(concurrency),
                *on_database,
            ],
            dict(os.environ),
            self.floor_cpu(),
        )
        await asyncio.to_thread(writer.process.wait, 120)
        text = writer.text()
        found = re.search(r"\{.*\}", text, re.S)
        if found:
            stats = json.loads(found.group(0))
            self.extra["floor.ballot_box_votes_per_s"] = stats.get("votes_per_s")
            self.extra["floor.ballot_box_p99_ack_ms"] = stats.get("p99_ack_ms")

    def servers_cpu(self) -> list[float | None]:
        return [cpu_seconds(s.child.pid) for s in self.servers]

    async def scenario(self, name: str, keys: list[str], limit: float, run: Any) -> None:
        started = now()
        self.phase = name
        servers_cpu = self.servers_cpu() if self.servers and not self.exited() else None
        sampled = self.sampler.mark() if self.sampler is not None else None
        everyone = all_process_cpu()
        own_cpu = time.process_time()
        machine_cpu = busy_cpu_seconds()
        try:
            await asyncio.wait_for(run(), limit)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if isinstance(exc, TimeoutError):
                reason = f"hit the {limit:.0f}s limit of this scenario"
            self.notes[name] = reason[:500]
            print(f"  {name}: did not complete ({reason[:200]})", flush=True)
        for key in keys:
            self.results.setdefault(key, None)
        wall = now() - started
        self.extra[f"{name}.wall_s"] = round(wall, 1)
        own = time.process_time() - own_cpu
        self.extra[f"{name}.loadgen_cpu_pct"] = round(100 * own / wall)
        others = busy_cpu_seconds() - machine_cpu - own
        after = self.servers_cpu() if servers_cpu is not None and not self.exited() else None
        if servers_cpu is not None and after is not None:
            used = [
                b - a
                for a, b in zip(servers_cpu, after, strict=True)
                if a is not None and b is not None
            ]
            # All server processes together (one process: that process).
            self.extra[f"{name}.server_cpu_pct"] = round(100 * sum(used) / wall)
            # CPU time per phone joined or vote acknowledged: what a process costs per unit of
            # work, which other work on the machine changes far less than it changes latency.
            unit, count = self.units.get(name, ("", 0))
            if count:
                self.extra[f"{name}.server_cpu_ms_per_{unit}"] = round(1000 * sum(used) / count, 3)
            if len(used) > 1:
                self.extra[f"{name}.server_cpu_pct_per_process"] = [
                    round(100 * u / wall) for u in used
                ]
            others -= sum(used)
        if self.sampler is not None and sampled is not None:
            unit, count = self.units.get(name, ("", 0))
            for group, cpu in self.sampler.since(sampled).items():
                # PostgreSQL backends of this run's database; the Redis server.
                self.extra[f"{name}.{group}_cpu_pct"] = round(100 * cpu / wall)
                if count:
                    self.extra[f"{name}.{group}_cpu_ms_per_{unit}"] = round(1000 * cpu / count, 3)
                others -= cpu
        # CPU used by anything else on the machine (other users' work competes for both cores),
        # and who used most of it.
        self.extra[f"{name}.other_cpu_pct"] = round(100 * others / wall)
        ours = {os.getpid(), *(child.pid for child in _CHILDREN)}
        if others / wall >= 0.1:
            self.extra[f"{name}.other_busiest"] = busiest(everyone, all_process_cpu(), wall, ours)
        print(f"  {name} done in {now() - started:.1f}s", flush=True)

    async def run(self) -> None:
        a = self.args
        self.results["phones"] = a.phones
        self.results["database"] = a.database
        self.results["processes"] = a.processes
        n = a.phones
        big = max(1.0, n / 1000)
        try:
            self.prepare_database()
            self.start_servers()
            assert self.server is not None
            if a.database == "postgresql" or self.redis_prefix:
                self.sampler = CpuSampler(
                    self.databases.prefix if self.databases is not None else None,
                    redis=bool(self.redis_prefix),
                )
                self.sampler.start()
            await self.facilitator()
            await self.open_presenter()
            self.extra["server_pid"] = self.server.pid
            if len(self.servers) > 1:
                self.extra["server_pids"] = [s.child.pid for s in self.servers]
            plan: list[tuple[str, list[str], float, Any]] = [
                ("join", ["join.seconds", "join.failures"], 30 + 12 * big, self.s_join),
                (
                    "held",
                    ["held.connected", "held.rss_mib", "held.kib_per_phone"],
                    a.hold + 30,
                    self.s_held,
                ),
                (
                    "burst",
                    [
                        "burst.votes",
                        "burst.acked",
                        "burst.in_db",
                        "burst.on_screen",
                        "burst.seconds",
                    ],
                    a.burst_window + 90,
                    self.s_burst,
                ),
                (
                    "advance",
                    ["advance.p50_ms", "advance.p99_ms", "advance.max_ms"],
                    a.rounds * (a.advance_timeout + 2) + 10,
                    self.s_advance,
                ),
                (
                    "slow_phones",
                    ["slow_phones.advance_p99_change_pct", "slow_phones.rss_growth_mib"],
                    a.rounds * (a.advance_timeout + 2) + 10,
                    self.s_slow,
                ),
                (
                    "sustained",
                    [
                        "sustained.target_per_s",
                        "sustained.achieved_per_s",
                        "sustained.p50_ack_ms",
                        "sustained.p99_ack_ms",
                        "sustained.errors",
                        "vote_to_presenter.p50_ms",
                        "vote_to_presenter.p99_ms",
                    ],
                    a.seconds + 120,
                    self.s_sustained,
                ),
            ]
            for name, keys, limit, fn in plan:
                gone = self.exited()
                if gone:
                    self.notes[name] = f"the server(s) on port {gone} had exited"
                    for key in keys:
                        self.results.setdefault(key, None)
                    continue
                await self.scenario(name, keys, limit, fn)
            self.extra["server_rss_end_mib"] = self.rss()
        finally:
            await self.close_phones()
            if self.presenter is not None and self.presenter.transport is not None:
                self.presenter.transport.abort()
            await self.stop_servers()
        await self.scenario(
            "floor_ws",
            ["advance.floor_p99_ms", "advance.ratio_to_floor"],
            30 + 12 * big + a.rounds * (a.advance_timeout + 2),
            self.s_floor_ws,
        )
        await self.scenario(
            f"floor_{a.database}",
            ["floor.group_commit_votes_per_s", "sustained.ratio_to_floor"],
            a.floor_seconds + 180,
            self.s_floor_db,
        )
        if self.sampler is not None:
            self.sampler.stop()

    async def stop_servers(self) -> None:
        """SIGTERM every server at once; keep their output and count what they logged as errors.

        bench/results/server.log is the first server's output, server-2.log the second's, ...
        """
        retries = sum(s.pool.reconnects for s in self.servers if s.pool is not None)
        if retries:
            # Page loads sent again after a keep-alive connection was reset (see loadhttp.py).
            self.extra["http_get_retries"] = retries
        for server in self.servers:
            if server.pool is not None:
                server.pool.close()
        await asyncio.gather(*(asyncio.to_thread(s.child.stop) for s in self.servers))
        RESULTS.mkdir(parents=True, exist_ok=True)
        for stale in RESULTS.glob("server-*.log"):
            stale.unlink()
        errors: Counter[str] = Counter()
        for i, server in enumerate(self.servers):
            name = "server.log" if i == 0 else f"server-{i + 1}.log"
            (RESULTS / name).write_text(server.child.text()[-2_000_000:])
            errors.update(
                line.strip()[:160] for line in server.child.lines if line.startswith("ERROR")
            )
            code = server.child.process.returncode
            # uvicorn re-raises the SIGTERM it handled once it has shut down: -15 is a clean stop.
            if code not in (0, -signal.SIGTERM, None):
                self.extra.setdefault("server_exit_codes", {})[str(server.port)] = code
        if errors:
            self.extra["server_errors_logged"] = dict(errors.most_common(8))


KEYS = [
    "phones",
    "database",
    "processes",
    "join.seconds",
    "join.failures",
    "held.connected",
    "held.rss_mib",
    "held.kib_per_phone",
    "burst.votes",
    "burst.acked",
    "burst.in_db",
    "burst.on_screen",
    "burst.seconds",
    "sustained.target_per_s",
    "sustained.achieved_per_s",
    "sustained.p50_ack_ms",
    "sustained.p99_ack_ms",
    "sustained.errors",
    "vote_to_presenter.p50_ms",
    "vote_to_presenter.p99_ms",
    "advance.p50_ms",
    "advance.p99_ms",
    "advance.max_ms",
    "advance.floor_p99_ms",
    "advance.ratio_to_floor",
    "slow_phones.advance_p99_change_pct",
    "slow_phones.rss_growth_mib",
    "floor.group_commit_votes_per_s",
    "sustained.ratio_to_floor",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phones", type=int, default=None, help="phones (default 10,000)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the size, short phases")
    parser.add_argument("--hold", type=float, default=None, help="seconds all phones stay")
    parser.add_argument("--burst", type=int, default=None, help="distinct voters in the burst")
    parser.add_argument("--burst-window", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=None, help="sustained votes per second")
    parser.add_argument("--seconds", type=float, default=None, help="sustained duration")
    parser.add_argument("--rounds", type=int, default=6, help="advances per advance scenario")
    parser.add_argument("--advance-timeout", type=float, default=20.0)
    parser.add_argument("--vote-timeout", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=1000, help="HTTP keep-alive pool")
    parser.add_argument(
        "--votes-over",
        choices=["socket", "http"],
        default="socket",
        help="how phones send votes: over their open socket (what the page does) or form posts",
    )
    parser.add_argument("--join-concurrency", type=int, default=200)
    parser.add_argument("--floor-seconds", type=float, default=None)
    parser.add_argument(
        "--phone-tick-ms", type=int, default=0, help="STEMLAB_PHONE_TICK_MS (0: server default)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    parser.add_argument(
        "--profile", type=Path, default=None, help="py-spy the (first) server during sustained"
    )
    scale = parser.add_argument_group("scale-out (several processes on PostgreSQL and Redis)")
    scale.add_argument(
        "--database",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="sqlite: a new file (default); postgresql: a new database, dropped at the end",
    )
    scale.add_argument(
        "--processes",
        type=int,
        default=1,
        help="server processes sharing the database and one Redis prefix (more than 1 needs "
        "--database postgresql); phones are spread over them round robin",
    )
    scale.add_argument(
        "--postgres-url",
        default=os.environ.get("STEMLAB_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="a PostgreSQL database whose user may create databases (default: "
        "$STEMLAB_BENCH_POSTGRES_URL or %(default)s)",
    )
    scale.add_argument(
        "--redis-url",
        default=os.environ.get("STEMLAB_BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        help="Redis for several processes (default: $STEMLAB_BENCH_REDIS_URL or %(default)s)",
    )
    scale.add_argument("--redis", action="store_true", help="use Redis with a single process too")
    scale.add_argument(
        "--pin",
        choices=["split", "none"],
        default="split",
        help="split: the load generator on CPU 0 and every server on CPU 1 (default); "
        "none: nothing pinned, the servers may use every core",
    )
    scale.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="hard limit of the whole run in seconds (default 110 quick, else 1,800 per "
        "10,000 phones)",
    )
    args = parser.parse_args(argv)
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    if args.processes > 1 and args.database != "postgresql":
        parser.error("several processes share one database: add --database postgresql")
    quick = args.quick
    defaults = {
        "phones": 1000 if quick else 10_000,
        "hold": 6.0 if quick else 60.0,
        "burst": 1000 if quick else 10_000,
        "rate": 500.0 if quick else 5000.0,
        "seconds": 5.0 if quick else 30.0,
        "floor_seconds": 2.0 if quick else 5.0,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if quick:
        args.advance_timeout = min(args.advance_timeout, 10.0)
    if args.time_limit is None:
        args.time_limit = 110.0 if quick else 1800.0 * max(1.0, args.phones / 10_000)
    return args


def table(results: dict[str, Any], notes: dict[str, str]) -> str:
    width = max(len(k) for k in KEYS)
    lines = [f"{'metric'.ljust(width)}  value", f"{'-' * width}  -----"]
    for key in KEYS:
        value = results.get(key)
        lines.append(f"{key.ljust(width)}  {'null' if value is None else value}")
    for name, reason in notes.items():
        lines.append(f"note {name}: {reason}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    raise_nofile()
    pinned = pin(LOAD_CPU) if args.pin == "split" else False
    watchdog(args.time_limit)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="stemlab-bench-") as tmp:
        bench = Bench(args, Path(tmp))
        try:
            import uvloop

            uvloop.run(bench.run())
        finally:
            _kill_children()
            _clean_up()
    results = {key: bench.results.get(key) for key in KEYS}
    out: dict[str, Any] = dict(results)
    out["notes"] = bench.notes
    out["extra"] = bench.extra
    out["config"] = {
        "quick": args.quick,
        "hold_s": args.hold,
        "burst_window_s": args.burst_window,
        "advance_rounds": args.rounds,
        "http_connections": args.connections,
        "join_concurrency": args.join_concurrency,
        "phone_tick_ms": args.phone_tick_ms or "server default (250)",
        "presenter_tick_ms": "server default (100)",
        "pinned": {"server_cpu": SERVER_CPU, "load_cpu": LOAD_CPU} if pinned else None,
        "database": args.database,
        "processes": args.processes,
        "redis": bool(bench.redis_prefix),
        "phones_spread": "round robin over the processes; presenter and facilitator on the first",
        "cpus": os.cpu_count(),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "sustained_votes": (
            "changes of vote by the connected phones, in waves, scale question s-s1"
            if args.votes_over == "socket"
            else "new participants (one first vote each), scale question s-s1"
        ),
        "votes_sent_as": (
            "JSON over each phone's open socket"
            if args.votes_over == "socket"
            else "htmx form posts (HX-Request: true), keep-alive pool"
        ),
        "python": sys.version.split()[0],
        "loadavg_end": Path("/proc/loadavg").read_text().split()[:3],
        "wall_s": round(time.monotonic() - started, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2) + "\n")
    print(table(results, bench.notes))
    print(f"wrote {args.output} ({out['config']['wall_s']}s)")


if __name__ == "__main__":
    main()
