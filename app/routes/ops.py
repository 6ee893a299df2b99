"""For operators: liveness (/healthz), readiness (/readyz) and Prometheus metrics (/metrics)."""

from __future__ import annotations

import ipaddress
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.config import Settings
from app.lifecycle import Lifecycle
from app.metrics import CONTENT_TYPE, Metrics

router = APIRouter(include_in_schema=False)

NO_STORE = {"Cache-Control": "no-store"}
# Headers a proxy adds: a request carrying one came from further away than the proxy.
PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


@router.api_route("/healthz", methods=["GET", "HEAD"])
async def healthz() -> Response:
    """Liveness: the process answers (restart it when this stops answering)."""
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


@router.api_route("/readyz", methods=["GET", "HEAD"])
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


@router.get("/metrics")
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
