"""For operators: liveness (/healthz), readiness (/readyz) and Prometheus metrics (/metrics).

/healthz and /readyz are the app's only JSON endpoints, and the only ones in its OpenAPI
schema (/openapi.json); the models below describe their bodies.
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from app.config import Settings
from app.lifecycle import Lifecycle
from app.metrics import CONTENT_TYPE, Metrics

router = APIRouter()


class Health(BaseModel):
    """The process answers."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["ok"]


class Ready(BaseModel):
    """Ready for new work; `degraded`: what works less well meanwhile (Redis)."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["ready", "degraded"]
    degraded: list[str] | None = None


class NotReady(BaseModel):
    """Not ready: `failing` says why."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["not ready"]
    failing: list[str]
    degraded: list[str] | None = None


NO_STORE = {"Cache-Control": "no-store"}
# Headers a proxy adds: a request carrying one came from further away than the proxy.
PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


# HEAD answers as GET does, without a body; the schema lists GET only (one operation each).
@router.get("/healthz", responses={200: {"model": Health}})
@router.head("/healthz", include_in_schema=False)
async def healthz() -> Response:
    """Liveness: the process answers (restart it when this stops answering)."""
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


@router.get("/readyz", responses={200: {"model": Ready}, 503: {"model": NotReady}})
@router.head("/readyz", include_in_schema=False)
async def readyz(request: Request) -> Response:
    """Readiness: send this process new work (503 with what is not ready, otherwise)."""
    lifecycle: Lifecycle = request.app.state.lifecycle
    failing = await lifecycle.not_ready()
    degraded = lifecycle.degraded()
    if failing:
        body: dict[str, object] = {"status": "not ready", "failing": failing}
        if degraded:
            body["degraded"] = degraded
        return JSONResponse(body, status_code=503, headers=NO_STORE)
    if degraded:
        return JSONResponse({"status": "degraded", "degraded": degraded}, headers=NO_STORE)
    return JSONResponse({"status": "ready"}, headers=NO_STORE)


@router.get("/metrics", include_in_schema=False)  # the Prometheus text format, not JSON
async def metrics(request: Request) -> Response:
    """Prometheus metrics of this process (read on the event loop, so they are consistent)."""
    settings: Settings = request.app.state.settings
    if settings.metrics_token:
        if not _bearer_matches(request, settings.metrics_token):
            return Response(
                "A bearer token is needed (STEMLAB_METRICS_TOKEN).\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"', **NO_STORE},
            )
    elif not _from_this_machine(request):
        return Response(
            "Metrics are served only to this machine; set STEMLAB_METRICS_TOKEN to scrape "
            "them from elsewhere.\n",
            status_code=403,
            headers=NO_STORE,
        )
    registry: Metrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE, headers=NO_STORE)


def _bearer_matches(request: Request, token: str) -> bool:
    scheme, _, sent = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(
        sent.strip().encode(), token.encode()
    )


def _from_this_machine(request: Request) -> bool:
    """A loopback peer that is not a proxy passing on somebody else's request."""
    if any(name in request.headers for name in PROXY_HEADERS):
        return False
    try:
        return request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False
