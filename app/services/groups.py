"""Groups: the groups participants pick from, their choice, and the projector's split and
round comparison (numbers from app/services/stats.py, where the anonymity threshold lives)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from app.errors import Refused
from app.i18n import _l
from app.models import Participant, Presentation, Question, utcnow
from app.services import stats
from app.services.presentations import get_presentation
from app.services.votes import insert_unless_taken, new_pseudonym

MAX_GROUPS = 10
MAX_GROUP_NAME = 40
DEFAULT_THRESHOLD = 3
MIN_THRESHOLD = 1
MAX_THRESHOLD = 50
# Words in a word cloud shown per group (the most frequent ones).
MAX_WORDS = 8
# A one-click start for the yearly rating workshop of a tenants' organisation.
SUGGESTED = ["huurder", "huurdersorganisatie", "corporatie", "gemeente", "anders"]

participant_t = Participant.__table__  # type: ignore[attr-defined]
question_t = Question.__table__  # type: ignore[attr-defined]


class GroupError(Refused):
    """Group settings or a group choice that must be corrected."""


def parse_groups(raw: str) -> list[str]:
    """The groups of a textarea, one per line: trimmed, spaces collapsed, empty lines left out.

    Refused: more than MAX_GROUPS, a name longer than MAX_GROUP_NAME, a control character, or
    the same name twice (ignoring case)."""
    groups: list[str] = []
    seen: set[str] = set()
    for line in raw.splitlines():
        if any(unicodedata.category(ch) in ("Cc", "Cf") and ch != "\t" for ch in line):
            raise GroupError(_l("A group name cannot contain control characters."))
        name = " ".join(unicodedata.normalize("NFC", line).split())
        if not name:
            continue
        if len(name) > MAX_GROUP_NAME:
            raise GroupError(
                _l("A group name can have at most %(n)s characters."), n=MAX_GROUP_NAME
            )
        folded = name.casefold()
        if folded in seen:
            raise GroupError(_l("Each group must be different."))
        seen.add(folded)
        groups.append(name)
    if len(groups) > MAX_GROUPS:
        raise GroupError(_l("Give at most %(n)s groups."), n=MAX_GROUPS)
    return groups


def parse_threshold(raw: str) -> int:
    """The anonymity threshold typed by the facilitator (MIN_THRESHOLD..MAX_THRESHOLD)."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 3):
        raise GroupError(
            _l("Enter a whole number from %(low)s to %(high)s."),
            low=MIN_THRESHOLD,
            high=MAX_THRESHOLD,
        )
    number = int(text)
    if not MIN_THRESHOLD <= number <= MAX_THRESHOLD:
        raise GroupError(
            _l("Enter a whole number from %(low)s to %(high)s."),
            low=MIN_THRESHOLD,
            high=MAX_THRESHOLD,
        )
    return number


def set_groups(
    *,
    session: Session,
    owner_id: int,
    presentation_id: int,
    groups: Sequence[str],
    threshold: int,
) -> Presentation:
    """Save the groups and the anonymity threshold (validated again here); phones and screens
    see the change (the version is bumped)."""
    cleaned = parse_groups("\n".join(groups))
    if len(cleaned) != len(list(groups)):
        raise GroupError(_l("Each group must be different."))
    if not MIN_THRESHOLD <= threshold <= MAX_THRESHOLD:
        raise GroupError(
            _l("Enter a whole number from %(low)s to %(high)s."),
            low=MIN_THRESHOLD,
            high=MAX_THRESHOLD,
        )
    presentation = get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id, lock=True
    )
    if presentation.groups != cleaned or presentation.group_threshold != threshold:
        presentation.groups = cleaned
        presentation.group_threshold = threshold
        presentation.updated_at = utcnow()
        presentation.version += 1
        session.add(presentation)
    return presentation


def pick_group(
    *, session: Session, presentation_id: int, token_hash: str, group: str
) -> Participant:
    """A phone's group in a presentation ("": it would rather not say).

    Only one of the presentation's groups is taken; anything else is refused and changes
    nothing. The participant is added when the phone has not voted yet."""
    presentation = session.get(Presentation, presentation_id)
    if presentation is None:
        raise GroupError(_l("Choose one of the groups."))
    name = " ".join(group.split())
    if name and name not in presentation.groups:
        raise GroupError(_l("Choose one of the groups."))
    participant = _get_or_add(session, presentation_id, token_hash)
    participant.group_name = name or None
    session.add(participant)
    return participant


