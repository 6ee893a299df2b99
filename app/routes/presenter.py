"""The projector screen and its controls."""

from __future__ import annotations

import io
from functools import lru_cache

import segno
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from app.live.fragments import stage_context
from app.services import control
from app.services.control import Move
from app.services.presentations import get_presentation, normalise_code
from app.web import (
    CsrfFacilitator,
    CurrentFacilitator,
    FormDep,
    ServicesDep,
    SessionDep,
    done,
    page,
    public_base,
)

router = APIRouter()


@router.get("/present/{presentation_id}", response_class=HTMLResponse)
def presenter(
    request: Request,
    presentation_id: int,
    facilitator: CurrentFacilitator,
    session: SessionDep,
    svc: ServicesDep,
) -> HTMLResponse:
    get_presentation(session=session, owner_id=facilitator.id, presentation_id=presentation_id)
    st = control.stage(session=session, presentation_id=presentation_id, with_results=True)
    assert st is not None
    ctx = stage_context(st, svc.presence)
    ctx.update(version=0, csrf=facilitator.auth.csrf_token)
    ctx["base_url"] = public_base(request, svc.settings)
    return page(request, "present.html", st.presentation.language, **ctx)


@router.post("/present/{presentation_id}/move")
def move(
    request: Request,
    presentation_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    """To the next, previous or first question, or to one by its id."""
    value = form.get("to", [""])[0]
    target: Move | int
    if value in {m.value for m in Move}:
        target = Move(value)
    elif value.isdigit() and len(value) < 12:
        target = int(value)
    else:
        raise HTTPException(status_code=422, detail="unknown move")
    with svc.db.write_session() as session:
        control.move(
            session=session, owner_id=facilitator.id, presentation_id=presentation_id, to=target
        )
    svc.changed(presentation_id)
    return done(request, f"/present/{presentation_id}")


@router.post("/present/{presentation_id}/voting")
def voting(
    request: Request,
    presentation_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    """Open (value=open) or close voting on the current question."""
    with svc.db.write_session() as session:
        control.set_voting(
            session=session,
            owner_id=facilitator.id,
            presentation_id=presentation_id,
            is_open=form.get("value", [""])[0] == "open",
        )
    svc.changed(presentation_id)
    return done(request, f"/present/{presentation_id}")


@router.post("/present/{presentation_id}/results")
def results(
    request: Request,
    presentation_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    """Show (value=show) or hide the current question's results on the projector."""
    with svc.db.write_session() as session:
        control.set_results_visible(
            session=session,
            owner_id=facilitator.id,
            presentation_id=presentation_id,
            visible=form.get("value", [""])[0] == "show",
        )
    svc.changed(presentation_id)
    return done(request, f"/present/{presentation_id}")


@lru_cache(maxsize=256)
def _qr_svg(url: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(
        buffer, kind="svg", scale=10, border=2, dark="#111", light="#fff", xmldecl=False, svgns=True
    )
    return buffer.getvalue()


@router.get("/qr/{code}.svg")
def qr(request: Request, code: str, svc: ServicesDep) -> Response:
    """The QR code of a join link (the code itself is public: it is on the projector)."""
    cleaned = normalise_code(code)
    if not cleaned or len(cleaned) > 16:
        raise HTTPException(status_code=404)
    svg = _qr_svg(f"{public_base(request, svc.settings)}/j/{cleaned}")
    return Response(
        svg, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=3600"}
    )
