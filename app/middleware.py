"""ASGI middleware: security headers, body size limits, cross-site form posts refused."""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.web import origin_allowed

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class _BodyTooLarge(Exception):
    """Raised from inside the app's receive() when a streamed body passes the limit."""


class SecurityMiddleware:
    """Adds security headers; refuses oversized bodies and cross-site unsafe requests."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        max_body: int = 256 * 1024,
        large_bodies: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:
        self.app = app
        self.settings = settings
        self.max_body = max_body
        # Paths that take more (an image upload), each with its own limit.
        self.large_bodies = tuple(large_bodies)

    def _limit(self, path: str) -> int:
        for pattern, limit in self.large_bodies:
            if pattern.fullmatch(path):
                return limit
        return self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_body = self._limit(scope["path"])
        if scope["method"] in UNSAFE_METHODS:
            conn = HTTPConnection(scope)
            if not origin_allowed(conn, self.settings, required=False):
                await PlainTextResponse("Cross-site request refused", 403)(scope, receive, send)
                return
            length = Headers(scope=scope).get("content-length")
            if length is not None and (not length.isdigit() or int(length) > max_body):
                await PlainTextResponse("Request body too large", 413)(scope, receive, send)
                return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_body:
                    raise _BodyTooLarge()
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _BodyTooLarge:
            # A chunked body that grew past the limit: refuse it like a declared one.
            if not started:
                await PlainTextResponse("Request body too large", 413)(
                    scope, receive, send_with_headers
                )
