"""Presenting: which question is current, whether it takes votes, whether results show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Session

from app.models import (
    Ballot,
    BallotItem,
    Pace,
    Presentation,
    QaEntry,
    Question,
    QuestionState,
    utcnow,
)
from app.questions import get_type
from app.questions.base import Results
from app.services import NotFound
from app.services.groups import GroupViews, views
from app.services.paper import paper_count
from app.services.presentations import (
    DEFAULT_COUNTDOWN,
    get_presentation,
    questions_of,
    response_counts,
)

question_t = Question.__table__  # type: ignore[attr-defined]
presentation_t = Presentation.__table__  # type: ignore[attr-defined]
ballot_t = Ballot.__table__  # type: ignore[attr-defined]
item_t = BallotItem.__table__  # type: ignore[attr-defined]
qa_entry_t = QaEntry.__table__  # type: ignore[attr-defined]


class Move(StrEnum):
    NEXT = "next"
    PREVIOUS = "previous"
    FIRST = "first"


@dataclass(frozen=True)
class Progress:
    """One question's line in the projector's progress list (audience pace)."""

    question_id: int
    title: str
    responses: int
    takes_votes: bool


@dataclass
class Stage:
    """What is on screen for a presentation right now."""

    presentation: Presentation
    question: Question | None
    index: int  # 1-based position of the current question, 0 when none
    total: int
    results: Results | None = None
    # Audience pace, on the projector: responses per question; for phones, the questions
    # before and after the one shown (each phone moves by itself).
    progress: list[Progress] | None = None
    previous_id: int | None = None
    next_id: int | None = None
    # Beside the results: per group, how many of each group answered, the previous round.
    groups: GroupViews | None = None
    # Of the responses, how many the facilitator entered from paper (projector only).
    paper: int = 0

    @property
    def audience_paced(self) -> bool:
        return self.presentation.pace == Pace.AUDIENCE


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


def _active(session: Session, presentation: Presentation, now: datetime | None) -> None:
    """The facilitator presents: the join code stays (or becomes again) valid."""
    presentation.active_at = now or utcnow()
    session.add(presentation)


def activate(
    *, session: Session, owner_id: int, presentation_id: int, now: datetime | None = None
) -> Presentation:
    """Make an expired join code work again."""
    presentation = get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id, lock=True
    )
    _active(session, presentation, now)
    return presentation


def move(
    *,
    session: Session,
    owner_id: int,
    presentation_id: int,
    to: Move | int,
    now: datetime | None = None,
) -> Presentation:
    """Make another question current (by direction or by id)."""
    presentation = get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id, lock=True
    )
    _active(session, presentation, now)
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
        question = questions[target]
        if question.state == QuestionState.OPEN:
            # Voting on it opens now (as far as the quiz's speed points go).
            question.opened_at = now or utcnow()
            session.add(question)
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


def set_voting(
    *,
    session: Session,
    owner_id: int,
    presentation_id: int,
    is_open: bool,
    now: datetime | None = None,
) -> Question:
    """Open or close voting on the current question by hand (a running timer stops)."""
    presentation, question = _current_owned(session, owner_id, presentation_id)
    _active(session, presentation, now)
    state = QuestionState.OPEN if is_open else QuestionState.CLOSED
    if question.state != state or question.closes_at is not None:
        if is_open and question.state != state:
            question.opened_at = now or utcnow()
        question.state = state
        question.closes_at = None
        presentation.version += 1
        session.add(question)
        session.add(presentation)
    return question


def start_timer(
    *, session: Session, owner_id: int, presentation_id: int, now: datetime | None = None
) -> Question:
    """Open voting on the current question until its countdown ends."""
    presentation, question = _current_owned(session, owner_id, presentation_id)
    now = now or utcnow()
    _active(session, presentation, now)
    question.state = QuestionState.OPEN
    question.opened_at = now
    question.closes_at = now + timedelta(seconds=question.countdown_seconds or DEFAULT_COUNTDOWN)
    presentation.version += 1
    session.add(question)
    session.add(presentation)
    return question


def stop_timer(
    *, session: Session, owner_id: int, presentation_id: int, now: datetime | None = None
) -> Question:
    """Stop the countdown of the current question; voting stays as it is."""
    presentation, question = _current_owned(session, owner_id, presentation_id)
    _active(session, presentation, now)
    if question.closes_at is not None:
        question.closes_at = None
        presentation.version += 1
        session.add(question)
        session.add(presentation)
    return question


def any_expired(*, session: Session, now: datetime) -> bool:
    """Whether a countdown has ended on a question that is still open (a cheap read)."""
    stmt = (
        sa.select(question_t.c.id)
        .where(question_t.c.closes_at.is_not(None))
        .where(question_t.c.closes_at <= now)
        .where(question_t.c.state == QuestionState.OPEN.value)
        .limit(1)
    )
    return session.execute(stmt).first() is not None


def close_expired(*, session: Session, now: datetime) -> list[int]:
    """Close every open question whose countdown has ended; the presentations that changed.

    Safe with several workers doing the same at once: presentations are locked first (the
    order every change takes), and the UPDATE only touches questions that are still open with
    an ended countdown, so each is closed, and its version bumped, exactly once.
    """
    expired = (
        sa.select(question_t.c.presentation_id)
        .where(question_t.c.closes_at.is_not(None))
        .where(question_t.c.closes_at <= now)
        .where(question_t.c.state == QuestionState.OPEN.value)
    )
    candidates = sorted({pid for (pid,) in session.execute(expired).all()})
    if not candidates:
        return []
    session.execute(
        sa.select(presentation_t.c.id)
        .where(presentation_t.c.id.in_(candidates))
        .order_by(presentation_t.c.id)
        .with_for_update()
    )
    closed = session.execute(
        sa.update(question_t)
        .where(question_t.c.presentation_id.in_(candidates))
        .where(question_t.c.closes_at.is_not(None))
        .where(question_t.c.closes_at <= now)
        .where(question_t.c.state == QuestionState.OPEN.value)
        .values(state=QuestionState.CLOSED.value)
        .returning(question_t.c.presentation_id)
    ).all()
    changed = sorted({pid for (pid,) in closed})
    if changed:
        session.execute(
            sa.update(presentation_t)
            .where(presentation_t.c.id.in_(changed))
            .values(version=presentation_t.c.version + 1)
        )
    return changed


def _set_flag(
    session: Session,
    owner_id: int,
    presentation_id: int,
    flag: str,
    value: bool,
    now: datetime | None,
) -> Question:
    """Set a display flag of the current question; the screens change only when it did."""
    presentation, question = _current_owned(session, owner_id, presentation_id)
    _active(session, presentation, now)
    if getattr(question, flag) != value:
        setattr(question, flag, value)
        presentation.version += 1
        session.add(question)
        session.add(presentation)
    return question


def set_results_visible(
    *,
    session: Session,
    owner_id: int,
    presentation_id: int,
    visible: bool,
    now: datetime | None = None,
) -> Question:
    """Show or hide the results of the current question (on the projector, and on phones
    when the presentation shows results there)."""
    return _set_flag(session, owner_id, presentation_id, "results_visible", visible, now)


def set_split_groups(
    *,
    session: Session,
    owner_id: int,
    presentation_id: int,
    on: bool,
    now: datetime | None = None,
) -> Question:
    """Show the current question's results split by group beside the normal ones, or not."""
    return _set_flag(session, owner_id, presentation_id, "split_groups", on, now)


