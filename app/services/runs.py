"""Runs: the same presentation given on several dates, and the comparison of their results.

A run is a presentation of its own (own join code, link and votes), so nothing of one run can
reach another through any query that reads one presentation. The runs of a series share
`Presentation.series_key`; a question's copies share `Question.lineage`, which is how the
comparison matches them (a question added in one run simply has no counterpart elsewhere).
Every number comes from services/stats.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from app.models import Ballot, Participant, Presentation, Question, utcnow
from app.questions import get_type
from app.questions.text import clean_text
from app.services import stats
from app.services.presentations import (
    EditError,
    copy_presentation,
    get_presentation,
    questions_of,
)

MAX_PLACE = 200
MAX_RETENTION_DAYS = 3650
# A run's date must lie in this window: earlier is a typing mistake, later one as well.
FIRST_YEAR = 2000
YEARS_AHEAD = 10
# Words of a word cloud compared across runs: the most used over all runs.
COMPARED_WORDS = 10

# How the rows of a question type are measured: the share of responses that chose a key, or
# the mean (and spread) of the values given for it.
SHARE_KINDS = frozenset({"choice", "quiz", "wordcloud"})
MEAN_KINDS = frozenset({"scale", "ranking", "points", "numeric", "grid"})


# --- the runs of a series ----------------------------------------------------------------


def _order(run: Presentation) -> tuple[int, date, int]:
    # By date, runs without a date last, then in the order they were made.
    return (run.run_date is None, run.run_date or date.min, run.id or 0)


def runs_of(*, session: Session, owner_id: int, presentation_id: int) -> list[Presentation]:
    """Every run of the presentation's series (itself included), by date (undated last)."""
    presentation = get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id
    )
    stmt = select(Presentation).where(
        Presentation.series_key == presentation.series_key,
        Presentation.owner_id == owner_id,  # a series is one owner's, whatever happens
    )
    return sorted(session.exec(stmt).all(), key=_order)


def response_totals(*, session: Session, presentation_ids: Sequence[int]) -> dict[int, int]:
    """Participants with at least one answer, per presentation (current rounds and earlier)."""
    if not presentation_ids:
        return {}
    stmt = (
        sa.select(
            col(Participant.presentation_id), func.count(sa.distinct(col(Ballot.participant_id)))
        )
        .join(Ballot, col(Ballot.participant_id) == col(Participant.id))
        .where(col(Participant.presentation_id).in_(presentation_ids))
        .group_by(col(Participant.presentation_id))
    )
    return {pid: int(n) for pid, n in session.execute(stmt).all()}


def parse_run_date(raw: str, *, today: date) -> date | None:
    """The date typed in a run form (YYYY-MM-DD, as a date field sends it); empty: none."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        value = date.fromisoformat(raw[:10]) if len(raw) == 10 else None
    except ValueError:
        value = None
    if value is None:
        raise EditError("Enter the date as day, month and year.")
    return check_run_date(value, today=today)


def check_run_date(value: date | None, *, today: date | None = None) -> date | None:
    """A run's date if it is not absurd: from the year FIRST_YEAR to YEARS_AHEAD years on."""
    if value is None:
        return None
    today = today or utcnow().date()
    if not FIRST_YEAR <= value.year <= today.year + YEARS_AHEAD:
        raise EditError(
            "Choose a date between %(first)s and %(last)s.",
            first=FIRST_YEAR,
            last=today.year + YEARS_AHEAD,
        )
    return value


def parse_place(raw: str | None) -> str | None:
    """Where a run is given, on one line (empty: not said)."""
    place = " ".join(clean_text(raw or "").split())
    if len(place) > MAX_PLACE:
        raise EditError("The place can have at most %(n)s characters.", n=MAX_PLACE)
    return place or None


def parse_retention(raw: str) -> int | None:
    """Days after a run that its votes are kept (empty: kept until deleted)."""
    raw = raw.strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or not (
        1 <= int(raw) <= MAX_RETENTION_DAYS
    ):
        raise EditError(
            "Enter a number of days from 1 to %(n)s, or leave it empty to keep the votes.",
            n=MAX_RETENTION_DAYS,
        )
    return int(raw)


