"""Moderation: the facilitator approves or hides participants' text, turns pre-moderation on,
removes a participant, and edits the word lists.

Every page is the facilitator's own (404 otherwise); every POST carries the CSRF token and
works as a plain form; htmx swaps the queue in place and refreshes it every few seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from app.errors import Refused
from app.models import Moderation, Question
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


# --- what the moderation page and the Q&A queue (app/routes/qa.py) share -------------------


def owned(svc: Services, facilitator_id: int, presentation_id: int) -> None:
    """Someone else's presentation is not found, before anything asked of it is checked."""
    with svc.db.session() as session:
        get_presentation(session=session, owner_id=facilitator_id, presentation_id=presentation_id)


def parse_id(raw: str | None) -> int | None:
    """An id from a query or form field (None when absent); 422 when malformed."""
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) < 12):
        raise HTTPException(status_code=422, detail="bad id")
    return int(raw)


def field(form: dict[str, list[str]], name: str) -> str:
    return form.get(name, [""])[0]


# What a queue shows of its question besides what every queue shows: its entries and counts.
Entries = Callable[[Session, int, Question | None, bool], dict[str, Any]]


@dataclass(frozen=True)
class QueuePage:
    """A facilitator's queue of participants' text under /present/{id}/{path}: the question
    picker, pre-moderation, the entries (refreshed and swapped by htmx in the template's
    block "queue"), and removing a participant after confirming."""

    path: str
    template: str
    kinds: Collection[str]
    entries: Entries

    def url(self, presentation_id: int, question_id: int | None) -> str:
        url = f"/present/{presentation_id}/{self.path}"
        return f"{url}?q={question_id}" if question_id else url

    def context(
        self,
        session: Session,
        facilitator: Facilitator,
        presentation_id: int,
        question_id: int | None,
    ) -> dict[str, Any]:
        presentation = get_presentation(
            session=session, owner_id=facilitator.id, presentation_id=presentation_id
        )
        question = svc_m.chosen_question(
            session=session,
            owner_id=facilitator.id,
            presentation_id=presentation_id,
            question_id=question_id,
            kinds=self.kinds,
        )
        premoderated = is_premoderated(question.config) if question else False
        return {
            "facilitator": facilitator,
            "csrf": facilitator.auth.csrf_token,
            "presentation": presentation,
            "questions": svc_m.text_questions(
                session=session, presentation_id=presentation_id, kinds=self.kinds
            ),
            "question": question,
            "premoderated": premoderated,
            "limit": svc_m.QUEUE_LIMIT,
            **self.entries(session, presentation_id, question, premoderated),
        }

    def response(
        self,
        request: Request,
        session: Session,
        facilitator: Facilitator,
        presentation_id: int,
        question_id: int | None,
    ) -> HTMLResponse:
        """htmx: the queue block; otherwise the whole page."""
        ctx = self.context(session, facilitator, presentation_id, question_id)
        if is_htmx(request):
            ctx["request"] = request
            return fragment(self.template, "queue", facilitator.language, **ctx)
        return page(request, self.template, facilitator.language, **ctx)

    def after(
        self,
        request: Request,
        svc: Services,
        facilitator: Facilitator,
        presentation_id: int,
        question_id: int | None,
    ) -> Response:
        """htmx: the queue as it is now; a plain form: back to the page."""
        if is_htmx(request):
            with svc.db.session() as session:
                return self.response(request, session, facilitator, presentation_id, question_id)
        return see_other(self.url(presentation_id, question_id))

    def change(
        self,
        request: Request,
        svc: Services,
        facilitator: Facilitator,
        presentation_id: int,
        question_id: int | None,
        write: Callable[[Session], object],
    ) -> Response:
        """Write a facilitator's decision, wake the live layer, answer with the queue."""
        with svc.db.write_session() as session:
            write(session)
        svc.changed(presentation_id)
        return self.after(request, svc, facilitator, presentation_id, question_id)

    def premoderate(
        self,
        request: Request,
        presentation_id: int,
        facilitator: Facilitator,
        svc: Services,
        form: dict[str, list[str]],
    ) -> Response:
        """Pre-moderation of a question on (value=on) or off."""
        owned(svc, facilitator.id, presentation_id)
        question_id = parse_id(field(form, "q"))
        if question_id is None:
            raise HTTPException(status_code=422, detail="no question")
        return self.change(
            request,
            svc,
            facilitator,
            presentation_id,
            question_id,
            lambda session: svc_m.set_premoderation(
                session=session,
                owner_id=facilitator.id,
                presentation_id=presentation_id,
                question_id=question_id,
                on=field(form, "value") == "on",
                kinds=self.kinds,
            ),
        )

    def confirm_remove(
        self,
        request: Request,
        presentation_id: int,
        participant_id: int,
        facilitator: Facilitator,
        session: Session,
        q: str | None,
    ) -> HTMLResponse:
        """The page, asking before a participant is removed."""
        participant, answers = svc_m.get_participant(
            session=session,
            owner_id=facilitator.id,
            presentation_id=presentation_id,
            participant_id=participant_id,
        )
        ctx = self.context(session, facilitator, presentation_id, parse_id(q))
        ctx.update(confirm=participant, answers=answers)
        return page(request, self.template, facilitator.language, **ctx)

    def remove(
        self,
        presentation_id: int,
        participant_id: int,
        facilitator: Facilitator,
        svc: Services,
        form: dict[str, list[str]],
    ) -> Response:
        """Remove a participant, then back to the queue."""
        with svc.db.write_session() as session:
            svc_m.remove_participant(
                session=session,
                owner_id=facilitator.id,
                presentation_id=presentation_id,
                participant_id=participant_id,
            )
        svc.changed(presentation_id)
        return see_other(self.url(presentation_id, parse_id(field(form, "q"))))


