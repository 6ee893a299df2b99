"""The projector's look per presentation: the settings card's forms, the logo's address and
the stylesheet with the main colour.

The forms work like the other facilitator forms (login, the owner's presentations only, a
CSRF token, plain posts without JavaScript). The logo form reads its multipart body itself, as
the content slide image form does (routes/uploads.py): a declared length over the limit is
refused before anything is read. The colour reaches the projector through a small stylesheet
whose address is the colour itself (CSP forbids inline styles), so it is cached for good.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from app.errors import Refused
from app.routes import uploads as svc_u_routes
from app.services import branding as svc_b
from app.services import uploads as svc_u
from app.services.presentations import get_presentation
from app.web import (
    CsrfFacilitator,
    CurrentFacilitator,
    Facilitator,
    FormDep,
    ServicesDep,
    SessionDep,
    blocking,
    page,
    see_other,
)

router = APIRouter()

# The logo form's path and the largest body it takes (app/main.py raises the body limit).
LOGO_PATH = re.compile(r"/manage/presentations/\d+/logo")
MAX_LOGO_BODY = svc_u.MAX_IMAGE_BYTES + 64 * 1024
BRANDING_PAGE = "branding/branding.html"
# The logo's upload id never changes what it points to; a new logo gets a new id.
LOGO_CACHE = "private, max-age=86400"
THEME_CACHE = "public, max-age=31536000, immutable"


def _field(form: dict[str, list[str]], name: str) -> str:
    return form.get(name, [""])[0]


def _page(
    request: Request,
    facilitator: Facilitator,
    session: Session,
    presentation_id: int,
    error: Refused | None = None,
    status_code: int = 200,
    typed: str | None = None,
) -> HTMLResponse:
    presentation = get_presentation(
        session=session, owner_id=facilitator.id, presentation_id=presentation_id
    )
    return page(
        request,
        BRANDING_PAGE,
        facilitator.language,
        status_code=status_code,
        facilitator=facilitator,
        csrf=facilitator.auth.csrf_token,
        presentation=presentation,
        branding_error=error.text(facilitator.language) if error else None,
        branding_typed=typed,
    )


@router.get("/manage/presentations/{presentation_id}/branding", response_class=HTMLResponse)
def branding_page(
    request: Request, presentation_id: int, facilitator: CurrentFacilitator, session: SessionDep
) -> HTMLResponse:
    """The look of the projector on a page of its own (where its errors are shown)."""
    return _page(request, facilitator, session, presentation_id)


@router.post("/manage/presentations/{presentation_id}/logo")
async def change_logo(
    request: Request, presentation_id: int, facilitator: CurrentFacilitator, svc: ServicesDep
) -> Response:
    """Upload or replace (action=upload, field `logo`) or remove (action=remove) the logo."""

    def refuse(error: Refused, status_code: int) -> HTMLResponse:
        with svc.db.session() as session:
            return _page(request, facilitator, session, presentation_id, error, status_code)

    sent = await svc_u_routes.read_image_form(request, facilitator, "logo", MAX_LOGO_BODY)
    if sent is None:
        return await blocking(lambda: refuse(svc_u_routes.image_too_large(), 413))
    if isinstance(sent, Response):
        return sent
    action, data = sent

    def change() -> None:
        with svc.db.write_session() as session:
            if action == "remove":
                svc_b.remove_logo(
                    session=session, owner_id=facilitator.id, presentation_id=presentation_id
                )
            else:
                svc_b.set_logo(
                    session=session,
                    owner_id=facilitator.id,
                    presentation_id=presentation_id,
                    data=data,
                )

    try:
        await blocking(change)
    except Refused as error:
        refused, status = error, 413 if len(data) > svc_u.MAX_IMAGE_BYTES else 422
        return await blocking(lambda: refuse(refused, status))
    svc.changed(presentation_id)
    return see_other(f"/manage/presentations/{presentation_id}#branding")


def chosen_color(form: dict[str, list[str]]) -> str:
    """The colour the form asks for: typed text wins when it differs from the saved colour
    (`current`), else the colour picker; `action=default` asks for the default blue."""
    if _field(form, "action") == "default":
        return ""
    current = _field(form, "current").strip().lower()
    typed = _field(form, "color_text").strip().lower()
    picked = _field(form, "color").strip().lower()
    if typed != current:
        return typed
    if picked and picked != current:
        return picked
    return current


@router.post("/manage/presentations/{presentation_id}/look")
def change_look(
    request: Request,
    presentation_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    """The main colour and the high-contrast theme."""
    typed = chosen_color(form)
    try:
        color = svc_b.parse_color(typed)
        with svc.db.write_session() as session:
            svc_b.set_look(
                session=session,
                owner_id=facilitator.id,
                presentation_id=presentation_id,
                color=color,
                high_contrast=_field(form, "high_contrast") == "1",
            )
    except Refused as refused:
        with svc.db.session() as session:
            return _page(request, facilitator, session, presentation_id, refused, 422, typed)
    svc.changed(presentation_id)
    return see_other(f"/manage/presentations/{presentation_id}#branding")


@router.get("/present/{presentation_id}/logo/{upload_id}")
def logo(
    presentation_id: int, upload_id: int, facilitator: CurrentFacilitator, session: SessionDep
) -> Response:
    """The presentation's logo: a redirect to its image address (404 for anything else)."""
    target = svc_b.logo_address(
        session=session,
        owner_id=facilitator.id,
        presentation_id=presentation_id,
        upload_id=upload_id,
    )
    return RedirectResponse(target, status_code=302, headers={"cache-control": LOGO_CACHE})


@router.get("/present/theme/{color}.css")
def theme(color: str) -> Response:
    """The projector's main colour as CSS custom properties (the colour is the address)."""
    if not svc_b.COLOR.fullmatch("#" + color):
        raise HTTPException(status_code=404)
    try:
        value = svc_b.parse_color(color)
    except Refused:
        raise HTTPException(status_code=404) from None
    assert value is not None
    css = (
        "/* The main colour of a presentation (routes/branding.py). */\n"
        f"body.projector {{ --brand: {value}; --brand-ink: {svc_b.text_on(value)};"
        f" --c0: {value}; }}\n"
    )
    return Response(css, media_type="text/css", headers={"cache-control": THEME_CACHE})
