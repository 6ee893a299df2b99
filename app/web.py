"""HTTP plumbing shared by the routes: app state, login, CSRF, origins, rate limits, rendering."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import HTTPConnection

from app import i18n
from app.ballot_box import BallotBox
from app.config import Settings
from app.db import Database
from app.live import topics
from app.live.bus import Bus
from app.live.fragments import Fragments
from app.live.hub import Hub
from app.live.messages import Message, PresentationChanged, VotesRecorded
from app.live.presence import Presence
from app.live.ticker import Ticker
from app.models import AuthSession, Presentation, User, utcnow
from app.participants import ParticipantTokens
from app.ratelimit import Rate, RateLimiter
from app.services import accounts, control
from app.services.presentations import code_expired
from app.stages import StageCache
from app.templating import render, render_block

T = TypeVar("T")
log = logging.getLogger(__name__)
SESSION_COOKIE = "stemlab_session"
PARTICIPANT_COOKIE = "stemlab_p"


@dataclass
class Services:
    """What the lifespan builds once and every request shares."""

    settings: Settings
    db: Database
    hub: Hub
    fragments: Fragments
    ticker: Ticker
    ballot_box: BallotBox
    limits: Limits
    stages: StageCache
    loop: asyncio.AbstractEventLoop
    presence: Presence
    bus: Bus
    tokens: ParticipantTokens
    # Wall clock of countdowns and join-code expiry (tests put in one they move themselves).
    clock: Callable[[], datetime] = field(default=utcnow)

    def __post_init__(self) -> None:
        self.fragments.idle_hours = self.settings.join_code_idle_hours
        self.fragments.clock = lambda: self.clock()
        self.ticker.every(COUNTDOWN_CHECK_SECONDS, self.close_expired_countdowns)

    def code_expired(self, presentation: Presentation) -> bool:
        """Whether a presentation's typed join code has expired (its QR link still works)."""
        return code_expired(
            presentation.active_at, idle_hours=self.settings.join_code_idle_hours, now=self.clock()
        )

    async def close_expired_countdowns(self) -> None:
        """Close the questions whose countdown ended, and tell screens and phones.

        Every worker does this; the database decides which one closes a question (and only
        that one sends the news), so a question is closed once however many workers run.
        """
        now = self.clock()

        def close() -> list[int]:
            with self.db.session() as session:  # a cheap read first: no write lock per check
                if not control.any_expired(session=session, now=now):
                    return []
            with self.db.write_session() as session:
                return control.close_expired(session=session, now=now)

        for presentation_id in await asyncio.to_thread(close):
            self._changed(presentation_id)

    def changed(self, presentation_id: int) -> None:
        """After a committed change to a presentation: drop cached state, push new frames here
        and tell the other workers.

        Safe to call from the thread pool: the work is handed to the event loop.
        """
        try:
            on_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self._changed(presentation_id)
        else:
            self.loop.call_soon_threadsafe(self._changed, presentation_id)

    def _changed(self, presentation_id: int) -> None:
        messages: list[Message] = [PresentationChanged(presentation_id)]
        self.apply(messages)
        self.bus.publish(messages)

    def votes_committed(self, changed: set[tuple[int, int]]) -> None:
        """The ballot box committed votes for these (presentation, question) pairs."""
        messages: list[Message] = [VotesRecorded(pid, qid) for pid, qid in changed]
        self.ticker.notify(messages)
        self.bus.publish(messages)

    def presence_changed(self, presentation_id: int) -> None:
        """A phone connected to or left this worker."""
        self.ticker.presence_changed(presentation_id)
        self.bus.presence_changed(presentation_id)

    # --- news from other workers (app.live.bus.Receiver) --------------------------------

    def apply(self, messages: list[Message]) -> None:
        for message in messages:
            if isinstance(message, PresentationChanged):
                self.stages.invalidate(message.presentation_id)
        self.ticker.notify(messages)

    def presence_updated(self, presentation_ids: set[int]) -> None:
        for presentation_id in presentation_ids:
            self.ticker.presence_changed(presentation_id)

    def resync(self) -> None:
        self.stages.clear()
        followed = {topics.presentation_of(t) for t in self.hub.topic_names()}
        self.ticker.notify(PresentationChanged(pid) for pid in followed if pid is not None)


COUNTDOWN_CHECK_SECONDS = 0.5


class Limits:
    """The rate limits of this process (join-code guessing, joining, logins, votes).

    `clock`: seconds from any fixed point (tests pass a clock they move themselves).
    """

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.limiter = RateLimiter(clock)
        self.join = Rate(settings.join_rate_per_minute, 60.0)
        self.mint = Rate(settings.join_mint_per_minute, 60.0)
        self.login = Rate(settings.login_rate_per_minute, 60.0)
        self.vote = Rate(settings.vote_rate_per_minute, 60.0)

    def hit(self, rate: Rate, *keys: str) -> bool:
        """Count one event; False when the limit is already reached."""
        return self.limiter.hit(rate, *keys)

    def test(self, rate: Rate, *keys: str) -> bool:
        """Whether one more event is allowed, without counting it."""
        return self.limiter.allowed(rate, *keys)

    def retry_after(self, rate: Rate, *keys: str) -> int:
        return self.limiter.retry_after(rate, *keys)


