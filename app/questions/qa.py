"""Q&A: participants ask questions and upvote each other's; the projector shows the approved
ones, most votes first.

Entries are not ballots: they live in `qa_entry` and `qa_vote` (app/models.py) and arrive
through their own routes (app/routes/qa.py), so this type takes no votes through the vote form.

An entry's `state` is `pending` (nobody decided yet), `approved` or `hidden`, with the rule of
the other text types (app/moderation.py): without pre-moderation pending entries show, with it
only approved ones. An entry the word filter catches starts hidden.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from app.i18n import _l
from app.models import BallotItem, QaEntry, QaVote
from app.moderation import blocked_words, is_premoderated, matches, moderation_config
from app.questions.base import (
    AnswerError,
    CsvCells,
    FormValues,
    ParsedAnswer,
    QuestionType,
    Results,
    int_value,
    one_value,
)
from app.questions.text import clean_text

MAX_LENGTH = 1000  # what the table holds
DEFAULT_LENGTH = 280
MAX_NAME = 40
SHOWN_ENTRIES = 100
CONFIG_NAMES = "allow_names"


class EntryState(StrEnum):
    """A facilitator's decision on an entry (PENDING: none yet)."""

    PENDING = "pending"
    APPROVED = "approved"
    HIDDEN = "hidden"


def visible_clause(config: Mapping[str, Any]) -> Any:
    """SQL condition for the entries that the projector and phones may show."""
    state = col(QaEntry.state)
    if is_premoderated(config):
        return state == EntryState.APPROVED.value
    return state.in_([EntryState.PENDING.value, EntryState.APPROVED.value])


def is_visible(state: str, config: Mapping[str, Any]) -> bool:
    """The rule of `visible_clause`, for one entry in Python."""
    if is_premoderated(config):
        return state == EntryState.APPROVED
    return state != EntryState.HIDDEN


def names_allowed(config: Mapping[str, Any]) -> bool:
    return bool(config.get(CONFIG_NAMES, False))


def parse_entry(config: Mapping[str, Any], form: FormValues) -> tuple[str, str | None, str]:
    """A participant's question from the ask form: (text, name or None, starting state).

    A name is kept only when the facilitator allows names (otherwise it is ignored, so a form
    from before the setting changed still works and no name is stored).
    """
    if len(form.get("text", ())) > 1 or len(form.get("name", ())) > 1:
        raise AnswerError("Send one question at a time.")
    max_length = int(config.get("max_length", DEFAULT_LENGTH))
    raw = one_value(form, "text")
    if len(raw) > MAX_LENGTH * 4:
        raise AnswerError("Your question can have at most %(n)s characters.", n=max_length)
    text = clean_text(raw)
    if not text:
        raise AnswerError("Write your question first.")
    if len(text) > max_length:
        raise AnswerError("Your question can have at most %(n)s characters.", n=max_length)
    name: str | None = None
    if names_allowed(config):
        raw_name = one_value(form, "name")
        if len(raw_name) > MAX_NAME * 4:
            raise AnswerError("Your name can have at most %(n)s characters.", n=MAX_NAME)
        name = " ".join(clean_text(raw_name).split()) or None
        if name is not None and len(name) > MAX_NAME:
            raise AnswerError("Your name can have at most %(n)s characters.", n=MAX_NAME)
    words = blocked_words(config)
    caught = matches(text, words) or (name is not None and matches(name, words))
    state = EntryState.HIDDEN if caught else EntryState.PENDING
    return text, name, state.value


def _votes() -> Any:
    return sa.func.count(col(QaVote.id))


def ordered(stmt: Any) -> Any:
    """The projector's order: pinned first, answered last, then most votes, then oldest."""
    return stmt.order_by(
        col(QaEntry.pinned).desc(),
        col(QaEntry.answered).asc(),
        _votes().desc(),
        col(QaEntry.created_at).asc(),
        col(QaEntry.id).asc(),
    )


class QandA(QuestionType):
    kind = "qa"
    label = _l("Q&A (participants ask questions)")
    order = 45
    # Entries arrive through app/routes/qa.py, not through the vote form.
    takes_votes = False

    def default_config(self, language: str) -> dict[str, Any]:
        return {"max_length": DEFAULT_LENGTH, "premoderate": False, CONFIG_NAMES: False}

    def parse_config(
        self,
        form: FormValues,
        previous: Mapping[str, Any] | None = None,
        reserved: Sequence[str] = (),
    ) -> dict[str, Any]:
        names = any(v in {"1", "on", "true"} for v in form.get(CONFIG_NAMES, ()))
        return {
            "max_length": int_value(
                form, "max_length", default=DEFAULT_LENGTH, low=20, high=MAX_LENGTH
            ),
            CONFIG_NAMES: names,
            **moderation_config(form, previous),
        }

    def parse_answer(self, config: Mapping[str, Any], form: FormValues) -> ParsedAnswer:
        raise AnswerError("Ask your question with the form on your screen.")

    def tally(self, session: Session, question_id: int, config: Mapping[str, Any]) -> Results:
        """The visible entries with their upvotes, in the projector's order (one query)."""
        stmt = ordered(
            sa.select(
                col(QaEntry.id),
                col(QaEntry.text),
                col(QaEntry.name),
                col(QaEntry.answered),
                col(QaEntry.pinned),
                _votes(),
            )
            .select_from(QaEntry)
            .outerjoin(QaVote, col(QaVote.entry_id) == col(QaEntry.id))
            .where(col(QaEntry.question_id) == question_id, visible_clause(config))
            .group_by(col(QaEntry.id))
        ).limit(SHOWN_ENTRIES)
        names = names_allowed(config)
        entries = [
            {
                "id": entry_id,
                "text": text,
                # Names only where the facilitator allows them (projector only, never phones).
                "name": name if names else None,
                "answered": bool(answered),
                "pinned": bool(pinned),
                "votes": int(votes),
            }
            for entry_id, text, name, answered, pinned, votes in session.execute(stmt).all()
        ]
        responses = len(entries)
        if responses >= SHOWN_ENTRIES:
            count = (
                sa.select(sa.func.count())
                .select_from(QaEntry)
                .where(col(QaEntry.question_id) == question_id, visible_clause(config))
            )
            responses = int(session.execute(count).scalar_one())
        return Results(responses=responses, data={"entries": entries})

    def csv_cells(self, config: Mapping[str, Any], item: BallotItem) -> CsvCells:
        # No ballot item is ever stored for a Q&A (services/qa.export_rows exports entries).
        return CsvCells(answer=item.text or item.key)


TYPE = QandA()
