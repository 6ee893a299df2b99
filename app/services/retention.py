"""Retention: the votes of a run are deleted a set number of days after it.

A run with `retention_days` loses its ballots, Q&A entries and participants once its date
(or, without a date, the last facilitator activity) is more than that many days ago. Its
questions stay, so the presentation can be given again. The server checks every
PURGE_EVERY_SECONDS (app/main.py); the check is one query over the presentations that have a
retention period and still have participants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from app.db import Database
from app.models import (
    Ballot,
    BallotItem,
    BallotKey,
    Participant,
    Presentation,
    QaEntry,
    QaVote,
    Question,
)

PURGE_EVERY_SECONDS = 600.0


@dataclass
class Purged:
    """What a purge deleted."""

    presentations: list[int] = field(default_factory=list)
    ballots: int = 0
    ballot_items: int = 0
    qa_entries: int = 0
    participants: int = 0


def is_expired(
    *, run_date: date | None, active_at: datetime, retention_days: int, now: datetime
) -> bool:
    """Whether a run's votes are past their retention period at `now`."""
    if run_date is not None:
        return now.date() > run_date + timedelta(days=retention_days)
    if active_at.tzinfo is None:  # SQLite hands back naive UTC times
        active_at = active_at.replace(tzinfo=UTC)
    return now > active_at + timedelta(days=retention_days)


def expired_runs(*, session: Session, now: datetime) -> list[int]:
    """Runs with a retention period that ended and that still hold participants' data."""
    p = Presentation.__table__  # type: ignore[attr-defined]
    has_participants = sa.exists().where(col(Participant.presentation_id) == p.c.id)
    stmt = sa.select(p.c.id, p.c.run_date, p.c.active_at, p.c.retention_days).where(
        p.c.retention_days.is_not(None), has_participants
    )
    return sorted(
        pid
        for pid, run_date, active_at, days in session.execute(stmt).all()
        if is_expired(run_date=run_date, active_at=active_at, retention_days=days, now=now)
    )


def delete_votes(*, session: Session, presentation_ids: list[int]) -> Purged:
    """Delete every ballot, Q&A entry and participant of these presentations (not their
    questions)."""
    purged = Purged(presentations=list(presentation_ids))
    if not presentation_ids:
        return purged
    questions = sa.select(col(Question.id)).where(
        col(Question.presentation_id).in_(presentation_ids)
    )
    ballots = sa.select(col(Ballot.id)).where(col(Ballot.question_id).in_(questions))
    entries = sa.select(col(QaEntry.id)).where(col(QaEntry.question_id).in_(questions))

    def delete(statement: sa.Delete) -> int:
        return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]

    purged.ballot_items = delete(
        sa.delete(BallotItem).where(col(BallotItem.question_id).in_(questions))
    )
    delete(sa.delete(BallotKey).where(col(BallotKey.ballot_id).in_(ballots)))
    purged.ballots = delete(sa.delete(Ballot).where(col(Ballot.question_id).in_(questions)))
    delete(sa.delete(QaVote).where(col(QaVote.entry_id).in_(entries)))
    purged.qa_entries = delete(sa.delete(QaEntry).where(col(QaEntry.question_id).in_(questions)))
    purged.participants = delete(
        sa.delete(Participant).where(col(Participant.presentation_id).in_(presentation_ids))
    )
    session.flush()
    return purged


def purge_expired(*, session: Session, now: datetime) -> Purged:
    """Delete the votes of every run whose retention period ended before `now`."""
    return delete_votes(session=session, presentation_ids=expired_runs(session=session, now=now))


def purge_once(*, db: Database, now: datetime) -> Purged:
    """The periodic job's work: a cheap read first, a write transaction only when needed."""
    with db.session() as session:
        if not expired_runs(session=session, now=now):
            return Purged()
    with db.write_session() as session:
        return purge_expired(session=session, now=now)
