"""/api/v1: the versioned JSON API for scripts and other systems (docs/api.md).

Every request carries a personal API token (Authorization: Bearer ...); cookies count for
nothing here, so there is no CSRF to check. The token acts for its facilitator with the same
owner checks as the pages: someone else's presentation or question is "not found", never
"forbidden". Every error under /api/v1 -- refused input, FastAPI's own validation, unknown
paths, wrong methods, rate limits, server errors -- has one shape, ErrorResponse.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from app.errors import Refused
from app.models import Presentation, Question, utcnow
from app.questions import all_types
from app.ratelimit import Rate
from app.services import NotFound, api_tokens, runs
from app.services import api_resources as res
from app.services import export as svc_export
from app.services import presentations as svc_p
from app.services.api_tokens import Caller
from app.web import ServicesDep, client_ip

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
# Requests per token per minute, and failed authentications per client address per minute.
API_RATE = Rate(120, 60.0)
BAD_TOKEN_RATE = Rate(30, 60.0)
MAX_ID = 2**31 - 1
MAX_PAGE = 100
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# --- the error shape ---------------------------------------------------------------------

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
}


class ErrorDetail(BaseModel):
    """One problem with the input: where it is and what is wrong."""

    loc: list[str | int] = Field(
        default_factory=list,
        description="Where: 'body', 'query', 'path' or 'header', then the field names.",
        examples=[["body", "title"]],
    )
    message: str = Field(description="What is wrong, in English.", examples=["Enter a title."])
    type: str = Field(description="A short machine-readable kind.", examples=["missing"])


class ErrorBody(BaseModel):
    code: str = Field(
        description="not_found, validation_error, unauthorized, rate_limited, "
        "method_not_allowed, bad_request, internal_error, ...",
        examples=["not_found"],
    )
    message: str = Field(description="What went wrong, in English.", examples=["Not found."])
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer under /api/v1 has this shape."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"error": {"code": "not_found", "message": "Not found.", "details": []}},
                {
                    "error": {
                        "code": "validation_error",
                        "message": "The request is not valid.",
                        "details": [
                            {
                                "loc": ["body", "title"],
                                "message": "Field required",
                                "type": "missing",
                            }
                        ],
                    }
                },
            ]
        }
    )
    error: ErrorBody


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: list[ErrorDetail] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []
        self.headers = headers or {}


def error_response(
    status: int,
    message: str,
    details: list[ErrorDetail] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(
        error=ErrorBody(code=CODES.get(status, "error"), message=message, details=details or [])
    )
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _validation_details(exc: RequestValidationError) -> list[ErrorDetail]:
    details = []
    for error in exc.errors():
        loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
        details.append(
            ErrorDetail(loc=loc, message=str(error.get("msg", "")), type=str(error.get("type")))
        )
    return details


def error_for(exc: Exception) -> JSONResponse:
    """The ErrorResponse of anything an API route raised."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.message, exc.details, exc.headers)
    if isinstance(exc, RequestValidationError):
        return error_response(422, "The request is not valid.", _validation_details(exc))
    if isinstance(exc, NotFound):
        return error_response(404, "Not found.")
    if isinstance(exc, Refused):
        detail = ErrorDetail(loc=["body"], message=exc.text("en"), type="refused")
        return error_response(422, exc.text("en"), [detail])
    if isinstance(exc, HTTPException):
        message = exc.detail if isinstance(exc.detail, str) else "Request refused."
        return error_response(exc.status_code, message, headers=dict(exc.headers or {}))
    log.exception("API request failed", exc_info=exc)
    return error_response(500, "Something went wrong on the server.")


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


