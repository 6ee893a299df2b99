"""The projector screen and its controls."""

from __future__ import annotations

import io
from functools import lru_cache

import segno
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from app.live.fragments import stage_context
from app.services import NotFound, branding, control
from app.services.control import Move
from app.services.presentations import get_presentation, normalise_code, questions_of
from app.services.uploads import digest_of
from app.web import (
    CsrfFacilitator,
    CurrentFacilitator,
    Facilitator,
    FormDep,
    Services,
    ServicesDep,
    SessionDep,
    done,
    page,
    public_base,
)

router = APIRouter()


MODERATION_PATH = "/present/{presentation_id}/moderate"


def _has_route(request: Request, path: str) -> bool:
    return any(getattr(route, "path", None) == path for route in request.app.routes)


def _screen(
    request: Request,
    presentation_id: int,
    facilitator: Facilitator,
    session: Session,
    svc: Services,
    template: str,
) -> HTMLResponse:
    presentation = get_presentation(
        session=session, owner_id=facilitator.id, presentation_id=presentation_id
    )
    st = control.stage(session=session, presentation_id=presentation_id, with_results=True)
    assert st is not None
    logo = branding.logo_of(session=session, presentation=presentation)
    ctx = stage_context(st, svc.presence, svc.clock())
    ctx.update(
        version=0,
        csrf=facilitator.auth.csrf_token,
        code_expired=svc.code_expired(st.presentation),
        base_url=public_base(request, svc.settings),
        show_join=request.query_params.get("join") == "1",
        confirm_reset=request.query_params.get("reset") == "1",
        questions_list=(
            questions_of(session=session, presentation_id=presentation_id)
            if st.audience_paced
            else []
        ),
        # The round comparison's control and key, once a question has an earlier round.
        has_rounds=control.has_rounds(session=session, presentation_id=presentation_id),
        # The logo at its image address; the stage's frames name it by its redirect instead
        # (routes/branding.py), as they are rendered without reading the image.
        logo_src=f"/uploads/{logo.id}/{digest_of(logo.data)}" if logo else None,
        logo_path=f"/present/{presentation_id}/logo/{logo.id}" if logo else None,
        moderation_url=(
            MODERATION_PATH.format(presentation_id=presentation_id)
            if _has_route(request, MODERATION_PATH)
            else None
        ),
    )
    return page(request, template, st.presentation.language, **ctx)


@router.get("/present/{presentation_id}", response_class=HTMLResponse)
def presenter(
    request: Request,
    presentation_id: int,
    facilitator: CurrentFacilitator,
    session: SessionDep,
    svc: ServicesDep,
) -> HTMLResponse:
    """The projector screen (`?join=1`: with the join screen over it, for use without JS)."""
    return _screen(request, presentation_id, facilitator, session, svc, "present.html")


@router.get("/present/{presentation_id}/remote", response_class=HTMLResponse)
def remote(
    request: Request,
    presentation_id: int,
    facilitator: CurrentFacilitator,
    session: SessionDep,
    svc: ServicesDep,
) -> HTMLResponse:
    """The facilitator's phone as a remote: the same controls, phone-sized."""
    return _screen(request, presentation_id, facilitator, session, svc, "remote.html")


def _back(request: Request, presentation_id: int, form: dict[str, list[str]]) -> Response:
    """Where a plain form post returns: the remote if it came from there, else the projector."""
    url = f"/present/{presentation_id}"
    if form.get("back", [""])[0] == "remote":
        url += "/remote"
    return done(request, url)


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
            session=session,
            owner_id=facilitator.id,
            presentation_id=presentation_id,
            to=target,
            now=svc.clock(),
        )
    svc.changed(presentation_id)
    return _back(request, presentation_id, form)


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
            now=svc.clock(),
        )
    svc.changed(presentation_id)
    return _back(request, presentation_id, form)


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
            now=svc.clock(),
        )
    svc.changed(presentation_id)
    return _back(request, presentation_id, form)


@router.post("/present/{presentation_id}/split")
def split(
    request: Request,
    presentation_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    """Show (value=on) or stop showing the current question's results split by group."""
    with svc.db.write_session() as session:
        control.set_split_groups(
            session=session,
            owner_id=facilitator.id,
            presentation_id=presentation_id,
            on=form.get("value", [""])[0] == "on",
            now=svc.clock(),
        )
    svc.changed(presentation_id)
    return _back(request, presentation_id, form)


@router.post("/present/{presentation_id}/compare")
def compare(
    request: Request,
    presentation_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    """Show (value=on) or stop showing the previous round beside the current one."""
    with svc.db.write_session() as session:
        control.set_compare_rounds(
            session=session,
            owner_id=facilitator.id,
            presentation_id=presentation_id,
            on=form.get("value", [""])[0] == "on",
            now=svc.clock(),
        )
    svc.changed(presentation_id)
    return _back(request, presentation_id, form)


@router.post("/present/{presentation_id}/timer")
def timer(
    request: Request,
    presentation_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    """Start (value=start: voting opens until the countdown ends) or stop the timer."""
    value = form.get("value", [""])[0]
    with svc.db.write_session() as session:
        # Someone else's presentation is not found, whatever was asked of it.
        get_presentation(session=session, owner_id=facilitator.id, presentation_id=presentation_id)
        if value not in ("start", "stop"):
            raise HTTPException(status_code=422, detail="start or stop")
        (control.start_timer if value == "start" else control.stop_timer)(
            session=session,
            owner_id=facilitator.id,
            presentation_id=presentation_id,
            now=svc.clock(),
        )
    svc.changed(presentation_id)
    return _back(request, presentation_id, form)


@router.post("/present/{presentation_id}/reset")
def reset(
    request: Request,
    presentation_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    """Start a new round of the current question (`question_id`: the one the facilitator
    confirmed; when another question has become current meanwhile, nothing is reset)."""
    value = form.get("question_id", [""])[0]
    with svc.db.write_session() as session:
        # Someone else's presentation is not found, whatever was asked of it.
        get_presentation(session=session, owner_id=facilitator.id, presentation_id=presentation_id)
        if not (value.isascii() and value.isdigit() and len(value) < 12):
            raise HTTPException(status_code=422, detail="question_id")
        try:
            control.reset_results(
                session=session,
                owner_id=facilitator.id,
                presentation_id=presentation_id,
                question_id=int(value),
                now=svc.clock(),
            )
        except NotFound:
            raise HTTPException(status_code=409, detail="not the current question") from None
    svc.changed(presentation_id)
    return _back(request, presentation_id, form)


@router.post("/present/{presentation_id}/activate")
def activate(
    request: Request,
    presentation_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    """Make an expired join code work again (as any presenting action does)."""
    with svc.db.write_session() as session:
        control.activate(
            session=session,
            owner_id=facilitator.id,
            presentation_id=presentation_id,
            now=svc.clock(),
        )
    svc.changed(presentation_id)
    return _back(request, presentation_id, form)


@lru_cache(maxsize=256)
def _qr_svg(url: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(
        buffer, kind="svg", scale=10, border=2, dark="#111", light="#fff", xmldecl=False, svgns=True
    )
    return buffer.getvalue()


@router.get("/qr/l/{token}.svg")
def qr_link(request: Request, token: str, svc: ServicesDep) -> Response:
    """The QR code of a presentation's link (/l/<token>), which works when the code expired."""
    if not token or len(token) > 64 or not all(c.isalnum() or c in "-_" for c in token):
        raise HTTPException(status_code=404)
    svg = _qr_svg(f"{public_base(request, svc.settings)}/l/{token}")
    return Response(
        svg, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=3600"}
    )


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
