"""The groups participants pick from, set on the manage presentation page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.models import Presentation
from app.services import groups
from app.services.presentations import get_presentation
from app.web import CsrfFacilitator, Facilitator, FormDep, ServicesDep, page, see_other

router = APIRouter(prefix="/manage/presentations/{presentation_id}")


def _field(form: dict[str, list[str]], name: str) -> str:
    return form.get(name, [""])[0]


def _refused_page(
    request: Request,
    facilitator: Facilitator,
    presentation: Presentation,
    error: str,
    groups_text: str,
    threshold_text: str,
) -> HTMLResponse:
    """The groups card again, with the message and what was typed (nothing was saved)."""
    return page(
        request,
        "groups/settings.html",
        facilitator.language,
        status_code=422,
        facilitator=facilitator,
        csrf=facilitator.auth.csrf_token,
        presentation=presentation,
        error=error,
        groups_text=groups_text,
        threshold_text=threshold_text,
    )


@router.post("/groups")
def save_groups(
    request: Request,
    presentation_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    """Save the groups (one per line) and the anonymity threshold; `suggested`: fill in the
    groups of a tenants' workshop (the threshold stays as it is)."""
    raw = _field(form, "groups")[: groups.MAX_GROUPS * (groups.MAX_GROUP_NAME + 2) * 4]
    raw_threshold = _field(form, "threshold")
    try:
        with svc.db.write_session() as session:
            presentation = get_presentation(
                session=session, owner_id=facilitator.id, presentation_id=presentation_id
            )
            if _field(form, "suggested"):
                names = list(groups.SUGGESTED)
                threshold = presentation.group_threshold
            else:
                names = groups.parse_groups(raw)
                threshold = groups.parse_threshold(raw_threshold)
            groups.set_groups(
                session=session,
                owner_id=facilitator.id,
                presentation_id=presentation_id,
                groups=names,
                threshold=threshold,
            )
    except groups.GroupError as refused:
        with svc.db.session() as session:
            presentation = get_presentation(
                session=session, owner_id=facilitator.id, presentation_id=presentation_id
            )
            return _refused_page(
                request,
                facilitator,
                presentation,
                refused.text(facilitator.language),
                raw,
                raw_threshold[:10],
            )
    svc.changed(presentation_id)
    return see_other(f"/manage/presentations/{presentation_id}#groups")