class ApiRoute(APIRoute):
    """A route whose every error, FastAPI's own validation included, is an ErrorResponse."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        # Query parameters this operation takes: any other is refused (a typo such as
        # ?by_group=1 would otherwise be ignored without a word). Not for the catch-all route.
        known = _query_names(self.dependant)
        check_query = self.include_in_schema

        async def guarded(request: Request) -> Response:
            try:
                unknown = [k for k in request.query_params if k not in known] if check_query else []
                if unknown:
                    raise ApiError(
                        422,
                        "The request is not valid.",
                        details=[
                            ErrorDetail(
                                loc=["query", name],
                                message="This query parameter is not known here.",
                                type="extra_forbidden",
                            )
                            for name in unknown
                        ],
                    )
                return await handler(request)
            except Exception as exc:  # every error gets the one shape
                return error_for(exc)

        return guarded


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The body could not be read (not UTF-8 JSON)."},
    401: {"model": ErrorResponse, "description": "No token, or an unknown or revoked one."},
    404: {"model": ErrorResponse, "description": "Not found, or not yours."},
    422: {"model": ErrorResponse, "description": "The input was refused; nothing changed."},
    429: {
        "model": ErrorResponse,
        "description": "Too many requests with this token; try again after Retry-After seconds.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}},
    },
    500: {"model": ErrorResponse, "description": "A server error."},
}

router = APIRouter(prefix=PREFIX, route_class=ApiRoute, responses=ERRORS)

# --- who is asking -----------------------------------------------------------------------

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="PersonalToken",
    description="A personal API token from /manage/tokens: `Authorization: Bearer stl_...`.",
)


def _caller(
    request: Request,
    svc: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The facilitator a request's token belongs to (cookies do not count), within its rate."""
    unauthorized = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise ApiError(
            401, "Send a personal API token: Authorization: Bearer <token>.", headers=unauthorized
        )
    with svc.db.session() as session:
        caller = api_tokens.authenticate(session=session, token=credentials.credentials)
    if caller is None:
        # Wrong tokens slow down per address; a valid token is never held up by them.
        address = client_ip(request)
        if not svc.limits.hit(BAD_TOKEN_RATE, "api-bad-token", address):
            raise _too_many(svc, BAD_TOKEN_RATE, "api-bad-token", address)
        raise ApiError(401, "The token is unknown or revoked.", headers=unauthorized)
    key = str(caller.token_id)
    if not svc.limits.hit(API_RATE, "api", key):
        raise _too_many(svc, API_RATE, "api", key)
    now = utcnow()
    if api_tokens.needs_touch(caller, now):
        with svc.db.write_session() as session:
            api_tokens.touch(session=session, token_id=caller.token_id, now=now)
    return caller


def _too_many(svc: Any, rate: Rate, *key: str) -> ApiError:
    seconds = svc.limits.retry_after(rate, *key)
    return ApiError(
        429,
        f"Too many requests. Try again in {seconds} seconds.",
        headers={"Retry-After": str(seconds)},
    )


CallerDep = Annotated[Caller, Depends(_caller)]
PresentationId = Annotated[int, Path(ge=1, le=MAX_ID, description="A presentation's id.")]
QuestionId = Annotated[int, Path(ge=1, le=MAX_ID, description="A question's id.")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="At most this many items.")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="Skip this many items first.")]

# --- models ------------------------------------------------------------------------------

Title = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"\S")]
QuestionTitle = Annotated[str, StringConstraints(min_length=1, max_length=300, pattern=r"\S")]
GroupName = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"\S")]
Place = Annotated[str, StringConstraints(max_length=200)]
ConfigText = Annotated[str, StringConstraints(max_length=5000)]
ConfigLine = Annotated[str, StringConstraints(max_length=500)]
ConfigValue = bool | Annotated[int, Field(ge=0, le=10**6)] | ConfigText | list[ConfigLine]


class LanguageName(StrEnum):
    nl = "nl"
    en = "en"


class PaceName(StrEnum):
    facilitator = "facilitator"
    audience = "audience"


QuestionKind = StrEnum("QuestionKind", {t.kind: t.kind for t in all_types()})  # type: ignore[misc]


def _no_nul(value: Any) -> Any:
    """A NUL character is no text (PostgreSQL refuses it): refused as the services refuse
    other control characters (a rule of the content, not of the schema)."""
    if isinstance(value, str) and "\x00" in value:
        raise PydanticCustomError("refused", "Text cannot contain a NUL character.")
    if isinstance(value, list):
        for item in value:
            _no_nul(item)
    if isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _no_nul(item)
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _text_without_nul(cls, value: Any) -> Any:
        return _no_nul(value)


