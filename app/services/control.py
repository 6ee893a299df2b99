"""Presenting: which question is current, whether it takes votes, whether results show."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlmodel import Session

from app.models import Presentation, Question, QuestionState
from app.questions import get_type
from app.questions.base import Results
from app.services import NotFound
from app.services.presentations import get_presentation, questions_of


class Move(StrEnum):
    NEXT = "next"
    PREVIOUS = "previous"
    FIRST = "first"


@dataclass
class Stage:
    """What is on screen for a presentation right now."""

    presentation: Presentation
    question: Question | None
    index: int  # 1-based position of the current question, 0 when none
    total: int
    results: Results | None = None


def _current(session: Session, presentation: Presentation, lock: bool = False) -> Question | None:
    if presentation.current_question_id is None:
        return None
    question = (
        session.get(
            Question,
            presentation.current_question_id,
            with_for_update=True,
            populate_existing=True,
        )
        if lock
        else session.get(Question, presentation.current_question_id)
    )
    if question is None or question.presentation_id != presentation.id:
        return None
    return question


def move(*, session: Session, owner_id: int, presentation_id: int, to: Move | int) -> Presentation:
    """Make another question current (by direction or by id)."""
    presentation = get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id, lock=True
    )
    questions = questions_of(session=session, presentation_id=presentation_id)
    if not questions:
        return presentation
    ids = [q.id for q in questions]
    current = presentation.current_question_id
    index = ids.index(current) if current in ids else -1
    if isinstance(to, int) and not isinstance(to, Move):
        if to not in ids:
            raise NotFound("question")
        target = ids.index(to)
    elif to == Move.FIRST:
        target = 0 if index < 0 else index
    elif to == Move.NEXT:
        target = min(index + 1, len(ids) - 1)
    else:
        target = max(index - 1, 0)
    if ids[target] != current:
        presentation.current_question_id = ids[target]
        presentation.version += 1
        session.add(presentation)
    return presentation


def _current_owned(
    session: Session, owner_id: int, presentation_id: int
) -> tuple[Presentation, Question]:
    # Locked: a vote batch that found this question open commits before the change does,
    # and one that starts later sees the change (services/votes.py).
    presentation = get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id, lock=True
    )
    question = _current(session, presentation, lock=True)
    if question is None:
        raise NotFound("question")
    return presentation, question


def set_voting(*, session: Session, owner_id: int, presentation_id: int, is_open: bool) -> Question:
    """Open or close voting on the current question."""
    presentation, question = _current_owned(session, owner_id, presentation_id)
    state = QuestionState.OPEN if is_open else QuestionState.CLOSED
    if question.state != state:
        question.state = state
        presentation.version += 1
        session.add(question)
        session.add(presentation)
    return question


def set_results_visible(
    *, session: Session, owner_id: int, presentation_id: int, visible: bool
) -> Question:
    """Show or hide the results of the current question on the projector."""
    presentation, question = _current_owned(session, owner_id, presentation_id)
    if question.results_visible != visible:
        question.results_visible = visible
        presentation.version += 1
        session.add(question)
        session.add(presentation)
    return question


def stage(*, session: Session, presentation_id: int, with_results: bool) -> Stage | None:
    """The current stage of a presentation, with its results computed by the database."""
    presentation = session.get(Presentation, presentation_id)
    if presentation is None:
        return None
    questions = questions_of(session=session, presentation_id=presentation_id)
    question = _current(session, presentation)
    index = next((i for i, q in enumerate(questions, 1) if question and q.id == question.id), 0)
    results = None
    if question is not None and with_results:
        results = get_type(question.kind).tally(session, question.id or 0, question.config)
    return Stage(presentation, question, index, len(questions), results)