def new_run(
    *,
    session: Session,
    owner_id: int,
    presentation_id: int,
    run_date: date | None,
    place: str | None,
) -> Presentation:
    """Another run of the presentation: the same questions and settings, a new join code,
    no votes; in the same series, its questions in the same lineages."""
    run_date, place = check_run_date(run_date), parse_place(place)
    original = get_presentation(session=session, owner_id=owner_id, presentation_id=presentation_id)
    run = copy_presentation(
        session=session, original=original, title=original.title, same_series=True
    )
    run.run_date = run_date
    run.place = place
    session.add(run)
    session.flush()
    return run


def set_run_details(
    *,
    session: Session,
    owner_id: int,
    presentation_id: int,
    run_date: date | None,
    place: str | None,
    retention_days: int | None,
) -> Presentation:
    """Save when and where a run is given and how long its votes are kept."""
    run_date, place = check_run_date(run_date), parse_place(place)
    if retention_days is not None and not 1 <= retention_days <= MAX_RETENTION_DAYS:
        raise EditError(
            "Enter a number of days from 1 to %(n)s, or leave it empty to keep the votes.",
            n=MAX_RETENTION_DAYS,
        )
    run = get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id, lock=True
    )
    run.run_date = run_date
    run.place = place
    run.retention_days = retention_days
    session.add(run)
    return run


# --- the comparison ----------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """The numbers of one row in one run."""

    count: int
    value: float | None  # share (0..1) or mean
    spread: float | None = None


@dataclass
class Row:
    """One option, statement, item or word across the runs."""

    key: str
    label: str
    cells: list[Cell | None]  # per run; None: not asked in that run (or not given)

    def values(self) -> list[float | None]:
        return [c.value if c else None for c in self.cells]

    @property
    def change(self) -> float | None:
        """From the first run with a value to the last one."""
        known = [v for v in self.values() if v is not None]
        return known[-1] - known[0] if len(known) >= 2 else None


@dataclass
class Compared:
    """One question (one lineage) across the runs."""

    lineage: str
    title: str
    kind: str
    measure: str  # "share", "mean" or "" (no numbers: open text, Q&A)
    questions: list[Question | None]  # per run; None: not asked in that run
    responses: list[int | None]
    rows: list[Row] = field(default_factory=list)
    low: float = 0.0  # the range a trend line is drawn in
    high: float = 1.0


@dataclass
class Comparison:
    runs: list[Presentation]
    questions: list[Compared]


def _entries(question: Question) -> list[tuple[str, str]]:
    """(key, label) of the rows a question has, from its configuration."""
    config = question.config
    if question.kind in ("choice", "quiz"):
        return [(str(o["id"]), str(o["label"])) for o in config.get("options", [])]
    if question.kind == "scale":
        return [(str(s["id"]), str(s["label"])) for s in config.get("statements", [])]
    if question.kind in ("ranking", "points"):
        return [(str(i["id"]), str(i["label"])) for i in config.get("items", [])]
    if question.kind == "numeric":
        unit = str(config.get("unit") or "")
        return [("n", unit or question.title)]
    if question.kind == "grid":
        return [
            (f"{i['id']}:{axis}", f"{i['label']} ({config.get(f'{axis}_label', axis)})")
            for i in config.get("items", [])
            for axis in ("x", "y")
        ]
    return []


def _range(question: Question) -> tuple[float, float]:
    """The range a question's means lie in (for drawing trend lines)."""
    config = question.config
    if question.kind in ("scale", "grid"):
        return 1.0, float(config.get("max", 5))
    if question.kind == "ranking":
        return 1.0, float(max(len(config.get("items", [])), 2))
    if question.kind == "points":
        return 0.0, float(config.get("budget", 100))
    if question.kind == "numeric":
        scale = 10 ** int(config.get("decimals", 0))
        return int(config.get("min", 0)) / scale, int(config.get("max", 100)) / scale
    return 0.0, 1.0


