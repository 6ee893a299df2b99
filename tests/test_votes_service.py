"""Recording votes: one ballot per participant per question, idempotent by client key."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import IntegrityError

from app.db import Database
from app.models import (
    Ballot,
    BallotItem,
    Participant,
    Presentation,
    Question,
    QuestionState,
    utcnow,
)
from app.questions.choice import TYPE as CHOICE
from app.services.votes import (
    VoteCommand,
    VoteStatus,
    ballot_t,
    item_t,
    participant_t,
    record_votes,
)
from tests.conftest import (
    Facilitator,
    make_current,
    make_presentation,
    make_question,
    make_user,
    vote_command,
)

SAVED, REPLAYED, CONFLICT, CLOSED = (
    VoteStatus.SAVED,
    VoteStatus.REPLAYED,
    VoteStatus.CONFLICT,
    VoteStatus.CLOSED,
)


def new_question(
    db: Database, owner: Facilitator, *, current: bool = True, multiple: bool = False
) -> Question:
    presentation = make_presentation(db, owner)
    form = {"options": "A\nB\nC"}
    if multiple:
        form |= {"multiple": "1", "max_choices": "3"}
    question = make_question(db, owner, presentation, "choice", "Welk thema?", **form)
    if current:
        make_current(db, question)
    return question


def command(
    question: Question,
    participant: str,
    *labels: str,
    key: str | None = None,
    presentation_id: int | None = None,
) -> VoteCommand:
    ids = {o["label"]: o["id"] for o in question.config["options"]}
    made = vote_command(question, participant, {"option": [ids[lb] for lb in labels]}, key)
    if presentation_id is None:
        return made
    return dataclasses.replace(made, presentation_id=presentation_id)


def record(db: Database, *commands: VoteCommand) -> list[VoteStatus]:
    with db.write_session() as session:
        return record_votes(session, list(commands))


def snapshot(db: Database) -> dict[str, list[tuple]]:
    """Every vote-related row, to compare before and after."""
    with db.session() as session:
        return {
            table.name: [
                tuple(row) for row in session.execute(sa.select(table).order_by(table.c.id))
            ]
            for table in (participant_t, ballot_t, item_t)
        }


def chosen(db: Database, question: Question) -> dict[str, list[str]]:
    """participant -> chosen option labels, read from the ballot items."""
    labels = {o["id"]: o["label"] for o in question.config["options"]}
    stmt = (
        sa.select(Participant.token_hash, BallotItem.key)
        .join(Ballot, Ballot.id == BallotItem.ballot_id)
        .join(Participant, Participant.id == Ballot.participant_id)
        .where(BallotItem.question_id == question.id)
        .order_by(Participant.token_hash, BallotItem.position)
    )
    result: dict[str, list[str]] = {}
    with db.session() as session:
        for token, key in session.execute(stmt).all():
            result.setdefault(token.removeprefix("token-"), []).append(labels[key])
    return result


def count(db: Database, model: type) -> int:
    with db.session() as session:
        return session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


@pytest.fixture
def owner(db: Database) -> Facilitator:
    return make_user(db)


# --- changing, replaying, conflicting ------------------------------------------------------


def test_first_vote_creates_participant_ballot_and_items(db: Database, owner: Facilitator) -> None:
    question = new_question(db, owner, multiple=True)
    assert record(db, command(question, "ans", "A", "C", key="k1")) == [SAVED]
    assert chosen(db, question) == {"ans": ["A", "C"]}
    with db.session() as session:
        ballot = session.execute(sa.select(Ballot)).scalar_one()
    assert ballot.client_key == "k1"
    assert ballot.answer == {"options": [o["id"] for o in question.config["options"]][::2]}
    assert count(db, Participant) == 1


def test_second_vote_replaces_the_first(db: Database, owner: Facilitator) -> None:
    question = new_question(db, owner, multiple=True)
    record(db, command(question, "ans", "A", "B", key="k1"))
    with db.session() as session:
        first = session.execute(sa.select(Ballot)).scalar_one()

    assert record(db, command(question, "ans", "C", key="k2")) == [SAVED]

    with db.session() as session:
        ballots = session.execute(sa.select(Ballot)).scalars().all()
    assert len(ballots) == 1
    assert ballots[0].id == first.id
    assert ballots[0].client_key == "k2"
    assert ballots[0].updated_at >= first.updated_at
    assert chosen(db, question) == {"ans": ["C"]}
    assert count(db, BallotItem) == 1
    assert count(db, Participant) == 1


def test_same_key_and_answer_is_a_replay(db: Database, owner: Facilitator) -> None:
    question = new_question(db, owner)
    assert record(db, command(question, "ans", "B", key="k1")) == [SAVED]
    before = snapshot(db)
    assert record(db, command(question, "ans", "B", key="k1")) == [REPLAYED]
    assert snapshot(db) == before


def test_same_key_with_another_answer_is_a_conflict(db: Database, owner: Facilitator) -> None:
    question = new_question(db, owner)
    record(db, command(question, "ans", "B", key="k1"))
    before = snapshot(db)
    assert record(db, command(question, "ans", "C", key="k1")) == [CONFLICT]
    assert snapshot(db) == before
    assert chosen(db, question) == {"ans": ["B"]}


def test_a_late_retry_of_an_older_answer_does_not_bring_it_back(
    db: Database, owner: Facilitator
) -> None:
    """A then B (acknowledged), then A's submission again (a retry that arrived late)."""
    question = new_question(db, owner)
    assert record(db, command(question, "ans", "A", key="k1")) == [SAVED]
    assert record(db, command(question, "ans", "B", key="k2")) == [SAVED]
    before = snapshot(db)
    assert record(db, command(question, "ans", "A", key="k1")) == [REPLAYED]
    assert record(db, command(question, "ans", "C", key="k1")) == [CONFLICT]
    assert snapshot(db) == before
    assert chosen(db, question) == {"ans": ["B"]}
    # A third change still works, and both earlier keys stay recognised.
    assert record(db, command(question, "ans", "C", key="k3")) == [SAVED]
    assert record(
        db, command(question, "ans", "B", key="k2"), command(question, "ans", "A", key="k1")
    ) == [REPLAYED, REPLAYED]
    assert chosen(db, question) == {"ans": ["C"]}


