"""Several processes writing to one database at once (several workers or hosts).

Each process has its own ballot box (its own engine and writer thread); here two of them run
side by side on two engines, as two workers would. Facilitator actions come from other
connections at the same time. On PostgreSQL the transactions really overlap; on SQLite
(where all but the race with closing run too) the writers take turns.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from app import ballot_box
from app.ballot_box import BallotBox
from app.config import Settings
from app.db import Database, is_retryable
from app.models import Ballot, BallotItem, Participant, Presentation, Question
from app.services import control, votes
from app.services.presentations import add_question, questions_of, update_presentation
from app.services.votes import VoteCommand, VoteStatus
from tests.conftest import (
    Facilitator,
    make_current,
    make_presentation,
    make_question,
    make_user,
    vote_command,
)

SAVED, REPLAYED = VoteStatus.SAVED, VoteStatus.REPLAYED


@pytest.fixture
def owner(db: Database) -> Facilitator:
    return make_user(db)


@pytest.fixture
async def boxes(db: Database, settings: Settings) -> AsyncIterator[list[BallotBox]]:
    """Two ballot boxes on two engines of the same database, as two worker processes have."""
    second = Database(settings)
    made = [
        BallotBox(database, on_committed=lambda changed: None, batch_max=64)
        for database in (db, second)
    ]
    for box in made:
        await box.start()
    try:
        yield made
    finally:
        for box in made:
            await box.stop()
        second.dispose()


def first_option(question: Question) -> dict[str, list[str]]:
    return {"option": [question.config["options"][0]["id"]]}


def choice_question(db: Database, owner: Facilitator) -> Question:
    presentation = make_presentation(db, owner)
    question = make_question(
        db, owner, presentation, "choice", "Welk thema?", options="A\nB\nC", multiple="1",
        max_choices="3",
    )  # fmt: skip
    make_current(db, question)
    return question


def ballots(db: Database, question: Question) -> dict[str, tuple[str, list[str], list[str]]]:
    """token -> (client key, options in the answer, option keys of the ballot items)."""
    with db.session() as session:
        rows = session.execute(
            sa.select(Participant.token_hash, Ballot.id, Ballot.client_key, Ballot.answer)
            .join(Participant, Participant.id == Ballot.participant_id)
            .where(Ballot.question_id == question.id)
        ).all()
        items: dict[int, list[str]] = {}
        for ballot_id, key in session.execute(
            sa.select(BallotItem.ballot_id, BallotItem.key).order_by(BallotItem.position)
        ):
            items.setdefault(ballot_id, []).append(key)
    found: dict[str, tuple[str, list[str], list[str]]] = {}
    for token, ballot_id, client_key, answer in rows:
        assert token not in found, f"two ballots for {token}"
        found[token] = (client_key, answer["options"], items.get(ballot_id, []))
    return found


def count(db: Database, model: type) -> int:
    with db.session() as session:
        return session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


async def test_one_phone_voting_through_two_workers_at_once_keeps_one_ballot(
    db: Database, owner: Facilitator, boxes: list[BallotBox]
) -> None:
    """The same phones vote through both workers at the same moment, round after round: each
    keeps one participant and one ballot whose items are exactly its answer, every vote is
    taken, and a submission that reaches both workers (a retry after a lost response) is
    stored once and recognised as a replay by the other."""
    question = choice_question(db, owner)
    phones = [f"phone{n:02}" for n in range(40)]
    a, b, c = (o["id"] for o in question.config["options"])
    answers = ([a], [b, c])  # of different sizes: mixed items would show

    def vote(phone: str, options: list[str], key: str) -> VoteCommand:
        return vote_command(question, phone, {"option": options}, key)

    for round_ in range(6):
        if round_ % 2:
            # A different answer through each worker: both are taken, one of them stays.
            commands = [
                [vote(phone, answers[side], f"{phone}-{round_}-{side}") for phone in phones]
                for side in (0, 1)
            ]
        else:
            # The same submission through both workers: stored once, the other a replay.
            same = [vote(phone, answers[round_ % 4 // 2], f"{phone}-{round_}") for phone in phones]
            commands = [same, same]
        results = await asyncio.gather(
            *(boxes[side].submit(c) for side in (0, 1) for c in commands[side]),
            return_exceptions=True,
        )
        failures = [r for r in results if not isinstance(r, VoteStatus)]
        assert failures == [], f"round {round_}: votes failed: {failures[:3]}"
        by_phone = list(zip(results[: len(phones)], results[len(phones) :], strict=True))
        if round_ % 2:
            assert set(results) == {SAVED}, f"round {round_}: {set(results)}"
        else:
            assert all(sorted(pair) == [REPLAYED, SAVED] for pair in by_phone), (
                f"round {round_}: a submission through two workers was stored twice "
                f"or not at all: {[p for p in by_phone if sorted(p) != [REPLAYED, SAVED]][:3]}"
            )
        stored = ballots(db, question)
        assert sorted(stored) == sorted(f"token-{phone}" for phone in phones)
        for token, (key, options, items) in stored.items():
            assert items == options, f"{token}: items {items} for the answer {options}"
            if round_ % 2:
                assert key.rsplit("-", 1)[0] == f"{token.removeprefix('token-')}-{round_}"
            else:
                assert key == f"{token.removeprefix('token-')}-{round_}"
    assert count(db, Participant) == len(phones)
    assert count(db, Ballot) == len(phones)


async def test_new_phones_joining_through_two_workers_at_once_become_one_participant(
    db: Database, owner: Facilitator, boxes: list[BallotBox]
) -> None:
    """Many new phones whose first votes reach both workers at once (their pseudonyms too are
    drawn at the same time): one participant each, all votes taken."""
    question = choice_question(db, owner)
    for wave in range(5):
        phones = [f"w{wave}-{n:03}" for n in range(100)]
        results = await asyncio.gather(
            *(
                boxes[side].submit(
                    vote_command(question, phone, first_option(question), f"{phone}-{side}")
                )
                for phone in phones
                for side in (0, 1)
            ),
            return_exceptions=True,
        )
        assert [r for r in results if not isinstance(r, VoteStatus)] == []
        assert set(results) == {SAVED}
    assert count(db, Participant) == 500
    assert count(db, Ballot) == 500
    with db.session() as session:
        pseudonyms = session.execute(sa.select(Participant.pseudonym)).scalars().all()
    assert len(set(pseudonyms)) == 500


@pytest.fixture
def slow_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Widen the gap between a batch's "is the question open?" and its COMMIT, as a batch of
    hundreds of votes on a busy server has; a vote racing a close lands in it every time."""
    participants: Callable[..., dict[tuple[int, str], int]] = votes.participants_of

    def slow(*args: object, **kwargs: object) -> dict[tuple[int, str], int]:
        time.sleep(0.03)
        return participants(*args, **kwargs)

    monkeypatch.setattr(votes, "participants_of", slow)


