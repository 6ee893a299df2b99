"""Participants: join by code, see the current question, vote."""

from __future__ import annotations

import json
import secrets
from functools import lru_cache

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, select
from starlette.requests import ClientDisconnect, HTTPConnection

from app import i18n, metrics
from app.i18n import _l
from app.live.fragments import stage_context
from app.models import Ballot, Participant, Presentation
from app.participants import with_token
from app.ratelimit import Rate
from app.services import NotFound
from app.services import groups as svc_groups
from app.services.control import stage
from app.services.presentations import code_expired, get_by_code, get_by_link_token, normalise_code
from app.stages import CurrentStage, phone_version
from app.templating import render_block
from app.voting import Outcome, participant_key, take_vote
from app.web import (
    PARTICIPANT_COOKIE,
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

MAX_CODE = 40
UNKNOWN_CODE = _l("We do not know this code. Check the code on the screen.")
# One answer when guessing codes or joining is over its limit: the two look the same.
TOO_MANY_TRIES = _l("Too many tries from this network. Wait a minute and try again.")
NOT_JOINED = _l("This phone is not taking part in this session (any more). Join again to vote.")


def _set_participant_cookie(response: Response, value: str, svc: Services) -> None:
    response.set_cookie(
        PARTICIPANT_COOKIE,
        value,
        max_age=60 * 60 * 24 * 30,
        httponly=True,
        samesite="lax",
        secure=svc.settings.secure_cookies,
        path="/",
    )


def phone_language(conn: HTTPConnection, default: str) -> str:
    """The language a participant chose on this phone, else `default` (the presentation's)."""
    return i18n.chosen(conn.cookies.get(i18n.LANGUAGE_COOKIE)) or default


def large_text(conn: HTTPConnection) -> bool:
    return conn.cookies.get(i18n.TEXT_COOKIE) == "large"


def _phone(
    request: Request,
    name: str,
    language: str,
    *,
    here: str,
    status_code: int = 200,
    **context: object,
) -> HTMLResponse:
    """A whole phone page, with the language switch and the text size (`here`: the page the
    switches come back to)."""
    return page(
        request,
        name,
        language,
        status_code=status_code,
        here=here,
        large_text=large_text(request),
        **context,
    )


def _local_path(target: str) -> str:
    """Only a path on this site, never another one."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target[:300]
    return "/"


@router.post("/phone/settings")
def phone_settings(svc: ServicesDep, form: FormDep) -> Response:
    """The phone's language switch and text size: a cookie each, then the same page again.
    A value that is not one of the choices changes nothing."""
    response = see_other(_local_path(form.get("next", ["/"])[0]))
    year = 365 * 24 * 3600
    language = form.get("lang", [""])[0]
    if language in i18n.LANGUAGES:
        response.set_cookie(
            i18n.LANGUAGE_COOKIE,
            language,
            max_age=year,
            httponly=True,
            samesite="lax",
            secure=svc.settings.secure_cookies,
            path="/",
        )
    text = form.get("text", [""])[0]
    if text == "large":
        response.set_cookie(
            i18n.TEXT_COOKIE,
            "large",
            max_age=year,
            httponly=True,
            samesite="lax",
            secure=svc.settings.secure_cookies,
            path="/",
        )
    elif text == "normal":
        response.delete_cookie(i18n.TEXT_COOKIE, path="/")
    return response


def guessing_allowed(svc: Services, request_ip: str) -> bool:
    return svc.limits.test(svc.limits.join, "join", request_ip)


def count_failed_lookup(svc: Services, request_ip: str) -> None:
    """Unknown codes count towards the guessing limit; correct codes never do."""
    svc.limits.hit(svc.limits.join, "join", request_ip)


def _lookup(session: Session, svc: Services, request: Request, code: str) -> Presentation | None:
    """The presentation of a code; failed lookups count towards the guessing limit.

    A correct code is always looked up, so one guesser behind a venue's shared address cannot
    lock the room out; unknown codes past the limit get 429 instead of 404.
    """
    if len(code) > MAX_CODE:
        return None
    try:
        return get_by_code(session=session, code=code)
    except NotFound:
        count_failed_lookup(svc, client_ip(request))
        return None


def stage_code_expired(svc: Services, current: CurrentStage) -> bool:
    """Whether the code of a stage can no longer be typed to join (joined phones still use
    it). The phone socket refuses a phone without a token on such a code as an unknown one."""
    return current.active_at is not None and code_expired(
        current.active_at,
        idle_hours=svc.settings.join_code_idle_hours,
        now=svc.clock(),
    )


def _expired(svc: Services, request: Request, presentation: Presentation) -> bool:
    """An expired code, for a phone that has not joined: counted like an unknown code."""
    if not svc.code_expired(presentation):
        return False
    count_failed_lookup(svc, client_ip(request))
    return True


def _join_page(
    request: Request,
    svc: Services,
    code: str,
    status: int,
    error: str | None,
    language: str | None = None,
) -> HTMLResponse:
    language = phone_language(
        request, language or i18n.negotiate(request.headers.get("accept-language"))
    )
    return _phone(
        request,
        "join.html",
        language,
        here="/",
        status_code=status,
        code=code[:MAX_CODE],
        error=error,
    )


def _too_many(request: Request, svc: Services, code: str, rate: Rate, name: str) -> HTMLResponse:
    """429, with Retry-After from the limit that was reached."""
    response = _join_page(request, svc, code, 429, TOO_MANY_TRIES)
    retry = svc.limits.retry_after(rate, name, client_ip(request))
    response.headers["Retry-After"] = str(retry)
    return response


def _unknown(request: Request, svc: Services, code: str) -> HTMLResponse:
    """The same answer for every code that leads nowhere (unknown, deleted, malformed), and
    for one guessed too often: nothing tells them apart."""
    if not guessing_allowed(svc, client_ip(request)):
        return _too_many(request, svc, code, svc.limits.join, "join")
    return _join_page(request, svc, code, 404, UNKNOWN_CODE)


@lru_cache(maxsize=256)
def rejoin_html(language: str, join_code: str) -> str:
    """What a phone that has not joined sees in place of the question: join again."""
    return render_block("participant.html", "rejoin", language, {"join_code": join_code})


def _not_joined(request: Request, svc: Services, current: CurrentStage) -> Response:
    """A vote from a phone without a valid token for this presentation: refused (403), and
    the phone is offered to join again, which gives it a token (or 429 past the limit)."""
    if is_htmx(request):
        language = phone_language(request, current.language)
        response = HTMLResponse(rejoin_html(language, current.join_code), 403)
        response.headers["HX-Retarget"] = "#stage"
        response.headers["HX-Reswap"] = "outerHTML"
        return response
    return _join_page(request, svc, current.join_code, 403, NOT_JOINED, current.language)


@router.get("/", response_class=HTMLResponse)
def join_form(request: Request, svc: ServicesDep) -> HTMLResponse:
    return _join_page(request, svc, "", 200, None)


@router.get("/join", response_class=HTMLResponse)
def join(
    request: Request,
    svc: ServicesDep,
    session: SessionDep,
    code: str = "",
) -> Response:
    cleaned = normalise_code(code)
    if not cleaned:
        return _join_page(request, svc, code, 422, _l("Enter the code you see on the screen."))
    if len(code) > MAX_CODE:
        # Longer than any code: refused (and counted) as an unknown one, so that no refusal
        # of a code looks different from another.
        count_failed_lookup(svc, client_ip(request))
        return _unknown(request, svc, code)
    presentation = _lookup(session, svc, request, cleaned)
    if presentation is None:
        return _unknown(request, svc, code)
    if _token_of(request, svc, presentation) is None and _expired(svc, request, presentation):
        return _unknown(request, svc, code)
    return see_other(f"/p/{cleaned}")


@router.get("/j/{code}")
def short_link(code: str) -> Response:
    """The link in QR codes of earlier versions (the code must still be valid to join)."""
    return see_other(f"/p/{normalise_code(code)[:MAX_CODE]}")


@router.get("/l/{token}")
def link(request: Request, token: str, svc: ServicesDep, session: SessionDep) -> Response:
    """The link in the QR code: it joins whether or not the typed code has expired."""
    try:
        presentation = get_by_link_token(session=session, token=token)
    except NotFound:
        count_failed_lookup(svc, client_ip(request))
        return _unknown(request, svc, "")
    target = see_other(f"/p/{presentation.join_code}")
    cookie = request.cookies.get(PARTICIPANT_COOKIE)
    if svc.tokens.find(cookie, presentation.id or 0) is not None:
        return target
    if not svc.limits.hit(svc.limits.mint, "mint", client_ip(request)):
        return _too_many(request, svc, "", svc.limits.mint, "mint")
    if presentation.groups:  # a new phone picks its group first
        target = see_other(f"/p/{presentation.join_code}/group")
    _set_participant_cookie(target, with_token(cookie, svc.tokens.issue(presentation.id or 0)), svc)
    return target


def _token_of(request: Request, svc: Services, presentation: Presentation) -> str | None:
    return svc.tokens.find(request.cookies.get(PARTICIPANT_COOKIE), presentation.id or 0)


def _me(session: Session, presentation_id: int, token: str) -> Participant | None:
    return session.exec(
        select(Participant).where(
            Participant.presentation_id == presentation_id,
            Participant.token_hash == participant_key(presentation_id, token),
        )
    ).first()


def _my_answer(
    session: Session, question_id: int, participant: Participant | None
) -> dict[str, object] | None:
    if participant is None:
        return None
    ballot = session.exec(
        select(Ballot).where(
            Ballot.question_id == question_id, Ballot.participant_id == participant.id
        )
    ).first()
    return dict(ballot.answer) if ballot else None


def _stage_page(
    request: Request,
    svc: Services,
    session: Session,
    presentation_id: int,
    token: str | None,
    *,
    status: str | None = None,
    error: str | None = None,
    status_code: int = 200,
    answer: dict[str, object] | None = None,
    block: str | None = None,
    question_id: int | None = None,
) -> HTMLResponse:
    """The phone page (or its live block) of a presentation, personal to this phone.

    `question_id`: in audience pace, the question this phone chose to show."""
    st = stage(
        session=session, presentation_id=presentation_id, with_results=None, question_id=question_id
    )
    if st is None:  # deleted meanwhile
        return _join_page(request, svc, "", 404, UNKNOWN_CODE)
    ctx = stage_context(st, svc.presence, svc.clock())
    me = None
    wants_me = bool(st.presentation.groups) and block is None
    if token is not None and (wants_me or (answer is None and st.question is not None)):
        me = _me(session, presentation_id, token)
    if answer is None and st.question is not None:
        answer = _my_answer(session, st.question.id or 0, me)
    ctx.update(
        my_group=me.group_name if me is not None else None,
        version=phone_version(st.presentation.version),
        answer=answer,
        status=status,
        error=error,
        client_key=secrets.token_urlsafe(16),
    )
    language = phone_language(request, st.presentation.language)
    if block is not None and block != "live-only":
        response = fragment("participant.html", block, language, status_code=status_code, **ctx)
        response.headers["HX-Retarget"] = "#stage"
        response.headers["HX-Reswap"] = "outerHTML"
        return response
    if block == "live-only":  # a phone in audience pace fetching its question afresh
        return fragment("participant.html", "live", language, status_code=status_code, **ctx)
    here = f"/p/{st.presentation.join_code}"
    if st.audience_paced and st.question is not None:
        here += f"?q={st.question.id}"
    return _phone(request, "participant.html", language, here=here, status_code=status_code, **ctx)


def _chosen_question(request: Request) -> int | None:
    """The question a phone in audience pace asked for (`?q=<id>`)."""
    value = request.query_params.get("q", "")
    return int(value) if value.isascii() and value.isdigit() and len(value) < 12 else None


@router.get("/p/{code}", response_class=HTMLResponse)
def participant_page(
    request: Request, code: str, svc: ServicesDep, session: SessionDep
) -> Response:
    """The phone page; a phone without a token for this presentation joins here."""
    presentation = _lookup(session, svc, request, code)
    if presentation is None:
        return _unknown(request, svc, code)
    presentation_id = presentation.id or 0
    cookie = request.cookies.get(PARTICIPANT_COOKIE)
    token = svc.tokens.find(cookie, presentation_id)
    if token is None and _expired(svc, request, presentation):
        return _unknown(request, svc, code)
    if code != presentation.join_code:
        return see_other(f"/p/{presentation.join_code}")
    if token is not None:
        return _stage_page(
            request,
            svc,
            session,
            presentation_id,
            token,
            question_id=_chosen_question(request),
            block="live-only" if is_htmx(request) else None,
        )
    # Joining makes a participant, so it is limited per address: far above what a room
    # behind one venue address needs, far below what a script making up a crowd wants.
    if not svc.limits.hit(svc.limits.mint, "mint", client_ip(request)):
        return _too_many(request, svc, code, svc.limits.mint, "mint")
    if presentation.groups:
        # One extra tap before the question: the phone picks its group (or none).
        response: Response = _pick_page(request, presentation, None, None, 200)
    else:
        response = _stage_page(
            request, svc, session, presentation_id, None, question_id=_chosen_question(request)
        )
    cookie = with_token(cookie, svc.tokens.issue(presentation_id))
    _set_participant_cookie(response, cookie, svc)
    return response


def _pick_page(
    request: Request,
    presentation: Presentation,
    current: str | None,
    error: str | None,
    status_code: int,
) -> HTMLResponse:
    return _phone(
        request,
        "groups/pick.html",
        phone_language(request, presentation.language),
        here=f"/p/{presentation.join_code}/group",
        status_code=status_code,
        presentation=presentation,
        current=current,
        error=error,
    )


@router.get("/p/{code}/group", response_class=HTMLResponse)
def group_page(request: Request, code: str, svc: ServicesDep, session: SessionDep) -> Response:
    """The group buttons: after joining, and from the small link on the phone page."""
    presentation = _lookup(session, svc, request, code)
    if presentation is None:
        return _unknown(request, svc, code)
    token = _token_of(request, svc, presentation)
    if token is None or not presentation.groups or code != presentation.join_code:
        return see_other(f"/p/{presentation.join_code}")  # joins there (or has no groups)
    me = _me(session, presentation.id or 0, token)
    return _pick_page(request, presentation, me.group_name if me else None, None, 200)


@router.post("/p/{code}/group", response_class=HTMLResponse)
def pick_group(
    request: Request, code: str, svc: ServicesDep, session: SessionDep, form: FormDep
) -> Response:
    """Save the phone's group ("": rather not say); anything but one of the presentation's
    groups is refused and changes nothing."""
    presentation = _lookup(session, svc, request, code)
    if presentation is None:
        return _unknown(request, svc, code)
    presentation_id = presentation.id or 0
    token = _token_of(request, svc, presentation)
    if token is None:
        return _join_page(request, svc, presentation.join_code, 403, NOT_JOINED)
    chosen = form.get("group", [""])[0]
    language = phone_language(request, presentation.language)
    if not svc.limits.hit(svc.limits.vote, "group", token):
        error = i18n.translate(language, TOO_MANY_TRIES)
        return _pick_page(request, presentation, None, error, 429)
    try:
        with svc.db.write_session() as write:
            svc_groups.pick_group(
                session=write,
                presentation_id=presentation_id,
                token_hash=participant_key(presentation_id, token),
                group=chosen,
            )
    except svc_groups.GroupError as refused:
        me = _me(session, presentation_id, token)
        error = refused.text(language)
        return _pick_page(request, presentation, me.group_name if me else None, error, 422)
    return see_other(f"/p/{presentation.join_code}")


@router.post("/p/{code}/vote", response_class=HTMLResponse)
async def vote(request: Request, code: str, svc: ServicesDep) -> Response:
    """A vote as a form post: the page without JavaScript, and phones whose socket is down."""
    try:
        form = await request.form(max_fields=64, max_files=0, max_part_size=16 * 1024)
    except ClientDisconnect:  # the phone gave up (lost wifi); it retries with the same key
        return Response(status_code=400)
    values = form_values(form)

    current = await svc.stages.by_code(code) if len(code) <= MAX_CODE else None
    if current is None:
        count_failed_lookup(svc, client_ip(request))
        return _unknown(request, svc, code)
    # Only phones that joined vote: the server issued their token for this presentation.
    token = svc.tokens.find(request.cookies.get(PARTICIPANT_COOKIE), current.presentation_id)
    if token is None:
        if stage_code_expired(svc, current):  # nobody may learn that this code existed
            count_failed_lookup(svc, client_ip(request))
            return _unknown(request, svc, code)
        return _not_joined(request, svc, current)
    language = phone_language(request, current.language)
    outcome, message = await _take_vote(svc, current, token, values, language)
    status = "saved" if outcome.saved else None
    response: Response
    if is_htmx(request) and not outcome.changed_question:
        # Just the status under the form, and a fresh key for the next submission.
        response = vote_status(language, outcome.status_code, status, message)
    else:
        # The whole stage: a plain form post, or the question changed under the phone.
        def render() -> Response:
            with svc.db.session() as session:
                return _stage_page(
                    request,
                    svc,
                    session,
                    current.presentation_id,
                    token,
                    status=status,
                    error=message,
                    status_code=outcome.status_code,
                    answer=dict(outcome.answer) if outcome.answer else None,
                    block="live" if is_htmx(request) else None,
                    question_id=_submitted_question(values) if current.audience_paced else None,
                )

        response = await blocking(render)
    if outcome.status_code == 503:
        response.headers["Retry-After"] = "2"
    return response


MAX_MESSAGE_FIELDS = 64


async def vote_message(
    svc: Services, code: str, token: str, text: str, language: str | None = None
) -> str | None:
    """A vote sent over the phone's socket (what the page does when its socket is open).

    `token`: the phone's participant token, checked when the socket opened. The message is
    the vote form as JSON (the htmx ws extension's format: field -> value or list of values).
    The reply is the same status block a form post gets, in `language` (the one chosen on the
    phone; None: the presentation's). None: not a vote at all, and the socket is closed.
    """
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or len(data) > MAX_MESSAGE_FIELDS:
        return None
    values: dict[str, list[str]] = {}
    for key, value in data.items():
        if key == "HEADERS":
            continue
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, str) for item in items) or len(items) > MAX_MESSAGE_FIELDS:
            return None
        values[key] = items
    current = await svc.stages.by_code(code)
    if current is None:
        return None
    # Every message counts, votes or not: a socket that floods is closed.
    if not svc.limits.hit(svc.limits.vote, "socket-message", token):
        return None
    if not svc.tokens.valid(current.presentation_id, token):
        return None  # the code leads to another presentation now
    language = language or current.language
    outcome, message = await _take_vote(svc, current, token, values, language)
    return status_html(language, "saved" if outcome.saved else None, message)


def _submitted_question(values: dict[str, list[str]]) -> int | None:
    value = (values.get("question_id") or [""])[0]
    return int(value) if value.isascii() and value.isdigit() and len(value) < 12 else None


async def _take_vote(
    svc: Services,
    current: CurrentStage,
    token: str,
    values: dict[str, list[str]],
    language: str,
) -> tuple[Outcome, str | None]:
    """Take a vote; the outcome and its message in `language` (the phone's).

    In audience pace the vote is for the question the phone shows, wherever the facilitator
    is (the ballot box checks again that it is open, in its write transaction)."""
    if current.audience_paced:
        submitted = _submitted_question(values)
        chosen = current.at(submitted) if submitted is not None else None
        if chosen is not None:
            current = chosen
    outcome = await take_vote(
        stage=current, token=token, values=values, ballot_box=svc.ballot_box, limits=svc.limits
    )
    metrics.count_vote(svc.ballot_box, outcome.result)
    return outcome, outcome.refused.text(language) if outcome.refused else None


_KEY_SLOT = "CLIENT-KEY-SLOT"


@lru_cache(maxsize=512)
def _status_template(language: str, status: str | None, message: str | None) -> str:
    # Rendered once per outcome and language; only the client key differs per vote.
    return render_block(
        "participant.html",
        "status",
        language,
        {"status": status, "error": message, "client_key": _KEY_SLOT, "oob_key": True},
    )


def status_html(language: str, status: str | None, message: str | None) -> str:
    """The status under the vote form, with a fresh client key for the next submission."""
    return _status_template(language, status, message).replace(_KEY_SLOT, secrets.token_urlsafe(16))


def vote_status(
    language: str, status_code: int, status: str | None, message: str | None
) -> HTMLResponse:
    return HTMLResponse(status_html(language, status, message), status_code=status_code)
