"""Facilitators build presentations: create, edit, reorder, duplicate, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from app import i18n
from app.questions import all_types, get_type
from app.questions.base import ConfigError
from app.services import NotFound
from app.services import presentations as svc_p
from app.web import (
    CsrfFacilitator,
    CurrentFacilitator,
    Facilitator,
    FormDep,
    ServicesDep,
    SessionDep,
    page,
    see_other,
)

router = APIRouter(prefix="/manage")


def _page(
    request: Request, facilitator: Facilitator, name: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return page(
        request,
        name,
        facilitator.language,
        status_code=status_code,
        facilitator=facilitator,
        csrf=facilitator.auth.csrf_token,
        **context,
    )


def _owned(func: Any) -> Any:
    """Run a service call; a missing or foreign presentation or question becomes a 404."""
    try:
        return func()
    except NotFound:
        raise HTTPException(status_code=404) from None


@router.get("", response_class=HTMLResponse)
def index(request: Request, facilitator: CurrentFacilitator, session: SessionDep) -> HTMLResponse:
    presentations = svc_p.list_presentations(session=session, owner_id=facilitator.id)
    return _page(
        request, facilitator, "manage/index.html", presentations=presentations, error=None, title=""
    )


@router.post("/presentations")
def create(
    request: Request, facilitator: CsrfFacilitator, svc: ServicesDep, form: FormDep
) -> Response:
    title = form.get("title", [""])[0]
    language = form.get("language", ["nl"])[0]
    try:
        with svc.db.write_session() as session:
            presentation = svc_p.create_presentation(
                session=session, owner_id=facilitator.id, title=title, language=language
            )
    except svc_p.EditError as exc:
        with svc.db.session() as session:
            presentations = svc_p.list_presentations(session=session, owner_id=facilitator.id)
        return _page(
            request,
            facilitator,
            "manage/index.html",
            status_code=422,
            presentations=presentations,
            title=title,
            error=i18n.translate(facilitator.language, exc.message, **exc.params),
        )
    return see_other(f"/manage/presentations/{presentation.id}")


def _editor(
    request: Request,
    facilitator: Facilitator,
    session: Any,
    presentation_id: int,
    status_code: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    presentation = _owned(
        lambda: svc_p.get_presentation(
            session=session, owner_id=facilitator.id, presentation_id=presentation_id
        )
    )
    questions = svc_p.questions_of(session=session, presentation_id=presentation_id)
    counts = svc_p.response_counts(session=session, presentation_id=presentation_id)
    return _page(
        request,
        facilitator,
        "manage/presentation.html",
        status_code=status_code,
        presentation=presentation,
        questions=questions,
        counts=counts,
        types=all_types(),
        get_type=get_type,
        error=error,
    )


@router.get("/presentations/{presentation_id}", response_class=HTMLResponse)
def edit(
    request: Request, presentation_id: int, facilitator: CurrentFacilitator, session: SessionDep
) -> HTMLResponse:
    return _editor(request, facilitator, session, presentation_id)


@router.post("/presentations/{presentation_id}")
def update(
    request: Request,
    presentation_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    try:
        with svc.db.write_session() as session:
            _owned(
                lambda: svc_p.update_presentation(
                    session=session,
                    owner_id=facilitator.id,
                    presentation_id=presentation_id,
                    title=form.get("title", [""])[0],
                    language=form.get("language", [""])[0],
                )
            )
    except svc_p.EditError as exc:
        with svc.db.session() as session:
            return _editor(
                request,
                facilitator,
                session,
                presentation_id,
                422,
                i18n.translate(facilitator.language, exc.message, **exc.params),
            )
    svc.changed(presentation_id)
    return see_other(f"/manage/presentations/{presentation_id}")


@router.post("/presentations/{presentation_id}/duplicate")
def duplicate(presentation_id: int, facilitator: CsrfFacilitator, svc: ServicesDep) -> Response:
    suffix = i18n.translate(facilitator.language, "(copy)")
    with svc.db.write_session() as session:
        copy = _owned(
            lambda: svc_p.duplicate_presentation(
                session=session,
                owner_id=facilitator.id,
                presentation_id=presentation_id,
                copy_suffix=suffix,
            )
        )
    return see_other(f"/manage/presentations/{copy.id}")


@router.get("/presentations/{presentation_id}/delete", response_class=HTMLResponse)
def confirm_delete(
    request: Request, presentation_id: int, facilitator: CurrentFacilitator, session: SessionDep
) -> HTMLResponse:
    presentation = _owned(
        lambda: svc_p.get_presentation(
            session=session, owner_id=facilitator.id, presentation_id=presentation_id
        )
    )
    counts = svc_p.response_counts(session=session, presentation_id=presentation_id)
    return _page(
        request,
        facilitator,
        "manage/delete.html",
        presentation=presentation,
        responses=sum(counts.values()),
    )


@router.post("/presentations/{presentation_id}/delete")
def delete(presentation_id: int, facilitator: CsrfFacilitator, svc: ServicesDep) -> Response:
    with svc.db.write_session() as session:
        _owned(
            lambda: svc_p.delete_presentation(
                session=session, owner_id=facilitator.id, presentation_id=presentation_id
            )
        )
    svc.changed(presentation_id)
    return see_other("/manage")


@router.post("/presentations/{presentation_id}/questions")
def add_question(
    request: Request,
    presentation_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    kind = form.get("kind", [""])[0]
    title = form.get("title", [""])[0]
    if not title.strip():
        try:
            title = i18n.translate(facilitator.language, get_type(kind).label)
        except KeyError:
            title = ""
    try:
        with svc.db.write_session() as session:
            question = _owned(
                lambda: svc_p.add_question(
                    session=session,
                    owner_id=facilitator.id,
                    presentation_id=presentation_id,
                    kind=kind,
                    title=title,
                )
            )
    except svc_p.EditError as exc:
        with svc.db.session() as session:
            return _editor(
                request,
                facilitator,
                session,
                presentation_id,
                422,
                i18n.translate(facilitator.language, exc.message, **exc.params),
            )
    svc.changed(presentation_id)
    return see_other(f"/manage/questions/{question.id}")


def _question_page(
    request: Request,
    facilitator: Facilitator,
    session: Any,
    question_id: int,
    status_code: int = 200,
    error: str | None = None,
    form: dict[str, list[str]] | None = None,
) -> HTMLResponse:
    question = _owned(
        lambda: svc_p.get_question(
            session=session, owner_id=facilitator.id, question_id=question_id
        )
    )
    presentation = svc_p.get_presentation(
        session=session, owner_id=facilitator.id, presentation_id=question.presentation_id
    )
    return _page(
        request,
        facilitator,
        "manage/question.html",
        status_code=status_code,
        question=question,
        presentation=presentation,
        qtype=get_type(question.kind),
        config=question.config,
        error=error,
        form=form,
    )


@router.get("/questions/{question_id}", response_class=HTMLResponse)
def edit_question(
    request: Request, question_id: int, facilitator: CurrentFacilitator, session: SessionDep
) -> HTMLResponse:
    return _question_page(request, facilitator, session, question_id)


@router.post("/questions/{question_id}")
def save_question(
    request: Request,
    question_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    try:
        with svc.db.write_session() as session:
            question = _owned(
                lambda: svc_p.update_question(
                    session=session,
                    owner_id=facilitator.id,
                    question_id=question_id,
                    title=form.get("title", [""])[0],
                    form=form,
                )
            )
    except (ConfigError, svc_p.EditError) as exc:
        with svc.db.session() as session:
            return _question_page(
                request,
                facilitator,
                session,
                question_id,
                422,
                i18n.translate(facilitator.language, exc.message, **exc.params),
                form,
            )
    svc.changed(question.presentation_id)
    return see_other(f"/manage/presentations/{question.presentation_id}#question-{question.id}")


@router.post("/questions/{question_id}/move")
def move_question(
    request: Request,
    question_id: int,
    facilitator: CsrfFacilitator,
    svc: ServicesDep,
    form: FormDep,
) -> Response:
    offset = -1 if form.get("direction", [""])[0] == "up" else 1
    with svc.db.write_session() as session:
        _owned(
            lambda: svc_p.move_question(
                session=session, owner_id=facilitator.id, question_id=question_id, offset=offset
            )
        )
        question = svc_p.get_question(
            session=session, owner_id=facilitator.id, question_id=question_id
        )
    svc.changed(question.presentation_id)
    return see_other(f"/manage/presentations/{question.presentation_id}#question-{question.id}")


@router.post("/questions/{question_id}/duplicate")
def duplicate_question(
    question_id: int, facilitator: CsrfFacilitator, svc: ServicesDep
) -> Response:
    try:
        with svc.db.write_session() as session:
            copy = _owned(
                lambda: svc_p.duplicate_question(
                    session=session, owner_id=facilitator.id, question_id=question_id
                )
            )
    except svc_p.EditError:
        raise HTTPException(status_code=422) from None
    svc.changed(copy.presentation_id)
    return see_other(f"/manage/presentations/{copy.presentation_id}#question-{copy.id}")


@router.post("/questions/{question_id}/delete")
def delete_question(question_id: int, facilitator: CsrfFacilitator, svc: ServicesDep) -> Response:
    with svc.db.write_session() as session:
        presentation_id = _owned(
            lambda: svc_p.delete_question(
                session=session, owner_id=facilitator.id, question_id=question_id
            )
        )
    svc.changed(presentation_id)
    return see_other(f"/manage/presentations/{presentation_id}")
