"""Quiz points, the leaderboard and nicknames, computed from the database.

Points per quiz question (at most MAX_POINTS): a wrong answer scores 0; a right one scores
BASE_POINTS, plus up to SPEED_POINTS for speed, falling linearly from the moment voting opened
(`Question.opened_at`) to the end of the question's countdown, or of SPEED_WINDOW seconds when
it has none. An answer may be changed while voting is open; the time of the last change
(`Ballot.updated_at`) counts. Without an opening time (a question that was open from the
start), a right answer scores BASE_POINTS. An answer is right when it holds every correct
option and nothing else.

The database does the counting: per quiz question one GROUP BY over its ballots gives
(participant, right?, time). Combining those rows is bounded by participants x quiz
questions, never by votes, and the result is cached per process until a ballot, a question or
a participant's name changes.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from app import moderation
from app.errors import Refused
from app.models import Ballot, BallotItem, Participant, Presentation, Question
from app.questions.quiz import correct_ids
from app.services.votes import new_pseudonym

MAX_POINTS = 1000
BASE_POINTS = 500
SPEED_POINTS = MAX_POINTS - BASE_POINTS
SPEED_WINDOW = 30  # seconds, for a question without a countdown
TOP = 10
MIN_NICKNAME = 1
MAX_NICKNAME = 24
MAX_COMBINING = 2

ballot_t = Ballot.__table__  # type: ignore[attr-defined]
item_t = BallotItem.__table__  # type: ignore[attr-defined]
participant_t = Participant.__table__  # type: ignore[attr-defined]
question_t = Question.__table__  # type: ignore[attr-defined]


class NicknameError(Refused):
    """A nickname the participant must change."""


# --- points --------------------------------------------------------------------------------


def points(*, correct: bool, seconds: float | None, window: float) -> int:
    """The points of one answer: `seconds` after voting opened (None: unknown)."""
    if not correct:
        return 0
    if seconds is None or window <= 0:
        return BASE_POINTS
    taken = min(max(seconds, 0.0), window)
    return BASE_POINTS + round(SPEED_POINTS * (window - taken) / window)


def speed_window(question: Question) -> int:
    """Seconds over which the speed points fall to nothing."""
    return question.countdown_seconds or SPEED_WINDOW


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Answered:
    """One participant's answer to one quiz question, as the database counted it."""

    participant_id: int
    correct: bool
    seconds: float | None
    points: int


def answers(session: Session, question: Question) -> list[Answered]:
    """Every answer to a quiz question with its points: one GROUP BY over its ballots."""
    correct = correct_ids(question.config)
    right = sa.func.sum(sa.case((item_t.c.key.in_(correct), 1), else_=0))
    stmt = (
        sa.select(
            ballot_t.c.participant_id,
            ballot_t.c.updated_at,
            sa.func.count(item_t.c.id),
            right,
        )
        .join(item_t, item_t.c.ballot_id == ballot_t.c.id)
        .where(ballot_t.c.question_id == question.id)
        .group_by(ballot_t.c.id, ballot_t.c.participant_id, ballot_t.c.updated_at)
    )
    opened = _utc(question.opened_at) if question.opened_at else None
    window = speed_window(question)
    found: list[Answered] = []
    for participant_id, updated_at, count, matched in session.execute(stmt).all():
        is_right = bool(correct) and int(count) == len(correct) == int(matched or 0)
        seconds = (_utc(updated_at) - opened).total_seconds() if opened else None
        found.append(
            Answered(
                int(participant_id),
                is_right,
                seconds,
                points(correct=is_right, seconds=seconds, window=window),
            )
        )
    return found


# --- the leaderboard -------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """A participant's place: points over the quiz questions, and the time of right answers."""

    participant_id: int
    nickname: str | None
    score: int
    seconds: float
    rank: int


def quiz_questions(
    session: Session, presentation_id: int, before: int | None = None
) -> list[Question]:
    """The quiz questions of a presentation (not archived rounds), before a position if given."""
    stmt = (
        sa.select(Question)
        .where(question_t.c.presentation_id == presentation_id)
        .where(question_t.c.kind == "quiz")
        .where(question_t.c.parent_id.is_(None))
        .order_by(question_t.c.position, question_t.c.id)
    )
    if before is not None:
        stmt = stmt.where(question_t.c.position < before)
    return list(session.execute(stmt).scalars())