@pytest.mark.postgresql_only
async def test_a_vote_racing_close_voting_is_counted_before_it_or_refused(
    db: Database, settings: Settings, owner: Facilitator, boxes: list[BallotBox], slow_batches
) -> None:
    """Phones keep voting through two workers while the facilitator closes voting through a
    third connection: every vote acknowledged as saved is stored, no refused vote is, and
    nothing is written after the close committed.

    PostgreSQL only: on SQLite every write transaction holds the whole file, so the race
    cannot happen there, and two writers that never pause can keep the close from getting
    the file within its busy timeout.
    """
    question = choice_question(db, owner)
    facilitator = Database(settings)
    acked: dict[str, VoteStatus] = {}
    stop = asyncio.Event()
    numbers = iter(range(1_000_000))

    async def phone(box: BallotBox) -> None:
        while not stop.is_set():
            name = f"p{next(numbers)}"
            status = await box.submit(vote_command(question, name, first_option(question), name))
            acked[f"token-{name}"] = status

    def close() -> int:
        """Close voting; return the number of ballots right after the close committed."""
        with facilitator.write_session() as session:
            control.set_voting(
                session=session,
                owner_id=owner.user_id,
                presentation_id=question.presentation_id,
                is_open=False,
            )
        with facilitator.session() as session:
            return session.execute(sa.select(sa.func.count()).select_from(Ballot)).scalar_one()

    try:
        voters = [asyncio.create_task(phone(boxes[n % 2])) for n in range(16)]
        await asyncio.sleep(0.4)
        at_close = await asyncio.to_thread(close)
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.gather(*voters)
    finally:
        facilitator.dispose()

    stored = set(ballots(db, question))
    saved = {token for token, status in acked.items() if status == SAVED}
    refused = {token for token, status in acked.items() if status == VoteStatus.CLOSED}
    assert saved and refused, "the votes did not race the close"
    assert saved | refused == set(acked)
    assert saved <= stored, f"{len(saved - stored)} acknowledged votes are missing"
    assert not refused & stored, f"{len(refused & stored)} refused votes were stored"
    assert len(stored) == at_close, (
        f"{len(stored) - at_close} votes were written after voting was closed"
    )


def test_changes_through_several_workers_at_once_are_all_kept(
    db: Database, settings: Settings, owner: Facilitator
) -> None:
    """Facilitator changes through several workers at once (a laptop, and a phone as remote):
    each bumps the version once and none is lost; added questions get distinct positions."""
    presentation = make_presentation(db, owner)
    with db.session() as session:
        before = session.get(Presentation, presentation.id)
        assert before is not None
        start_version = before.version
    workers = [Database(settings) for _ in range(2)]
    errors: list[BaseException] = []
    threads_n, per_thread = 6, 12

    def facilitate(database: Database, n: int) -> None:
        try:
            for i in range(per_thread):
                with database.write_session() as session:
                    if (n + i) % 2:
                        update_presentation(
                            session=session,
                            owner_id=owner.user_id,
                            presentation_id=presentation.id or 0,
                            title=f"Titel {n}-{i}",
                            language="nl",
                        )
                    else:
                        add_question(
                            session=session,
                            owner_id=owner.user_id,
                            presentation_id=presentation.id or 0,
                            kind="choice",
                            title=f"Vraag {n}-{i}",
                        )
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=facilitate, args=(workers[n % 2], n)) for n in range(threads_n)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for worker in workers:
        worker.dispose()
    assert errors == []
    with db.session() as session:
        after = session.get(Presentation, presentation.id)
        assert after is not None
        positions = sorted(
            q.position for q in questions_of(session=session, presentation_id=after.id or 0)
        )
    assert after.version - start_version == threads_n * per_thread, "version bumps were lost"
    added = threads_n * per_thread // 2
    assert positions == list(range(1, added + 1))


