"""Paper and hand counts: answers the facilitator counted in the room, merged into the results.

Each counted answer becomes a participant of its own (`Participant.paper`) with a real ballot,
so tallies, statistics, group splits and exports count it like any phone's vote. The counts
entered in one go form a batch (the participants share a token prefix); a batch is removed as
a whole, and its ballots go with its participants (ON DELETE CASCADE).

A paper participant's `token_hash` starts with "paper:", which no phone's token hash (hex
digits only) can, so no phone can ever vote as one.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from app.errors import Refused
from app.i18n import _l
from app.models import Ballot, BallotItem, Participant, Presentation, Question, utcnow
from app.questions import get_type
from app.questions.base import AnswerError, ParsedAnswer
from app.services import NotFound
from app.services.presentations import get_presentation, get_question
from app.services.votes import new_pseudonym

TOKEN_PREFIX = "paper:"  # noqa: S105 (a marker, not a secret)
# Question types whose answers can be counted by hand.
PAPER_KINDS = frozenset({"choice", "quiz", "scale"})
MAX_PER_ANSWER = 1000
MAX_PER_BATCH = 5000
DONT_KNOW = "dk"
_BATCH_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"

participant_t = Participant.__table__  # type: ignore[attr-defined]
ballot_t = Ballot.__table__  # type: ignore[attr-defined]
item_t = BallotItem.__table__  # type: ignore[attr-defined]


class PaperError(Refused):
    """Counts the facilitator must correct."""


@dataclass(frozen=True)
class Field:
    """One number the facilitator fills in: `name` is the form field."""

    name: str
    label: str
    row: str  # the option or statement it belongs to


@dataclass(frozen=True)
class Batch:
    """Counts entered in one go."""

    key: str
    people: int
    group: str | None
    created_at: datetime


def supports(question: Question) -> bool:
    """Whether answers to this question can be counted on paper."""
    return question.kind in PAPER_KINDS and question.parent_id is None


def fields(question: Question) -> list[Field]:
    """The numbers the card asks for, in order."""
    config = question.config
    if question.kind == "scale":
        top = int(config["max"])
        found: list[Field] = []
        for statement in config["statements"]:
            sid = str(statement["id"])
            for value in range(1, top + 1):
                found.append(Field(f"n-{sid}-{value}", str(value), sid))
            if config.get("dont_know"):
                found.append(Field(f"n-{sid}-{DONT_KNOW}", DONT_KNOW, sid))
        return found
    return [Field(f"n-{o['id']}", str(o["label"]), str(o["id"])) for o in config["options"]]


def _count(form: Mapping[str, Sequence[str]], name: str) -> int:
    values = form.get(name, ())
    if len(values) > 1:
        raise PaperError("Enter each number once.")
    raw = values[0].strip() if values else ""
    if raw == "":
        return 0
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 5) or int(raw) > MAX_PER_ANSWER:
        raise PaperError(
            "Enter a whole number between %(low)s and %(high)s.", low=0, high=MAX_PER_ANSWER
        )
    return int(raw)


def _forms(question: Question, form: Mapping[str, Sequence[str]]) -> list[dict[str, list[str]]]:
    """One vote form per counted person.

    Choice and quiz: each count is that many people choosing that one option. Scale: the
    counts of every statement are laid side by side, so person k rates each statement with
    its k-th counted value (people = the largest total of one statement, as when everybody
    on paper rated every statement).
    """
    counts = {f.name: _count(form, f.name) for f in fields(question)}
    if question.kind == "scale":
        columns: dict[str, list[str]] = {}
        for f in fields(question):
            columns.setdefault(f.row, []).extend([f.label] * counts[f.name])
        people = max((len(values) for values in columns.values()), default=0)
        _check_total(people)
        return [
            {f"s-{sid}": [values[k]] for sid, values in columns.items() if k < len(values)}
            for k in range(people)
        ]
    total = sum(counts.values())
    _check_total(total)
    return [{"option": [f.row]} for f in fields(question) for _ in range(counts[f.name])]


def _check_total(people: int) -> None:
    if people == 0:
        raise PaperError("Enter at least one counted answer.")
    if people > MAX_PER_BATCH:
        raise PaperError("Enter at most %(n)s answers at a time.", n=MAX_PER_BATCH)


def _group(presentation: Presentation, form: Mapping[str, Sequence[str]]) -> str | None:
    raw = (form.get("group") or [""])[0].strip()
    if not raw:
        return None
    if raw not in (presentation.groups or []):
        raise PaperError("Choose one of the groups.")
    return raw


def add_batch(
    *, session: Session, owner_id: int, question_id: int, form: Mapping[str, Sequence[str]]
) -> Batch:
    """Add counted answers to a question as one batch; PaperError for counts to correct."""
    question = get_question(session=session, owner_id=owner_id, question_id=question_id, lock=True)
    presentation = get_presentation(
        session=session, owner_id=owner_id, presentation_id=question.presentation_id
    )
    if not supports(question):
        raise PaperError("This type of question cannot be counted on paper.")
    group = _group(presentation, form)
    qtype = get_type(question.kind)
    try:
        answers: list[ParsedAnswer] = [
            qtype.parse_answer(question.config, one) for one in _forms(question, form)
        ]
    except AnswerError as exc:  # the counts' own checks come first; this is a safety net
        raise PaperError(exc.message, **exc.params) from None
    key = "".join(secrets.choice(_BATCH_ALPHABET) for _ in range(12))
    now = utcnow()
    presentation_id = presentation.id or 0
    names = _pseudonyms(session, presentation_id, len(answers))
    rows = [
        {
            "presentation_id": presentation_id,
            "token_hash": f"{TOKEN_PREFIX}{key}:{n}",
            "pseudonym": names[n],
            "group_name": group,
            "paper": True,
            "created_at": now,
        }
        for n in range(len(answers))
    ]
    inserted = session.execute(
        sa.insert(participant_t).returning(participant_t.c.id, participant_t.c.token_hash), rows
    ).all()
    by_token = {token: pid for pid, token in inserted}
    ballots = [
        {
            "question_id": question.id,
            "participant_id": by_token[f"{TOKEN_PREFIX}{key}:{n}"],
            "client_key": f"{TOKEN_PREFIX}{key}:{n}",
            "answer": answer.answer,
            "created_at": now,
            "updated_at": now,
        }
        for n, answer in enumerate(answers)
    ]
    ballot_ids = session.execute(
        sa.insert(ballot_t).returning(ballot_t.c.id, ballot_t.c.participant_id), ballots
    ).all()
    by_participant = {part_id: bid for bid, part_id in ballot_ids}
    items: list[dict[str, Any]] = [
        {
            "ballot_id": by_participant[by_token[f"{TOKEN_PREFIX}{key}:{n}"]],
            "question_id": question.id,
            "key": item.key,
            "value": item.value,
            "text": item.text,
            "position": position,
            "moderation": item.moderation,
        }
        for n, answer in enumerate(answers)
        for position, item in enumerate(answer.items)
    ]
    session.execute(sa.insert(item_t), items)
    return Batch(key, len(answers), group, now)


def _pseudonyms(session: Session, presentation_id: int, n: int) -> list[str]:
    """`n` pseudonyms not yet used in the presentation (and not repeated)."""
    names: list[str] = []
    chosen: set[str] = set()
    while len(names) < n:
        candidates = {new_pseudonym() for _ in range(n - len(names))} - chosen
        for part in _chunks(sorted(candidates), 500):
            taken = set(
                session.execute(
                    sa.select(participant_t.c.pseudonym).where(
                        participant_t.c.presentation_id == presentation_id,
                        participant_t.c.pseudonym.in_(part),
                    )
                ).scalars()
            )
            fresh = [name for name in part if name not in taken]
            names.extend(fresh)
            chosen.update(fresh)
    return names[:n]


def _chunks(values: list[str], size: int) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def _batch_key(token_hash: str) -> str:
    return token_hash[len(TOKEN_PREFIX) :].split(":", 1)[0]


def batches(*, session: Session, question: Question) -> list[Batch]:
    """The batches entered for a question, oldest first."""
    stmt = (
        sa.select(
            participant_t.c.token_hash, participant_t.c.group_name, participant_t.c.created_at
        )
        .join(ballot_t, ballot_t.c.participant_id == participant_t.c.id)
        .where(ballot_t.c.question_id == question.id, participant_t.c.paper.is_(True))
        .order_by(participant_t.c.created_at, participant_t.c.id)
    )
    found: dict[str, list[Any]] = {}
    for token, group, created in session.execute(stmt).all():
        entry = found.setdefault(_batch_key(token), [0, group, created])
        entry[0] += 1
    return [Batch(key, n, group, created) for key, (n, group, created) in found.items()]


def remove_batch(*, session: Session, owner_id: int, question_id: int, key: str) -> int:
    """Delete a batch's paper participants (their ballots go with them); how many there were."""
    question = get_question(session=session, owner_id=owner_id, question_id=question_id, lock=True)
    if not (key.isascii() and key.isalnum() and 0 < len(key) <= 16):
        raise NotFound("batch")
    people = sa.select(participant_t.c.id).where(
        participant_t.c.presentation_id == question.presentation_id,
        participant_t.c.paper.is_(True),
        participant_t.c.token_hash.like(f"{TOKEN_PREFIX}{key}:%"),
        participant_t.c.id.in_(
            sa.select(ballot_t.c.participant_id).where(ballot_t.c.question_id == question.id)
        ),
    )
    ids = list(session.execute(people).scalars())
    if not ids:
        raise NotFound("batch")
    # Explicitly, not only by the cascade: SQLite needs foreign keys on for that, and the
    # items hang off the ballots.
    ballot_ids = sa.select(ballot_t.c.id).where(ballot_t.c.participant_id.in_(ids))
    session.execute(sa.delete(item_t).where(item_t.c.ballot_id.in_(ballot_ids)))
    session.execute(sa.delete(ballot_t).where(ballot_t.c.participant_id.in_(ids)))
    session.execute(sa.delete(participant_t).where(participant_t.c.id.in_(ids)))
    return len(ids)


def paper_count(session: Session, question_id: int) -> int:
    """How many of a question's ballots were counted on paper ("of which N on paper")."""
    stmt = (
        sa.select(sa.func.count())
        .select_from(ballot_t)
        .join(participant_t, participant_t.c.id == ballot_t.c.participant_id)
        .where(
            ballot_t.c.question_id == question_id,
            participant_t.c.paper.is_(True),
            participant_t.c.removed_at.is_(None),
        )
    )
    return int(session.execute(stmt).scalar_one())


def paper_counts(session: Session, question_ids: Sequence[int]) -> dict[int, int]:
    """paper_count for several questions in one query (questions without any are left out)."""
    if not question_ids:
        return {}
    stmt = (
        sa.select(ballot_t.c.question_id, sa.func.count())
        .join(participant_t, participant_t.c.id == ballot_t.c.participant_id)
        .where(
            ballot_t.c.question_id.in_(list(question_ids)),
            participant_t.c.paper.is_(True),
            participant_t.c.removed_at.is_(None),
        )
        .group_by(ballot_t.c.question_id)
    )
    return {qid: int(n) for qid, n in session.execute(stmt).all()}


# Shown beside results: "waarvan N op papier".
PAPER_LABEL = _l("of which %(n)s on paper")
