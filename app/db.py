"""Engines and sessions: SQLite pragmas (WAL, busy timeout, foreign keys), PostgreSQL pools."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, create_engine

from app.config import Settings

# What one worker process holds on PostgreSQL: up to POOL_SIZE connections kept open between
# requests, and up to POOL_OVERFLOW more while it is busy (closed again when returned).
POOL_SIZE = 5
POOL_OVERFLOW = 10

# SQLSTATEs with which PostgreSQL fails a transaction because of a concurrent one, so that
# running it again may well succeed: serialization_failure, deadlock_detected, and
# unique_violation (two transactions inserting the same key at once).
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "23505"})

# Keys of PostgreSQL advisory locks (any fixed numbers, the same in every process).
MIGRATION_LOCK = 0x5354_454D_0001
DEMO_LOCK = 0x5354_454D_0002


def normalise_url(url: str) -> str:
    """The URL with its driver: `postgresql://` and `postgres://` mean psycopg 3.

    Operators paste URLs as PostgreSQL and hosting providers print them, without a driver;
    SQLAlchemy would pick psycopg2 for those, which Stemlab does not install.
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def is_postgresql(url: str) -> bool:
    return normalise_url(url).startswith("postgresql+")


def make_engine(settings: Settings, *, immediate: bool = False) -> Engine:
    """An engine for the configured database.

    On SQLite, `immediate=True` makes every transaction start with BEGIN IMMEDIATE, so a
    transaction that reads and then writes takes the write lock up front and waits for it
    (busy_timeout) instead of failing with "database is locked" halfway through. PostgreSQL
    needs no such thing: writers lock the rows they decide on (see services/votes.py).
    """
    url = normalise_url(settings.database_url)
    if is_postgresql(url):
        return create_engine(
            url,
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
            pool_timeout=30,
            # A connection the server or a proxy closed while idle is replaced, not handed out.
            pool_pre_ping=True,
            # (No startup "options" such as a time zone: PgBouncer refuses them. Timestamps
            # come back in UTC anyway, converted by the column type.)
            connect_args={"application_name": "stemlab", "connect_timeout": 10},
        )
    if not is_sqlite(url):
        return create_engine(url, pool_pre_ping=True)

    path = settings.sqlite_path
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own handling is off).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        mode = cur.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if path is not None and str(mode).lower() != "wal":
            raise RuntimeError(f"SQLite refused WAL mode (got {mode!r})")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


def is_retryable(exc: BaseException) -> bool:
    """Whether a transaction that failed with `exc` may succeed when run again from the start.

    True for failures caused by a concurrent transaction (PostgreSQL's serialization failures,
    deadlocks and unique violations; SQLite's "database is locked" after the busy timeout) and
    for a connection that was lost (the pool opens a new one).
    """
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES:
        return True
    return "database is locked" in str(exc.orig)


def advisory_lock(connection: Connection | Session, key: int) -> None:
    """On PostgreSQL, wait for and hold an advisory lock until the transaction ends.

    For work that several processes may start at once (migrating, seeding an empty database).
    SQLite needs none: its write transactions (BEGIN IMMEDIATE) already run one at a time.
    """
    bind = connection.get_bind() if isinstance(connection, Session) else connection
    if bind.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


class Database:
    """The read engine and the write engine of one database (one engine on PostgreSQL)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings)
        self.write_engine = (
            make_engine(settings, immediate=True)
            if is_sqlite(settings.database_url)
            else self.engine
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for reading (deferred transactions)."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A session for a read-then-write use case; commits on success."""
        with Session(self.write_engine, expire_on_commit=False) as session:
            yield session
            session.commit()

    def dispose(self) -> None:
        self.engine.dispose()
        self.write_engine.dispose()