class PresentationSettings(Strict):
    """Settings a presentation can be created with or changed to (left out: kept)."""

    title: Title | None = Field(None, description="Its title.", examples=["Prestatieafspraken"])
    language: LanguageName | None = Field(None, description="What participants read: nl or en.")
    pace: PaceName | None = Field(None, description="Who moves through the questions.")
    results_hidden_default: bool | None = Field(
        None, description="New questions start with their results hidden."
    )
    results_on_phones: bool | None = Field(None, description="Phones see revealed results.")
    groups: list[GroupName] | None = Field(
        None,
        max_length=10,
        description="Groups participants pick when joining (different names, at most 10).",
        examples=[["huurder", "corporatie", "gemeente"]],
    )
    group_threshold: int | None = Field(
        None, ge=1, le=50, description="A group with fewer answers is not shown apart."
    )
    run_date: date | None = Field(None, description="The day this run is given.")
    place: Place | None = Field(None, description="Where this run is given.")
    retention_days: int | None = Field(
        None, ge=1, le=3650, description="Votes are deleted this many days after the run."
    )

    def changes(self) -> dict[str, Any]:
        """The fields the request set (null included where a setting may be emptied)."""
        nullable = {"run_date", "place", "retention_days"}
        values = self.model_dump(exclude_unset=True)
        return {k: v for k, v in values.items() if v is not None or k in nullable}


class PresentationCreate(PresentationSettings):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"title": "Prestatieafspraken 2026", "language": "nl", "groups": []}]
        }
    )
    title: Title = Field(description="Its title.", examples=["Prestatieafspraken 2026"])


class PresentationOut(BaseModel):
    id: int
    title: str
    language: str
    pace: str
    join_code: str = Field(description="The code participants type.")
    results_hidden_default: bool
    results_on_phones: bool
    groups: list[str]
    group_threshold: int
    run_date: date | None
    place: str | None
    retention_days: int | None
    series_key: str = Field(description="Shared by every run of the same presentation.")
    current_question_id: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, p: Presentation) -> PresentationOut:
        return cls(
            id=p.id or 0,
            title=p.title,
            language=p.language,
            pace=p.pace,
            join_code=p.join_code,
            results_hidden_default=p.results_hidden_default,
            results_on_phones=p.results_on_phones,
            groups=list(p.groups),
            group_threshold=p.group_threshold,
            run_date=p.run_date,
            place=p.place,
            retention_days=p.retention_days,
            series_key=p.series_key,
            current_question_id=p.current_question_id,
            created_at=p.created_at,
            updated_at=p.updated_at,
        )


class PresentationPage(BaseModel):
    items: list[PresentationOut]
    total: int = Field(description="How many there are in all.")
    limit: int
    offset: int


class QuestionCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "choice",
                    "title": "Hoe tevreden bent u?",
                    "config": {"options": ["Tevreden", "Neutraal", "Ontevreden"]},
                }
            ]
        }
    )
    kind: QuestionKind = Field(description="The question type.")
    title: QuestionTitle | None = Field(None, description="Left out: the type's name.")
    config: dict[Annotated[str, StringConstraints(max_length=40)], ConfigValue] | None = Field(
        None,
        max_length=30,
        description="The fields of the question's edit form: a list is a field with one entry "
        "per line (options, statements, items), true/false a checkbox, a number a number field. "
        "Fields left out take their defaults.",
        examples=[{"options": ["Ja", "Nee"], "multiple": False}],
    )
    countdown_seconds: int | None = Field(None, ge=5, le=3600, description="A timer.")


class QuestionPatch(Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"title": "Hoe tevreden bent u nu?"}]}
    )
    title: QuestionTitle | None = None
    config: dict[Annotated[str, StringConstraints(max_length=40)], ConfigValue] | None = Field(
        None,
        max_length=30,
        description="Replaces the configuration as saving the edit form does.",
    )
    countdown_seconds: int | None = Field(None, ge=5, le=3600, description="null: no timer.")