def rank(rows: Sequence[tuple[int, str | None, int, float]]) -> list[Standing]:
    """Order (participant, nickname, score, seconds): most points first, ties by the shorter
    total time, then by who joined first; exact ties share a rank."""
    ordered = sorted(rows, key=lambda r: (-r[2], r[3], r[0]))
    standings: list[Standing] = []
    for i, (pid, nickname, score, seconds) in enumerate(ordered):
        previous = standings[-1] if standings else None
        same = previous is not None and (previous.score, previous.seconds) == (score, seconds)
        place = previous.rank if same and previous is not None else i + 1
        standings.append(Standing(pid, nickname, score, seconds, place))
    return standings


def _signature(session: Session, presentation_id: int, questions: list[Question]) -> Any:
    """What the standings depend on, read cheaply (two aggregates)."""
    ids = [q.id for q in questions]
    ballots = (
        session.execute(
            sa.select(sa.func.count(), sa.func.max(ballot_t.c.updated_at)).where(
                ballot_t.c.question_id.in_(ids)
            )
        ).one()
        if ids
        else (0, None)
    )
    people = session.execute(
        sa.select(
            sa.func.count(participant_t.c.nickname),
            sa.func.count(participant_t.c.removed_at),
            sa.func.max(participant_t.c.id),
        ).where(participant_t.c.presentation_id == presentation_id)
    ).one()
    shape = tuple(
        (q.id, tuple(correct_ids(q.config)), q.opened_at, q.countdown_seconds) for q in questions
    )
    return (shape, tuple(ballots), tuple(people))


_cache: dict[tuple[int, int | None], tuple[Any, list[Standing]]] = {}
_cache_lock = threading.Lock()
MAX_CACHED = 256


def standings(session: Session, presentation_id: int, before: int | None = None) -> list[Standing]:
    """Everybody who answered a quiz question (or chose a nickname), best first.

    `before`: count only the quiz questions before this position (a leaderboard slide counts
    the questions before it).
    """
    questions = quiz_questions(session, presentation_id, before)
    signature = _signature(session, presentation_id, questions)
    key = (presentation_id, before)
    cached = _cache.get(key)
    if cached is not None and cached[0] == signature:
        return cached[1]
    totals: dict[int, list[float]] = {}
    for question in questions:
        window = speed_window(question)
        for answer in answers(session, question):
            total = totals.setdefault(answer.participant_id, [0, 0.0])
            total[0] += answer.points
            if answer.correct:
                known = answer.seconds if answer.seconds is not None else window
                total[1] += min(max(known, 0.0), window)
    # Removed participants and paper counts (answers without a person to rank) take no place.
    left_out = sa.or_(participant_t.c.removed_at.is_not(None), participant_t.c.paper.is_(True))
    people = session.execute(
        sa.select(participant_t.c.id, participant_t.c.nickname, left_out.label("out"))
        .where(participant_t.c.presentation_id == presentation_id)
        .where(sa.or_(participant_t.c.nickname.is_not(None), left_out))
    ).all()
    nicknames = {pid: name for pid, name, out in people if not out}
    removed = {pid for pid, _, out in people if out}
    rows = [
        (pid, nicknames.get(pid), int(total[0]), round(total[1], 3))
        for pid, total in totals.items()
        if pid not in removed
    ]
    rows += [(pid, name, 0, 0.0) for pid, name in nicknames.items() if pid not in totals]
    result = rank(rows)
    with _cache_lock:
        if len(_cache) >= MAX_CACHED:
            _cache.clear()
        _cache[key] = (signature, result)
    return result


def leaderboard_of(session: Session, question_id: int) -> tuple[list[Standing], int]:
    """The standings a leaderboard slide shows, and how many took part."""
    question = session.get(Question, question_id)
    if question is None:
        return [], 0
    found = standings(session, question.presentation_id, before=question.position)
    return found, len(found)


# --- nicknames -----------------------------------------------------------------------------

