"""Q&A use cases: asking, upvoting, the phone's list, the facilitator's queue and decisions,
and the export rows of a Q&A question.

Participants write in short write transactions of their own (not through the ballot box):
asking and upvoting are rare next to votes, and an upvote is idempotent by the unique
constraint on `qa_vote(entry_id, participant_id)` (INSERT ... ON CONFLICT DO NOTHING), so two
taps, two tabs or two workers count it once. Like a vote batch, a participant's write locks
its presentation and question (FOR SHARE) before it checks that the question is current and
open, so it never slips past a facilitator's change committed before it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from app import moderation
from app.i18n import translate
from app.models import (
    Participant,
    Presentation,
    QaEntry,
    QaVote,
    Question,
    QuestionState,
    utcnow,
)
from app.questions.base import ParsedAnswer
from app.questions.qa import EntryState, is_visible, ordered, visible_clause
from app.services import NotFound
from app.services import moderation as svc_moderation
from app.services.export import MODERATION_LABELS, iso_utc
from app.services.presentations import get_presentation
from app.services.votes import VoteCommand, insert_unless_taken, participants_of

KIND = "qa"
KINDS = frozenset({KIND})
QUEUE_LIMIT = svc_moderation.QUEUE_LIMIT
PHONE_LIMIT = 100

entry_t = QaEntry.__table__  # type: ignore[attr-defined]
vote_t = QaVote.__table__  # type: ignore[attr-defined]
question_t = Question.__table__  # type: ignore[attr-defined]
presentation_t = Presentation.__table__  # type: ignore[attr-defined]
participant_t = Participant.__table__  # type: ignore[attr-defined]


class QaStatus(StrEnum):
    SAVED = "saved"  # stored
    REPLAYED = "replayed"  # an upvote that was already there: nothing changed
    CLOSED = "closed"  # the question is not current, not open, or not a Q&A
    REMOVED = "removed"  # the facilitator removed this participant
    UNKNOWN = "unknown"  # no such entry (or not one this participant may see)
    OWN = "own"  # an upvote of one's own question


class Action(StrEnum):
    """What a facilitator can do to an entry."""

    APPROVE = "approve"
    HIDE = "hide"
    RESTORE = "restore"  # back to "no decision yet"
    ANSWERED = "answered"
    UNANSWERED = "unanswered"
    PIN = "pin"
    UNPIN = "unpin"


# --- participants ------------------------------------------------------------------------


def _current_open(session: Session, presentation_id: int, question_id: int) -> Question | None:
    """The question, when it is the current, open Q&A of the presentation; locked FOR SHARE
    (presentation first, then question: the order of every writer, services/votes.py)."""
    session.execute(
        sa.select(presentation_t.c.id)
        .where(presentation_t.c.id == presentation_id)
        .with_for_update(read=True)
    )
    row = session.execute(
        sa.select(question_t.c.id)
        .join(presentation_t, presentation_t.c.id == question_t.c.presentation_id)
        .where(
            question_t.c.id == question_id,
            question_t.c.presentation_id == presentation_id,
            question_t.c.kind == KIND,
            question_t.c.state == QuestionState.OPEN.value,
            presentation_t.c.current_question_id == question_t.c.id,
            sa.or_(question_t.c.closes_at.is_(None), question_t.c.closes_at > utcnow()),
        )
        .with_for_update(read=True, of=question_t)
    ).first()
    if row is None:
        return None
    return session.get(Question, question_id)


def _participant(session: Session, presentation_id: int, token_hash: str) -> int | None:
    """The participant of a phone (made on its first write, as a vote does); None: removed."""
    command = VoteCommand(presentation_id, 0, token_hash, "", ParsedAnswer({}, ()))
    found, removed = participants_of(session, [command])
    if (presentation_id, token_hash) in removed:
        return None
    return found[(presentation_id, token_hash)]


def find_participant(session: Session, presentation_id: int, token_hash: str) -> int | None:
    """The id of a phone's participant, without making one (None: none yet, or removed)."""
    row = session.execute(
        sa.select(participant_t.c.id, participant_t.c.removed_at).where(
            participant_t.c.presentation_id == presentation_id,
            participant_t.c.token_hash == token_hash,
        )
    ).first()
    if row is None or row.removed_at is not None:
        return None
    return int(row.id)