class QuestionOut(BaseModel):
    id: int
    presentation_id: int
    position: int
    kind: str
    title: str
    config: dict[str, Any] = Field(description="As the question type stores it.")
    state: str = Field(description="open or closed")
    results_visible: bool
    countdown_seconds: int | None
    round: int
    lineage: str = Field(description="Shared by this question's copies in other runs.")

    @classmethod
    def of(cls, q: Question) -> QuestionOut:
        return cls(
            id=q.id or 0,
            presentation_id=q.presentation_id,
            position=q.position,
            kind=q.kind,
            title=q.title,
            config=dict(q.config),
            state=q.state,
            results_visible=q.results_visible,
            countdown_seconds=q.countdown_seconds,
            round=q.round,
            lineage=q.lineage,
        )


class QuestionPage(BaseModel):
    items: list[QuestionOut]
    total: int
    limit: int
    offset: int


class KeyOut(BaseModel):
    key: str = Field(description="The answer key: an option, statement or item id, or a word.")
    label: str
    count: int = Field(description="Answers with this key.")
    share: float | None = Field(description="count / responses (null without responses).")
    rated: int = Field(description="Answers with a value (e.g. not 'don't know').")
    mean: float | None
    spread: float | None = Field(description="Population standard deviation of the values.")


class GroupOut(BaseModel):
    group: str | None = Field(description="null: participants who picked no group.")
    responses: int
    keys: list[KeyOut]


class ResultsOut(BaseModel):
    question_id: int
    kind: str
    round: int = Field(description="The round these numbers are of.")
    rounds: list[int] = Field(description="Every round the question has had.")
    responses: int = Field(description="Participants who answered.")
    keys: list[KeyOut]
    threshold: int | None = Field(None, description="?by=group: the anonymity threshold.")
    groups: list[GroupOut] | None = Field(
        None, description="?by=group: the groups with at least `threshold` responses."
    )
    too_few: list[str | None] = Field(
        default_factory=list,
        description="?by=group: groups with fewer responses than the threshold (no numbers).",
    )


class Groups(Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"groups": ["huurder", "corporatie"], "threshold": 3}]}
    )
    groups: list[GroupName] = Field(max_length=10, description="Different names, at most 10.")
    threshold: int = Field(ge=1, le=50, description="The anonymity threshold.")


class RunCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"run_date": "2026-11-28", "place": "Utrecht"}]}
    )
    run_date: date | None = None
    place: Place | None = None


class RunOut(PresentationOut):
    responses: int = Field(description="Participants with at least one answer.")


class RunPage(BaseModel):
    items: list[RunOut]
    total: int
    limit: int
    offset: int


# --- presentations -----------------------------------------------------------------------


@router.get(
    "/presentations",
    tags=["presentations"],
    operation_id="listPresentations",
    response_model=PresentationPage,
)
def list_presentations(
    caller: CallerDep, svc: ServicesDep, limit: Limit = 50, offset: Offset = 0
) -> PresentationPage:
    """Your presentations, oldest first, a page at a time."""
    with svc.db.session() as session:
        items, total = res.page_of_presentations(
            session=session, owner_id=caller.owner_id, limit=limit, offset=offset
        )
    return PresentationPage(
        items=[PresentationOut.of(p) for p in items], total=total, limit=limit, offset=offset
    )


@router.post(
    "/presentations",
    tags=["presentations"],
    operation_id="createPresentation",
    status_code=201,
    response_model=PresentationOut,
)
def create_presentation(
    caller: CallerDep, svc: ServicesDep, body: PresentationCreate
) -> PresentationOut:
    """A new presentation (a join code of its own, no questions yet)."""
    with svc.db.write_session() as session:
        presentation = res.create(
            session=session, owner_id=caller.owner_id, settings=body.changes()
        )
    return PresentationOut.of(presentation)


