"""Engines and sessions; SQLite pragmas (WAL, busy timeout, foreign keys)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from app.config import Settings


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(settings: Settings, *, immediate: bool = False) -> Engine:
    """An engine for the configured database.

    On SQLite, `immediate=True` makes every transaction start with BEGIN IMMEDIATE, so a
    transaction that reads and then writes takes the write lock up front and waits for it
    (busy_timeout) instead of failing with "database is locked" halfway through.
    """
    url = settings.database_url
    if not _is_sqlite(url):
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


class Database:
    """The read engine and the write engine of one database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings)
        self.write_engine = (
            make_engine(settings, immediate=True)
            if _is_sqlite(settings.database_url)
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
