"""Q&A over HTTP: phones ask and upvote, the facilitator works through the queue.

Phones: the shared phone frame holds the ask form and an empty list that htmx loads from
this phone's own endpoint (and refreshes every few seconds), so what is personal (its own
questions, its upvotes) never enters the frame every phone gets, and other participants'
names never reach a phone at all. Without JavaScript the form posts and the page
/p/{code}/qa/{question_id} shows the list with a button per entry.

After a participant asks or upvotes, `svc.changed()` wakes the projector (coalesced, and
passed on to other workers through Redis), as any committed change does.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from app.i18n import _l, translate
from app.live.fragments import stage_context
from app.moderation import is_premoderated
from app.questions.base import AnswerError
from app.questions.qa import names_allowed, parse_entry
from app.ratelimit import Rate
from app.routes.moderation import QueuePage, field, owned, parse_id
from app.routes.participant import (
    MAX_CODE,
    _unknown,
    count_failed_lookup,
    phone_language,
    stage_code_expired,
)
from app.services import qa as svc_qa
from app.services.control import stage
from app.stages import CurrentStage, phone_version
from app.templating import render_block
from app.voting import participant_key
from app.web import (
    PARTICIPANT_COOKIE,
    CsrfFacilitator,
    CurrentFacilitator,
    FormDep,
    Services,
    ServicesDep,
    SessionDep,
    blocking,
    client_ip,
    form_values,
    fragment,
    is_htmx,
    page,
    see_other,
)

router = APIRouter()

PHONE = "questions/qa/phone.html"
QUEUE = "manage/qa.html"
# Asking is slower than voting: a few questions a minute is plenty for a person.
ASK_RATE = Rate(6, 60.0)

SENT = _l("Your question has been sent.")
SENT_WAIT = _l(
    "Your question has been sent. It appears on the screen once the facilitator approves it."
)
CLOSED = _l("This question is no longer open. Here is the current one.")
REMOVED = _l("The facilitator has removed you from this presentation.")
TOO_FAST = _l("You are sending very fast. Wait a moment and try again.")
OWN = _l("You cannot vote for your own question.")
GONE = _l("This question is no longer on the screen.")
NOT_JOINED = _l("This phone is not taking part in this session (any more). Join again to vote.")


# --- phones --------------------------------------------------------------------------------


async def _current(request: Request, svc: Services, code: str) -> CurrentStage | None:
    """The code's current stage, in the language this phone chose (else the presentation's)."""
    current = await svc.stages.by_code(code) if len(code) <= MAX_CODE else None
    if current is None:
        count_failed_lookup(svc, client_ip(request))
        return None
    return replace(current, language=phone_language(request, current.language))


def _token(request: Request, svc: Services, current: CurrentStage) -> str | None:
    return svc.tokens.find(request.cookies.get(PARTICIPANT_COOKIE), current.presentation_id)


def _is_open_qa(current: CurrentStage, question_id: int) -> bool:
    return (
        current.question_id == question_id
        and current.kind == svc_qa.KIND
        and current.state == "open"
    )


def _list_context(
    session: Session,
    current: CurrentStage,
    token: str | None,
    question_id: int | None,
    *,
    status: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """What the phone's list block needs (None for `qa` when the question is not on screen)."""
    question = (
        session.get(svc_qa.Question, question_id)
        if question_id is not None and question_id == current.question_id
        else None
    )
    entries: list[svc_qa.PhoneEntry] | None = None
    if question is not None and question.kind == svc_qa.KIND:
        me = (
            svc_qa.find_participant(
                session, current.presentation_id, participant_key(current.presentation_id, token)
            )
            if token
            else None
        )
        entries = svc_qa.phone_entries(session=session, question=question, participant_id=me)
    return {
        "join_code": current.join_code,
        "question": question,
        "qa": entries,
        "qa_status": status,
        "qa_error": error,
    }