# --- the moderation page -------------------------------------------------------------------


def _entries(
    session: Session, presentation_id: int, question: Question | None, premoderated: bool
) -> dict[str, Any]:
    entries = svc_m.queue(session=session, question=question) if question else []
    return {
        # Q&A questions are moderated on their own page (app/routes/qa.py): linked from here.
        "qa_questions": svc_qa.qa_questions(session=session, presentation_id=presentation_id),
        "entries": entries,
        "waiting": sum(1 for e in entries if e.state is None and premoderated),
        "newest": max((e.item_id for e in entries), default=0),
        "held": sum(1 for e in entries if e.state == Moderation.HIDDEN),
    }


MODERATE = QueuePage("moderate", TEMPLATE, svc_m.TEXT_KINDS, _entries)


@router.get("/present/{presentation_id}/moderate", response_class=HTMLResponse)
def moderate(
    request: Request,
    presentation_id: int,
    facilitator: CurrentFacilitator,
    session: SessionDep,
    q: str | None = None,
) -> HTMLResponse:
    """The entries of the current (or chosen) text question, newest first."""
    return MODERATE.response(request, session, facilitator, presentation_id, parse_id(q))


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
    owned(svc, facilitator.id, presentation_id)
    action = field(form, "action")
    if action not in ACTIONS:
        raise HTTPException(status_code=422, detail="unknown action")
    return MODERATE.change(
        request,
        svc,
        facilitator,
        presentation_id,
        parse_id(field(form, "q")),
        lambda session: svc_m.set_state(
            session=session,
            owner_id=facilitator.id,
            presentation_id=presentation_id,
            item_id=item_id,
            state=ACTIONS[action],
        ),
    )


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
    owned(svc, facilitator.id, presentation_id)
    question_id, upto = parse_id(field(form, "q")), parse_id(field(form, "upto"))
    if question_id is None or upto is None:
        raise HTTPException(status_code=422, detail="no question")
    return MODERATE.change(
        request,
        svc,
        facilitator,
        presentation_id,
        question_id,
        lambda session: svc_m.approve_waiting(
            session=session,
            owner_id=facilitator.id,
            presentation_id=presentation_id,
            question_id=question_id,
            upto=upto,
        ),
    )


@router.post("/present/{presentation_id}/moderate/premoderate")
def premoderate(
    request: Request,
    presentation_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    """Pre-moderation of a question on (value=on) or off."""
    return MODERATE.premoderate(request, presentation_id, facilitator, svc, form)


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
    return MODERATE.confirm_remove(
        request, presentation_id, participant_id, facilitator, session, q
    )


@router.post("/present/{presentation_id}/moderate/participants/{participant_id}/remove")
def remove(
    presentation_id: int,
    participant_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    """Remove a participant: their answers leave every result, and they cannot vote again."""
    return MODERATE.remove(presentation_id, participant_id, facilitator, svc, form)


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
    lists = {language: field(form, f"words_{language}") for language in svc_m.LANGUAGES}
    try:
        with svc.db.write_session() as session:
            touched = svc_m.save_word_lists(session=session, owner_id=facilitator.id, lists=lists)
    except Refused as refused:
        return _words_page(request, facilitator, lists, error=refused.text(facilitator.language))
    for presentation_id in touched:
        svc.changed(presentation_id)
    return see_other("/manage/words?saved=1")
