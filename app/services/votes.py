"""Recording votes: one ballot per participant per question, idempotent by client key."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Session

from app.models import (
    Ballot,
    BallotItem,
    Participant,
    Presentation,
    Question,
    QuestionState,
    utcnow,
)
from app.questions.base import ParsedAnswer

_PSEUDONYM_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

ballot_t = Ballot.__table__  # type: ignore[attr-defined]
item_t = BallotItem.__table__  # type: ignore[attr-defined]
participant_t = Participant.__table__  # type: ignore[attr-defined]
question_t = Question.__table__  # type: ignore[attr-defined]
presentation_t = Presentation.__table__  # type: ignore[attr-defined]


class VoteStatus(StrEnum):
    SAVED = "saved"  # stored (new or changed)
    REPLAYED = "replayed"  # the same submission again: already stored, nothing changed
    CONFLICT = "conflict"  # same client key, different answer: refused
    CLOSED = "closed"  # the question is not open for votes (or not current)


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
    """
    results: list[VoteStatus | None] = [None] * len(commands)
    open_questions = _open_questions(session, {c.question_id for c in commands})
    # Only votes that can count create participants: a refused vote writes nothing.
    participants = _participants(
        session, [c for c in commands if open_questions.get(c.question_id) == c.presentation_id]
    )

    rounds: list[list[int]] = []
    seen: dict[tuple[int, str], int] = {}
    for i, cmd in enumerate(commands):
        if open_questions.get(cmd.question_id) != cmd.presentation_id:
            results[i] = VoteStatus.CLOSED
            continue
        pair = (cmd.question_id, cmd.token_hash)
        r = seen.get(pair, 0)
        seen[pair] = r + 1
        if r == len(rounds):
            rounds.append([])
        rounds[r].append(i)

    for indexes in rounds:
        for i, status in _write_round(session, commands, indexes, participants).items():
            results[i] = status
    return [r if r is not None else VoteStatus.CLOSED for r in results]


def _open_questions(session: Session, question_ids: set[int]) -> dict[int, int]:
    """question id -> presentation id, for those questions that are current and open."""
    if not question_ids:
        return {}
    stmt = (
        sa.select(question_t.c.id, question_t.c.presentation_id)
        .join(presentation_t, presentation_t.c.id == question_t.c.presentation_id)
        .where(question_t.c.id.in_(question_ids))
        .where(question_t.c.state == QuestionState.OPEN.value)
        .where(presentation_t.c.current_question_id == question_t.c.id)
    )
    return {qid: pid for qid, pid in session.execute(stmt).all()}


def _participants(session: Session, commands: Sequence[VoteCommand]) -> dict[tuple[int, str], int]:
    """(presentation id, token hash) -> participant id, creating participants as needed."""
    wanted = {(c.presentation_id, c.token_hash) for c in commands}
    found: dict[tuple[int, str], int] = {}
    by_presentation: dict[int, list[str]] = {}
    for pid, token in wanted:
        by_presentation.setdefault(pid, []).append(token)
    for pid, tokens in by_presentation.items():
        stmt = sa.select(participant_t.c.id, participant_t.c.token_hash).where(
            participant_t.c.presentation_id == pid, participant_t.c.token_hash.in_(tokens)
        )
        for part_id, token in session.execute(stmt).all():
            found[(pid, token)] = part_id
    missing = sorted(wanted - found.keys())
    if missing:
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
        insert = sa.insert(participant_t).returning(
            participant_t.c.id,
            participant_t.c.presentation_id,
            participant_t.c.token_hash,
            sort_by_parameter_order=True,
        )
        for part_id, pid, token in session.execute(insert, rows).all():
            found[(pid, token)] = part_id
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
) -> dict[int, VoteStatus]:
    """Write commands that touch distinct (question, participant) pairs."""
    statuses: dict[int, VoteStatus] = {}
    keyed = {
        i: (
            commands[i].question_id,
            participants[(commands[i].presentation_id, commands[i].token_hash)],
        )
        for i in indexes
    }
    existing: dict[tuple[int, int], tuple[int, str, dict[str, object]]] = {}
    by_question: dict[int, list[int]] = {}
    for qid, part_id in keyed.values():
        by_question.setdefault(qid, []).append(part_id)
    for qid, part_ids in by_question.items():
        stmt = sa.select(
            ballot_t.c.id, ballot_t.c.participant_id, ballot_t.c.client_key, ballot_t.c.answer
        ).where(ballot_t.c.question_id == qid, ballot_t.c.participant_id.in_(part_ids))
        for bid, part_id, key, answer in session.execute(stmt).all():
            existing[(qid, part_id)] = (bid, key, answer)

    now = utcnow()
    inserts: list[tuple[int, dict[str, object]]] = []
    updates: list[tuple[int, int]] = []
    for i in indexes:
        cmd = commands[i]
        pair = keyed[i]
        old = existing.get(pair)
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
        if key == cmd.client_key:
            same = answer == cmd.answer.answer
            statuses[i] = VoteStatus.REPLAYED if same else VoteStatus.CONFLICT
            continue
        updates.append((i, bid))

    ballot_ids: dict[int, int] = {}
    if inserts:
        insert = sa.insert(ballot_t).returning(ballot_t.c.id, sort_by_parameter_order=True)
        rows = session.execute(insert, [row for _, row in inserts]).all()
        for (i, _), (bid,) in zip(inserts, rows, strict=True):
            ballot_ids[i] = bid
    if updates:
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
        }
        for i, bid in ballot_ids.items()
        for n, item in enumerate(commands[i].answer.items)
    ]
    if item_rows:
        session.execute(sa.insert(item_t), item_rows)
    for i in ballot_ids:
        statuses[i] = VoteStatus.SAVED
    return statuses
