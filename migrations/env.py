"""Alembic environment: the models' metadata, the URL from Stemlab's settings."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers the tables)
from app.config import get_settings
from app.db import MIGRATION_LOCK, advisory_lock, is_sqlite, make_engine, normalise_url

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    return normalise_url(config.attributes.get("database_url") or get_settings().database_url)


def run_migrations_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=is_sqlite(url),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    settings = get_settings().model_copy(update={"database_url": _url()})
    engine = make_engine(settings, immediate=True)
    sqlite = is_sqlite(settings.database_url)
    with engine.connect() as connection:
        if sqlite:
            # SQLite rebuilds a table to change it: with foreign keys on, dropping the old table
            # would delete its children. The switch only works outside a transaction.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=is_sqlite(settings.database_url),
        )
        with context.begin_transaction():
            # Every worker and host runs `stemlab serve`, which migrates first: on PostgreSQL
            # they take turns (the whole upgrade is one transaction there), so the second one
            # finds the schema up to date instead of creating the same tables again.
            # On SQLite, BEGIN IMMEDIATE already makes them take turns.
            advisory_lock(connection, MIGRATION_LOCK)
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left broken references: {broken[:5]}")
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