def ask(
    *,
    session: Session,
    presentation_id: int,
    question_id: int,
    token_hash: str,
    text: str,
    name: str | None,
    state: str,
) -> QaStatus:
    """Store a participant's question (already validated by questions/qa.parse_entry)."""
    if _current_open(session, presentation_id, question_id) is None:
        return QaStatus.CLOSED
    participant_id = _participant(session, presentation_id, token_hash)
    if participant_id is None:
        return QaStatus.REMOVED
    session.execute(
        sa.insert(entry_t).values(
            question_id=question_id,
            participant_id=participant_id,
            text=text,
            name=name,
            state=state,
            answered=False,
            pinned=False,
            created_at=utcnow(),
        )
    )
    return QaStatus.SAVED


def upvote(
    *, session: Session, presentation_id: int, entry_id: int, token_hash: str
) -> tuple[QaStatus, int | None]:
    """Upvote a visible entry of the current, open Q&A; counted once however often it comes.
    Returns the status and the entry's question id (None when there is no such entry)."""
    found = session.execute(
        sa.select(entry_t.c.question_id).where(entry_t.c.id == entry_id)
    ).first()
    if found is None:
        return QaStatus.UNKNOWN, None
    question_id = int(found.question_id)
    question = _current_open(session, presentation_id, question_id)
    if question is None:
        return QaStatus.CLOSED, question_id
    entry = session.execute(
        sa.select(entry_t.c.participant_id, entry_t.c.state).where(entry_t.c.id == entry_id)
    ).first()
    if entry is None or not is_visible(entry.state, question.config):
        return QaStatus.UNKNOWN, question_id
    participant_id = _participant(session, presentation_id, token_hash)
    if participant_id is None:
        return QaStatus.REMOVED, question_id
    if entry.participant_id == participant_id:
        return QaStatus.OWN, question_id
    inserted = session.execute(
        insert_unless_taken(session, vote_t)
        .values(entry_id=entry_id, participant_id=participant_id, created_at=utcnow())
        .returning(vote_t.c.id)
    ).first()
    return (QaStatus.SAVED if inserted is not None else QaStatus.REPLAYED), question_id


@dataclass(frozen=True)
class PhoneEntry:
    """An entry as one phone sees it: never another participant's name."""

    id: int
    text: str
    votes: int
    answered: bool
    pinned: bool
    mine: bool
    upvoted: bool  # this phone upvoted it
    waiting: bool  # its own entry, not on the screen yet (with pre-moderation)


def phone_entries(
    *, session: Session, question: Question, participant_id: int | None
) -> list[PhoneEntry]:
    """What one phone's list shows: the visible entries and the phone's own (one query)."""
    me = participant_id if participant_id is not None else -1
    mine = col(QaEntry.participant_id) == me
    stmt = ordered(
        sa.select(
            col(QaEntry.id),
            col(QaEntry.text),
            col(QaEntry.state),
            col(QaEntry.answered),
            col(QaEntry.pinned),
            col(QaEntry.participant_id),
            sa.func.count(col(QaVote.id)),
            sa.func.max(sa.case((col(QaVote.participant_id) == me, 1), else_=0)),
        )
        .select_from(QaEntry)
        .outerjoin(QaVote, col(QaVote.entry_id) == col(QaEntry.id))
        .where(
            col(QaEntry.question_id) == question.id,
            sa.or_(visible_clause(question.config), mine),
        )
        .group_by(col(QaEntry.id))
    ).limit(PHONE_LIMIT)
    premoderated = moderation.is_premoderated(question.config)
    out: list[PhoneEntry] = []
    for entry_id, text, state, answered, pinned, author, votes, upvoted in session.execute(stmt):
        own = author == me
        out.append(
            PhoneEntry(
                id=entry_id,
                text=text,
                votes=int(votes),
                answered=bool(answered),
                pinned=bool(pinned),
                mine=own,
                upvoted=bool(upvoted),
                # A held-back entry of one's own looks like any other (nothing tells the author
                # that the word filter caught it); with pre-moderation every one waits.
                waiting=own and premoderated and state != EntryState.APPROVED,
            )
        )
    return out


# --- the facilitator ---------------------------------------------------------------------


@dataclass(frozen=True)
class QueueEntry:
    """One entry in the facilitator's queue."""

    id: int
    text: str
    name: str | None
    participant_id: int
    pseudonym: str
    state: str
    answered: bool
    pinned: bool
    votes: int
    at: datetime
    filtered: bool  # the word filter catches it

    def shown(self, config: dict[str, Any]) -> bool:
        return is_visible(self.state, config)


def qa_questions(*, session: Session, presentation_id: int) -> list[Question]:
    """The Q&A questions of a presentation, in order."""
    return svc_moderation.text_questions(
        session=session, presentation_id=presentation_id, kinds=KINDS
    )


