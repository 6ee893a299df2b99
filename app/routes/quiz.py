"""A phone's own quiz state: choosing a nickname, and its own place on a leaderboard slide.

The frame all phones share holds nothing personal; these routes answer one phone, known by
its participant token (app/participants.py), about itself only. Cross-site posts are refused
by the Origin check of app/middleware.py, as for votes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session
from starlette.requests import ClientDisconnect

from app import i18n
from app.routes.participant import MAX_CODE, count_failed_lookup, phone_language
from app.services import quiz
from app.stages import CurrentStage
from app.templating import render
from app.voting import participant_key
from app.web import (
    PARTICIPANT_COOKIE,
    Services,
    ServicesDep,
    blocking,
    client_ip,
    is_htmx,
    see_other,
)

router = APIRouter()

QUIZ_KINDS = ("quiz", "leaderboard")
TOO_FAST = i18n._l("You are sending very fast. Wait a moment and try again.")


async def _phone(request: Request, svc: Services, code: str) -> tuple[CurrentStage, str] | None:
    """The current stage of a code and this phone's token for it; None: unknown or not joined."""
    current = await svc.stages.by_code(code) if len(code) <= MAX_CODE else None
    if current is None:
        count_failed_lookup(svc, client_ip(request))
        return None
    token = svc.tokens.find(request.cookies.get(PARTICIPANT_COOKIE), current.presentation_id)
    if token is None:
        return None
    # In the language this phone chose (else the presentation's).
    return replace(current, language=phone_language(request, current.language)), token


def _me_context(
    session: Session,
    current: CurrentStage,
    token: str,
    *,
    error: str | None = None,
    value: str = "",
    in_vote_form: bool | None = None,
) -> dict[str, Any]:
    participant = quiz.participant_of(
        session, current.presentation_id, participant_key(current.presentation_id, token)
    )
    standing, total = None, 0
    if current.kind == "leaderboard" and current.question_id is not None:
        standing, total = quiz.my_standing(
            session, current.question_id, participant.id if participant else None
        )
    return {
        "join_code": current.join_code,
        "kind": current.kind,
        "nickname": participant.nickname if participant else None,
        "standing": standing,
        "total": total,
        "error": error,
        "nickname_value": value,
        "in_vote_form": current.kind == "quiz" if in_vote_form is None else in_vote_form,
    }


def _render(request: Request, language: str, ctx: dict[str, Any], status: int) -> Response:
    if is_htmx(request):
        html = render("questions/quiz/_me.html", language, ctx)
    else:
        html = render("questions/quiz/me_page.html", language, {**ctx, "in_vote_form": False})
    return HTMLResponse(html, status_code=status)


@router.get("/p/{code}/quiz/me", response_class=HTMLResponse)
async def my_quiz(request: Request, code: str, svc: ServicesDep) -> Response:
    """This phone's name and, on a leaderboard slide, its own place (nothing about others)."""
    found = await _phone(request, svc, code)
    if found is None:
        return HTMLResponse('<div id="quiz-me" class="quiz-me"></div>', status_code=403)
    current, token = found
    if not svc.limits.hit(svc.limits.vote, "quiz-me", token):
        return HTMLResponse('<div id="quiz-me" class="quiz-me"></div>', status_code=429)

    def build() -> Response:
        with svc.db.session() as session:
            ctx = _me_context(session, current, token)
        return _render(request, current.language, ctx, 200)

    return await blocking(build)


@router.post("/p/{code}/nickname", response_class=HTMLResponse)
async def choose_nickname(request: Request, code: str, svc: ServicesDep) -> Response:
    """Choose this phone's nickname for the quiz (once per presentation)."""
    try:
        form = await request.form(max_fields=64, max_files=0, max_part_size=16 * 1024)
    except ClientDisconnect:
        return Response(status_code=400)
    raw = form.get("nickname")
    typed = raw if isinstance(raw, str) else ""
    found = await _phone(request, svc, code)
    if found is None:
        return HTMLResponse('<div id="quiz-me" class="quiz-me"></div>', status_code=403)
    current, token = found
    language = current.language
    if not svc.limits.hit(svc.limits.vote, "nickname", token):
        return _render(
            request,
            language,
            _base(current, error=i18n.translate(language, TOO_FAST), value=typed[:24]),
            429,
        )

    def save() -> tuple[dict[str, Any], int]:
        try:
            with svc.db.write_session() as session:
                quiz.set_nickname(
                    session=session,
                    presentation_id=current.presentation_id,
                    token_hash=participant_key(current.presentation_id, token),
                    raw=typed,
                )
        except quiz.NicknameError as refused:
            with svc.db.session() as session:
                ctx = _me_context(
                    session,
                    current,
                    token,
                    error=refused.text(language),
                    value=typed[: quiz.MAX_NICKNAME * 2],
                )
            return ctx, 422
        with svc.db.session() as session:
            return _me_context(session, current, token), 200

    ctx, status = await blocking(save)
    if status == 200 and current.kind == "leaderboard":
        svc.changed(current.presentation_id)  # the projector's top 10 may show the new name
    if status == 200 and not is_htmx(request):
        return see_other(f"/p/{current.join_code}")
    return _render(request, language, ctx, status)


def _base(current: CurrentStage, *, error: str, value: str) -> dict[str, Any]:
    return {
        "join_code": current.join_code,
        "kind": current.kind,
        "nickname": None,
        "standing": None,
        "total": 0,
        "error": error,
        "nickname_value": value,
        "in_vote_form": current.kind == "quiz",
    }