def test_a_removed_participant_can_no_longer_vote(db: Database, owner: Facilitator) -> None:
    question = new_question(db, owner)
    record(db, command(question, "ans", "A"), command(question, "bert", "A"))
    with db.write_session() as session:
        session.execute(
            sa.update(participant_t)
            .where(participant_t.c.token_hash == "token-ans")
            .values(removed_at=utcnow())
        )
    before = snapshot(db)
    assert record(db, command(question, "ans", "B"), command(question, "bert", "C")) == [
        VoteStatus.REMOVED,
        SAVED,
    ]
    assert chosen(db, question) == {"ans": ["A"], "bert": ["C"]}
    assert snapshot(db)["participant"] == before["participant"]


def test_no_vote_counts_once_the_timer_has_ended(db: Database, owner: Facilitator) -> None:
    question = new_question(db, owner)
    with db.write_session() as session:
        session.execute(
            sa.update(Question.__table__)  # type: ignore[attr-defined]
            .where(Question.__table__.c.id == question.id)  # type: ignore[attr-defined]
            .values(closes_at=utcnow() + timedelta(minutes=1))
        )
    assert record(db, command(question, "ans", "A")) == [SAVED]
    with db.write_session() as session:
        session.execute(
            sa.update(Question.__table__)  # type: ignore[attr-defined]
            .where(Question.__table__.c.id == question.id)  # type: ignore[attr-defined]
            .values(closes_at=utcnow() - timedelta(milliseconds=1))
        )
    before = snapshot(db)
    assert record(db, command(question, "ans", "B"), command(question, "bert", "B")) == [
        CLOSED,
        CLOSED,
    ]
    assert snapshot(db) == before


def test_keys_belong_to_one_participant(db: Database, owner: Facilitator) -> None:
    question = new_question(db, owner)
    record(db, command(question, "ans", "A", key="k1"))
    assert record(db, command(question, "bert", "B", key="k1")) == [SAVED]
    assert chosen(db, question) == {"ans": ["A"], "bert": ["B"]}


def test_one_participant_per_token_across_questions(db: Database, owner: Facilitator) -> None:
    first = new_question(db, owner)
    with db.session() as session:
        presentation = session.get(Presentation, first.presentation_id)
    assert presentation is not None
    second = make_question(db, owner, presentation, "choice", "Nog een", options="A\nB")
    record(db, command(first, "ans", "A"))
    make_current(db, second)
    record(db, command(second, "ans", "B"))
    assert count(db, Participant) == 1
    assert count(db, Ballot) == 2


# --- refused votes -------------------------------------------------------------------------


def test_vote_on_a_closed_question_writes_nothing(db: Database, owner: Facilitator) -> None:
    question = new_question(db, owner)
    record(db, command(question, "ans", "A"))
    with db.write_session() as session:
        stored = session.get(Question, question.id)
        assert stored is not None
        stored.state = QuestionState.CLOSED
        session.add(stored)
    before = snapshot(db)

    assert record(db, command(question, "ans", "B"), command(question, "bert", "C")) == [
        CLOSED,
        CLOSED,
    ]
    assert snapshot(db) == before


def test_vote_on_a_question_that_is_not_current_writes_nothing(
    db: Database, owner: Facilitator
) -> None:
    question = new_question(db, owner, current=False)
    assert record(db, command(question, "ans", "A")) == [CLOSED]
    assert snapshot(db) == {"participant": [], "ballot": [], "ballot_item": []}

    make_current(db, question)
    with db.session() as session:
        presentation = session.get(Presentation, question.presentation_id)
    assert presentation is not None
    other = make_question(db, owner, presentation, "choice", "Volgende", options="A\nB")
    make_current(db, other)
    assert record(db, command(question, "ans", "A")) == [CLOSED]
    assert count(db, Ballot) == 0