def _list_response(
    svc: Services,
    current: CurrentStage,
    token: str | None,
    question_id: int | None,
    status_code: int = 200,
    *,
    status: str | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    """The phone's list block; after its own ask also a fresh ask form (out of band)."""
    with svc.db.session() as session:
        ctx = _list_context(session, current, token, question_id, status=status, error=error)
    language = current.language
    html = ""
    if ctx["question"] is not None and ctx["qa"] is not None:
        html = render_block(PHONE, "list", language, ctx)
        if form is not None:
            html += render_block(PHONE, "ask", language, {**ctx, "oob": True, "qa_form": form})
    else:
        html = render_block(PHONE, "gone", language, {"qa_gone": translate(language, CLOSED)})
    response = HTMLResponse(html, status_code=status_code)
    if ctx["qa"] is None:  # the question changed under the phone: show the current one
        response.headers["HX-Refresh"] = "true"
    return response


def _phone_page(
    request: Request,
    svc: Services,
    current: CurrentStage,
    token: str,
    status_code: int = 200,
    *,
    status: str | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    """The whole phone page with the list in it (the page without JavaScript)."""
    with svc.db.session() as session:
        st = stage(session=session, presentation_id=current.presentation_id, with_results=None)
        if st is None:
            return _unknown(request, svc, current.join_code)
        ctx = stage_context(st, svc.presence, svc.clock())
        ctx.update(
            _list_context(session, current, token, current.question_id, status=status, error=error)
        )
    ctx.update(
        version=phone_version(st.presentation.version),
        answer=None,
        status=None,
        error=None,
        client_key=secrets.token_urlsafe(16),
        qa_form=form,
    )
    return page(
        request,
        "participant.html",
        phone_language(request, st.presentation.language),
        status_code=status_code,
        **ctx,
    )


@router.get("/p/{code}/qa/{question_id}", response_class=HTMLResponse)
async def phone_page(request: Request, code: str, question_id: int, svc: ServicesDep) -> Response:
    """The phone page with the Q&A list (for phones without JavaScript)."""
    current = await _current(request, svc, code)
    if current is None:
        return _unknown(request, svc, code)
    token = _token(request, svc, current)
    if token is None or current.question_id != question_id or current.kind != svc_qa.KIND:
        return see_other(f"/p/{current.join_code}")
    done = request.query_params.get("sent")
    status = None
    if done == "1":
        status = translate(current.language, SENT)
    elif done == "wait":
        status = translate(current.language, SENT_WAIT)
    return await blocking(lambda: _phone_page(request, svc, current, token, status=status))


@router.get("/p/{code}/qa/{question_id}/list", response_class=HTMLResponse)
async def phone_list(request: Request, code: str, question_id: int, svc: ServicesDep) -> Response:
    """This phone's list: visible entries, its own, its upvotes marked (no names)."""
    current = await _current(request, svc, code)
    if current is None:
        return _unknown(request, svc, code)
    token = _token(request, svc, current)
    if token is None and stage_code_expired(svc, current):
        count_failed_lookup(svc, client_ip(request))
        return _unknown(request, svc, code)
    if current.question_id != question_id:
        return await blocking(lambda: _list_response(svc, current, token, question_id, 409))
    return await blocking(lambda: _list_response(svc, current, token, question_id))


async def _participant_post(
    request: Request, code: str, svc: Services
) -> tuple[CurrentStage | None, str | None, dict[str, list[str]], Response | None]:
    """The form, stage and token of a phone's post; or the response that refuses it."""
    form = form_values(await request.form(max_fields=16, max_files=0, max_part_size=16 * 1024))
    current = await _current(request, svc, code)
    if current is None:
        return None, None, form, _unknown(request, svc, code)
    token = _token(request, svc, current)
    if token is None:
        if stage_code_expired(svc, current):  # nobody may learn that this code existed
            count_failed_lookup(svc, client_ip(request))
            return current, None, form, _unknown(request, svc, code)
        if is_htmx(request):
            message = translate(current.language, NOT_JOINED)
            return (
                current,
                None,
                form,
                fragment(PHONE, "gone", current.language, 403, qa_gone=message),
            )
        return current, None, form, see_other(f"/p/{current.join_code}")
    return current, token, form, None


def _refused(
    request: Request,
    svc: Services,
    current: CurrentStage,
    token: str,
    status_code: int,
    message: str,
    form: dict[str, str] | None = None,
    question_id: int | None = None,
) -> Response:
    error = translate(current.language, message)
    if is_htmx(request):
        shown = question_id if question_id is not None else current.question_id
        return _list_response(svc, current, token, shown, status_code, error=error, form=form)
    return _phone_page(request, svc, current, token, status_code, error=error, form=form)


@router.post("/p/{code}/qa/{question_id}/ask", response_class=HTMLResponse)
async def ask(request: Request, code: str, question_id: int, svc: ServicesDep) -> Response:
    """A participant asks a question (with a name, where the facilitator allows names)."""
    current, token, values, refused = await _participant_post(request, code, svc)
    if refused is not None:
        return refused
    assert current is not None and token is not None
    typed = {
        "text": (values.get("text") or [""])[0][:4000],
        "name": (values.get("name") or [""])[0][:160],
    }
    if not _is_open_qa(current, question_id):
        return await blocking(
            lambda: _refused(request, svc, current, token, 409, CLOSED, None, question_id)
        )
    if not svc.limits.hit(ASK_RATE, "qa-ask", token):
        return await blocking(
            lambda: _refused(request, svc, current, token, 429, TOO_FAST, typed, question_id)
        )
    config = current.config or {}
    try:
        text, name, state = parse_entry(config, values)
    except AnswerError as exc:
        message = exc.text(current.language)

        def invalid() -> Response:
            if is_htmx(request):
                return _list_response(
                    svc, current, token, question_id, 422, error=message, form=typed
                )
            return _phone_page(request, svc, current, token, 422, error=message, form=typed)

        return await blocking(invalid)

    def write() -> svc_qa.QaStatus:
        with svc.db.write_session() as session:
            return svc_qa.ask(
                session=session,
                presentation_id=current.presentation_id,
                question_id=question_id,
                token_hash=participant_key(current.presentation_id, token),
                text=text,
                name=name,
                state=state,
            )

    status = await blocking(write)
    if status == svc_qa.QaStatus.REMOVED:
        return await blocking(
            lambda: _refused(request, svc, current, token, 403, REMOVED, None, question_id)
        )
    if status != svc_qa.QaStatus.SAVED:
        return await blocking(
            lambda: _refused(request, svc, current, token, 409, CLOSED, None, question_id)
        )
    svc.changed(current.presentation_id)
    waits = is_premoderated(config)
    if not is_htmx(request):
        return see_other(f"/p/{current.join_code}/qa/{question_id}?sent={'wait' if waits else '1'}")
    message = translate(current.language, SENT_WAIT if waits else SENT)
    empty = {"text": "", "name": typed["name"] if names_allowed(config) else ""}
    return await blocking(
        lambda: _list_response(svc, current, token, question_id, status=message, form=empty)
    )


@router.post("/p/{code}/qa/entries/{entry_id}/upvote", response_class=HTMLResponse)
async def upvote(request: Request, code: str, entry_id: int, svc: ServicesDep) -> Response:
    """A participant upvotes somebody else's question; a second upvote changes nothing."""
    current, token, _, refused = await _participant_post(request, code, svc)
    if refused is not None:
        return refused
    assert current is not None and token is not None
    if current.kind != svc_qa.KIND or current.state != "open":
        return await blocking(lambda: _refused(request, svc, current, token, 409, CLOSED))
    if not svc.limits.hit(svc.limits.vote, "qa-upvote", token):
        return await blocking(lambda: _refused(request, svc, current, token, 429, TOO_FAST))

    def write() -> svc_qa.QaStatus:
        with svc.db.write_session() as session:
            status, _ = svc_qa.upvote(
                session=session,
                presentation_id=current.presentation_id,
                entry_id=entry_id,
                token_hash=participant_key(current.presentation_id, token),
            )
            return status

    status = await blocking(write)
    problems = {
        svc_qa.QaStatus.REMOVED: (403, REMOVED),
        svc_qa.QaStatus.CLOSED: (409, CLOSED),
        svc_qa.QaStatus.UNKNOWN: (409, GONE),
        svc_qa.QaStatus.OWN: (422, OWN),
    }
    if status in problems:
        code_, message = problems[status]
        return await blocking(lambda: _refused(request, svc, current, token, code_, message))
    if status == svc_qa.QaStatus.SAVED:
        svc.changed(current.presentation_id)
    if not is_htmx(request):
        return see_other(f"/p/{current.join_code}/qa/{current.question_id}")
    return await blocking(lambda: _list_response(svc, current, token, current.question_id))


# --- the facilitator's queue (the moderation page's shape, app/routes/moderation.py) ------

ACTIONS = {action.value: action for action in svc_qa.Action}


def _entries(
    session: Session, presentation_id: int, question: svc_qa.Question | None, premoderated: bool
) -> dict[str, Any]:
    entries = svc_qa.queue(session=session, question=question) if question else []
    return {
        "entries": entries,
        "names": names_allowed(question.config) if question else False,
        "waiting": sum(1 for e in entries if e.state == "pending") if premoderated else 0,
        "held": sum(1 for e in entries if e.state == "hidden"),
    }


QA_QUEUE = QueuePage("qa", QUEUE, svc_qa.KINDS, _entries)


@router.get("/present/{presentation_id}/qa", response_class=HTMLResponse)
def queue(
    request: Request,
    presentation_id: int,
    facilitator: CurrentFacilitator,
    session: SessionDep,
    q: str | None = None,
) -> HTMLResponse:
    """The entries of the current (or chosen) Q&A, newest first, with their upvotes."""
    return QA_QUEUE.response(request, session, facilitator, presentation_id, parse_id(q))


@router.post("/present/{presentation_id}/qa/entries/{entry_id}")
def decide(
    request: Request,
    presentation_id: int,
    entry_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    """Approve, hide, undo, mark answered or not, pin or unpin one entry."""
    owned(svc, facilitator.id, presentation_id)
    action = ACTIONS.get(field(form, "action"))
    if action is None:
        raise HTTPException(status_code=422, detail="unknown action")
    return QA_QUEUE.change(
        request,
        svc,
        facilitator,
        presentation_id,
        parse_id(field(form, "q")),
        lambda session: svc_qa.decide(
            session=session,
            owner_id=facilitator.id,
            presentation_id=presentation_id,
            entry_id=entry_id,
            action=action,
        ),
    )


@router.post("/present/{presentation_id}/qa/premoderate")
def premoderate(
    request: Request,
    presentation_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    """Pre-moderation of a Q&A on (value=on) or off."""
    return QA_QUEUE.premoderate(request, presentation_id, facilitator, svc, form)


@router.get(
    "/present/{presentation_id}/qa/participants/{participant_id}/remove",
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
    return QA_QUEUE.confirm_remove(
        request, presentation_id, participant_id, facilitator, session, q
    )


@router.post("/present/{presentation_id}/qa/participants/{participant_id}/remove")
def remove(
    presentation_id: int,
    participant_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    """Remove a participant: their questions and upvotes go, and they cannot take part again."""
    return QA_QUEUE.remove(presentation_id, participant_id, facilitator, svc, form)
