"""The server's secret key: STEMLAB_SECRET_KEY, or one made on the first start and kept in the
database.

Every worker and host reads the same row (the first to start writes it; the others find it), so
all of them accept each other's participant tokens, and a restart keeps every phone joined.
Anyone who can read the database can read the key; they could write votes directly as well.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from app.config import Settings
from app.db import Database
from app.models import ServerKey, utcnow

KEY_NAME = "secret_key"
server_key_t = ServerKey.__table__  # type: ignore[attr-defined]


def _stored(session: Session) -> str | None:
    value = session.execute(
        sa.select(server_key_t.c.value).where(server_key_t.c.name == KEY_NAME)
    ).scalar_one_or_none()
    return str(value) if value is not None else None


def _insert_unless_there(session: Session) -> None:
    """Store a new random key, unless another process stored one first (that one is kept)."""
    row = {"name": KEY_NAME, "value": secrets.token_urlsafe(32), "created_at": utcnow()}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(server_key_t).values(**row).on_conflict_do_nothing())


def load_secret_key(settings: Settings, db: Database) -> bytes:
    """The secret key: the configured one, else the stored one (stored first when missing)."""
    configured = settings.secret_key.get_secret_value()
    if configured:
        return configured.encode()
    with db.session() as session:
        stored = _stored(session)
    if stored is None:
        with db.write_session() as session:
            _insert_unless_there(session)
        with db.session() as session:
            stored = _stored(session)
    if stored is None:  # pragma: no cover - the row was just written
        raise RuntimeError("the server's secret key could not be stored")
    return stored.encode()
