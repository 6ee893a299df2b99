"""Presentations and their questions: create, edit, reorder, duplicate, delete."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from app.errors import Refused
from app.models import Ballot, BallotItem, Language, Pace, Presentation, Question, utcnow
from app.questions import get_type
from app.questions.text import clean_text
from app.services import NotFound

CODE_DIGITS = 8
MAX_TITLE = 200
MAX_QUESTIONS = 100
# A countdown's length: the timer of a question without one set runs this long.
DEFAULT_COUNTDOWN = 60
MIN_COUNTDOWN = 5
MAX_COUNTDOWN = 3600


class EditError(Refused):
    """An edit the facilitator must correct."""


def new_join_code(session: Session) -> str:
    """An unused 8-digit join code from the system's secure random source."""

    def in_use(code: str) -> bool:
        stmt = select(Presentation.id).where(Presentation.join_code == code)
        return session.exec(stmt).first() is not None

    return draw_join_code(in_use)


def draw_join_code(in_use: Callable[[str], bool]) -> str:
    """A random 8-digit code without a leading zero for which `in_use` is false; a code that
    is taken is drawn again, never handed out twice (the unique index backs this up)."""
    while True:
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        if code[0] != "0" and not in_use(code):
            return code


def normalise_code(raw: str) -> str:
    """A typed code without spaces, dots or dashes."""
    return "".join(ch for ch in raw if ch.isascii() and ch.isalnum()).upper()[:16]


def _clean_title(title: str, limit: int = MAX_TITLE) -> str:
    title = " ".join(clean_text(title).split())
    if not title:
        raise EditError("Enter a title.")
    if len(title) > limit:
        raise EditError("The title can have at most %(n)s characters.", n=limit)
    return title


def _language(language: str) -> str:
    if language not in {lang.value for lang in Language}:
        raise EditError("Choose Dutch or English.")
    return language


def list_presentations(*, session: Session, owner_id: int) -> list[Presentation]:
    stmt = (
        select(Presentation)
        .where(Presentation.owner_id == owner_id)
        .order_by(col(Presentation.updated_at).desc())
    )
    return list(session.exec(stmt).all())


def get_presentation(
    *, session: Session, owner_id: int, presentation_id: int, lock: bool = False
) -> Presentation:
    """The presentation if it belongs to `owner_id`; NotFound otherwise.

    `lock`: for a change. The row is read afresh and locked (FOR UPDATE) until the transaction
    ends, so changes from several workers take turns and none is lost (the version bump of
    one overwriting another's), and a vote batch that checks the question is open waits for
    the change or is waited for (services/votes.py). Every change locks its presentation
    before anything else; SQLite ignores the lock (its write transactions run one at a time).
    """
    presentation = (
        session.get(Presentation, presentation_id, with_for_update=True, populate_existing=True)
        if lock
        else session.get(Presentation, presentation_id)
    )
    if presentation is None or presentation.owner_id != owner_id:
        raise NotFound("presentation")
    return presentation


def get_by_code(*, session: Session, code: str) -> Presentation:
    presentation = session.exec(
        select(Presentation).where(Presentation.join_code == normalise_code(code))
    ).first()
    if presentation is None:
        raise NotFound("code")
    return presentation


def get_by_link_token(*, session: Session, token: str) -> Presentation:
    """The presentation of a QR link; it works whether or not the typed code has expired."""
    if not token or len(token) > 64:
        raise NotFound("link")
    presentation = session.exec(
        select(Presentation).where(Presentation.link_token == token)
    ).first()
    if presentation is None:
        raise NotFound("link")
    return presentation


def code_expired(active_at: datetime, *, idle_hours: float, now: datetime) -> bool:
    """Whether a typed join code has expired: no facilitator activity since `active_at` for
    `idle_hours`."""
    if active_at.tzinfo is None:  # an object not read back from the database
        active_at = active_at.replace(tzinfo=now.tzinfo)
    return now - active_at > timedelta(hours=idle_hours)


def parse_countdown(raw: str) -> int | None:
    """The timer length typed in the question form: empty for none, else whole seconds."""
    raw = raw.strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
        raise EditError(
            "The timer must be a whole number of seconds from %(low)s to %(high)s.",
            low=MIN_COUNTDOWN,
            high=MAX_COUNTDOWN,
        )
    seconds = int(raw)
    if not MIN_COUNTDOWN <= seconds <= MAX_COUNTDOWN:
        raise EditError(
            "The timer must be a whole number of seconds from %(low)s to %(high)s.",
            low=MIN_COUNTDOWN,
            high=MAX_COUNTDOWN,
        )
    return seconds


def questions_of(*, session: Session, presentation_id: int) -> list[Question]:
    """The questions of a presentation in their order, without the archived rounds of reset
    questions (which keep earlier votes for the export only)."""
    stmt = (
        select(Question)
        .where(Question.presentation_id == presentation_id)
        .where(col(Question.parent_id).is_(None))
        .order_by(col(Question.position), col(Question.id))
    )
    return list(session.exec(stmt).all())