@router.get(
    "/presentations/{presentation_id}",
    tags=["presentations"],
    operation_id="getPresentation",
    response_model=PresentationOut,
)
def get_presentation(
    presentation_id: PresentationId, caller: CallerDep, svc: ServicesDep
) -> PresentationOut:
    with svc.db.session() as session:
        presentation = svc_p.get_presentation(
            session=session, owner_id=caller.owner_id, presentation_id=presentation_id
        )
    return PresentationOut.of(presentation)


@router.patch(
    "/presentations/{presentation_id}",
    tags=["presentations"],
    operation_id="updatePresentation",
    response_model=PresentationOut,
)
def update_presentation(
    presentation_id: PresentationId,
    caller: CallerDep,
    svc: ServicesDep,
    body: PresentationSettings,
) -> PresentationOut:
    """Change the settings given (left out: kept; null empties run_date, place and
    retention_days)."""
    with svc.db.write_session() as session:
        presentation = res.apply_settings(
            session=session,
            owner_id=caller.owner_id,
            presentation_id=presentation_id,
            changes=body.changes(),
        )
    svc.changed(presentation_id)
    return PresentationOut.of(presentation)


@router.delete(
    "/presentations/{presentation_id}",
    tags=["presentations"],
    operation_id="deletePresentation",
    status_code=204,
    response_class=Response,
)
def delete_presentation(
    presentation_id: PresentationId, caller: CallerDep, svc: ServicesDep
) -> Response:
    """Delete a presentation with its questions and votes."""
    with svc.db.write_session() as session:
        svc_p.delete_presentation(
            session=session, owner_id=caller.owner_id, presentation_id=presentation_id
        )
    svc.changed(presentation_id)
    return Response(status_code=204)


# --- questions ---------------------------------------------------------------------------


@router.get(
    "/presentations/{presentation_id}/questions",
    tags=["questions"],
    operation_id="listQuestions",
    response_model=QuestionPage,
)
def list_questions(
    presentation_id: PresentationId,
    caller: CallerDep,
    svc: ServicesDep,
    limit: Limit = 100,
    offset: Offset = 0,
) -> QuestionPage:
    """A presentation's questions in their order (at most 100 per presentation)."""
    with svc.db.session() as session:
        items, total = res.page_of_questions(
            session=session,
            owner_id=caller.owner_id,
            presentation_id=presentation_id,
            limit=limit,
            offset=offset,
        )
    return QuestionPage(
        items=[QuestionOut.of(q) for q in items], total=total, limit=limit, offset=offset
    )


@router.post(
    "/presentations/{presentation_id}/questions",
    tags=["questions"],
    operation_id="createQuestion",
    status_code=201,
    response_model=QuestionOut,
)
def create_question(
    presentation_id: PresentationId, caller: CallerDep, svc: ServicesDep, body: QuestionCreate
) -> QuestionOut:
    """A new question at the end; its configuration is checked as the edit form's is."""
    with svc.db.write_session() as session:
        question = res.add_question(
            session=session,
            owner_id=caller.owner_id,
            presentation_id=presentation_id,
            kind=str(body.kind.value),
            title=body.title,
            config=body.config,
            countdown_seconds=body.countdown_seconds,
        )
    svc.changed(presentation_id)
    return QuestionOut.of(question)


@router.get(
    "/questions/{question_id}",
    tags=["questions"],
    operation_id="getQuestion",
    response_model=QuestionOut,
)
def get_question(question_id: QuestionId, caller: CallerDep, svc: ServicesDep) -> QuestionOut:
    with svc.db.session() as session:
        question = svc_p.get_question(
            session=session, owner_id=caller.owner_id, question_id=question_id
        )
    return QuestionOut.of(question)


@router.patch(
    "/questions/{question_id}",
    tags=["questions"],
    operation_id="updateQuestion",
    response_model=QuestionOut,
)
def update_question(
    question_id: QuestionId, caller: CallerDep, svc: ServicesDep, body: QuestionPatch
) -> QuestionOut:
    """Change the title, the configuration (as a whole, as the edit form does) or the timer."""
    changes = body.model_dump(exclude_unset=True)
    if changes.get("title", "") is None:
        del changes["title"]
    with svc.db.write_session() as session:
        question = res.update_question(
            session=session, owner_id=caller.owner_id, question_id=question_id, changes=changes
        )
    svc.changed(question.presentation_id)
    return QuestionOut.of(question)


