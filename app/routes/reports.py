"""Reports: paper and hand counts on a question, and the printable report of a run.

Every page is the facilitator's own (404 otherwise); every POST carries the CSRF token and
works as a plain form; htmx swaps the paper card in place.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from app.questions.base import count_ballots
from app.services import paper as svc_paper
from app.services import report as svc_report
from app.services.presentations import get_presentation, get_question
from app.web import (
    CsrfFacilitator,
    CurrentFacilitator,
    Facilitator,
    FormDep,
    ServicesDep,
    SessionDep,
    fragment,
    is_htmx,
    page,
    see_other,
)

router = APIRouter()

PAPER = "reports/paper.html"


def _paper_context(
    session: Session, facilitator: Facilitator, question_id: int, **extra: Any
) -> dict[str, Any]:
    question = get_question(session=session, owner_id=facilitator.id, question_id=question_id)
    if not svc_paper.supports(question):
        raise HTTPException(status_code=404, detail="no paper counts for this question")
    presentation = get_presentation(
        session=session, owner_id=facilitator.id, presentation_id=question.presentation_id
    )
    context: dict[str, Any] = {
        "facilitator": facilitator,
        "csrf": facilitator.auth.csrf_token,
        "presentation": presentation,
        "question": question,
        "fields": svc_paper.fields(question),
        "batches": svc_paper.batches(session=session, question=question),
        "responses": count_ballots(session, question.id or 0),
        "paper": svc_paper.paper_count(session, question.id or 0),
        "max_per_answer": svc_paper.MAX_PER_ANSWER,
        "card_error": None,
        "saved": 0,
        "form": {},
    }
    context.update(extra)
    return context


def _paper_response(
    request: Request, facilitator: Facilitator, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    if is_htmx(request):
        return fragment(PAPER, "card", facilitator.language, status_code=status_code, **context)
    return page(request, PAPER, facilitator.language, status_code=status_code, **context)


@router.get("/manage/questions/{question_id}/paper", response_class=HTMLResponse)
def paper_page(
    request: Request, question_id: int, facilitator: CurrentFacilitator, session: SessionDep
) -> HTMLResponse:
    return _paper_response(request, facilitator, _paper_context(session, facilitator, question_id))


@router.post("/manage/questions/{question_id}/paper")
def add_paper(
    request: Request,
    question_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    try:
        with svc.db.write_session() as session:
            batch = svc_paper.add_batch(
                session=session, owner_id=facilitator.id, question_id=question_id, form=form
            )
            presentation_id = get_question(
                session=session, owner_id=facilitator.id, question_id=question_id
            ).presentation_id
    except svc_paper.PaperError as refused:
        with svc.db.session() as session:
            context = _paper_context(
                session,
                facilitator,
                question_id,
                card_error=refused.text(facilitator.language),
                form=form,
            )
        return _paper_response(request, facilitator, context, status_code=422)
    svc.changed(presentation_id)
    if not is_htmx(request):
        return see_other(f"/manage/questions/{question_id}/paper")
    with svc.db.session() as session:
        context = _paper_context(session, facilitator, question_id, saved=batch.people)
    return _paper_response(request, facilitator, context)


@router.post("/manage/questions/{question_id}/paper/{key}/delete")
def remove_paper(
    request: Request, question_id: int, key: str, facilitator: CsrfFacilitator, svc: ServicesDep
) -> Response:
    with svc.db.write_session() as session:
        svc_paper.remove_batch(
            session=session, owner_id=facilitator.id, question_id=question_id, key=key
        )
        presentation_id = get_question(
            session=session, owner_id=facilitator.id, question_id=question_id
        ).presentation_id
    svc.changed(presentation_id)
    if not is_htmx(request):
        return see_other(f"/manage/questions/{question_id}/paper")
    with svc.db.session() as session:
        context = _paper_context(session, facilitator, question_id)
    return _paper_response(request, facilitator, context)


@router.get("/manage/presentations/{presentation_id}/report", response_class=HTMLResponse)
def report(
    request: Request, presentation_id: int, facilitator: CurrentFacilitator, session: SessionDep
) -> HTMLResponse:
    presentation = get_presentation(
        session=session, owner_id=facilitator.id, presentation_id=presentation_id
    )
    # In the presentation's language (like the exports), whatever the facilitator reads in.
    built = svc_report.build(session, presentation)
    response = page(request, "reports/report.html", presentation.language, report=built)
    response.headers["Cache-Control"] = "no-store"
    return response