def test_vote_claiming_another_presentation_is_refused(db: Database, owner: Facilitator) -> None:
    question = new_question(db, owner)
    elsewhere = new_question(db, owner)
    forged = command(question, "ans", "A", presentation_id=elsewhere.presentation_id)
    assert record(db, forged) == [CLOSED]
    assert snapshot(db) == {"participant": [], "ballot": [], "ballot_item": []}


def test_refused_votes_do_not_block_the_rest_of_the_batch(db: Database, owner: Facilitator) -> None:
    question = new_question(db, owner)
    closed = new_question(db, owner, current=False)
    statuses = record(
        db, command(closed, "ans", "A"), command(question, "ans", "B"), command(closed, "bert", "A")
    )
    assert statuses == [CLOSED, SAVED, CLOSED]
    assert chosen(db, question) == {"ans": ["B"]}
    assert count(db, Ballot) == 1
    assert count(db, Participant) == 1


# --- batches -------------------------------------------------------------------------------


def test_batch_for_one_participant_applies_in_order(db: Database, owner: Facilitator) -> None:
    question = new_question(db, owner)
    statuses = record(
        db,
        command(question, "ans", "A"),
        command(question, "ans", "B"),
        command(question, "ans", "C"),
    )
    assert statuses == [SAVED, SAVED, SAVED]
    assert chosen(db, question) == {"ans": ["C"]}
    assert count(db, Ballot) == 1


def test_batch_recognises_a_retry_and_a_conflict(db: Database, owner: Facilitator) -> None:
    question = new_question(db, owner)
    statuses = record(
        db,
        command(question, "ans", "A", key="k1"),
        command(question, "bert", "B", key="k2"),
        command(question, "ans", "A", key="k1"),
        command(question, "bert", "C", key="k2"),
        command(question, "ans", "C", key="k3"),
    )
    assert statuses == [SAVED, SAVED, REPLAYED, CONFLICT, SAVED]
    assert chosen(db, question) == {"ans": ["C"], "bert": ["B"]}


# Hypothesis drives random batches against a tiny model: per participant, the stored
# (client key, answer); a command is SAVED when the key is new for that ballot, otherwise
# REPLAYED (same answer) or CONFLICT (another answer).
votes = st.tuples(
    st.sampled_from(["ans", "bert", "carla"]),
    st.sampled_from("ABC"),
    st.sampled_from(["k1", "k2", "k3", "k4"]),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.lists(votes, min_size=1, max_size=6), min_size=1, max_size=4))
def test_random_batches_match_the_model(
    db: Database, owner: Facilitator, batches: list[list[tuple[str, str, str]]]
) -> None:
    question = new_question(db, owner)  # a fresh question per example
    model: dict[str, tuple[str, str]] = {}
    earlier: dict[str, dict[str, str]] = {}  # keys a change replaced, and their answers
    for batch in batches:
        expected = []
        for participant, label, key in batch:
            stored = model.get(participant)
            old = earlier.setdefault(participant, {})
            if stored is not None and stored[0] == key:
                expected.append(REPLAYED if stored[1] == label else CONFLICT)
            elif key in old:
                expected.append(REPLAYED if old[key] == label else CONFLICT)
            else:
                if stored is not None:
                    old[stored[0]] = stored[1]
                model[participant] = (key, label)
                expected.append(SAVED)
        commands = [command(question, p, label, key=k) for p, label, k in batch]
        assert record(db, *commands) == expected
    assert chosen(db, question) == {p: [label] for p, (_, label) in model.items()}
    with db.session() as session:
        results = CHOICE.tally(session, question.id or 0, question.config)
    assert results.responses == len(model)
    assert sum(bar["count"] for bar in results.data["bars"]) == len(model)


# --- the database enforces uniqueness ------------------------------------------------------


def test_database_refuses_a_second_ballot(db: Database, owner: Facilitator) -> None:
    question = new_question(db, owner)
    record(db, command(question, "ans", "A"))
    other = new_question(db, owner)
    with db.session() as session:
        participant_id = session.execute(sa.select(Participant.id)).scalar_one()

    with db.write_session() as session:  # the same participant on another question is fine
        session.add(
            Ballot(
                question_id=other.id or 0,
                participant_id=participant_id,
                client_key="other",
                answer={},
            )
        )
    with pytest.raises(IntegrityError), db.write_session() as session:
        session.add(
            Ballot(
                question_id=question.id or 0,
                participant_id=participant_id,
                client_key="other",
                answer={"options": ["o1"]},
            )
        )
        session.flush()
    assert count(db, Ballot) == 2


def test_database_refuses_a_duplicate_ballot_item(db: Database, owner: Facilitator) -> None:
    question = new_question(db, owner)
    record(db, command(question, "ans", "A"))
    with db.session() as session:
        ballot_id, key = session.execute(sa.select(BallotItem.ballot_id, BallotItem.key)).one()

    with db.write_session() as session:  # another key on the same ballot is fine
        session.add(BallotItem(ballot_id=ballot_id, question_id=question.id or 0, key="other"))
    with pytest.raises(IntegrityError), db.write_session() as session:
        session.add(BallotItem(ballot_id=ballot_id, question_id=question.id or 0, key=key))
        session.flush()
    assert count(db, BallotItem) == 2