@router.delete(
    "/questions/{question_id}",
    tags=["questions"],
    operation_id="deleteQuestion",
    status_code=204,
    response_class=Response,
)
def delete_question(question_id: QuestionId, caller: CallerDep, svc: ServicesDep) -> Response:
    """Delete a question and its votes."""
    with svc.db.write_session() as session:
        presentation_id = svc_p.delete_question(
            session=session, owner_id=caller.owner_id, question_id=question_id
        )
    svc.changed(presentation_id)
    return Response(status_code=204)


# --- results -----------------------------------------------------------------------------


def _keys_out(keys: list[res.KeyNumbers]) -> list[KeyOut]:
    return [KeyOut(**vars(k)) for k in keys]


@router.get(
    "/questions/{question_id}/results",
    tags=["results"],
    operation_id="getResults",
    response_model=ResultsOut,
)
def get_results(
    question_id: QuestionId,
    caller: CallerDep,
    svc: ServicesDep,
    by: Annotated[
        Literal["group"] | None, Query(description="group: split by the participants' groups.")
    ] = None,
    round: Annotated[
        int | None, Query(ge=1, le=1000, description="An earlier round (default: the current).")
    ] = None,
) -> ResultsOut:
    """The numbers per option, statement or item, computed by the database. Split by group,
    a group with fewer responses than the presentation's threshold gets no numbers."""
    with svc.db.session() as session:
        found = res.results(
            session=session,
            owner_id=caller.owner_id,
            question_id=question_id,
            by_group=by == "group",
            round_number=round,
        )
    return ResultsOut(
        question_id=found.question.id or 0,
        kind=found.question.kind,
        round=found.round,
        rounds=found.rounds,
        responses=found.responses,
        keys=_keys_out(found.keys),
        threshold=found.threshold,
        groups=None
        if found.groups is None
        else [
            GroupOut(group=g.group, responses=g.responses, keys=_keys_out(g.keys))
            for g in found.groups
        ],
        too_few=found.too_few,
    )


# --- groups ------------------------------------------------------------------------------


@router.get(
    "/presentations/{presentation_id}/groups",
    tags=["groups"],
    operation_id="getGroups",
    response_model=Groups,
)
def get_groups(presentation_id: PresentationId, caller: CallerDep, svc: ServicesDep) -> Groups:
    with svc.db.session() as session:
        presentation = svc_p.get_presentation(
            session=session, owner_id=caller.owner_id, presentation_id=presentation_id
        )
    return Groups(groups=list(presentation.groups), threshold=presentation.group_threshold)


@router.put(
    "/presentations/{presentation_id}/groups",
    tags=["groups"],
    operation_id="setGroups",
    response_model=Groups,
)
def set_groups(
    presentation_id: PresentationId, caller: CallerDep, svc: ServicesDep, body: Groups
) -> Groups:
    """Replace the groups and the anonymity threshold."""
    with svc.db.write_session() as session:
        presentation = res.apply_settings(
            session=session,
            owner_id=caller.owner_id,
            presentation_id=presentation_id,
            changes={"groups": body.groups, "group_threshold": body.threshold},
        )
    svc.changed(presentation_id)
    return Groups(groups=list(presentation.groups), threshold=presentation.group_threshold)


# --- runs --------------------------------------------------------------------------------


