"""Per-answer statistics computed by the database: by group, by round, across runs.

Every split and comparison (projector, phones, reports, summary exports, the API) reads its
numbers here, so the anonymity threshold is applied in one place: a group with fewer
responses than the presentation's `group_threshold` is never shown apart (its numbers are
dropped and its name is listed in `too_few`). Only the raw CSV export bypasses this module.

A "key" is an answer key as the question types store them (an option id, a statement id, a
word): for each key the number of items, and where items carry a value the mean and the
(population) standard deviation of that value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session

from app.models import Ballot, BallotItem, Moderation, Participant

# The name under which everyone's numbers are kept (no group name has a control character),
# and the group of participants who picked none.
ALL = "\x00"
NO_GROUP = ""


@dataclass(frozen=True)
class KeyStat:
    """Numbers of one answer key."""

    count: int
    rated: int = 0  # items with a value ("weet niet" has none)
    mean: float | None = None
    spread: float | None = None  # population standard deviation of the values


@dataclass
class QuestionStats:
    """The numbers of one question, per group (ALL: everyone)."""

    responses: dict[str, int] = field(default_factory=dict)
    keys: dict[str, dict[str, KeyStat]] = field(default_factory=dict)
    too_few: list[str] = field(default_factory=list)

    def of(self, group: str = ALL) -> dict[str, KeyStat]:
        return self.keys.get(group, {})

    def share(self, key: str, group: str = ALL) -> float | None:
        """Fraction of the group's responses that have this key (None: no responses)."""
        total = self.responses.get(group, 0)
        if not total:
            return None
        stat = self.of(group).get(key)
        return (stat.count if stat else 0) / total


def _stat(count: int, rated: int, total: float | None, squares: float | None) -> KeyStat:
    if total is None or squares is None or not rated:
        return KeyStat(count, rated)
    mean = float(total) / rated
    variance = max(float(squares) / rated - mean * mean, 0.0)
    return KeyStat(count, rated, mean, math.sqrt(variance))


def question_stats(
    session: Session,
    question_ids: Sequence[int],
    *,
    by_group: bool = False,
    threshold: int = 0,
) -> dict[int, QuestionStats]:
    """Numbers per question, for everyone and (by_group) per group, in two queries.

    Held-back text (moderation hidden) is not counted. Paper counts are participants like any
    other (their group is the one the facilitator entered them under).
    """
    result = {qid: QuestionStats() for qid in question_ids}
    if not question_ids:
        return result
    b = Ballot.__table__  # type: ignore[attr-defined]
    i = BallotItem.__table__  # type: ignore[attr-defined]
    p = Participant.__table__  # type: ignore[attr-defined]
    # Without a split every row is "everyone" (ALL is added in Python: PostgreSQL text has no
    # NUL character).
    group = sa.func.coalesce(p.c.group_name, NO_GROUP) if by_group else sa.literal(NO_GROUP)
    responses = (
        sa.select(b.c.question_id, group.label("g"), sa.func.count())
        .join(p, p.c.id == b.c.participant_id)
        .where(b.c.question_id.in_(question_ids), p.c.removed_at.is_(None))
        .group_by(b.c.question_id, group)
    )
    value = sa.cast(i.c.value, sa.Float)
    items = (
        sa.select(
            i.c.question_id,
            group.label("g"),
            i.c.key,
            sa.func.count(),
            sa.func.count(i.c.value),
            sa.func.sum(value),
            sa.func.sum(value * value),
        )
        .join(b, b.c.id == i.c.ballot_id)
        .join(p, p.c.id == b.c.participant_id)
        .where(
            i.c.question_id.in_(question_ids),
            p.c.removed_at.is_(None),
            sa.or_(i.c.moderation.is_(None), i.c.moderation != Moderation.HIDDEN),
        )
        .group_by(i.c.question_id, group, i.c.key)
    )
    for qid, g, n in session.execute(responses).all():
        g = g if by_group else ALL
        stats = result[qid]
        stats.responses[g] = stats.responses.get(g, 0) + int(n)
        if by_group:
            stats.responses[ALL] = stats.responses.get(ALL, 0) + int(n)
    everyone: dict[int, dict[str, list[float]]] = {}
    for qid, g, key, n, rated, total, squares in session.execute(items).all():
        g = g if by_group else ALL
        result[qid].keys.setdefault(g, {})[key] = _stat(int(n), int(rated), total, squares)
        if by_group:
            acc = everyone.setdefault(qid, {}).setdefault(key, [0, 0, 0.0, 0.0])
            acc[0] += int(n)
            acc[1] += int(rated)
            acc[2] += float(total or 0)
            acc[3] += float(squares or 0)
    for qid, keys in everyone.items():
        result[qid].keys[ALL] = {
            key: _stat(int(n), int(r), t, s) for key, (n, r, t, s) in keys.items()
        }
    for stats in result.values():
        suppress(stats, threshold)
    return result


def suppress(stats: QuestionStats, threshold: int) -> None:
    """Drop the numbers of every group with fewer responses than `threshold`."""
    for g in sorted(g for g in stats.responses if g != ALL):
        if stats.responses[g] < threshold:
            stats.too_few.append(g)
            del stats.responses[g]
            stats.keys.pop(g, None)


@dataclass(frozen=True)
class Shift:
    """How one key moved from one set of numbers to the next."""

    key: str
    before: float | None  # share of responses (or mean, for valued keys)
    after: float | None

    @property
    def delta(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


def shifts(
    before: QuestionStats, after: QuestionStats, keys: Iterable[str], *, by_mean: bool
) -> list[Shift]:
    """Per key: the share (or the mean, `by_mean`) before and after, for everyone."""

    def measure(stats: QuestionStats, key: str) -> float | None:
        if by_mean:
            stat = stats.of().get(key)
            return stat.mean if stat else None
        return stats.share(key)

    return [Shift(key, measure(before, key), measure(after, key)) for key in keys]