def group_of(*, session: Session, presentation_id: int, token_hash: str) -> str | None:
    """The group a phone picked (None: none, or it has not picked)."""
    stmt = sa.select(participant_t.c.group_name).where(
        participant_t.c.presentation_id == presentation_id,
        participant_t.c.token_hash == token_hash,
    )
    return session.execute(stmt).scalar_one_or_none()


def _get_or_add(session: Session, presentation_id: int, token_hash: str) -> Participant:
    stmt = sa.select(Participant).where(
        participant_t.c.presentation_id == presentation_id,
        participant_t.c.token_hash == token_hash,
    )
    for _ in range(5):
        found = session.execute(stmt).scalars().first()
        if found is not None:
            return found
        # Skipped when the ballot box added the same phone first, or the pseudonym was taken.
        session.execute(
            insert_unless_taken(session, participant_t).values(
                presentation_id=presentation_id,
                token_hash=token_hash,
                pseudonym=new_pseudonym(),
                created_at=utcnow(),
            )
        )
    raise RuntimeError("participant could not be added")


# ---- the projector's split and round comparison -------------------------------------------


@dataclass(frozen=True)
class Measure:
    """What a question type's split shows per key: a share of responses, or a mean."""

    keys: list[tuple[str, str]]  # (answer key, label); empty: the most frequent words
    by_mean: bool
    scale: float = 1.0  # stored values are divided by this (numeric answers with decimals)
    digits: int = 1


def _entries(config: Mapping[str, Any], name: str) -> list[tuple[str, str]]:
    return [(str(e["id"]), str(e["label"])) for e in config.get(name, []) if "id" in e]


def measure(question: Question) -> Measure | None:
    """How a question's split is measured; None: this type has no split (open text, slides)."""
    config = question.config or {}
    kind = question.kind
    if kind in ("choice", "quiz"):
        return Measure(_entries(config, "options"), by_mean=False)
    if kind == "wordcloud":
        return Measure([], by_mean=False)
    if kind == "scale":
        return Measure(_entries(config, "statements"), by_mean=True)
    if kind in ("ranking", "points"):
        return Measure(_entries(config, "items"), by_mean=True)
    if kind == "numeric":
        decimals = int(config.get("decimals", 0) or 0)
        unit = str(config.get("unit", "") or "")
        return Measure([("n", unit or question.title)], True, 10.0**decimals, max(decimals, 1))
    if kind == "grid":
        keys: list[tuple[str, str]] = []
        for iid, label in _entries(config, "items"):
            keys.append((f"{iid}:x", f"{label} · {config.get('x_label', 'x')}"))
            keys.append((f"{iid}:y", f"{label} · {config.get('y_label', 'y')}"))
        return Measure(keys, by_mean=True)
    return None


@dataclass(frozen=True)
class Cell:
    key: str
    label: str
    value: float | None  # a share (0..1) or a mean; None: no answers with this key


@dataclass(frozen=True)
class GroupRow:
    name: str  # stats.NO_GROUP: participants who picked none
    responses: int
    cells: list[Cell]
    too_few: bool = False


@dataclass
class Split:
    """Results per group, for the projector (and phones where results are shown there)."""

    measure: Measure
    everyone: GroupRow
    rows: list[GroupRow]
    threshold: int


@dataclass(frozen=True)
class Answered:
    """How many of a group answered so far (who answered, not what)."""

    name: str
    responses: int


@dataclass(frozen=True)
class RoundLine:
    key: str
    label: str
    before: float | None
    after: float | None
    delta: float | None


@dataclass
class RoundsView:
    """The previous round beside the current one, with the shift per key (everyone)."""

    measure: Measure
    before_round: int
    after_round: int
    before_responses: int
    after_responses: int
    lines: list[RoundLine] = field(default_factory=list)


@dataclass
class GroupViews:
    split: Split | None = None
    answered: list[Answered] | None = None
    rounds: RoundsView | None = None


