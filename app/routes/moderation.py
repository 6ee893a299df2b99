"""Moderation: the facilitator approves or hides participants' text, turns pre-moderation on,
removes a participant, and edits the word lists.

Every page is the facilitator's own (404 otherwise); every POST carries the CSRF token and
works as a plain form; htmx swaps the queue in place and refreshes it every few seconds.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from app.errors import Refused
from app.models import Moderation
from app.moderation import is_premoderated
from app.services import moderation as svc_m
from app.services import qa as svc_qa
from app.services.presentations import get_presentation
from app.web import (
    CsrfFacilitator,
    CurrentFacilitator,
    Facilitator,
    FormDep,
    Services,
    ServicesDep,
    SessionDep,
    fragment,
    is_htmx,
    page,
    see_other,
)

router = APIRouter()

ACTIONS: dict[str, Moderation | None] = {
    "approve": Moderation.APPROVED,
    "hide": Moderation.HIDDEN,
    "restore": None,
}
TEMPLATE = "manage/moderate.html"


def _owned(svc: Services, facilitator_id: int, presentation_id: int) -> None:
    """Someone else's presentation is not found, before anything asked of it is checked."""
    with svc.db.session() as session:
        get_presentation(session=session, owner_id=facilitator_id, presentation_id=presentation_id)


def _id(raw: str | None) -> int | None:
    """A question id from a query or form field (None when absent); 422 when malformed."""
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) < 12):
        raise HTTPException(status_code=422, detail="bad id")
    return int(raw)


def _field(form: dict[str, list[str]], name: str) -> str:
    return form.get(name, [""])[0]


def _moderate_url(presentation_id: int, question_id: int | None) -> str:
    url = f"/present/{presentation_id}/moderate"
    return f"{url}?q={question_id}" if question_id else url


def _context(
    session: Session, facilitator: Facilitator, presentation_id: int, question_id: int | None
) -> dict[str, Any]:
    presentation = get_presentation(
        session=session, owner_id=facilitator.id, presentation_id=presentation_id
    )
    question = svc_m.chosen_question(
        session=session,
        owner_id=facilitator.id,
        presentation_id=presentation_id,
        question_id=question_id,
    )
    entries = svc_m.queue(session=session, question=question) if question else []
    premoderated = is_premoderated(question.config) if question else False
    return {
        "facilitator": facilitator,
        "csrf": facilitator.auth.csrf_token,
        "presentation": presentation,
        "questions": svc_m.text_questions(session=session, presentation_id=presentation_id),
        # Q&A questions are moderated on their own page (app/routes/qa.py): linked from here.
        "qa_questions": svc_qa.qa_questions(session=session, presentation_id=presentation_id),
        "question": question,
        "entries": entries,
        "premoderated": premoderated,
        "waiting": sum(1 for e in entries if e.state is None and premoderated),
        "newest": max((e.item_id for e in entries), default=0),
        "held": sum(1 for e in entries if e.state == Moderation.HIDDEN),
        "limit": svc_m.QUEUE_LIMIT,
    }


def _queue_response(
    request: Request,
    session: Session,
    facilitator: Facilitator,
    presentation_id: int,
    question_id: int | None,
) -> HTMLResponse:
    ctx = _context(session, facilitator, presentation_id, question_id)
    if is_htmx(request):
        ctx["request"] = request
        return fragment(TEMPLATE, "queue", facilitator.language, **ctx)
    return page(request, TEMPLATE, facilitator.language, **ctx)


@router.get("/present/{presentation_id}/moderate", response_class=HTMLResponse)
def moderate(
    request: Request,
    presentation_id: int,
    facilitator: CurrentFacilitator,
    session: SessionDep,
    q: str | None = None,
) -> HTMLResponse:
    """The entries of the current (or chosen) text question, newest first."""
    return _queue_response(request, session, facilitator, presentation_id, _id(q))