@router.get(
    "/presentations/{presentation_id}/runs",
    tags=["runs"],
    operation_id="listRuns",
    response_model=RunPage,
)
def list_runs(
    presentation_id: PresentationId,
    caller: CallerDep,
    svc: ServicesDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> RunPage:
    """Every run of this presentation's series (itself included), by date, undated last."""
    with svc.db.session() as session:
        found = runs.runs_of(
            session=session, owner_id=caller.owner_id, presentation_id=presentation_id
        )
        page = found[offset : offset + limit]
        totals = runs.response_totals(session=session, presentation_ids=[r.id or 0 for r in page])
    items = [
        RunOut(**PresentationOut.of(r).model_dump(), responses=totals.get(r.id or 0, 0))
        for r in page
    ]
    return RunPage(items=items, total=len(found), limit=limit, offset=offset)


@router.post(
    "/presentations/{presentation_id}/runs",
    tags=["runs"],
    operation_id="createRun",
    status_code=201,
    response_model=PresentationOut,
)
def create_run(
    presentation_id: PresentationId, caller: CallerDep, svc: ServicesDep, body: RunCreate
) -> PresentationOut:
    """Another run: the same questions and settings, a new join code, no votes."""
    with svc.db.write_session() as session:
        run = runs.new_run(
            session=session,
            owner_id=caller.owner_id,
            presentation_id=presentation_id,
            run_date=body.run_date,
            place=body.place,
        )
    return PresentationOut.of(run)


# --- exports -----------------------------------------------------------------------------


class ExportFormat(StrEnum):
    csv = "csv"
    summary = "summary"
    xlsx = "xlsx"


@router.get(
    "/presentations/{presentation_id}/export",
    tags=["exports"],
    operation_id="exportPresentation",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "csv: every answer (text/csv); summary: a row per question, option "
            "or statement (text/csv); xlsx: a workbook with a sheet per question.",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                XLSX: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
def export(
    presentation_id: PresentationId,
    caller: CallerDep,
    svc: ServicesDep,
    format: Annotated[ExportFormat, Query(description="What to export.")] = ExportFormat.csv,
    excel: Annotated[bool, Query(description="CSV for Dutch Excel: ';' and a BOM.")] = False,
) -> StreamingResponse:
    with svc.db.session() as session:
        presentation = svc_p.get_presentation(
            session=session, owner_id=caller.owner_id, presentation_id=presentation_id
        )
    headers = {"Cache-Control": "no-store"}
    if format is ExportFormat.xlsx:
        return _xlsx(svc, presentation, headers)

    def stream() -> Iterator[str]:
        with svc.db.session() as session:
            if format is ExportFormat.summary:
                yield from svc_export.summary_csv_chunks(session, presentation, excel=excel)
            else:
                yield from svc_export.csv_chunks(
                    svc_export.export_rows(session, presentation),
                    language=presentation.language,
                    excel=excel,
                )

    name = (
        svc_export.download_name(presentation, "summary", "csv")
        if format is ExportFormat.summary
        else svc_export.filename(presentation)
    )
    headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return StreamingResponse(stream(), media_type="text/csv; charset=utf-8", headers=headers)


def _xlsx(svc: Any, presentation: Presentation, headers: dict[str, str]) -> StreamingResponse:
    spool = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115
    try:
        with svc.db.session() as session:
            svc_export.write_xlsx(session, presentation, spool)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise

    def chunks() -> Iterator[bytes]:
        with spool:
            while chunk := spool.read(64 * 1024):
                yield chunk

    name = svc_export.download_name(presentation, "workbook", "xlsx")
    headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return StreamingResponse(chunks(), media_type=XLSX, headers=headers)


# --- everything else under /api/v1 ---------------------------------------------------------

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@router.api_route("", methods=ALL_METHODS, include_in_schema=False)
@router.api_route("/{rest:path}", methods=ALL_METHODS, include_in_schema=False)
async def unknown(request: Request) -> Response:
    """An unknown path (404), or a known one with the wrong method (405), in the error shape."""
    allowed: set[str] = set()
    for route in router.routes:
        if isinstance(route, ApiRoute) and route.endpoint is not unknown:
            match, _ = route.matches(request.scope)
            if match is Match.PARTIAL:
                allowed.update(route.methods or ())
    if allowed:
        return error_response(
            405, "This method is not allowed here.", headers={"Allow": ", ".join(sorted(allowed))}
        )
    return error_response(404, "Not found.")
