"""Participant tokens: handed out by the server when a phone joins, checked without the database.

A token is `nonce.mac`: 12 random bytes and an HMAC-SHA256 (cut to 16 bytes) of the
presentation id and the nonce, under a key derived from the server's secret key
(app/secret_key.py). Only the server can make one, and it is valid for one presentation only:
a token of presentation A is nobody in presentation B. Checking one costs an HMAC, so the vote
path needs no database read to know that a phone joined.

A phone keeps the tokens of the presentations it joined in one cookie (`stemlab_p`), separated
by `~`, newest last, at most MAX_TOKENS of them; joining one more drops the oldest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

NONCE_BYTES = 12
MAC_BYTES = 16
TOKEN = re.compile(r"[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}")
SEPARATOR = "~"
MAX_TOKENS = 8
MAX_COOKIE = 1024  # a longer cookie was not made by us: read none of it


class ParticipantTokens:
    """Makes and checks participant tokens with one server secret."""

    def __init__(self, secret_key: bytes) -> None:
        # A key of its own, so the secret key can sign other things without mixing them up.
        self._key = hmac.new(secret_key, b"stemlab participant token v1", hashlib.sha256).digest()

    def _mac(self, presentation_id: int, nonce: str) -> str:
        message = f"{presentation_id}:{nonce}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()[:MAC_BYTES]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, presentation_id: int) -> str:
        """A new token: a new participant of this presentation."""
        nonce = secrets.token_urlsafe(NONCE_BYTES)
        return f"{nonce}.{self._mac(presentation_id, nonce)}"

    def valid(self, presentation_id: int, token: str) -> bool:
        """Whether this server issued `token` for this presentation."""
        if not TOKEN.fullmatch(token):
            return False
        nonce, mac = token.split(".")
        return hmac.compare_digest(mac, self._mac(presentation_id, nonce))

    def find(self, cookie: str | None, presentation_id: int) -> str | None:
        """The phone's token for this presentation, from its cookie; None: it has not joined."""
        for token in tokens_in(cookie):
            if self.valid(presentation_id, token):
                return token
        return None


def tokens_in(cookie: str | None) -> list[str]:
    """The well-formed tokens of a cookie value (whether they are valid is not checked)."""
    if not cookie or len(cookie) > MAX_COOKIE:
        return []
    return [t for t in cookie.split(SEPARATOR) if TOKEN.fullmatch(t)][-MAX_TOKENS:]


def with_token(cookie: str | None, token: str) -> str:
    """The cookie value after joining: the phone's other tokens and this one, newest last."""
    kept = [t for t in tokens_in(cookie) if t != token]
    return SEPARATOR.join([*kept, token][-MAX_TOKENS:])
