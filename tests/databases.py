"""The database the tests run on: SQLite files, or PostgreSQL databases of the test session's own.

`STEMLAB_TEST_DATABASE=postgresql` runs the suite on PostgreSQL (`make test` runs it on both).
The session then creates uniquely named databases on the server of `STEMLAB_TEST_POSTGRES_URL`
(by default the local server's maintenance database, as user postgres) and drops them at its
end, so several runs can share one server.
"""

from __future__ import annotations

import itertools
import os
import secrets
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers the tables)
from app.db import normalise_url

KIND = os.environ.get("STEMLAB_TEST_DATABASE", "").strip().lower() or "sqlite"
ON_POSTGRESQL = KIND in ("postgresql", "postgres", "pg")
ON_SQLITE = KIND == "sqlite"
ADMIN_URL = normalise_url(
    os.environ.get("STEMLAB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
)


def _admin() -> sa.Engine:
    # CREATE and DROP DATABASE cannot run inside a transaction.
    return sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def check_server() -> str | None:
    """Why the tests cannot run on the chosen database, or None when they can."""
    if ON_SQLITE:
        return None
    if not ON_POSTGRESQL:
        return f"STEMLAB_TEST_DATABASE={KIND!r}: use sqlite (the default) or postgresql"
    engine = _admin()
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as exc:
        where = make_url(ADMIN_URL).render_as_string(hide_password=True)
        return (
            f"STEMLAB_TEST_DATABASE=postgresql, but PostgreSQL at {where} cannot be reached: "
            f"{str(exc.orig).strip()}\nStart it (pg_ctlcluster ... main start) or point "
            "STEMLAB_TEST_POSTGRES_URL at a server where this user may create databases."
        )
    finally:
        engine.dispose()
    return None


class Databases:
    """Empty databases for one test session: SQLite files, or PostgreSQL databases it drops."""

    def __init__(self) -> None:
        self.prefix = f"stemlab_test_{secrets.token_hex(4)}"
        self._numbers = itertools.count(1)
        self._created: list[str] = []

    def new(self, directory: Path) -> str:
        """The URL of a new, empty database (SQLite: `stemlab.db` in `directory`)."""
        if not ON_POSTGRESQL:
            return f"sqlite:///{directory / 'stemlab.db'}"
        name = f"{self.prefix}_{next(self._numbers)}"
        engine = _admin()
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            engine.dispose()
        self._created.append(name)
        return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        """Drop every database this session created (FORCE: a killed server's leftovers too)."""
        if not self._created:
            return
        engine = _admin()
        try:
            with engine.connect() as connection:
                for name in self._created:
                    connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            engine.dispose()
        self._created.clear()


DATABASES = Databases()


class Emptier:
    """Empties every table of one migrated PostgreSQL database between tests, and restarts
    its id sequences, so each test starts as on a new database.

    DELETE rather than TRUNCATE: on tables this small it is ten times faster.
    """

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, pool_size=1)
        ordered = list(reversed(SQLModel.metadata.sorted_tables))  # children first
        tables = [f'"{t.name}"' for t in ordered]
        with self.engine.connect() as connection:
            sequences = [
                name
                for table in ordered
                if "id" in table.c and isinstance(table.c.id.type, sa.Integer)
                for name in connection.execute(
                    sa.text("SELECT pg_get_serial_sequence(:table, 'id')"),
                    {"table": f'"{table.name}"'},
                ).scalars()
                if name
            ]
        # One round trip: psycopg sends a query without parameters as it is.
        self.statement = "; ".join(
            [f"DELETE FROM {table}" for table in tables]
            + [f"SELECT setval('{name}', 1, false)" for name in sequences]
        )

    def __call__(self) -> None:
        with self.engine.begin() as connection:
            # A connection a test left open inside a transaction would make this wait for
            # ever; fail instead, and say so.
            connection.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
            connection.exec_driver_sql(self.statement)

    def dispose(self) -> None:
        self.engine.dispose()