def set_compare_rounds(
    *,
    session: Session,
    owner_id: int,
    presentation_id: int,
    on: bool,
    now: datetime | None = None,
) -> Question:
    """Show the previous round of the current question beside this one, or not."""
    return _set_flag(session, owner_id, presentation_id, "compare_rounds", on, now)


def reset_results(
    *,
    session: Session,
    owner_id: int,
    presentation_id: int,
    question_id: int | None = None,
    now: datetime | None = None,
) -> Question:
    """Start a new round of the current question; the votes so far stay, as an earlier round.

    The votes move to an archived copy of the question (parent_id: this question, round: the
    round they were given in), which lists, positions and counts leave out and the export
    includes. Ballots keep their ids, so their client key history (BallotKey) stays with them.
    The presentation is locked first (FOR UPDATE) and vote batches lock it FOR SHARE, so a
    batch is written either wholly before the reset (its votes in the old round) or wholly
    after (in the new one). `question_id`: the question the facilitator meant; NotFound when
    another one is current.
    """
    presentation, question = _current_owned(session, owner_id, presentation_id)
    if question_id is not None and question.id != question_id:
        raise NotFound("question")
    now = now or utcnow()
    _active(session, presentation, now)
    archive = Question(
        presentation_id=question.presentation_id,
        # The live question's position when the round ended; the export orders by the live
        # question's position of the moment, so a later reordering is followed.
        position=question.position,
        kind=question.kind,
        title=question.title,
        config=dict(question.config),
        state=QuestionState.CLOSED,
        results_visible=question.results_visible,
        countdown_seconds=question.countdown_seconds,
        opened_at=question.opened_at,
        parent_id=question.id,
        round=question.round,
    )
    session.add(archive)
    session.flush()
    for table in (ballot_t, item_t, qa_entry_t):
        session.execute(
            sa.update(table)
            .where(table.c.question_id == question.id)
            .values(question_id=archive.id)
        )
    question.round += 1
    if question.state == QuestionState.OPEN:
        question.opened_at = now
    # A timer of the earlier round does not run on into the new one: the facilitator starts
    # it again when the room is ready.
    question.closes_at = None
    presentation.version += 1
    session.add(question)
    session.add(presentation)
    return question


