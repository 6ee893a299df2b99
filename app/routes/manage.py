"""Facilitators build presentations: create, edit, reorder, duplicate, delete.

A presentation or question that does not exist, or belongs to someone else, raises NotFound in
the services; the app answers 404 for it (see main.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from app import i18n
from app.errors import Refused
from app.questions import all_types, get_type
from app.services import presentations as svc_p
from app.web import (
    CsrfFacilitator,
    CurrentFacilitator,
    Facilitator,
    FormDep,
    Services,
    ServicesDep,
    SessionDep,
    page,
    see_other,
)

router = APIRouter(prefix="/manage")


def _field(form: dict[str, list[str]], name: str, default: str = "") -> str:
    return form.get(name, [default])[0]


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


def _index(
    request: Request, facilitator: Facilitator, session: Session, refused: Refused | None = None
) -> HTMLResponse:
    presentations = svc_p.list_presentations(session=session, owner_id=facilitator.id)
    return _page(
        request,
        facilitator,
        "manage/index.html",
        status_code=422 if refused else 200,
        presentations=presentations,
        error=refused.text(facilitator.language) if refused else None,
        title="",
    )


def _editor(
    request: Request,
    facilitator: Facilitator,
    session: Session,
    presentation_id: int,
    refused: Refused | None = None,
) -> HTMLResponse:
    presentation = svc_p.get_presentation(
        session=session, owner_id=facilitator.id, presentation_id=presentation_id
    )
    svc: Services = request.app.state.services
    return _page(
        request,
        facilitator,
        "manage/presentation.html",
        status_code=422 if refused else 200,
        presentation=presentation,
        questions=svc_p.questions_of(session=session, presentation_id=presentation_id),
        counts=svc_p.response_counts(session=session, presentation_id=presentation_id),
        types=all_types(),
        get_type=get_type,
        code_expired=svc.code_expired(presentation),
        error=refused.text(facilitator.language) if refused else None,
    )


def _question_page(
    request: Request,
    facilitator: Facilitator,
    session: Session,
    question_id: int,
    refused: Refused | None = None,
    form: dict[str, list[str]] | None = None,
) -> HTMLResponse:
    question = svc_p.get_question(session=session, owner_id=facilitator.id, question_id=question_id)
    presentation = svc_p.get_presentation(
        session=session, owner_id=facilitator.id, presentation_id=question.presentation_id
    )
    return _page(
        request,
        facilitator,
        "manage/question.html",
        status_code=422 if refused else 200,
        question=question,
        presentation=presentation,
        qtype=get_type(question.kind),
        config=question.config,
        default_countdown=svc_p.DEFAULT_COUNTDOWN,
        error=refused.text(facilitator.language) if refused else None,
        form=form,
    )


@router.get("", response_class=HTMLResponse)
def index(request: Request, facilitator: CurrentFacilitator, session: SessionDep) -> HTMLResponse:
    return _index(request, facilitator, session)


@router.post("/presentations")
def create(
    request: Request, facilitator: CsrfFacilitator, svc: ServicesDep, form: FormDep
) -> Response:
    try:
        with svc.db.write_session() as session:
            presentation = svc_p.create_presentation(
                session=session,
                owner_id=facilitator.id,
                title=_field(form, "title"),
                language=_field(form, "language", "nl"),
            )
    except Refused as refused:
        with svc.db.session() as session:
            return _index(request, facilitator, session, refused)
    return see_other(f"/manage/presentations/{presentation.id}")


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
            svc_p.update_presentation(
                session=session,
                owner_id=facilitator.id,
                presentation_id=presentation_id,
                title=_field(form, "title"),
                language=_field(form, "language"),
                results_hidden_default="results_hidden_default" in form,
                results_on_phones="results_on_phones" in form,
                # A form without the field (an older page) leaves the pace as it is.
                pace=_field(form, "pace") or None,
            )
    except Refused as refused:
        with svc.db.session() as session:
            return _editor(request, facilitator, session, presentation_id, refused)
    svc.changed(presentation_id)
    return see_other(f"/manage/presentations/{presentation_id}")


@router.post("/presentations/{presentation_id}/duplicate")
def duplicate(presentation_id: int, facilitator: CsrfFacilitator, svc: ServicesDep) -> Response:
    with svc.db.write_session() as session:
        copy = svc_p.duplicate_presentation(
            session=session,
            owner_id=facilitator.id,
            presentation_id=presentation_id,
            copy_suffix=i18n.translate(facilitator.language, "(copy)"),
        )
    return see_other(f"/manage/presentations/{copy.id}")


@router.get("/presentations/{presentation_id}/delete", response_class=HTMLResponse)
def confirm_delete(
    request: Request, presentation_id: int, facilitator: CurrentFacilitator, session: SessionDep
) -> HTMLResponse:
    presentation = svc_p.get_presentation(
        session=session, owner_id=facilitator.id, presentation_id=presentation_id
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
        svc_p.delete_presentation(
            session=session, owner_id=facilitator.id, presentation_id=presentation_id
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
    kind, title = _field(form, "kind"), _field(form, "title")
    if not title.strip():
        try:
            title = i18n.translate(facilitator.language, get_type(kind).label)
        except KeyError:
            title = ""
    try:
        with svc.db.write_session() as session:
            question = svc_p.add_question(
                session=session,
                owner_id=facilitator.id,
                presentation_id=presentation_id,
                kind=kind,
                title=title,
            )
    except Refused as refused:
        with svc.db.session() as session:
            return _editor(request, facilitator, session, presentation_id, refused)
    svc.changed(presentation_id)
    return see_other(f"/manage/questions/{question.id}")


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
            question = svc_p.update_question(
                session=session,
                owner_id=facilitator.id,
                question_id=question_id,
                title=_field(form, "title"),
                form=form,
            )
    except Refused as refused:
        with svc.db.session() as session:
            return _question_page(request, facilitator, session, question_id, refused, form)
    svc.changed(question.presentation_id)
    return _back_to(question.presentation_id, question.id)


def _back_to(presentation_id: int, question_id: int | None) -> Response:
    return see_other(f"/manage/presentations/{presentation_id}#question-{question_id}")


@router.post("/questions/{question_id}/move")
def move_question(
    question_id: int, facilitator: CsrfFacilitator, svc: ServicesDep, form: FormDep
) -> Response:
    offset = -1 if _field(form, "direction") == "up" else 1
    with svc.db.write_session() as session:
        question = svc_p.move_question(
            session=session, owner_id=facilitator.id, question_id=question_id, offset=offset
        )
    svc.changed(question.presentation_id)
    return _back_to(question.presentation_id, question.id)


@router.post("/questions/{question_id}/duplicate")
def duplicate_question(
    request: Request, question_id: int, facilitator: CsrfFacilitator, svc: ServicesDep
) -> Response:
    try:
        with svc.db.write_session() as session:
            copy = svc_p.duplicate_question(
                session=session, owner_id=facilitator.id, question_id=question_id
            )
    except Refused as refused:
        with svc.db.session() as session:
            question = svc_p.get_question(
                session=session, owner_id=facilitator.id, question_id=question_id
            )
            return _editor(request, facilitator, session, question.presentation_id, refused)
    svc.changed(copy.presentation_id)
    return _back_to(copy.presentation_id, copy.id)


@router.post("/questions/{question_id}/delete")
def delete_question(question_id: int, facilitator: CsrfFacilitator, svc: ServicesDep) -> Response:
    with svc.db.write_session() as session:
        presentation_id = svc_p.delete_question(
            session=session, owner_id=facilitator.id, question_id=question_id
        )
    svc.changed(presentation_id)
    return see_other(f"/manage/presentations/{presentation_id}")
