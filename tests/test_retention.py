"""Retention: the votes of runs past their retention period are deleted, nothing else."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa

from app.models import Ballot, BallotItem, Participant, Presentation, QaEntry, QaVote, Question
from app.services import retention
from tests.conftest import make_presentation, make_question, make_user
from tests.runs_support import choices, new_run, questions

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _set(db, presentation, **values):
    with db.write_session() as session:
        session.execute(
            sa.update(Presentation).where(Presentation.id == presentation.id).values(**values)
        )


def _counts(db, presentation):
    """(participants, ballots, items, Q&A entries, Q&A votes, questions) of a presentation."""
    with db.session() as session:
        qids = sa.select(Question.id).where(Question.presentation_id == presentation.id)

        def count(model, where):
            return session.execute(
                sa.select(sa.func.count()).select_from(model).where(where)
            ).scalar_one()

        entries = sa.select(QaEntry.id).where(QaEntry.question_id.in_(qids))
        return (
            count(Participant, Participant.presentation_id == presentation.id),
            count(Ballot, Ballot.question_id.in_(qids)),
            count(BallotItem, BallotItem.question_id.in_(qids)),
            count(QaEntry, QaEntry.question_id.in_(qids)),
            count(QaVote, QaVote.entry_id.in_(entries)),
            count(Question, Question.presentation_id == presentation.id),
        )


def _add_qa(db, presentation, asker: str):
    """A Q&A question with one entry of `asker` (who voted before) and an upvote of it."""
    owner_question = questions(db, presentation)
    with db.write_session() as session:
        participant = session.execute(
            sa.select(Participant).where(
                Participant.presentation_id == presentation.id,
                Participant.token_hash == f"token-{asker}",
            )
        ).scalar_one()
        entry = QaEntry(
            question_id=owner_question[-1].id, participant_id=participant.id, text="Wanneer?"
        )
        session.add(entry)
        session.flush()
        session.add(QaVote(entry_id=entry.id, participant_id=participant.id))


def _series(db):
    owner = make_user(db)
    first = make_presentation(db, owner)
    make_question(db, owner, first, "choice", "SMART?", options="Ja\nNee")
    make_question(db, owner, first, "qa", "Vragen")
    made = {"dated_old": first}
    for name in ("dated_recent", "dated_edge", "kept", "undated_old", "undated_recent"):
        made[name] = new_run(db, owner, first)
    settings = {
        "dated_old": {"run_date": date(2026, 1, 1), "retention_days": 30},
        "dated_recent": {"run_date": date(2026, 2, 20), "retention_days": 30},
        # 30 days after 30 January is 1 March: deleted from the next day on.
        "dated_edge": {"run_date": date(2026, 1, 30), "retention_days": 30},
        "kept": {"run_date": date(2020, 1, 1), "retention_days": None},
        "undated_old": {"active_at": datetime(2026, 2, 1, tzinfo=UTC), "retention_days": 10},
        "undated_recent": {"active_at": datetime(2026, 2, 25, tzinfo=UTC), "retention_days": 10},
    }
    for name, values in settings.items():
        _set(db, made[name], **values)
        choices(db, questions(db, made[name])[0], ["o1", "o2", "o1"], prefix=name)
        _add_qa(db, made[name], f"{name}0")
    return made


def test_purge_deletes_exactly_the_expired_runs_votes_and_keeps_questions(db):
    made = _series(db)
    before = {name: _counts(db, run) for name, run in made.items()}
    assert all(c == (3, 3, 3, 1, 1, 2) for c in before.values())
    with db.write_session() as session:
        purged = retention.purge_expired(session=session, now=NOW)
    expired = {"dated_old", "undated_old"}
    assert purged.presentations == sorted(made[name].id for name in expired)
    assert (purged.ballots, purged.ballot_items, purged.qa_entries, purged.participants) == (
        6,
        6,
        2,
        6,
    )
    for name, run in made.items():
        after = _counts(db, run)
        if name in expired:
            assert after == (0, 0, 0, 0, 0, 2), name  # the questions stay
        else:
            assert after == before[name], name


def test_a_second_purge_finds_nothing_and_the_edge_goes_a_day_later(db):
    made = _series(db)
    assert retention.purge_once(db=db, now=NOW).presentations != []
    assert retention.purge_once(db=db, now=NOW).presentations == []
    later = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
    assert retention.purge_once(db=db, now=later).presentations == [made["dated_edge"].id]


def test_expiry_rule():
    assert not retention.is_expired(
        run_date=date(2026, 1, 30), active_at=NOW, retention_days=30, now=NOW
    )
    assert retention.is_expired(
        run_date=date(2026, 1, 29), active_at=NOW, retention_days=30, now=NOW
    )
    naive = datetime(2026, 2, 19, 11, 0)  # SQLite gives naive UTC back
    assert retention.is_expired(run_date=None, active_at=naive, retention_days=10, now=NOW)
    assert not retention.is_expired(
        run_date=None, active_at=datetime(2026, 2, 19, 13, 0), retention_days=10, now=NOW
    )


def test_the_server_runs_the_purge_periodically(client, db):
    """The job registered on the ticker purges with the server's clock."""
    made = _series(db)
    services = client.app.state.services
    jobs = [
        job for interval, job in services.ticker._jobs if interval == retention.PURGE_EVERY_SECONDS
    ]
    assert len(jobs) == 1
    assert retention.PURGE_EVERY_SECONDS <= 600
    services.clock = lambda: datetime(2026, 1, 15, tzinfo=UTC)  # nothing has expired yet
    client.portal.call(jobs[0])
    assert _counts(db, made["dated_old"])[1] == 3
    services.clock = lambda: NOW
    client.portal.call(jobs[0])
    assert _counts(db, made["dated_old"])[:2] == (0, 0)
    assert _counts(db, made["undated_old"])[:2] == (0, 0)
    assert _counts(db, made["dated_recent"])[:2] == (3, 3)
