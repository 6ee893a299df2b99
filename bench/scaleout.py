"""What the harness needs to run Stemlab on PostgreSQL and Redis, besides the servers themselves.

- `PostgresDatabases`: uniquely named, empty databases on a PostgreSQL server (created through its
  maintenance database), dropped again at the end of the run, whatever happened.
- `CpuSampler`: CPU time of processes the harness did not start (the PostgreSQL backends serving
  the bench database, the Redis server), sampled from /proc, so each scenario can say how much
  CPU the database and Redis used next to the servers and the load generator.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def with_driver(url: str) -> str:
    """`postgresql://` and `postgres://` as psycopg 3 URLs (what the app installs)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class PostgresDatabases:
    """Empty databases named `stemlab_bench_<random>[_<suffix>]`, dropped by `drop_all()`."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = with_driver(admin_url)
        self.prefix = f"stemlab_bench_{secrets.token_hex(4)}"
        self.created: list[str] = []
        self._lock = threading.Lock()

    def _admin(self) -> sa.Engine:
        # CREATE and DROP DATABASE cannot run inside a transaction.
        return sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def create(self, suffix: str = "") -> str:
        """A new empty database; returns its URL (psycopg 3 driver)."""
        name = self.prefix + (f"_{suffix}" if suffix else "")
        engine = self._admin()
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            engine.dispose()
        with self._lock:
            self.created.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> list[str]:
        """Drop every database this object created (closing what is still connected to them).

        Returns the reasons of the drops that failed; safe to call more than once.
        """
        with self._lock:
            names, self.created = self.created, []
        failures: list[str] = []
        if not names:
            return failures
        engine = self._admin()
        try:
            with engine.connect() as connection:
                for name in names:
                    try:
                        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    except sa.exc.DBAPIError as exc:
                        failures.append(f"{name}: {str(exc.orig).strip()[:200]}")
        except sa.exc.DBAPIError as exc:
            failures.append(f"{names}: {str(exc.orig).strip()[:200]}")
        finally:
            engine.dispose()
        return failures


def database_name(url: str) -> str:
    return make_url(with_driver(url)).database or ""


def server_version(url: str) -> str:
    engine = sa.create_engine(with_driver(url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return str(connection.exec_driver_sql("SHOW server_version").scalar())
    finally:
        engine.dispose()


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def all_process_cpu() -> dict[int, tuple[str, float]]:
    """Every process on the machine: pid -> (name, CPU seconds so far)."""
    found: dict[int, tuple[str, float]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            pid = int(entry.name)
            cpu = process_cpu_seconds(pid)
            if cpu is not None:
                found[pid] = (_comm(pid), cpu)
    return found


def busiest(
    before: dict[int, tuple[str, float]],
    after: dict[int, tuple[str, float]],
    seconds: float,
    leave_out: set[int],
    top: int = 3,
) -> list[str]:
    """The processes (not in `leave_out`) that used the most CPU between two snapshots, as
    "name(pid) 40%" for those above 5% of a core; a process alive at both ends only."""
    used = []
    for pid, (name, cpu) in after.items():
        if pid in leave_out or pid not in before:
            continue
        share = 100 * (cpu - before[pid][1]) / seconds
        if share >= 5:
            used.append((share, f"{name}({pid}) {share:.0f}%"))
    return [label for _, label in sorted(used, reverse=True)[:top]]


class CpuSampler:
    """CPU seconds used by groups of other processes, found by name in /proc every half second.

    Groups: "db" (PostgreSQL backends connected to the run's databases, whose names start with
    `database`: a backend's process title names its database) and "redis" (every
    `redis-server` on the machine). PostgreSQL's shared background
    processes (WAL writer, checkpointer) are not counted. A backend that exits between two
    samples loses at most half a second of its CPU; a process born after a mark counts whole.
    """

    INTERVAL = 0.5

    def __init__(self, database: str | None, redis: bool) -> None:
        self.database = database
        self.redis = redis
        self._lock = threading.Lock()
        self._latest: dict[int, tuple[str, float]] = {}  # pid -> (group, cpu seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self.sample()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _group(self, pid: int) -> str | None:
        comm = _comm(pid)
        if self.redis and comm == "redis-server":
            return "redis"
        # A backend's title: "postgres: 15/main: postgres stemlab_bench_1a2b 127.0.0.1(4000) idle"
        if self.database and comm == "postgres" and f" {self.database}" in _cmdline(pid):
            return "db"
        return None

    def sample(self) -> None:
        found: dict[int, tuple[str, float]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            group = self._group(pid)
            if group is None:
                continue
            cpu = process_cpu_seconds(pid)
            if cpu is not None:
                found[pid] = (group, cpu)
        with self._lock:
            self._latest.update(found)

    def _loop(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            with contextlib.suppress(OSError):
                self.sample()

    def mark(self) -> dict[int, tuple[str, float]]:
        """The CPU of every known process now (sampled afresh)."""
        self.sample()
        with self._lock:
            return dict(self._latest)

    def since(self, mark: dict[int, tuple[str, float]]) -> dict[str, float]:
        """CPU seconds per group used since `mark`."""
        self.sample()
        used: dict[str, float] = {}
        with self._lock:
            for pid, (group, cpu) in self._latest.items():
                before = mark.get(pid)
                base = before[1] if before is not None else 0.0
                used[group] = used.get(group, 0.0) + max(0.0, cpu - base)
        return used
