"""Runs of a presentation on several dates, their comparison, and the privacy page.

Every facilitator page loads the presentation through the owner check (404 for anyone
else's); every POST carries the CSRF token and works as a plain form. Deleting a run is
deleting that presentation (routes/manage.py): the other runs of the series stay.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from app import i18n
from app.errors import Refused
from app.models import Presentation
from app.questions import get_type
from app.routes.participant import count_failed_lookup, guessing_allowed
from app.services import NotFound
from app.services import runs as svc_runs
from app.services.presentations import get_by_code, get_presentation
from app.services.stats import ALL
from app.web import (
    CsrfFacilitator,
    CurrentFacilitator,
    Facilitator,
    FormDep,
    ServicesDep,
    SessionDep,
    client_ip,
    fragment,
    is_htmx,
    page,
    see_other,
)

router = APIRouter()

RUNS_PAGE = "runs/runs.html"
COMPARE_PAGE = "runs/compare.html"
MAX_CODE = 20


def _field(form: dict[str, list[str]], name: str) -> str:
    return form.get(name, [""])[0]


def _runs_context(
    session: Session, facilitator: Facilitator, presentation_id: int
) -> dict[str, Any]:
    presentation = get_presentation(
        session=session, owner_id=facilitator.id, presentation_id=presentation_id
    )
    runs = svc_runs.runs_of(
        session=session, owner_id=facilitator.id, presentation_id=presentation_id
    )
    return {
        "facilitator": facilitator,
        "csrf": facilitator.auth.csrf_token,
        "presentation": presentation,
        "runs": runs,
        "totals": svc_runs.response_totals(
            session=session, presentation_ids=[r.id or 0 for r in runs]
        ),
    }


def _runs_page(
    request: Request,
    session: Session,
    facilitator: Facilitator,
    presentation_id: int,
    refused: Refused | None = None,
    form: dict[str, list[str]] | None = None,
) -> HTMLResponse:
    ctx = _runs_context(session, facilitator, presentation_id)
    return page(
        request,
        RUNS_PAGE,
        facilitator.language,
        status_code=422 if refused else 200,
        error=refused.text(facilitator.language) if refused else None,
        form=form or {},
        **ctx,
    )


@router.get("/manage/presentations/{presentation_id}/runs", response_class=HTMLResponse)
def runs_page(
    request: Request, presentation_id: int, facilitator: CurrentFacilitator, session: SessionDep
) -> HTMLResponse:
    """Every run of this presentation's series; htmx gets the list only (the manage card)."""
    if is_htmx(request):
        ctx = _runs_context(session, facilitator, presentation_id)
        return fragment(RUNS_PAGE, "runs_list", facilitator.language, request=request, **ctx)
    return _runs_page(request, session, facilitator, presentation_id)


@router.post("/manage/presentations/{presentation_id}/runs")
def new_run(
    request: Request,
    presentation_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    try:
        run_date = svc_runs.parse_run_date(_field(form, "run_date"), today=svc.clock().date())
        place = svc_runs.parse_place(_field(form, "place"))
        with svc.db.write_session() as session:
            run = svc_runs.new_run(
                session=session,
                owner_id=facilitator.id,
                presentation_id=presentation_id,
                run_date=run_date,
                place=place,
            )
    except Refused as refused:
        with svc.db.session() as session:
            return _runs_page(request, session, facilitator, presentation_id, refused, form)
    return see_other(f"/manage/presentations/{run.id}")


@router.post("/manage/presentations/{presentation_id}/run")
def run_details(
    request: Request,
    presentation_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    """When and where this run is given, and how long its votes are kept."""
    try:
        run_date = svc_runs.parse_run_date(_field(form, "run_date"), today=svc.clock().date())
        place = svc_runs.parse_place(_field(form, "place"))
        retention_days = svc_runs.parse_retention(_field(form, "retention_days"))
        with svc.db.write_session() as session:
            svc_runs.set_run_details(
                session=session,
                owner_id=facilitator.id,
                presentation_id=presentation_id,
                run_date=run_date,
                place=place,
                retention_days=retention_days,
            )
    except Refused as refused:
        with svc.db.session() as session:
            return _runs_page(request, session, facilitator, presentation_id, refused, form)
    return see_other(f"/manage/presentations/{presentation_id}")


@router.get("/manage/presentations/{presentation_id}/compare", response_class=HTMLResponse)
def compare_page(
    request: Request, presentation_id: int, facilitator: CurrentFacilitator, session: SessionDep
) -> HTMLResponse:
    """Every question across the runs of the series: a table, and a trend for 3+ runs."""
    presentation = get_presentation(
        session=session, owner_id=facilitator.id, presentation_id=presentation_id
    )
    comparison = svc_runs.compare(
        session=session, owner_id=facilitator.id, presentation_id=presentation_id
    )
    return page(
        request,
        COMPARE_PAGE,
        facilitator.language,
        facilitator=facilitator,
        csrf=facilitator.auth.csrf_token,
        presentation=presentation,
        comparison=comparison,
        get_type=get_type,
        trend_points=svc_runs.trend_points,
        ALL=ALL,
    )


# --- the privacy page for participants ----------------------------------------------------


def _run_of_code(
    request: Request, svc: ServicesDep, session: Session, code: str
) -> Presentation | None:
    """The run a join code names, for its retention period. Unknown codes count as guesses,
    as on the join page, and past the limit no code is looked up, so this page tells no
    guesser more than the join page does."""
    if not code or len(code) > MAX_CODE:
        return None
    address = client_ip(request)
    if not guessing_allowed(svc, address):
        return None
    try:
        return get_by_code(session=session, code=code)
    except NotFound:
        count_failed_lookup(svc, address)
        return None


@router.get("/privacy", response_class=HTMLResponse)
def privacy(
    request: Request, svc: ServicesDep, session: SessionDep, lang: str = "", code: str = ""
) -> HTMLResponse:
    """What Stemlab stores about participants, for how long, and who sees what."""
    run = _run_of_code(request, svc, session, code)
    if lang in i18n.LANGUAGES:
        language = lang
    elif run is not None:
        language = run.language  # the language of the participant's pages
    else:
        language = i18n.negotiate(request.headers.get("accept-language"))
    return page(
        request,
        "privacy.html",
        language,
        run=run,
        code=run.join_code if run is not None else "",
    )