def get_question(
    *, session: Session, owner_id: int, question_id: int, lock: bool = False
) -> Question:
    """The question if its presentation belongs to `owner_id`; NotFound otherwise.

    `lock`: for a change; locks its presentation (see get_presentation), then the question.
    """
    question = session.get(Question, question_id)
    if question is None or question.parent_id is not None:  # an archived round is no question
        raise NotFound("question")
    get_presentation(
        session=session, owner_id=owner_id, presentation_id=question.presentation_id, lock=lock
    )
    if lock:
        # Read again now that changes wait for us: it may have changed (or gone) meanwhile.
        question = session.get(Question, question_id, with_for_update=True, populate_existing=True)
        if question is None:
            raise NotFound("question")
    return question


def response_counts(*, session: Session, presentation_id: int) -> dict[int, int]:
    """Number of ballots per question of a presentation, in the questions' current rounds."""
    stmt = (
        sa.select(col(Ballot.question_id), func.count())
        .join(Question, col(Question.id) == col(Ballot.question_id))
        .where(col(Question.presentation_id) == presentation_id)
        .where(col(Question.parent_id).is_(None))
        .group_by(col(Ballot.question_id))
    )
    return {qid: int(n) for qid, n in session.execute(stmt).all()}


def create_presentation(
    *, session: Session, owner_id: int, title: str, language: str
) -> Presentation:
    presentation = Presentation(
        owner_id=owner_id,
        title=_clean_title(title),
        language=_language(language),
        join_code=new_join_code(session),
    )
    session.add(presentation)
    session.flush()
    return presentation


def update_presentation(
    *,
    session: Session,
    owner_id: int,
    presentation_id: int,
    title: str,
    language: str,
    results_hidden_default: bool | None = None,
    results_on_phones: bool | None = None,
    pace: str | None = None,
) -> Presentation:
    """Save the settings (None: leave that setting as it is)."""
    presentation = get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id, lock=True
    )
    presentation.title = _clean_title(title)
    presentation.language = _language(language)
    if results_hidden_default is not None:
        presentation.results_hidden_default = results_hidden_default
    if results_on_phones is not None:
        presentation.results_on_phones = results_on_phones
    if pace is not None:
        if pace not in {p.value for p in Pace}:
            raise EditError("Choose who moves through the questions.")
        presentation.pace = pace
    presentation.updated_at = utcnow()
    presentation.version += 1
    session.add(presentation)
    return presentation


def delete_presentation(*, session: Session, owner_id: int, presentation_id: int) -> None:
    presentation = get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id, lock=True
    )
    session.delete(presentation)
    session.flush()


def duplicate_presentation(
    *, session: Session, owner_id: int, presentation_id: int, copy_suffix: str
) -> Presentation:
    """A copy with the same questions, a new code and no votes; a series of its own."""
    original = get_presentation(session=session, owner_id=owner_id, presentation_id=presentation_id)
    title = _clean_title(f"{original.title} {copy_suffix}"[:MAX_TITLE])
    return copy_presentation(session=session, original=original, title=title, same_series=False)


def copy_presentation(
    *, session: Session, original: Presentation, title: str, same_series: bool
) -> Presentation:
    """A copy of an (owner-checked) presentation: its settings and questions, a new join code
    and link, no votes.

    `same_series`: another run of the same presentation (services/runs.py), which keeps the
    series key and each question's lineage so runs can be compared; otherwise the copy starts
    a series of its own and its questions are new ones.
    """
    copy = create_presentation(
        session=session, owner_id=original.owner_id, title=title, language=original.language
    )
    copy.results_hidden_default = original.results_hidden_default
    copy.results_on_phones = original.results_on_phones
    copy.pace = original.pace
    copy.groups = list(original.groups)
    copy.group_threshold = original.group_threshold
    copy.retention_days = original.retention_days
    if same_series:
        copy.series_key = original.series_key
    session.add(copy)
    for question in questions_of(session=session, presentation_id=original.id or 0):
        twin = Question(
            presentation_id=copy.id or 0,
            position=question.position,
            kind=question.kind,
            title=question.title,
            config=dict(question.config),
            results_visible=question.results_visible,
            countdown_seconds=question.countdown_seconds,
            split_groups=question.split_groups,
            compare_rounds=question.compare_rounds,
        )
        if same_series:
            twin.lineage = question.lineage
        session.add(twin)
    session.flush()
    # Imported here: the uploads and branding services read questions through this module.
    from app.services import branding, uploads

    uploads.copy_images(session=session, presentation_id=copy.id or 0)
    branding.copy_look(session=session, source=original, copy=copy)
    return copy


