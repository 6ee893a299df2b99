"""The printable report of a run: participation, every question's numbers and chart, the
approved open answers. Numbers come from services/stats (so the group threshold holds) and
the summary rows of services/export; text answers follow the projector's moderation rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from app.i18n import _l, current_language, gettext
from app.models import Ballot, BallotItem, Participant, Presentation, utcnow
from app.moderation import visible_clause
from app.questions import get_type
from app.services.export import (
    SummaryQuestion,
    _group_order,
    _scale,
    answer_keys,
    summary_questions,
)
from app.services.paper import paper_counts
from app.services.stats import ALL, NO_GROUP, question_stats

# Kinds whose answers have a mean and a spread worth reading.
VALUED_KINDS = frozenset({"scale", "numeric", "points", "ranking", "grid"})
TEXT_KINDS = frozenset({"open"})
# A report is for reading: beyond this many answers to one open question, the export has them.
MAX_TEXTS = 2000
NO_GROUP_LABEL = _l("No group")


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    share: float | None  # percent of the responses
    width: float  # percent of the longest bar
    mean: float | None = None
    spread: float | None = None


@dataclass(frozen=True)
class GroupCount:
    name: str
    count: int | None  # None: too few to show


@dataclass
class ReportQuestion:
    position: int
    round: int
    title: str
    kind: str
    kind_label: str
    responses: int
    paper: int
    bars: list[Bar] = field(default_factory=list)
    valued: bool = False
    texts: list[str] = field(default_factory=list)
    more_texts: int = 0
    groups: list[GroupCount] = field(default_factory=list)
    # Scale questions: per statement the distribution over the values (the projector's tally).
    scale_rows: list[dict[str, Any]] = field(default_factory=list)
    scale_max: int = 0
    scale_labels: tuple[str, str] = ("", "")


@dataclass
class Report:
    presentation: Presentation
    joined: int
    joined_paper: int
    groups: list[GroupCount]
    questions: list[ReportQuestion]
    threshold: int
    generated_at: datetime


def _group_name(group: str) -> str:
    return group if group != NO_GROUP else gettext(NO_GROUP_LABEL)


def _joined(session: Session, presentation: Presentation) -> tuple[int, int, dict[str, int]]:
    """Participants who took part (not removed): all, on paper, and per group."""
    p = Participant.__table__  # type: ignore[attr-defined]
    group = sa.func.coalesce(p.c.group_name, NO_GROUP)  # one expression: PostgreSQL
    stmt = (  # matches GROUP BY to SELECT by expression, bound parameters included
        sa.select(group, p.c.paper, sa.func.count())
        .where(p.c.presentation_id == presentation.id, p.c.removed_at.is_(None))
        .group_by(group, p.c.paper)
    )
    total = paper = 0
    by_group: dict[str, int] = {}
    for group, on_paper, n in session.execute(stmt).all():
        total += int(n)
        paper += int(n) if on_paper else 0
        by_group[group] = by_group.get(group, 0) + int(n)
    return total, paper, by_group


def _texts(session: Session, question: SummaryQuestion) -> tuple[list[str], int]:
    """The open answers the projector may show (approved, or not hidden when the question is
    not pre-moderated), oldest first; and how many more there are beyond MAX_TEXTS."""
    visible = (col(BallotItem.question_id) == question.id, visible_clause(question.config))
    stmt = (
        sa.select(col(BallotItem.text))
        .join(Ballot, col(Ballot.id) == col(BallotItem.ballot_id))
        .where(*visible)
        .order_by(col(Ballot.updated_at), col(BallotItem.id))
        .limit(MAX_TEXTS + 1)
    )
    texts = [t for t in session.execute(stmt).scalars() if t]
    if len(texts) <= MAX_TEXTS:
        return texts, 0
    count = sa.select(sa.func.count()).select_from(BallotItem).where(*visible)
    return texts[:MAX_TEXTS], int(session.execute(count).scalar_one()) - MAX_TEXTS


def _bars(rows: list[tuple[str, int, float | None, float | None, float | None]]) -> list[Bar]:
    top = max((count for _, count, _, _, _ in rows), default=0)
    return [
        Bar(label, count, share, round(100 * count / top, 1) if top else 0.0, mean, spread)
        for label, count, share, mean, spread in rows
    ]


def build(session: Session, presentation: Presentation) -> Report:
    """Everything the report page shows, in the presentation's language."""
    token = current_language.set(presentation.language)
    try:
        return _build(session, presentation)
    finally:
        current_language.reset(token)


def _build(session: Session, presentation: Presentation) -> Report:
    threshold = max(presentation.group_threshold, 1)
    questions = summary_questions(session, presentation)
    ids = [q.id for q in questions]
    stats = question_stats(session, ids, by_group=True, threshold=threshold)
    paper = paper_counts(session, ids)
    order = _group_order(presentation, stats)
    joined, joined_paper, by_group = _joined(session, presentation)
    groups = [
        GroupCount(_group_name(g), by_group[g] if by_group.get(g, 0) >= threshold else None)
        for g in order
        if g in by_group
    ]
    found: list[ReportQuestion] = []
    for question in questions:
        one = stats[question.id]
        responses = one.responses.get(ALL, 0)
        entry = ReportQuestion(
            position=question.position,
            round=question.round,
            title=question.title,
            kind=question.kind,
            kind_label=gettext(get_type(question.kind).label),
            responses=responses,
            paper=paper.get(question.id, 0),
            valued=question.kind in VALUED_KINDS,
        )
        if question.kind in TEXT_KINDS:
            entry.texts, entry.more_texts = _texts(session, question)
            entry.responses = len(entry.texts) + entry.more_texts
        elif question.kind == "wordcloud":
            # The projector's own tally: only words it may show, most typed first.
            result = get_type("wordcloud").tally(session, question.id, question.config)
            words = sorted(result.data["words"], key=lambda w: (-w["count"], w["word"]))
            entry.responses = result.responses
            entry.bars = _bars(
                [
                    (
                        str(w["word"]),
                        int(w["count"]),
                        round(100 * w["count"] / result.responses, 1) if result.responses else None,
                        None,
                        None,
                    )
                    for w in words
                ]
            )
        else:
            scale = _scale(question)
            rows = []
            for key, label in answer_keys(question, one, presentation.language):
                stat = one.of().get(key)
                count = stat.count if stat else 0
                mean = spread = None
                if stat is not None and stat.mean is not None and stat.spread is not None:
                    mean, spread = stat.mean / scale, stat.spread / scale
                share = round(100 * count / responses, 1) if responses else None
                rows.append((label, count, share, mean, spread))
            entry.bars = _bars(rows)
            if question.kind == "scale":
                result = get_type("scale").tally(session, question.id, question.config)
                entry.scale_rows = result.data["rows"]
                entry.scale_max = int(question.config["max"])
                entry.scale_labels = (
                    str(question.config.get("low_label") or ""),
                    str(question.config.get("high_label") or ""),
                )
        entry.groups = [
            GroupCount(_group_name(g), None if g in one.too_few else one.responses[g])
            for g in order
            if g in one.too_few or g in one.responses
        ]
        found.append(entry)
    return Report(presentation, joined, joined_paper, groups, found, threshold, utcnow())
