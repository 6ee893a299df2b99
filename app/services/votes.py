"""Recording votes: one ballot per participant per question, idempotent by client key."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from app.models import (
    Ballot,
    BallotItem,
    BallotKey,
    Pace,
    Participant,
    Presentation,
    Question,
    QuestionState,
    utcnow,
)
from app.questions.base import ParsedAnswer

_PSEUDONYM_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
# Passes over rows that a concurrent writer inserted first: two suffice, unless new pseudonyms
# keep colliding with ones taken at the same moment.
_MAX_PASSES = 5

ballot_t = Ballot.__table__  # type: ignore[attr-defined]
key_t = BallotKey.__table__  # type: ignore[attr-defined]
item_t = BallotItem.__table__  # type: ignore[attr-defined]
participant_t = Participant.__table__  # type: ignore[attr-defined]
question_t = Question.__table__  # type: ignore[attr-defined]
presentation_t = Presentation.__table__  # type: ignore[attr-defined]


class VoteStatus(StrEnum):
    SAVED = "saved"  # stored (new or changed)
    REPLAYED = "replayed"  # the same submission again: already stored, nothing changed
    CONFLICT = "conflict"  # same client key, different answer: refused
    CLOSED = "closed"  # the question is not open for votes (or not current, or its timer ended)
    REMOVED = "removed"  # the facilitator removed this participant from the presentation


@dataclass(frozen=True)
class VoteCommand:
    """A validated vote waiting to be written."""

    presentation_id: int
    question_id: int
    token_hash: str
    client_key: str
    answer: ParsedAnswer


def new_pseudonym() -> str:
    """A participant's name in exports: random, stable within a presentation."""
    return "P" + "".join(secrets.choice(_PSEUDONYM_ALPHABET) for _ in range(7))


def record_votes(session: Session, commands: Sequence[VoteCommand]) -> list[VoteStatus]:
    """Write a batch of votes in the caller's transaction; one status per command, in order.

    Commands for the same participant and question are applied in order (in rounds), so the
    last one wins and a retried one is recognised by its client key.

    Other processes may write votes to the same PostgreSQL database at the same time. The
    transaction locks what it decides on: the presentations and questions it found open (so
    closing voting waits until this batch commits, and a batch that starts after the close
    sees it closed), and the ballots it replaces (so two writers take turns deciding on one
    ballot). A participant or ballot that another writer inserts first is skipped by
    `ON CONFLICT DO NOTHING` and then decided on as an existing one. What remains (a deadlock,
    a lost connection) fails the transaction, and the ballot box runs the batch again.
    """
    results: list[VoteStatus | None] = [None] * len(commands)
    open_questions, reset = _open_questions(session, commands)
    # Only votes that can count create participants: a refused vote writes nothing.
    participants, removed = participants_of(
        session, [c for c in commands if open_questions.get(c.question_id) == c.presentation_id]
    )

    rounds: list[list[int]] = []
    seen: dict[tuple[int, str], int] = {}
    for i, cmd in enumerate(commands):
        if open_questions.get(cmd.question_id) != cmd.presentation_id:
            results[i] = VoteStatus.CLOSED
            continue
        if (cmd.presentation_id, cmd.token_hash) in removed:
            results[i] = VoteStatus.REMOVED
            continue
        pair = (cmd.question_id, cmd.token_hash)
        r = seen.get(pair, 0)
        seen[pair] = r + 1
        if r == len(rounds):
            rounds.append([])
        rounds[r].append(i)

    for indexes in rounds:
        for i, status in _write_round(session, commands, indexes, participants, reset).items():
            results[i] = status
    return [r if r is not None else VoteStatus.CLOSED for r in results]