def add_question(
    *, session: Session, owner_id: int, presentation_id: int, kind: str, title: str
) -> Question:
    presentation = get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id, lock=True
    )
    try:
        qtype = get_type(kind)
    except KeyError:
        raise EditError("Choose a question type.") from None
    existing = questions_of(session=session, presentation_id=presentation_id)
    if len(existing) >= MAX_QUESTIONS:
        raise EditError("A presentation can have at most %(n)s questions.", n=MAX_QUESTIONS)
    question = Question(
        presentation_id=presentation_id,
        position=(existing[-1].position + 1) if existing else 1,
        kind=kind,
        title=_clean_title(title, 300),
        config=qtype.default_config(presentation.language),
        # A quiz starts hidden whatever the default: its live counts would give the answer away.
        results_visible=not (presentation.results_hidden_default or qtype.hides_results),
    )
    session.add(question)
    _touch(presentation)
    session.add(presentation)
    session.flush()
    # Imported here: the moderation service reads questions through this module.
    from app.services import moderation

    moderation.apply_word_lists(session=session, owner_id=owner_id, question=question)
    return question


def update_question(
    *,
    session: Session,
    owner_id: int,
    question_id: int,
    title: str,
    form: Mapping[str, Sequence[str]],
) -> Question:
    """Save a question's title and type-specific settings (ConfigError/EditError on bad input)."""
    question = get_question(session=session, owner_id=owner_id, question_id=question_id, lock=True)
    qtype = get_type(question.kind)
    # Answer keys that still have votes: a new option must never take one over.
    reserved = list(
        session.execute(
            sa.select(col(BallotItem.key))
            .where(col(BallotItem.question_id) == question.id)
            .distinct()
            .limit(1000)
        ).scalars()
    )
    config = qtype.parse_config(form, previous=question.config, reserved=reserved)
    countdown = parse_countdown((form.get("countdown_seconds") or [""])[0])
    question.title = _clean_title(title, 300)
    question.config = config
    question.countdown_seconds = countdown
    session.add(question)
    presentation = session.get(Presentation, question.presentation_id)
    if presentation is not None:
        _touch(presentation)
        session.add(presentation)
    return question


def move_question(*, session: Session, owner_id: int, question_id: int, offset: int) -> Question:
    """Swap a question with its neighbour (offset -1: up, +1: down)."""
    question = get_question(session=session, owner_id=owner_id, question_id=question_id, lock=True)
    questions = questions_of(session=session, presentation_id=question.presentation_id)
    index = next(i for i, q in enumerate(questions) if q.id == question.id)
    target = index + offset
    if not 0 <= target < len(questions):
        return question
    questions[index], questions[target] = questions[target], questions[index]
    _renumber(session, questions)
    _touch_id(session, question.presentation_id)
    return question


def duplicate_question(*, session: Session, owner_id: int, question_id: int) -> Question:
    question = get_question(session=session, owner_id=owner_id, question_id=question_id, lock=True)
    questions = questions_of(session=session, presentation_id=question.presentation_id)
    if len(questions) >= MAX_QUESTIONS:
        raise EditError("A presentation can have at most %(n)s questions.", n=MAX_QUESTIONS)
    copy = Question(
        presentation_id=question.presentation_id,
        position=0,
        kind=question.kind,
        title=question.title,
        config=dict(question.config),
        results_visible=question.results_visible,
        countdown_seconds=question.countdown_seconds,
    )
    session.add(copy)
    session.flush()
    index = next(i for i, q in enumerate(questions) if q.id == question.id)
    questions.insert(index + 1, copy)
    _renumber(session, questions)
    _touch_id(session, question.presentation_id)
    return copy


def delete_question(*, session: Session, owner_id: int, question_id: int) -> int:
    """Delete a question and its votes; returns its presentation's id."""
    question = get_question(session=session, owner_id=owner_id, question_id=question_id, lock=True)
    presentation = session.get(Presentation, question.presentation_id)
    assert presentation is not None
    if presentation.current_question_id == question.id:
        presentation.current_question_id = None
    session.delete(question)
    session.flush()
    _renumber(session, questions_of(session=session, presentation_id=presentation.id or 0))
    _touch(presentation)
    session.add(presentation)
    return presentation.id or 0


def _renumber(session: Session, questions: list[Question]) -> None:
    for position, question in enumerate(questions, 1):
        if question.position != position:
            question.position = position
            session.add(question)
    session.flush()


def _touch(presentation: Presentation) -> None:
    """Note a change: phones and screens compare versions to know their page is outdated.

    The presentation must have been loaded with `lock=True`, so the increment is not lost to
    a concurrent one.
    """
    presentation.updated_at = utcnow()
    presentation.version += 1


def _touch_id(session: Session, presentation_id: int) -> None:
    presentation = session.get(Presentation, presentation_id)
    if presentation is not None:
        _touch(presentation)
        session.add(presentation)
