"""Facilitator accounts and server-side login sessions."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, delete, select

from app.errors import Refused
from app.models import AuthSession, User, utcnow

# Argon2id with the library's defaults (m=64 MiB, t=3, p=4): above OWASP's minimum.
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("stemlab-dummy-password")
MIN_PASSWORD = 10


class AccountError(Refused):
    """An account that cannot be created as asked."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def token_hash(token: str) -> str:
    """What is stored of a cookie token: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(*, session: Session, email: str, password: str) -> User:
    email = normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise AccountError("Enter a valid email address.")
    if len(password) < MIN_PASSWORD:
        raise AccountError("The password needs at least 10 characters.")
    if session.exec(select(User).where(User.email == email)).first():
        raise AccountError("There is already an account with this email address.")
    user = User(email=email, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    return user


def set_password(*, session: Session, email: str, password: str) -> User:
    user = session.exec(select(User).where(User.email == normalise_email(email))).first()
    if user is None:
        raise AccountError("There is no account with this email address.")
    if len(password) < MIN_PASSWORD:
        raise AccountError("The password needs at least 10 characters.")
    user.password_hash = hash_password(password)
    session.add(user)
    return user


def authenticate(*, session: Session, email: str, password: str) -> User | None:
    """The user with these credentials, or None; as slow for unknown users as for known ones."""
    user = session.exec(select(User).where(User.email == normalise_email(email))).first()
    if user is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password)
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.add(user)
    return user


def start_session(*, session: Session, user: User, hours: int) -> tuple[str, AuthSession]:
    """A new login session; returns the cookie token (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    auth = AuthSession(
        id=token_hash(token),
        user_id=user.id or 0,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    session.add(auth)
    session.exec(delete(AuthSession).where(col(AuthSession.expires_at) < now))
    return token, auth


def load_session(*, session: Session, token: str) -> tuple[AuthSession, User] | None:
    """The live login session and user for a cookie token, or None."""
    if not token or len(token) > 100:
        return None
    auth = session.get(AuthSession, token_hash(token))
    if auth is None or auth.expires_at < utcnow():
        return None
    user = session.get(User, auth.user_id)
    if user is None:
        return None
    return auth, user


def end_session(*, session: Session, token: str) -> None:
    session.exec(delete(AuthSession).where(col(AuthSession.id) == token_hash(token)))
