"""Participants: join by code, see the current question, vote."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from app import i18n
from app.ballot_box import BallotBoxClosed
from app.i18n import _l
from app.live.fragments import stage_context
from app.models import Ballot, Presentation, Question, QuestionState
from app.questions import get_type
from app.questions.base import AnswerError
from app.services import NotFound
from app.services.accounts import token_hash
from app.services.control import stage
from app.services.presentations import get_by_code, normalise_code
from app.services.votes import VoteCommand, VoteStatus
from app.web import (
    PARTICIPANT_COOKIE,
    Services,
    ServicesDep,
    SessionDep,
    client_ip,
    fragment,
    is_htmx,
    page,
    see_other,
)

router = APIRouter()

MAX_KEY = 64


def _participant_token(request: Request) -> str | None:
    token = request.cookies.get(PARTICIPANT_COOKIE)
    if token and 20 <= len(token) <= 64 and token.isascii():
        return token
    return None


def _set_participant_cookie(response: Response, token: str, svc: Services) -> None:
    response.set_cookie(
        PARTICIPANT_COOKIE,
        token,
        max_age=60 * 60 * 24 * 30,
        httponly=True,
        samesite="lax",
        secure=svc.settings.secure_cookies,
        path="/",
    )


def _lookup(session: Session, svc: Services, request: Request, code: str) -> Presentation | None:
    """The presentation of a code; failed lookups count towards the guessing limit."""
    ip = client_ip(request)
    if not svc.limits.test(svc.limits.join, "join", ip):
        return None
    try:
        return get_by_code(session=session, code=code)
    except NotFound:
        svc.limits.hit(svc.limits.join, "join", ip)
        return None


def _join_page(
    request: Request, svc: Services, code: str, status: int, error: str | None
) -> HTMLResponse:
    language = i18n.negotiate(request.headers.get("accept-language"))
    response = page(
        request,
        "join.html",
        language,
        status_code=status,
        code=code,
        error=error,
        base_url=svc.settings.base_url,
    )
    if status == 429:
        response.headers["Retry-After"] = str(
            svc.limits.retry_after(svc.limits.join, "join", client_ip(request))
        )
    return response


@router.get("/", response_class=HTMLResponse)
def join_form(request: Request, svc: ServicesDep) -> HTMLResponse:
    return _join_page(request, svc, "", 200, None)


@router.get("/join", response_class=HTMLResponse)
def join(
    request: Request,
    svc: ServicesDep,
    session: SessionDep,
    code: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    cleaned = normalise_code(code)
    if not cleaned:
        return _join_page(request, svc, code, 422, _l("Enter the code you see on the screen."))
    if not svc.limits.test(svc.limits.join, "join", client_ip(request)):
        return _join_page(
            request, svc, code, 429, _l("Too many tries. Wait a minute and try again.")
        )
    if _lookup(session, svc, request, cleaned) is None:
        return _join_page(
            request, svc, code, 404, _l("We do not know this code. Check the code on the screen.")
        )
    return see_other(f"/p/{cleaned}")


@router.get("/j/{code}")
def short_link(code: str) -> Response:
    """The link in the QR code."""
    return see_other(f"/p/{normalise_code(code)}")


def _stage_page(
    request: Request,
    svc: Services,
    session: Session,
    presentation: Presentation,
    token: str | None,
    *,
    status: str | None = None,
    error: str | None = None,
    status_code: int = 200,
    answer: dict[str, object] | None = None,
    block: str | None = None,
) -> HTMLResponse:
    st = stage(session=session, presentation_id=presentation.id or 0, with_results=False)
    assert st is not None
    ctx = stage_context(st, svc.settings, svc.hub)
    if answer is None and st.question is not None and token is not None:
        answer = _my_answer(session, st.question, presentation, token)
    ctx.update(
        version=presentation.version,
        answer=answer,
        status=status,
        error=error,
        client_key=secrets.token_urlsafe(16),
    )
    if block is not None:
        response = fragment(
            "participant.html", block, presentation.language, status_code=status_code, **ctx
        )
        response.headers["HX-Retarget"] = "#stage"
        response.headers["HX-Reswap"] = "outerHTML"
        return response
    return page(request, "participant.html", presentation.language, status_code=status_code, **ctx)


def _my_answer(
    session: Session, question: Question, presentation: Presentation, token: str
) -> dict[str, object] | None:
    from sqlmodel import select

    from app.models import Participant

    participant = session.exec(
        select(Participant).where(
            Participant.presentation_id == presentation.id,
            Participant.token_hash == token_hash(token),
        )
    ).first()
    if participant is None:
        return None
    ballot = session.exec(
        select(Ballot).where(
            Ballot.question_id == question.id, Ballot.participant_id == participant.id
        )
    ).first()
    return dict(ballot.answer) if ballot else None


@router.get("/p/{code}", response_class=HTMLResponse)
def participant_page(
    request: Request, code: str, svc: ServicesDep, session: SessionDep
) -> Response:
    presentation = _lookup(session, svc, request, code) if len(code) <= 40 else None
    if presentation is None:
        return _join_page(
            request, svc, code, 404, _l("We do not know this code. Check the code on the screen.")
        )
    if code != presentation.join_code:
        return see_other(f"/p/{presentation.join_code}")
    token = _participant_token(request)
    response = _stage_page(request, svc, session, presentation, token)
    if token is None:
        _set_participant_cookie(response, secrets.token_urlsafe(24), svc)
    return response


@router.post("/p/{code}/vote", response_class=HTMLResponse)
async def vote(request: Request, code: str, svc: ServicesDep) -> Response:
    form = await request.form(max_fields=64, max_files=0, max_part_size=16 * 1024)
    values: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            values.setdefault(key, []).append(value)

    with svc.db.session() as session:
        presentation = _lookup(session, svc, request, code) if len(code) <= 40 else None
        if presentation is None:
            return _join_page(
                request,
                svc,
                code,
                404,
                _l("We do not know this code. Check the code on the screen."),
            )
        question = (
            session.get(Question, presentation.current_question_id)
            if presentation.current_question_id
            else None
        )
    language = presentation.language
    token = _participant_token(request)
    new_token = token is None
    if token is None:
        token = secrets.token_urlsafe(24)

    def reply(
        status_code: int,
        *,
        status: str | None = None,
        error: str | None = None,
        params: dict[str, object] | None = None,
        answer: dict[str, object] | None = None,
    ) -> Response:
        message = i18n.translate(language, error, **(params or {})) if error else None
        if is_htmx(request) and question is not None and status_code != 409:
            response: Response = fragment(
                "participant.html",
                "status",
                language,
                status_code=status_code,
                status=status,
                error=message,
                question=question,
                client_key=secrets.token_urlsafe(16),
                oob_key=True,
            )
        else:
            with svc.db.session() as s:
                response = _stage_page(
                    request,
                    svc,
                    s,
                    presentation,
                    token,
                    status=status,
                    error=message,
                    status_code=status_code,
                    answer=answer,
                    block="live" if is_htmx(request) else None,
                )
        if new_token:
            _set_participant_cookie(response, token, svc)
        return response

    submitted = values.get("question_id", [""])[0]
    if question is None or submitted != str(question.id):
        return reply(409, error=_l("This question is no longer open. Here is the current one."))
    if question.state != QuestionState.OPEN:
        return reply(409, error=_l("Voting on this question is closed."))
    if not svc.limits.hit(svc.limits.vote, "vote", token):
        return reply(429, error=_l("You are sending very fast. Wait a moment and try again."))
    client_key = values.get("client_key", [""])[0][:MAX_KEY] or secrets.token_urlsafe(16)

    try:
        parsed = get_type(question.kind).parse_answer(question.config, values)
    except AnswerError as exc:
        return reply(422, error=exc.message, params=exc.params)

    command = VoteCommand(
        presentation_id=presentation.id or 0,
        question_id=question.id or 0,
        token_hash=token_hash(token),
        client_key=client_key,
        answer=parsed,
    )
    try:
        result = await svc.ballot_box.submit(command)
    except BallotBoxClosed:
        response = reply(503, error=_l("Your vote could not be saved. Please try again."))
        response.headers["Retry-After"] = "2"
        return response
    if result in (VoteStatus.SAVED, VoteStatus.REPLAYED):
        return reply(200, status="saved", answer=parsed.answer)
    if result == VoteStatus.CONFLICT:
        return reply(
            422, error=_l("Something went wrong while sending. Please send your answer again.")
        )
    return reply(409, error=_l("Voting on this question is closed."))