@router.post("/present/{presentation_id}/moderate/entries/{item_id}")
def decide(
    request: Request,
    presentation_id: int,
    item_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    """Approve, hide or restore one entry."""
    _owned(svc, facilitator.id, presentation_id)
    action = _field(form, "action")
    if action not in ACTIONS:
        raise HTTPException(status_code=422, detail="unknown action")
    with svc.db.write_session() as session:
        svc_m.set_state(
            session=session,
            owner_id=facilitator.id,
            presentation_id=presentation_id,
            item_id=item_id,
            state=ACTIONS[action],
        )
    svc.changed(presentation_id)
    return _after(request, svc, facilitator, presentation_id, _id(_field(form, "q")))


@router.post("/present/{presentation_id}/moderate/approve-waiting")
def approve_waiting(
    request: Request,
    presentation_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    """Approve the entries of a question that nobody decided on yet, up to the newest the
    facilitator saw (`upto`)."""
    _owned(svc, facilitator.id, presentation_id)
    question_id, upto = _id(_field(form, "q")), _id(_field(form, "upto"))
    if question_id is None or upto is None:
        raise HTTPException(status_code=422, detail="no question")
    with svc.db.write_session() as session:
        svc_m.approve_waiting(
            session=session,
            owner_id=facilitator.id,
            presentation_id=presentation_id,
            question_id=question_id,
            upto=upto,
        )
    svc.changed(presentation_id)
    return _after(request, svc, facilitator, presentation_id, question_id)


@router.post("/present/{presentation_id}/moderate/premoderate")
def premoderate(
    request: Request,
    presentation_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    """Pre-moderation of a question on (value=on) or off."""
    _owned(svc, facilitator.id, presentation_id)
    question_id = _id(_field(form, "q"))
    if question_id is None:
        raise HTTPException(status_code=422, detail="no question")
    with svc.db.write_session() as session:
        svc_m.set_premoderation(
            session=session,
            owner_id=facilitator.id,
            presentation_id=presentation_id,
            question_id=question_id,
            on=_field(form, "value") == "on",
        )
    svc.changed(presentation_id)
    return _after(request, svc, facilitator, presentation_id, question_id)


def _after(
    request: Request,
    svc: ServicesDep,
    facilitator: Facilitator,
    presentation_id: int,
    question_id: int | None,
) -> Response:
    """htmx: the queue as it is now; a plain form: back to the page."""
    if is_htmx(request):
        with svc.db.session() as session:
            return _queue_response(request, session, facilitator, presentation_id, question_id)
    return see_other(_moderate_url(presentation_id, question_id))


@router.get(
    "/present/{presentation_id}/moderate/participants/{participant_id}/remove",
    response_class=HTMLResponse,
)
def confirm_remove(
    request: Request,
    presentation_id: int,
    participant_id: int,
    facilitator: CurrentFacilitator,
    session: SessionDep,
    q: str | None = None,
) -> HTMLResponse:
    """Ask before removing a participant."""
    participant, answers = svc_m.get_participant(
        session=session,
        owner_id=facilitator.id,
        presentation_id=presentation_id,
        participant_id=participant_id,
    )
    ctx = _context(session, facilitator, presentation_id, _id(q))
    ctx.update(confirm=participant, answers=answers)
    return page(request, TEMPLATE, facilitator.language, **ctx)


@router.post("/present/{presentation_id}/moderate/participants/{participant_id}/remove")
def remove(
    presentation_id: int,
    participant_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    """Remove a participant: their answers leave every result, and they cannot vote again."""
    with svc.db.write_session() as session:
        svc_m.remove_participant(
            session=session,
            owner_id=facilitator.id,
            presentation_id=presentation_id,
            participant_id=participant_id,
        )
    svc.changed(presentation_id)
    return see_other(_moderate_url(presentation_id, _id(_field(form, "q"))))


# --- word lists ----------------------------------------------------------------------------


def _words_page(
    request: Request,
    facilitator: Facilitator,
    lists: dict[str, str],
    *,
    error: str | None = None,
    saved: bool = False,
) -> HTMLResponse:
    return page(
        request,
        "manage/words.html",
        facilitator.language,
        status_code=422 if error else 200,
        facilitator=facilitator,
        csrf=facilitator.auth.csrf_token,
        lists=lists,
        error=error,
        saved=saved,
    )


@router.get("/manage/words", response_class=HTMLResponse)
def words(
    request: Request,
    facilitator: CurrentFacilitator,
    session: SessionDep,
    saved: str | None = None,
) -> HTMLResponse:
    """The facilitator's Dutch and English word lists."""
    lists = svc_m.word_lists(session=session, owner_id=facilitator.id)
    text = {language: "\n".join(words) for language, words in lists.items()}
    return _words_page(request, facilitator, text, saved=saved == "1")


@router.post("/manage/words")
def save_words(
    request: Request, facilitator: CsrfFacilitator, svc: ServicesDep, form: FormDep
) -> Response:
    lists = {language: _field(form, f"words_{language}") for language in svc_m.LANGUAGES}
    try:
        with svc.db.write_session() as session:
            touched = svc_m.save_word_lists(session=session, owner_id=facilitator.id, lists=lists)
    except Refused as refused:
        return _words_page(request, facilitator, lists, error=refused.text(facilitator.language))
    for presentation_id in touched:
        svc.changed(presentation_id)
    return see_other("/manage/words?saved=1")