async def services(conn: HTTPConnection) -> Services:
    # async: a plain `def` dependency would cost a thread hop on every request.
    services: Services = conn.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(services)]


def _read_session(svc: ServicesDep) -> Iterator[Session]:
    with svc.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(_read_session)]


def client_ip(conn: HTTPConnection) -> str:
    """The address rate limits count by: the peer's IPv4 address, or its IPv6 /64 network.

    The peer is the client itself, or what a trusted proxy says it is: `stemlab serve` has
    uvicorn rewrite it from X-Forwarded-For only when the request comes from an address in
    STEMLAB_TRUSTED_PROXIES. One IPv6 /64 is one household, venue or machine (a script gets
    a whole /64 and could otherwise use a new address for every request), as one IPv4 address
    behind a NAT is.
    """
    host = conn.client.host if conn.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return host


def public_base(conn: HTTPConnection, settings: Settings) -> str:
    """The address phones should use: the configured public URL, else the one this page is on."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = conn.headers.get("host") or f"{settings.host}:{settings.port}"
    return f"{conn.url.scheme}://{host}"


# --- origins -----------------------------------------------------------------------------


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_origins(conn: HTTPConnection, settings: Settings) -> set[str]:
    """Origins that may post forms and open sockets: the public URL, this host, configured ones."""
    scheme = {"ws": "http", "wss": "https"}.get(conn.url.scheme, conn.url.scheme)
    host = conn.headers.get("host", "")
    origins = {_origin_of(settings.base_url), f"{scheme}://{host}".lower()}
    origins.update(_origin_of(o) for o in settings.allowed_origins)
    return origins


def origin_allowed(conn: HTTPConnection, settings: Settings, *, required: bool) -> bool:
    """Whether the request comes from one of our own pages (browsers send Origin)."""
    if conn.headers.get("sec-fetch-site") == "cross-site":
        return False
    origin = conn.headers.get("origin")
    if origin is None:
        return not required
    return origin.lower() in allowed_origins(conn, settings)


# --- facilitator login -------------------------------------------------------------------


class LoginRequired(Exception):
    """Raised by routes that need a facilitator; handled as a redirect to /login."""


@dataclass
class Facilitator:
    user: User
    auth: AuthSession
    language: str

    @property
    def id(self) -> int:
        return self.user.id or 0


def _facilitator(request: Request, svc: ServicesDep) -> Facilitator:
    token = request.cookies.get(SESSION_COOKIE, "")
    with svc.db.session() as session:
        found = accounts.load_session(session=session, token=token)
    if found is None:
        raise LoginRequired()
    auth, user = found
    return Facilitator(user, auth, facilitator_language(request))


CurrentFacilitator = Annotated[Facilitator, Depends(_facilitator)]


def facilitator_language(request: Request) -> str:
    chosen = request.cookies.get("stemlab_lang")
    if chosen in i18n.LANGUAGES:
        return str(chosen)
    return i18n.negotiate(request.headers.get("accept-language"))


async def _csrf_facilitator(request: Request, facilitator: CurrentFacilitator) -> Facilitator:
    """A facilitator whose state-changing request carries their CSRF token."""
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else ""
    if not secrets.compare_digest(sent.encode(), facilitator.auth.csrf_token.encode()):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong")
    return facilitator


CsrfFacilitator = Annotated[Facilitator, Depends(_csrf_facilitator)]


# --- responses ---------------------------------------------------------------------------


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def page(
    request: Request, name: str, language: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    context.setdefault("request", request)
    return HTMLResponse(render(name, language, context), status_code=status_code)


def fragment(
    name: str, block: str, language: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return HTMLResponse(render_block(name, block, language, context), status_code=status_code)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def done(request: Request, url: str) -> Response:
    """After a control action: nothing to swap for htmx, a redirect for a plain form."""
    if is_htmx(request):
        return Response(status_code=204)
    return see_other(url)


async def blocking(fn: Callable[[], T]) -> T:
    """Run database or CPU-heavy work off the event loop (sockets keep flowing meanwhile)."""
    return await run_in_threadpool(fn)


async def _form_values(request: Request) -> dict[str, list[str]]:
    form = await request.form(max_fields=200, max_files=0, max_part_size=64 * 1024)
    return form_values(form)


# The form of a request, read on the event loop, so the route itself can be a plain `def`
# that FastAPI runs in its thread pool (database writes and password hashing stay off the loop).
FormDep = Annotated[dict[str, list[str]], Depends(_form_values)]


def form_values(form: FormData) -> dict[str, list[str]]:
    """Form data as field -> every string value (files are ignored)."""
    values: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            values.setdefault(key, []).append(value)
    return values
