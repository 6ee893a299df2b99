"""The facilitator's personal API tokens: create one (shown once) and revoke it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.errors import Refused
from app.models import ApiToken
from app.services import api_tokens
from app.web import (
    CsrfFacilitator,
    CurrentFacilitator,
    Facilitator,
    FormDep,
    ServicesDep,
    SessionDep,
    page,
    see_other,
)

router = APIRouter(prefix="/manage/tokens")
# The page that shows a new token must not be kept by the browser or a proxy.
NO_STORE = {"Cache-Control": "no-store"}


def _page(
    request: Request,
    facilitator: Facilitator,
    tokens: list[ApiToken],
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    response = page(
        request,
        "manage/tokens.html",
        facilitator.language,
        status_code=status_code,
        facilitator=facilitator,
        csrf=facilitator.auth.csrf_token,
        tokens=tokens,
        **context,
    )
    response.headers.update(NO_STORE)
    return response


@router.get("", response_class=HTMLResponse)
def tokens(request: Request, facilitator: CurrentFacilitator, session: SessionDep) -> HTMLResponse:
    """The facilitator's tokens (never the tokens themselves: only their first characters)."""
    found = api_tokens.list_tokens(session=session, owner_id=facilitator.id)
    return _page(request, facilitator, found)


@router.post("", response_class=HTMLResponse)
def create(
    request: Request, facilitator: CsrfFacilitator, svc: ServicesDep, form: FormDep
) -> HTMLResponse:
    """A new token, shown on this answer only (no redirect: the token is never in a URL)."""
    name = form.get("name", [""])[0]
    try:
        with svc.db.write_session() as session:
            row, token = api_tokens.create_token(
                session=session, owner_id=facilitator.id, name=name
            )
    except Refused as refused:
        with svc.db.session() as session:
            found = api_tokens.list_tokens(session=session, owner_id=facilitator.id)
        return _page(
            request,
            facilitator,
            found,
            status_code=422,
            error=refused.text(facilitator.language),
            typed_name=name,
        )
    with svc.db.session() as session:
        found = api_tokens.list_tokens(session=session, owner_id=facilitator.id)
    return _page(request, facilitator, found, new_token=token, new_name=row.name)


@router.post("/{token_id}/revoke")
def revoke(token_id: int, facilitator: CsrfFacilitator, svc: ServicesDep) -> Response:
    with svc.db.write_session() as session:
        api_tokens.revoke_token(session=session, owner_id=facilitator.id, token_id=token_id)
    return see_other("/manage/tokens?revoked=1")