def queue(*, session: Session, question: Question, limit: int = QUEUE_LIMIT) -> list[QueueEntry]:
    """Every entry of a question with its upvotes, newest first (one query; the caller checked
    that the question is the facilitator's)."""
    stmt = (
        sa.select(
            col(QaEntry.id),
            col(QaEntry.text),
            col(QaEntry.name),
            col(QaEntry.participant_id),
            col(Participant.pseudonym),
            col(QaEntry.state),
            col(QaEntry.answered),
            col(QaEntry.pinned),
            sa.func.count(col(QaVote.id)),
            col(QaEntry.created_at),
        )
        .select_from(QaEntry)
        .join(Participant, col(Participant.id) == col(QaEntry.participant_id))
        .outerjoin(QaVote, col(QaVote.entry_id) == col(QaEntry.id))
        .where(col(QaEntry.question_id) == question.id)
        .group_by(col(QaEntry.id), col(Participant.pseudonym))
        .order_by(col(QaEntry.created_at).desc(), col(QaEntry.id).desc())
        .limit(limit)
    )
    words = moderation.blocked_words(question.config)
    return [
        QueueEntry(
            id=entry_id,
            text=text,
            name=name,
            participant_id=participant_id,
            pseudonym=pseudonym,
            state=state,
            answered=bool(answered),
            pinned=bool(pinned),
            votes=int(votes),
            at=at,
            filtered=moderation.matches(f"{text} {name or ''}", words),
        )
        for entry_id, text, name, participant_id, pseudonym, state, answered, pinned, votes, at in (
            session.execute(stmt)
        )
    ]


def decide(
    *, session: Session, owner_id: int, presentation_id: int, entry_id: int, action: Action
) -> QaEntry:
    """Apply a facilitator's decision to an entry of their presentation (NotFound otherwise).

    The presentation is locked first, as by every facilitator change. Its version is not
    bumped: phones read the Q&A list from their own endpoint, so their shared frame does not
    change (and a new frame would wipe a question somebody is typing).
    """
    presentation = get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id, lock=True
    )
    entry = session.get(QaEntry, entry_id, with_for_update=True, populate_existing=True)
    if entry is None:
        raise NotFound("entry")
    question = session.get(Question, entry.question_id)
    if question is None or question.presentation_id != presentation.id or question.kind != KIND:
        raise NotFound("entry")
    if action == Action.APPROVE:
        entry.state = EntryState.APPROVED.value
    elif action == Action.HIDE:
        entry.state = EntryState.HIDDEN.value
    elif action == Action.RESTORE:
        entry.state = EntryState.PENDING.value
    elif action in (Action.ANSWERED, Action.UNANSWERED):
        entry.answered = action == Action.ANSWERED
    else:
        entry.pinned = action == Action.PIN
    session.add(entry)
    session.flush()
    return entry


def set_premoderation(
    *, session: Session, owner_id: int, presentation_id: int, question_id: int, on: bool
) -> Question:
    """Pre-moderation of a Q&A on (only approved entries show) or off."""
    return svc_moderation.set_premoderation(
        session=session,
        owner_id=owner_id,
        presentation_id=presentation_id,
        question_id=question_id,
        on=on,
        kinds=KINDS,
    )


# --- export ------------------------------------------------------------------------------


def export_rows(
    session: Session, presentation: Presentation, question: Question
) -> Iterator[tuple[str, ...]]:
    """One row per entry of a Q&A question, oldest first, in the 9 columns of
    services/export.export_rows: presentation, question number, question, type, participant,
    text (the answer column), upvotes (the value column), time, moderation state."""
    stmt = (
        sa.select(
            col(QaEntry.text),
            col(QaEntry.state),
            col(Participant.pseudonym),
            col(QaEntry.created_at),
            sa.func.count(col(QaVote.id)),
        )
        .select_from(QaEntry)
        .join(Participant, col(Participant.id) == col(QaEntry.participant_id))
        .outerjoin(QaVote, col(QaVote.entry_id) == col(QaEntry.id))
        .where(col(QaEntry.question_id) == question.id)
        .group_by(col(QaEntry.id), col(Participant.pseudonym))
        .order_by(col(QaEntry.created_at), col(QaEntry.id))
    )
    for text, state, pseudonym, at, votes in session.execute(stmt):
        label = MODERATION_LABELS.get(state)
        yield (
            presentation.title,
            str(question.position),
            question.title,
            question.kind,
            pseudonym,
            text,
            str(int(votes)),
            iso_utc(at),
            translate(presentation.language, label) if label is not None else "",
        )