def _open_questions(
    session: Session, commands: Sequence[VoteCommand]
) -> tuple[dict[int, int], set[int]]:
    """question id -> presentation id, for the questions that take votes: open (and whose
    timer, if one runs, has not ended) and current, or of a presentation in audience pace
    (where every phone moves through the questions by itself); and which of them were reset
    (their earlier rounds hold ballots that a late retry may belong to).

    Locks the rows it reads (FOR SHARE) until the transaction ends: presentations first, then
    questions, the order in which facilitator actions lock them (services/presentations.py),
    so the two never wait for each other in a circle. SQLite ignores the locks; its write
    transaction (BEGIN IMMEDIATE) already excludes every other writer.
    """
    if not commands:
        return {}, set()
    presentation_ids = sorted({c.presentation_id for c in commands})
    session.execute(
        sa.select(presentation_t.c.id)
        .where(presentation_t.c.id.in_(presentation_ids))
        .order_by(presentation_t.c.id)
        .with_for_update(read=True)
    )
    stmt = (
        sa.select(question_t.c.id, question_t.c.presentation_id, question_t.c.round)
        .join(presentation_t, presentation_t.c.id == question_t.c.presentation_id)
        .where(question_t.c.id.in_({c.question_id for c in commands}))
        .where(question_t.c.parent_id.is_(None))
        .where(question_t.c.state == QuestionState.OPEN.value)
        .where(
            sa.or_(
                presentation_t.c.current_question_id == question_t.c.id,
                presentation_t.c.pace == Pace.AUDIENCE.value,
            )
        )
        .where(sa.or_(question_t.c.closes_at.is_(None), question_t.c.closes_at > utcnow()))
        .order_by(question_t.c.id)
        .with_for_update(read=True, of=question_t)
    )
    rows = session.execute(stmt).all()
    return {qid: pid for qid, pid, _ in rows}, {qid for qid, _, round_ in rows if round_ > 1}


def insert_unless_taken(session: Session, table: sa.Table) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING: a row that would break a unique constraint is skipped.

    On PostgreSQL a row that a concurrent, uncommitted transaction inserted makes this wait
    for that transaction; once it has committed the row is skipped (and visible to the next
    statement), once it has rolled back the row is inserted.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    # Only the two databases Stemlab supports (app/db.py refuses others at start-up).
    raise RuntimeError(f"unsupported database for votes: {dialect}")


def participants_of(
    session: Session, commands: Sequence[VoteCommand]
) -> tuple[dict[tuple[int, str], int], set[tuple[int, str]]]:
    """(presentation id, token hash) -> participant id, creating participants as needed; and
    the participants the facilitator removed."""
    wanted = {(c.presentation_id, c.token_hash) for c in commands}
    removed: set[tuple[int, str]] = set()
    found = _find_participants(session, wanted, removed)
    missing = sorted(wanted - found.keys())
    for _ in range(_MAX_PASSES):
        if not missing:
            break
        now = utcnow()
        names = _unused_pseudonyms(session, missing)
        rows = [
            {
                "presentation_id": pid,
                "token_hash": token,
                "pseudonym": names[(pid, token)],
                "created_at": now,
            }
            for pid, token in missing
        ]
        # Skipped rows: another writer added the same phone first (found below), or took the
        # pseudonym just now (tried again with another one).
        insert = insert_unless_taken(session, participant_t).returning(
            participant_t.c.id, participant_t.c.presentation_id, participant_t.c.token_hash
        )
        for part_id, pid, token in session.execute(insert, rows).all():
            found[(pid, token)] = part_id
        skipped = {key for key in missing if key not in found}
        if skipped:
            found.update(_find_participants(session, skipped))
        missing = sorted(skipped - found.keys())
    if missing:
        raise RuntimeError(f"{len(missing)} participants could not be added")
    return found, removed


def _find_participants(
    session: Session, wanted: set[tuple[int, str]], removed: set[tuple[int, str]] | None = None
) -> dict[tuple[int, str], int]:
    """Existing participants by (presentation id, token hash); adds removed ones to `removed`."""
    found: dict[tuple[int, str], int] = {}
    by_presentation: dict[int, list[str]] = {}
    for pid, token in wanted:
        by_presentation.setdefault(pid, []).append(token)
    for pid, tokens in by_presentation.items():
        stmt = sa.select(
            participant_t.c.id, participant_t.c.token_hash, participant_t.c.removed_at
        ).where(participant_t.c.presentation_id == pid, participant_t.c.token_hash.in_(tokens))
        for part_id, token, removed_at in session.execute(stmt).all():
            found[(pid, token)] = part_id
            if removed_at is not None and removed is not None:
                removed.add((pid, token))
    return found


def _unused_pseudonyms(
    session: Session, wanted: list[tuple[int, str]]
) -> dict[tuple[int, str], str]:
    """A fresh pseudonym for each new participant, unique within its presentation."""
    names: dict[tuple[int, str], str] = {}
    pending = list(wanted)
    while pending:
        candidates = {key: new_pseudonym() for key in pending}
        by_presentation: dict[int, set[str]] = {}
        for (pid, _), name in candidates.items():
            by_presentation.setdefault(pid, set()).add(name)
        taken: set[tuple[int, str]] = set()
        for pid, batch in by_presentation.items():
            stmt = sa.select(participant_t.c.pseudonym).where(
                participant_t.c.presentation_id == pid, participant_t.c.pseudonym.in_(batch)
            )
            taken.update((pid, name) for name in session.execute(stmt).scalars())
        used = {(pid, name) for (pid, _), name in names.items()}
        pending = []
        for key, name in candidates.items():
            if (key[0], name) in taken or (key[0], name) in used:
                pending.append(key)
            else:
                names[key] = name
                used.add((key[0], name))
    return names


