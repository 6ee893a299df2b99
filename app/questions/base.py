"""What every question type provides, and the helpers they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlmodel import Session, col

from app.errors import Refused
from app.models import Ballot, BallotItem

# Form data as the routes hand it over: every field name with all its values, in order.
FormValues = Mapping[str, Sequence[str]]


class AnswerError(Refused):
    """An answer a participant must fix."""


class ConfigError(Refused):
    """A question definition the facilitator must fix."""


@dataclass(frozen=True)
class Item:
    """One counted element of an answer (stored as a BallotItem)."""

    key: str
    value: int | None = None
    text: str | None = None
    # Text held back until a facilitator approves it (Moderation.HIDDEN), e.g. by the word filter.
    moderation: str | None = None


@dataclass(frozen=True)
class ParsedAnswer:
    """A validated answer: a canonical form to store and its counted items."""

    answer: dict[str, Any]
    items: tuple[Item, ...]


@dataclass
class CsvCells:
    """The answer columns of one export row."""

    answer: str
    value: str = ""


@dataclass
class Results:
    """What a results view needs; `data` is type-specific."""

    responses: int
    data: dict[str, Any] = field(default_factory=dict)


class QuestionType(ABC):
    """Base of a question type module: vote form, validation, tally, CSV cells.

    Templates live in templates/questions/<kind>/: vote.html, results.html, edit.html.
    """

    kind: ClassVar[str]
    label: ClassVar[str]  # msgid, shown in the facilitator's type picker
    order: ClassVar[int] = 100
    # False for slides that only show something (no vote form, no responses, no voting controls).
    takes_votes: ClassVar[bool] = True
    # True where live results would give something away (a quiz): new questions start hidden.
    hides_results: ClassVar[bool] = False

    @abstractmethod
    def default_config(self, language: str) -> dict[str, Any]:
        """Configuration of a new question of this type."""

    @abstractmethod
    def parse_config(
        self,
        form: FormValues,
        previous: Mapping[str, Any] | None = None,
        reserved: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Validate the facilitator's edit form; raise ConfigError.

        `previous` is the configuration before this edit (to keep the ids of unchanged entries,
        so earlier votes stay attached); `reserved` are answer keys that still have votes.
        """

    @abstractmethod
    def parse_answer(self, config: Mapping[str, Any], form: FormValues) -> ParsedAnswer:
        """Validate a participant's vote form; raise AnswerError."""

    @abstractmethod
    def tally(self, session: Session, question_id: int, config: Mapping[str, Any]) -> Results:
        """Results computed by the database."""

    @abstractmethod
    def csv_cells(self, config: Mapping[str, Any], item: BallotItem) -> CsvCells:
        """The answer cells of one exported item."""

    def template(self, name: str) -> str:
        """Path of one of this type's templates."""
        return f"questions/{self.kind}/{name}.html"


def count_ballots(session: Session, question_id: int) -> int:
    """Number of participants who answered a question."""
    stmt = (
        sa.select(sa.func.count()).select_from(Ballot).where(col(Ballot.question_id) == question_id)
    )
    return int(session.execute(stmt).scalar_one())


def count_by_key(session: Session, question_id: int) -> dict[str, int]:
    """Number of items per key of a question."""
    stmt = (
        sa.select(col(BallotItem.key), sa.func.count())
        .where(col(BallotItem.question_id) == question_id)
        .group_by(col(BallotItem.key))
    )
    return {key: int(n) for key, n in session.execute(stmt).all()}


def one_value(form: FormValues, name: str, default: str = "") -> str:
    """The first value of a field, stripped."""
    values = form.get(name, ())
    return values[0].strip() if values else default


def int_value(form: FormValues, name: str, *, default: int, low: int, high: int) -> int:
    """An integer field within [low, high]; raise ConfigError otherwise."""
    raw = one_value(form, name, str(default))
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6):
        raise ConfigError("Enter a whole number between %(low)s and %(high)s.", low=low, high=high)
    number = int(raw)
    if not low <= number <= high:
        raise ConfigError("Enter a whole number between %(low)s and %(high)s.", low=low, high=high)
    return number


def lines_to_entries(
    raw: str,
    previous: Sequence[Mapping[str, Any]],
    *,
    prefix: str,
    max_length: int,
    reserved: Sequence[str] = (),
) -> list[dict[str, str]]:
    """Turn a textarea (one entry per line) into [{id, label}], keeping ids of unchanged labels.

    New entries never get an id in `reserved` (ids that still have votes stored), so a new
    option cannot inherit the votes of a removed one.
    """
    known = {str(e["label"]): str(e["id"]) for e in previous}
    used = {str(e["id"]) for e in previous} | set(reserved)
    entries: list[dict[str, str]] = []
    numbers = [
        int(i[len(prefix) :]) for i in used if i.startswith(prefix) and i[len(prefix) :].isdigit()
    ]
    counter = max(numbers, default=0)
    for line in raw.splitlines():
        label = " ".join(line.split())
        if not label:
            continue
        if len(label) > max_length:
            raise ConfigError("Each line can have at most %(n)s characters.", n=max_length)
        entry_id = known.pop(label, None)
        if entry_id is None:
            counter += 1
            while f"{prefix}{counter}" in used:
                counter += 1
            entry_id = f"{prefix}{counter}"
            used.add(entry_id)
        entries.append({"id": entry_id, "label": label})
    labels = [e["label"].casefold() for e in entries]
    if len(set(labels)) != len(labels):
        raise ConfigError("Each line must be different.")
    return entries


def entries_field(
    form: FormValues,
    field: str,
    previous: Mapping[str, Any] | None,
    *,
    prefix: str,
    max_length: int,
    count: tuple[int, int],
    too_few_or_many: str,
    reserved: Sequence[str] = (),
) -> list[dict[str, str]]:
    """The entries of a one-per-line field (options, statements, items), between
    count[0] and count[1] of them; `too_few_or_many` is the ConfigError message, with
    %(low)s and %(high)s (mark it with _l where it is written)."""
    entries = lines_to_entries(
        one_value(form, field),
        (previous or {}).get(field, []),
        prefix=prefix,
        max_length=max_length,
        reserved=reserved,
    )
    low, high = count
    if not low <= len(entries) <= high:
        raise ConfigError(too_few_or_many, low=low, high=high)
    return entries