# Letters that show nothing (Hangul fillers, braille blank, ...) on top of what Unicode
# calls format, control, private or unassigned characters.
_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def clean_nickname(raw: str) -> str:
    """A nickname as typed, checked: 1 to 24 characters, nothing invisible, no blocked word."""
    if len(raw) > MAX_NICKNAME * 8:
        raise NicknameError("A name can have at most %(n)s characters.", n=MAX_NICKNAME)
    text = unicodedata.normalize("NFC", raw)
    run = 0
    for ch in text:
        if ch in "\t\r\n":
            continue
        category = unicodedata.category(ch)
        if category in _INVISIBLE_CATEGORIES or ch in moderation.INVISIBLE:
            raise NicknameError("Use only letters, digits and ordinary signs in your name.")
        run = run + 1 if category.startswith("M") else 0
        if run > MAX_COMBINING:
            raise NicknameError("Use only letters, digits and ordinary signs in your name.")
    name = " ".join(text.split())
    if len(name) < MIN_NICKNAME:
        raise NicknameError("Enter a name.")
    if len(name) > MAX_NICKNAME:
        raise NicknameError("A name can have at most %(n)s characters.", n=MAX_NICKNAME)
    if not any(ch.isalnum() for ch in name):
        raise NicknameError("Use at least one letter or digit in your name.")
    if moderation.matches(name, moderation.default_words()):
        raise NicknameError("Choose another name.")
    return name


def nickname_key(name: str) -> str:
    """What two names must not share: NFKC, case folded, spaces collapsed."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return " ".join(folded.split())


def _insert_participant(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(participant_t).on_conflict_do_nothing()
    return sqlite.insert(participant_t).on_conflict_do_nothing()


def participant_of(session: Session, presentation_id: int, token_hash: str) -> Participant | None:
    stmt = sa.select(Participant).where(
        participant_t.c.presentation_id == presentation_id,
        participant_t.c.token_hash == token_hash,
    )
    return session.execute(stmt).scalars().first()


def _get_or_add(session: Session, presentation_id: int, token_hash: str) -> Participant:
    for _ in range(5):
        found = participant_of(session, presentation_id, token_hash)
        if found is not None:
            return found
        session.execute(
            _insert_participant(session).values(
                presentation_id=presentation_id,
                token_hash=token_hash,
                pseudonym=new_pseudonym(),
                created_at=datetime.now(UTC),
            )
        )
    raise RuntimeError("participant could not be added")


def suggestion(name: str, taken: set[str]) -> str:
    """The name with the lowest number after it that is still free (and short enough)."""
    number = 2
    while True:
        suffix = f" {number}"
        candidate = name[: MAX_NICKNAME - len(suffix)].rstrip() + suffix
        if nickname_key(candidate) not in taken:
            return candidate
        number += 1


def set_nickname(
    *, session: Session, presentation_id: int, token_hash: str, raw: str
) -> Participant:
    """Give a phone its nickname in a presentation (once; the same name again is fine).

    Names are unique within a presentation, ignoring case. The presentation is locked first
    (the order every change takes), so two phones choosing the same name take turns.
    """
    name = clean_nickname(raw)
    session.execute(
        sa.select(Presentation.__table__.c.id)  # type: ignore[attr-defined]
        .where(Presentation.__table__.c.id == presentation_id)  # type: ignore[attr-defined]
        .with_for_update()
    )
    participant = _get_or_add(session, presentation_id, token_hash)
    if participant.removed_at is not None:
        raise NicknameError("The facilitator has removed you from this presentation.")
    key = nickname_key(name)
    if participant.nickname is not None:
        if nickname_key(participant.nickname) == key:
            return participant
        raise NicknameError("You already have a name: %(name)s.", name=participant.nickname)
    others = session.execute(
        sa.select(participant_t.c.nickname).where(
            participant_t.c.presentation_id == presentation_id,
            participant_t.c.nickname.is_not(None),
        )
    ).scalars()
    taken = {nickname_key(n) for n in others}
    if key in taken:
        raise NicknameError(
            "Somebody already has this name. Add a number, for example: %(name)s",
            name=suggestion(name, taken),
        )
    participant.nickname = name
    session.add(participant)
    session.flush()
    return participant


def my_standing(
    session: Session, question_id: int, participant_id: int | None
) -> tuple[Standing | None, int]:
    """A phone's own place on a leaderboard slide, and how many took part."""
    found, total = leaderboard_of(session, question_id)
    if participant_id is None:
        return None, total
    mine = next((s for s in found if s.participant_id == participant_id), None)
    return mine, total