def _write_round(
    session: Session,
    commands: Sequence[VoteCommand],
    indexes: list[int],
    participants: dict[tuple[int, str], int],
    reset: set[int],
) -> dict[int, VoteStatus]:
    """Write commands that touch distinct (question, participant) pairs (`reset`: questions
    with earlier rounds)."""
    statuses: dict[int, VoteStatus] = {}
    keyed = {
        i: (
            commands[i].question_id,
            participants[(commands[i].presentation_id, commands[i].token_hash)],
        )
        for i in indexes
    }
    # In the order of arrival: ids follow it, and lists such as the open answers' wall show
    # the newest first by id. (Two writers inserting the same ballots in crossing orders may
    # deadlock; PostgreSQL then fails one of them, and the ballot box runs it again.)
    pending = list(indexes)
    for _ in range(_MAX_PASSES):
        if not pending:
            break
        pending = _write_pass(session, commands, pending, keyed, statuses, reset)
    if pending:
        raise RuntimeError(f"{len(pending)} ballots could not be written")
    return statuses


def _write_pass(
    session: Session,
    commands: Sequence[VoteCommand],
    indexes: list[int],
    keyed: dict[int, tuple[int, int]],
    statuses: dict[int, VoteStatus],
    reset: set[int],
) -> list[int]:
    """Decide on and write each command; returns those whose ballot another writer inserted
    meanwhile (to be decided on again, now as an existing ballot)."""
    existing = _lock_ballots(session, [keyed[i] for i in indexes])
    archived = _archived_keys(
        session,
        [
            (keyed[i][0], keyed[i][1], commands[i].client_key)
            for i in indexes
            if keyed[i][0] in reset
        ],
    )
    earlier = _earlier_keys(
        session,
        [
            (old[0], commands[i].client_key)
            for i in indexes
            if (old := existing.get(keyed[i])) is not None and old[1] != commands[i].client_key
        ],
    )
    now = utcnow()
    inserts: list[tuple[int, dict[str, object]]] = []
    updates: list[tuple[int, int]] = []
    history: list[dict[str, object]] = []
    for i in indexes:
        cmd = commands[i]
        pair = keyed[i]
        old = existing.get(pair)
        sent_before = archived.get((*pair, cmd.client_key))
        if sent_before is not None:
            # A late retry of a submission from before the question was reset: it counted in
            # the round it was sent in, never in the new one (nor replaces an answer there).
            same = sent_before == cmd.answer.answer
            statuses[i] = VoteStatus.REPLAYED if same else VoteStatus.CONFLICT
            continue
        if old is None:
            inserts.append(
                (
                    i,
                    {
                        "question_id": cmd.question_id,
                        "participant_id": pair[1],
                        "client_key": cmd.client_key,
                        "answer": cmd.answer.answer,
                        "created_at": now,
                        "updated_at": now,
                    },
                )
            )
            continue
        bid, key, answer = old
        if key == cmd.client_key or (bid, cmd.client_key) in earlier:
            # A retry: of the newest submission, or a late one of an older submission, which
            # must not bring back an answer the participant has since changed.
            sent = answer if key == cmd.client_key else earlier[(bid, cmd.client_key)]
            same = sent == cmd.answer.answer
            statuses[i] = VoteStatus.REPLAYED if same else VoteStatus.CONFLICT
            continue
        updates.append((i, bid))
        history.append({"ballot_id": bid, "client_key": key, "answer": answer})

    ballot_ids: dict[int, int] = {}
    again: list[int] = []
    if inserts:
        insert = insert_unless_taken(session, ballot_t).returning(
            ballot_t.c.id, ballot_t.c.question_id, ballot_t.c.participant_id
        )
        inserted = {
            (qid, part_id): bid
            for bid, qid, part_id in session.execute(insert, [row for _, row in inserts]).all()
        }
        for i, _ in inserts:
            new_id = inserted.get(keyed[i])
            if new_id is None:  # another writer inserted this ballot first
                again.append(i)
            else:
                ballot_ids[i] = new_id
    if updates:
        session.execute(insert_unless_taken(session, key_t), history)
        session.execute(
            sa.update(ballot_t)
            .where(ballot_t.c.id == sa.bindparam("b_id"))
            .values(
                client_key=sa.bindparam("b_key"), answer=sa.bindparam("b_answer"), updated_at=now
            ),
            [
                {
                    "b_id": bid,
                    "b_key": commands[i].client_key,
                    "b_answer": commands[i].answer.answer,
                }
                for i, bid in updates
            ],
        )
        session.execute(
            sa.delete(item_t).where(item_t.c.ballot_id.in_([bid for _, bid in updates]))
        )
        for i, bid in updates:
            ballot_ids[i] = bid

    item_rows = [
        {
            "ballot_id": bid,
            "question_id": commands[i].question_id,
            "key": item.key,
            "value": item.value,
            "text": item.text,
            "position": n,
            "moderation": item.moderation,
        }
        for i, bid in ballot_ids.items()
        for n, item in enumerate(commands[i].answer.items)
    ]
    if item_rows:
        session.execute(sa.insert(item_t), item_rows)
    for i in ballot_ids:
        statuses[i] = VoteStatus.SAVED
    return again


