"""Personal API tokens: a facilitator creates and revokes them; /api/v1 accepts them.

A token is shown once, when it is created; the database keeps only its sha256 (a stolen
database or backup holds no usable token) and its first characters, so the facilitator can
tell tokens apart. A revoked token is refused from the next request on (every request looks
its hash up). The time a token was last used is written at most once a minute per token, not
on every request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.errors import Refused
from app.i18n import _l
from app.models import ApiToken, utcnow
from app.questions.text import clean_text
from app.services import NotFound

TOKEN_PREFIX = "stl_"  # noqa: S105 (a marker, not a secret)
PREFIX_LENGTH = 12  # what the token page shows: "stl_" and 8 random characters
MAX_NAME = 100
MAX_ACTIVE = 50
# last_used_at is written at most this often per token.
TOUCH_EVERY = timedelta(minutes=1)
# A bearer value longer than this is no token of ours (it is not even hashed).
MAX_TOKEN_LENGTH = 200


class TokenError(Refused):
    """A token request the facilitator must correct."""


@dataclass(frozen=True)
class Caller:
    """Who an API request acts for."""

    token_id: int
    owner_id: int
    last_used_at: datetime | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_token(*, session: Session, owner_id: int, name: str) -> tuple[ApiToken, str]:
    """A new token: its row (hash and prefix only) and the token itself, to show once."""
    name = " ".join(clean_text(name).split())
    if not name:
        raise TokenError(_l("Give the token a name."))
    if len(name) > MAX_NAME:
        raise TokenError(_l("The name can have at most %(n)s characters."), n=MAX_NAME)
    active = session.execute(
        sa.select(sa.func.count())
        .select_from(ApiToken)
        .where(col(ApiToken.owner_id) == owner_id, col(ApiToken.revoked_at).is_(None))
    ).scalar_one()
    if active >= MAX_ACTIVE:
        raise TokenError(_l("You can have at most %(n)s tokens. Revoke one first."), n=MAX_ACTIVE)
    token = new_token()
    row = ApiToken(
        owner_id=owner_id, name=name, token_hash=hash_token(token), prefix=token[:PREFIX_LENGTH]
    )
    session.add(row)
    session.flush()
    return row, token


def list_tokens(*, session: Session, owner_id: int) -> list[ApiToken]:
    """A facilitator's tokens: active ones first, newest first."""
    stmt = (
        select(ApiToken)
        .where(ApiToken.owner_id == owner_id)
        .order_by(col(ApiToken.revoked_at).is_not(None), col(ApiToken.id).desc())
    )
    return list(session.exec(stmt).all())


def revoke_token(*, session: Session, owner_id: int, token_id: int) -> ApiToken:
    """Revoke one of the facilitator's tokens (someone else's: NotFound)."""
    row = session.get(ApiToken, token_id)
    if row is None or row.owner_id != owner_id:
        raise NotFound("token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
    return row


def authenticate(*, session: Session, token: str) -> Caller | None:
    """Who the token belongs to; None for an unknown or revoked token."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    return Caller(row.id or 0, row.owner_id, row.last_used_at)


def needs_touch(caller: Caller, now: datetime) -> bool:
    """Whether this use should be written down (the last write is a minute old or more)."""
    last = caller.last_used_at
    if last is None:
        return True
    if last.tzinfo is None:  # SQLite gives naive UTC back
        last = last.replace(tzinfo=now.tzinfo)
    return now - last >= TOUCH_EVERY


def touch(*, session: Session, token_id: int, now: datetime) -> None:
    """Note the use; a concurrent request that wrote it within the minute wins (no write)."""
    session.execute(
        sa.update(ApiToken)
        .where(
            col(ApiToken.id) == token_id,
            sa.or_(
                col(ApiToken.last_used_at).is_(None),
                col(ApiToken.last_used_at) <= now - TOUCH_EVERY,
            ),
        )
        .values(last_used_at=now)
    )