def _cell(question: Question, numbers: stats.QuestionStats, key: str, measure: str) -> Cell | None:
    stat = numbers.of().get(key)
    if measure == "share":
        share = numbers.share(key)
        return Cell(stat.count if stat else 0, share)
    if stat is None or stat.mean is None:
        return Cell(stat.count if stat else 0, None)
    scale = 10 ** int(question.config.get("decimals", 0)) if question.kind == "numeric" else 1
    spread = stat.spread / scale if stat.spread is not None else None
    return Cell(stat.count, stat.mean / scale, spread)


def _lineages(per_run: list[list[Question]]) -> list[str]:
    """Lineages in the order of the newest run's questions, then those only older runs have
    (newest first)."""
    seen: dict[str, None] = {}
    for questions in reversed(per_run):
        for question in questions:
            seen.setdefault(question.lineage, None)
    return list(seen)


def compare(*, session: Session, owner_id: int, presentation_id: int) -> Comparison:
    """Every question of the series across its runs, with numbers from services/stats."""
    runs = runs_of(session=session, owner_id=owner_id, presentation_id=presentation_id)
    per_run = [
        [
            q
            for q in questions_of(session=session, presentation_id=run.id or 0)
            if get_type(q.kind).takes_votes  # slides have nothing to compare
        ]
        for run in runs
    ]
    numbers = stats.question_stats(
        session, [q.id or 0 for questions in per_run for q in questions], by_group=False
    )
    by_lineage = [{q.lineage: q for q in questions} for questions in per_run]
    result: list[Compared] = []
    for lineage in _lineages(per_run):
        matched = [found.get(lineage) for found in by_lineage]
        newest = next(q for q in reversed(matched) if q is not None)
        measure = (
            "share" if newest.kind in SHARE_KINDS else "mean" if newest.kind in MEAN_KINDS else ""
        )
        compared = Compared(
            lineage=lineage,
            title=newest.title,
            kind=newest.kind,
            measure=measure,
            questions=matched,
            responses=[
                numbers[q.id or 0].responses.get(stats.ALL, 0) if q is not None else None
                for q in matched
            ],
        )
        if measure == "mean":
            compared.low, compared.high = _range(newest)
        compared.rows = _rows(newest, matched, numbers, measure)
        result.append(compared)
    return Comparison(runs=runs, questions=result)


def _rows(
    newest: Question,
    matched: list[Question | None],
    numbers: Mapping[int, stats.QuestionStats],
    measure: str,
) -> list[Row]:
    if not measure:
        return []
    labels: dict[str, str] = {}
    if newest.kind == "wordcloud":
        totals: dict[str, int] = {}
        for q in matched:
            if q is not None:
                for key, stat in numbers[q.id or 0].of().items():
                    totals[key] = totals.get(key, 0) + stat.count
        top = sorted(totals, key=lambda k: (-totals[k], k))[:COMPARED_WORDS]
        labels = {key: key for key in top}
    else:
        for q in [newest, *reversed(matched)]:
            if q is not None and q.kind == newest.kind:
                for key, label in _entries(q):
                    labels.setdefault(key, label)
    rows = []
    for key, label in labels.items():
        cells: list[Cell | None] = []
        for q in matched:
            if q is None or q.kind != newest.kind:
                cells.append(None)
            elif newest.kind != "wordcloud" and key not in dict(_entries(q)):
                cells.append(None)  # this option was not offered in that run
            else:
                cells.append(_cell(q, numbers[q.id or 0], key, measure))
        rows.append(Row(key=key, label=label, cells=cells))
    return rows


def trend_points(
    values: Sequence[float | None], low: float, high: float, *, width: int = 120, height: int = 32
) -> list[tuple[float, float]]:
    """The points of a sparkline: one per run with a value, x by run, y by value."""
    span = (high - low) or 1.0
    step = width / max(len(values) - 1, 1)
    points = []
    for index, value in enumerate(values):
        if value is None:
            continue
        clamped = min(max(value, low), high)
        points.append((round(index * step, 1), round(height - (clamped - low) / span * height, 1)))
    return points