def _archived_keys(
    session: Session, wanted: list[tuple[int, int, str]]
) -> dict[tuple[int, int, str], dict[str, object]]:
    """(question id, participant id, client key) -> answer, for keys that a participant's
    ballot in an earlier round of the question carried (its newest key or an older one)."""
    if not wanted:
        return {}
    question_ids = {qid for qid, _, _ in wanted}
    part_ids = {part_id for _, part_id, _ in wanted}
    keys = {key for _, _, key in wanted}
    ballots = (
        sa.select(ballot_t.c.id, question_t.c.parent_id, ballot_t.c.participant_id)
        .join(question_t, question_t.c.id == ballot_t.c.question_id)
        .where(question_t.c.parent_id.in_(question_ids))
        .where(ballot_t.c.participant_id.in_(part_ids))
    )
    found: dict[tuple[int, int, str], dict[str, object]] = {}
    newest = ballots.add_columns(ballot_t.c.client_key, ballot_t.c.answer).where(
        ballot_t.c.client_key.in_(keys)
    )
    for _, qid, part_id, key, answer in session.execute(newest).all():
        found[(qid, part_id, key)] = answer
    sub = ballots.subquery()
    older = (
        sa.select(sub.c.parent_id, sub.c.participant_id, key_t.c.client_key, key_t.c.answer)
        .join(key_t, key_t.c.ballot_id == sub.c.id)
        .where(key_t.c.client_key.in_(keys))
    )
    for qid, part_id, key, answer in session.execute(older).all():
        found.setdefault((qid, part_id, key), answer)
    wanted_set = set(wanted)
    return {k: v for k, v in found.items() if k in wanted_set}


def _earlier_keys(
    session: Session, pairs: list[tuple[int, str]]
) -> dict[tuple[int, str], dict[str, object]]:
    """(ballot id, client key) -> answer, for keys a ballot carried before its newest one."""
    if not pairs:
        return {}
    stmt = sa.select(key_t.c.ballot_id, key_t.c.client_key, key_t.c.answer).where(
        key_t.c.ballot_id.in_({bid for bid, _ in pairs}),
        key_t.c.client_key.in_({key for _, key in pairs}),
    )
    wanted = set(pairs)
    return {
        (bid, key): answer
        for bid, key, answer in session.execute(stmt).all()
        if (bid, key) in wanted
    }


def _lock_ballots(
    session: Session, pairs: list[tuple[int, int]]
) -> dict[tuple[int, int], tuple[int, str, dict[str, object]]]:
    """(question id, participant id) -> (ballot id, client key, answer) of existing ballots.

    The rows stay locked (FOR UPDATE) until the transaction ends, so another writer deciding
    on the same ballot waits, then sees what this one wrote.
    """
    existing: dict[tuple[int, int], tuple[int, str, dict[str, object]]] = {}
    by_question: dict[int, list[int]] = {}
    for qid, part_id in pairs:
        by_question.setdefault(qid, []).append(part_id)
    for qid, part_ids in sorted(by_question.items()):
        stmt = (
            sa.select(
                ballot_t.c.id, ballot_t.c.participant_id, ballot_t.c.client_key, ballot_t.c.answer
            )
            .where(ballot_t.c.question_id == qid, ballot_t.c.participant_id.in_(part_ids))
            .order_by(ballot_t.c.id)
            .with_for_update()
        )
        for bid, part_id, key, answer in session.execute(stmt).all():
            existing[(qid, part_id)] = (bid, key, answer)
    return existing
