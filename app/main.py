"""create_app(): settings, lifespan (database, ballot box, hub, ticker), routers, static files."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from app import i18n, logs
from app.ballot_box import BallotBox
from app.config import Settings, get_settings
from app.db import Database
from app.i18n import _l
from app.lifecycle import Lifecycle
from app.live import sockets
from app.live.bus import Bus, LocalBus, RedisBus
from app.live.fragments import Fragments
from app.live.hub import Hub
from app.live.presence import Presence
from app.live.ticker import Ticker
from app.metrics import Metrics
from app.middleware import SecurityMiddleware
from app.participants import ParticipantTokens
from app.routes import (
    api,
    auth,
    branding,
    export,
    groups,
    manage,
    moderation,
    ops,
    participant,
    presenter,
    qa,
    quiz,
    reports,
    runs,
    tokens,
    uploads,
)
from app.secret_key import load_secret_key
from app.services import NotFound, retention
from app.stages import StageCache
from app.templating import render
from app.web import Limits, LoginRequired, Services, fragment, is_htmx, services

STATIC_DIR = Path(__file__).parent / "static"
log = logging.getLogger("stemlab")


async def _stop_step(name: str, step: Awaitable[None], seconds: float) -> None:
    """Wait for one step of the shutdown, at most `seconds`; log it when it does not end."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(seconds):
            await step
    except TimeoutError:
        log.error("shutdown: the %s did not stop within %ss; going on", name, seconds)
    else:
        log.debug("shutdown: %s stopped in %.3fs", name, time.perf_counter() - started)


async def purge_expired_runs(svc: Services) -> None:
    """The periodic retention job: delete the votes of runs past their retention period."""
    purged = await asyncio.to_thread(retention.purge_once, db=svc.db, now=svc.clock())
    for presentation_id in purged.presentations:
        svc.changed(presentation_id)  # screens and phones of that run show it empty
    if purged.presentations:
        log.info(
            "retention: deleted the votes of %d run(s): %d ballots, %d participants",
            len(purged.presentations),
            purged.ballots,
            purged.participants,
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    lifecycle = Lifecycle(settings.shutdown_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings)
        hub = Hub(outbox_frames=settings.outbox_frames)
        presence = Presence(hub)
        bus: Bus = (
            RedisBus(settings.redis_url, settings.redis_prefix, presence)
            if settings.redis_url
            else LocalBus()
        )
        fragments = Fragments(db, presence)
        ticker = Ticker(
            hub,
            fragments,
            presenter_tick=settings.presenter_tick_ms / 1000,
            phone_tick=settings.phone_tick_ms / 1000,
        )
        box = BallotBox(
            db,
            on_committed=lambda changed: app.state.services.votes_committed(changed),
            batch_max=settings.writer_batch_max,
        )
        secret_key = await asyncio.to_thread(load_secret_key, settings, db)
        app.state.services = Services(
            settings,
            db,
            hub,
            fragments,
            ticker,
            box,
            Limits(settings),
            StageCache(db),
            asyncio.get_running_loop(),
            presence,
            bus,
            ParticipantTokens(secret_key),
        )
        ticker.every(retention.PURGE_EVERY_SECONDS, lambda: purge_expired_runs(app.state.services))
        await box.start()
        await ticker.start()
        await bus.start(app.state.services)
        lifecycle.serving(app.state.services)
        try:
            yield
        finally:
            await lifecycle.stopping()  # readiness fails; queued votes are committed first
            # Each step is bounded: a step that hangs is logged by name and the rest still
            # stops (a shutdown that never ends keeps a worker from being replaced).
            limit = settings.shutdown_seconds
            await _stop_step("ballot box", asyncio.shield(box.stop()), limit)
            await _stop_step("bus", bus.stop(), limit)
            await _stop_step("ticker", ticker.stop(), limit)
            db.dispose()

    app = FastAPI(
        title="Stemlab",
        lifespan=lifespan,
        # The schema holds the JSON endpoints only (routes/ops.py); no docs pages are served.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        # Nothing here exports OpenTelemetry data; its per-request check cost 9% of a vote.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.lifecycle = lifecycle
    app.state.metrics = Metrics(
        lambda: getattr(app.state, "services", None), lambda: lifecycle.draining
    )
    app.add_middleware(
        SecurityMiddleware,
        settings=settings,
        large_bodies=(
            (uploads.IMAGE_PATH, uploads.MAX_IMAGE_BODY),
            (branding.LOGO_PATH, branding.MAX_LOGO_BODY),
        ),
    )
    app.add_middleware(logs.RequestContext)  # outermost: its context covers everything below
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(ops.router)
    app.include_router(api.router)  # /api/v1: the one documented JSON API
    for module in (
        participant,
        auth,
        manage,
        presenter,
        export,
        moderation,
        uploads,
        qa,
        quiz,
        groups,
        runs,
        reports,
        tokens,
        branding,
    ):
        # Pages and forms for people, not an API: left out of the OpenAPI schema.
        app.include_router(module.router, include_in_schema=False)
    app.include_router(sockets.router)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        target = "/login?next=" + request.url.path
        if is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": target})
        if request.method != "GET":
            return Response("Login required", status_code=401)
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        """Missing, or someone else's: the same 404, so existence is not revealed."""
        return await http_error(request, HTTPException(status_code=404))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        language = i18n.negotiate(request.headers.get("accept-language"))
        if exc.status_code in (400, 413, 422) and request.url.path.startswith("/p/"):
            # A malformed or oversized vote: a message where the phone shows vote feedback.
            stage = await (await services(request)).stages.by_code(request.url.path.split("/")[2])
            if stage is not None:
                language = stage.language
            message = i18n.translate(
                language, _l("Your answer could not be read. Check it and send it again.")
            )
            if is_htmx(request):
                return fragment(
                    "participant.html",
                    "status",
                    language,
                    status_code=exc.status_code,
                    status=None,
                    error=message,
                    client_key="",
                    oob_key=False,
                )
        if exc.status_code in (400, 403, 404, 413, 422):
            html = render("error.html", language, {"status": exc.status_code})
            return HTMLResponse(html, status_code=exc.status_code)
        return Response(str(exc.detail), status_code=exc.status_code)

    return app