def _value(qs: stats.QuestionStats, key: str, group: str, m: Measure) -> float | None:
    if m.by_mean:
        stat = qs.of(group).get(key)
        return stat.mean / m.scale if stat and stat.mean is not None else None
    return qs.share(key, group)


def _top_words(*sources: stats.QuestionStats) -> list[tuple[str, str]]:
    counts: dict[str, int] = {}
    for qs in sources:
        for key, stat in qs.of().items():
            counts[key] = counts.get(key, 0) + stat.count
    ranked = sorted(counts, key=lambda k: (-counts[k], k))[:MAX_WORDS]
    return [(k, k) for k in ranked]


def _ordered_groups(presentation: Presentation, present: Sequence[str]) -> list[str]:
    """The presentation's groups in their order, then any others (renamed since), then none."""
    names = [g for g in presentation.groups if g in present]
    names += sorted(g for g in present if g not in names and g not in (stats.NO_GROUP, stats.ALL))
    if stats.NO_GROUP in present:
        names.append(stats.NO_GROUP)
    return names


def views(
    *,
    session: Session,
    presentation: Presentation,
    question: Question,
    results_shown: bool,
    projector: bool,
) -> GroupViews:
    """The split and round comparison a frame shows beside the results, in at most three
    queries: the earlier rounds, then the numbers of both rounds at once (stats.question_stats).

    `results_shown`: whether this audience sees the question's results (splits and rounds only
    appear with them). `projector`: it also gets how many of each group answered so far.
    """
    out = GroupViews()
    m = measure(question)
    split = bool(question.split_groups and presentation.groups)
    answered = split and projector and question.state == "open"
    compare = bool(m and question.compare_rounds and results_shown and question.round > 1)
    show_split = bool(m and split and results_shown)
    if not (answered or show_split or compare):
        return out
    previous: Question | None = None
    if compare:
        stmt = (
            sa.select(Question)
            .where(question_t.c.parent_id == question.id)
            .order_by(question_t.c.round.desc(), question_t.c.id.desc())
            .limit(1)
        )
        previous = session.execute(stmt).scalars().first()
    ids = [question.id or 0] + ([previous.id or 0] if previous is not None else [])
    # Threshold 0 here, then stats.suppress (the module's own rule): who answered per group is
    # shown in full while voting is open; every number about answers is suppressed below it.
    numbers = stats.question_stats(session, ids, by_group=split, threshold=0)
    current = numbers[question.id or 0]
    if answered:
        out.answered = [
            Answered(g, current.responses.get(g, 0))
            for g in _ordered_groups(presentation, [*presentation.groups, *current.responses])
        ]
    for qs in numbers.values():
        stats.suppress(qs, presentation.group_threshold)
    if previous is not None and m is not None:
        before = numbers[previous.id or 0]
        keys = m.keys or _top_words(before, current)
        shifted = stats.shifts(before, current, [k for k, _ in keys], by_mean=m.by_mean)
        labels = dict(keys)
        lines = []
        for s in shifted:
            scale = m.scale if m.by_mean else 1.0
            b = s.before / scale if s.before is not None else None
            a = s.after / scale if s.after is not None else None
            delta = None if a is None or b is None else a - b
            lines.append(RoundLine(s.key, labels[s.key], b, a, delta))
        out.rounds = RoundsView(
            m,
            previous.round,
            question.round,
            before.responses.get(stats.ALL, 0),
            current.responses.get(stats.ALL, 0),
            lines,
        )
    if show_split and m is not None:
        keys = m.keys or _top_words(current)
        mk = Measure(keys, m.by_mean, m.scale, m.digits)

        def row(group: str, too_few: bool = False) -> GroupRow:
            if too_few:
                return GroupRow(group, 0, [], too_few=True)
            cells = [Cell(k, label, _value(current, k, group, mk)) for k, label in keys]
            return GroupRow(group, current.responses.get(group, 0), cells)

        shown = [g for g in current.responses if g != stats.ALL]
        names = _ordered_groups(presentation, [*shown, *current.too_few])
        out.split = Split(
            mk,
            row(stats.ALL),
            [row(g, g in current.too_few) for g in names],
            presentation.group_threshold,
        )
    return out