def rounds_of(*, session: Session, question_id: int) -> list[Question]:
    """The archived earlier rounds of a question, oldest first."""
    stmt = (
        sa.select(Question)
        .where(question_t.c.parent_id == question_id)
        .order_by(question_t.c.round, question_t.c.id)
    )
    return list(session.execute(stmt).scalars())


def has_rounds(*, session: Session, presentation_id: int) -> bool:
    """Whether any question of a presentation has an archived earlier round."""
    stmt = (
        sa.select(question_t.c.id)
        .where(question_t.c.presentation_id == presentation_id)
        .where(question_t.c.parent_id.is_not(None))
        .limit(1)
    )
    return session.execute(stmt).first() is not None


def stage(
    *,
    session: Session,
    presentation_id: int,
    with_results: bool | None,
    question_id: int | None = None,
) -> Stage | None:
    """The current stage of a presentation, with its results computed by the database.

    `with_results`: True for the projector; None for phones (the results only when revealed
    and shown on phones); False for none.

    In audience pace a phone shows the question it chose (`question_id`; the first question
    when it chose none, or one that is not of this presentation) and no results (each phone is
    somewhere else; answers are not steered by others' answers), and the projector also gets
    the number of responses of every question.
    """
    presentation = session.get(Presentation, presentation_id)
    if presentation is None:
        return None
    questions = questions_of(session=session, presentation_id=presentation_id)
    audience = presentation.pace == Pace.AUDIENCE
    phone = with_results is None
    question: Question | None
    if audience and phone:
        question = next(
            (q for q in questions if q.id == question_id), questions[0] if questions else None
        )
        with_results = False
    else:
        question = _current(session, presentation)
    index = next((i for i, q in enumerate(questions, 1) if question and q.id == question.id), 0)
    results = None
    if question is not None and with_results is None:
        # Phones: only results the facilitator revealed, and only where they are shown there.
        with_results = presentation.results_on_phones and question.results_visible
    if question is not None and with_results:
        results = get_type(question.kind).tally(session, question.id or 0, question.config)
    st = Stage(presentation, question, index, len(questions), results)
    if question is not None and results is not None and not phone:
        st.paper = paper_count(session, question.id or 0)
    if question is not None and (question.split_groups or question.compare_rounds):
        shown = results is not None and (phone or question.results_visible)
        st.groups = views(
            session=session,
            presentation=presentation,
            question=question,
            results_shown=shown and get_type(question.kind).takes_votes,
            projector=not phone,
        )
    if audience and index:
        st.previous_id = questions[index - 2].id if index > 1 else None
        st.next_id = questions[index].id if index < len(questions) else None
    if audience and with_results and not phone:
        counts = response_counts(session=session, presentation_id=presentation_id)
        st.progress = [
            Progress(q.id or 0, q.title, counts.get(q.id or 0, 0), get_type(q.kind).takes_votes)
            for q in questions
        ]
    return st