# --- a batch that fails because of another writer is run again -----------------------------


class _DriverError(Exception):
    """What a driver raises, with PostgreSQL's SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


def _failing_record_votes(monkeypatch: pytest.MonkeyPatch, sqlstates: list[str]) -> list[int]:
    """Make the ballot box's transactions write their batch and then fail with `sqlstates`,
    one per transaction, before they work again; returns the batch sizes it was called with."""
    calls: list[int] = []
    real = ballot_box.record_votes

    def record(session: object, commands: list[VoteCommand]) -> list[VoteStatus]:
        calls.append(len(commands))
        statuses = real(session, commands)  # written, so the rollback has something to undo
        if len(calls) <= len(sqlstates):
            raise OperationalError("INSERT ...", {}, _DriverError(sqlstates[len(calls) - 1]))
        return statuses

    monkeypatch.setattr(ballot_box, "record_votes", record)
    return calls


async def test_a_batch_that_meets_a_concurrent_writer_is_rolled_back_and_run_again_whole(
    db: Database, owner: Facilitator, monkeypatch: pytest.MonkeyPatch
) -> None:
    question = choice_question(db, owner)
    calls = _failing_record_votes(monkeypatch, ["40P01", "40001"])  # deadlock, serialization
    box = BallotBox(db, on_committed=lambda changed: None, batch_max=64)
    await box.start()
    statuses = await asyncio.gather(
        *(box.submit(vote_command(question, f"p{n}", first_option(question))) for n in range(10))
    )
    await box.stop()
    assert statuses == [SAVED] * 10
    assert len(calls) == 3 and calls[0] == calls[1] == calls[2], calls
    assert box.stats.retries == 2
    assert box.stats.batches == sum(box.stats.batch_sizes.values())
    assert sum(size * n for size, n in box.stats.batch_sizes.items()) == 10
    assert box.stats.votes == 10
    assert count(db, Participant) == 10
    assert count(db, Ballot) == 10
    assert count(db, BallotItem) == 10


async def test_a_batch_that_fails_for_another_reason_is_written_vote_by_vote(
    db: Database, owner: Facilitator, monkeypatch: pytest.MonkeyPatch
) -> None:
    question = choice_question(db, owner)
    calls = _failing_record_votes(monkeypatch, ["42P01"])  # not caused by another writer
    box = BallotBox(db, on_committed=lambda changed: None, batch_max=64)
    await box.start()
    statuses = await asyncio.gather(
        *(box.submit(vote_command(question, f"p{n}", first_option(question))) for n in range(5))
    )
    await box.stop()
    assert statuses == [SAVED] * 5
    assert box.stats.retries == 0
    assert calls[1:] == [1] * 5
    assert box.stats.batch_sizes[1] >= 5
    assert count(db, Ballot) == 5


@pytest.mark.postgresql_only
def test_postgresql_failures_caused_by_another_transaction_are_retryable(
    db: Database, owner: Facilitator
) -> None:
    """The real errors: a unique violation, a deadlock; and one that is not (a syntax error)."""
    with pytest.raises(IntegrityError) as duplicate, db.write_session() as session:
        session.execute(
            sa.text(
                'INSERT INTO "user" (email, password_hash, created_at) '
                'SELECT email, password_hash, created_at FROM "user"'
            )
        )
    assert is_retryable(duplicate.value)

    other = make_user(db, "bert@example.org")
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def lock_both(first: int, second: int) -> None:
        try:
            with db.write_session() as session:
                for n, user_id in enumerate((first, second)):
                    session.execute(
                        sa.text('UPDATE "user" SET email = email WHERE id = :id'), {"id": user_id}
                    )
                    if n == 0:
                        barrier.wait(timeout=10)
        except DBAPIError as exc:
            failures.append(exc)

    threads = [
        threading.Thread(target=lock_both, args=pair)
        for pair in ((owner.user_id, other.user_id), (other.user_id, owner.user_id))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(failures) == 1, failures
    assert getattr(failures[0], "orig", None).sqlstate == "40P01"  # type: ignore[union-attr]
    assert is_retryable(failures[0])

    with pytest.raises(DBAPIError) as wrong, db.session() as session:
        session.execute(sa.text("SELEC 1"))
    assert not is_retryable(wrong.value)
