"""Every vote of a presentation as CSV, streamed straight from the database."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import sqlalchemy as sa
from sqlmodel import Session

from app.i18n import _l, current_language, translate
from app.models import Ballot, BallotItem, Participant, Presentation, QaEntry, Question
from app.questions import get_type
from app.services.paper import paper_counts
from app.services.stats import ALL, NO_GROUP, QuestionStats, question_stats

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
HEADER = (
    "presentation",
    "question_position",
    "round",
    "question",
    "question_type",
    "participant",
    "answer",
    "value",
    "submitted_at",
    "moderation",
    "group",
    "source",
)
# Header labels, translated into the presentation's language.
HEADER_LABELS = {
    "presentation": _l("Presentation"),
    "question_position": _l("Question number"),
    "round": _l("Round"),
    "question": _l("Question"),
    "question_type": _l("Question type"),
    "participant": _l("Participant"),
    "answer": _l("Answer"),
    "value": _l("Value"),
    "submitted_at": _l("Submitted (UTC)"),
    "moderation": _l("Moderation"),
    "group": _l("Group"),
    "source": _l("Source"),
}
# Where an answer came from: a phone, or a paper or hand count the facilitator entered.
SOURCE_LABELS = {False: _l("phone"), True: _l("paper")}
# A facilitator's decision on a text (app.models.Moderation), as the organiser reads it.
MODERATION_LABELS = {"approved": _l("approved"), "hidden": _l("hidden")}
# A plain number (a guess of -12 or -3,5) is no formula: it stays a number in the sheet.
PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:[.,][0-9]+)?")
CHUNK_ROWS = 500


def neutralise(cell: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula (and without NUL bytes)."""
    cell = cell.replace("\x00", "")
    if cell.startswith(FORMULA_TRIGGERS) and not PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def export_rows(session: Session, presentation: Presentation) -> Iterator[tuple[str, ...]]:
    """One row per answer item, in question order, then round, then submission order.

    The earlier rounds of a reset question are archived copies of it (parent_id): they are
    numbered and ordered by their live question's position.
    """
    q = Question.__table__  # type: ignore[attr-defined]
    live = q.alias("live")
    b = Ballot.__table__  # type: ignore[attr-defined]
    i = BallotItem.__table__  # type: ignore[attr-defined]
    p = Participant.__table__  # type: ignore[attr-defined]
    position = sa.func.coalesce(live.c.position, q.c.position)
    questions = {
        row.id: row
        for row in session.execute(
            sa.select(
                q.c.id, position.label("position"), q.c.round, q.c.title, q.c.kind, q.c.config
            )
            .outerjoin(live, live.c.id == q.c.parent_id)
            .where(q.c.presentation_id == presentation.id)
        ).all()
    }
    stmt = (
        sa.select(
            i.c.question_id,
            i.c.key,
            i.c.value,
            i.c.text,
            i.c.moderation,
            p.c.pseudonym,
            p.c.group_name,
            p.c.paper,
            b.c.updated_at,
        )
        .join(b, b.c.id == i.c.ballot_id)
        .join(p, p.c.id == b.c.participant_id)
        .join(q, q.c.id == i.c.question_id)
        .outerjoin(live, live.c.id == q.c.parent_id)
        .where(q.c.presentation_id == presentation.id)
        .order_by(
            position,
            sa.func.coalesce(live.c.id, q.c.id),
            q.c.round,
            b.c.updated_at,
            b.c.id,
            i.c.position,
        )
        .execution_options(yield_per=CHUNK_ROWS)
    )
    for row in session.execute(stmt):
        question = questions[row.question_id]
        item = BallotItem(
            ballot_id=0, question_id=row.question_id, key=row.key, value=row.value, text=row.text
        )
        # Set for every row: a streaming response pulls each chunk in a fresh copy of the
        # context (a worker thread), so a value set once at the start would be lost.
        current_language.set(presentation.language)
        cells = get_type(question.kind).csv_cells(question.config, item)
        yield (
            presentation.title,
            str(question.position),
            str(question.round),
            question.title,
            question.kind,
            row.pseudonym,
            cells.answer,
            cells.value,
            iso_utc(row.updated_at),
            translate(presentation.language, MODERATION_LABELS[row.moderation])
            if row.moderation in MODERATION_LABELS
            else "",
            row.group_name or "",
            translate(presentation.language, SOURCE_LABELS[bool(row.paper)]),
        )
    # Q&A questions keep their entries in tables of their own: one row per entry after the
    # ballots, in question order and round (imported here: services/qa uses this module).
    from app.services import qa as svc_qa

    asked = sorted(
        (q_row for q_row in questions.values() if q_row.kind == "qa"),
        key=lambda q_row: (q_row.position, q_row.round, q_row.id),
    )
    groups: dict[str, str] | None = None
    for q_row in asked:
        current_language.set(presentation.language)
        asked_question = session.get(Question, q_row.id)
        if asked_question is None:  # deleted while the export ran
            continue
        if groups is None:  # pseudonym -> group, of those who asked (Q&A rows carry the first)
            groups = _groups_of_askers(session, presentation)
        phone = translate(presentation.language, SOURCE_LABELS[False])
        for entry in svc_qa.export_rows(session, presentation, asked_question):
            # An earlier round is an archived copy: number it like its live question.
            yield (
                entry[0],
                str(q_row.position),
                str(q_row.round),
                *entry[2:],
                groups.get(entry[4], ""),
                phone,
            )


def _groups_of_askers(session: Session, presentation: Presentation) -> dict[str, str]:
    """Pseudonym -> group of the participants who asked something in a Q&A."""
    p = Participant.__table__  # type: ignore[attr-defined]
    e = QaEntry.__table__  # type: ignore[attr-defined]
    stmt = (
        sa.select(p.c.pseudonym, p.c.group_name)
        .where(p.c.presentation_id == presentation.id, p.c.group_name.is_not(None))
        .where(p.c.id.in_(sa.select(e.c.participant_id)))
    )
    return {name: group for name, group in session.execute(stmt).all()}


def csv_chunks(rows: Iterator[tuple[str, ...]], *, language: str, excel: bool) -> Iterator[str]:
    """CSV text in chunks; `excel`: BOM and ';' so Dutch Excel opens it in columns."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if excel else ",", lineterminator="\r\n")
    if excel:
        buffer.write("\ufeff")
    writer.writerow([translate(language, HEADER_LABELS[h]) for h in HEADER])
    for count, row in enumerate(rows, 1):
        writer.writerow([neutralise(cell) for cell in row])
        if count % CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def filename(presentation: Presentation) -> str:
    safe = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in presentation.title)
    safe = "-".join(part for part in safe.split("-") if part)[:60] or "presentation"
    return f"stemlab-{presentation.id}-{safe.lower()}.csv"


# --- the summary: one row per question and answer, per group ------------------------------

SUMMARY_HEADER = (
    "question_position",
    "round",
    "question",
    "question_type",
    "group",
    "answer",
    "responses",
    "count",
    "share",
    "mean",
    "spread",
    "paper",
)
SUMMARY_LABELS = {
    "question_position": _l("Question number"),
    "round": _l("Round"),
    "question": _l("Question"),
    "question_type": _l("Question type"),
    "group": _l("Group"),
    "answer": _l("Answer"),
    "responses": _l("Responses"),
    "count": _l("Count"),
    "share": _l("Percentage"),
    "mean": _l("Mean"),
    "spread": _l("Spread (standard deviation)"),
    "paper": _l("Of which on paper"),
}
EVERYONE = _l("Everyone")
NO_GROUP_LABEL = _l("No group")
TOO_FEW = _l("too few votes")
ANSWERS = _l("answers")
# A word cloud can hold thousands of words: the summary keeps the most typed ones.
MAX_WORDS = 30
# Types whose ballots are no answers to count (slides) or live in tables of their own (Q&A).
NOT_SUMMARISED = frozenset({"content", "leaderboard", "qa"})

Cell = str | int | float | None


@dataclass(frozen=True)
class SummaryQuestion:
    """A question (or an earlier round of one) as the summary, the workbook and the report
    read it."""

    id: int
    position: int
    round: int
    title: str
    kind: str
    config: dict[str, Any]


def summary_questions(session: Session, presentation: Presentation) -> list[SummaryQuestion]:
    """The questions whose answers are counted, with their earlier rounds, in order."""
    q = Question.__table__  # type: ignore[attr-defined]
    live = q.alias("live")
    position = sa.func.coalesce(live.c.position, q.c.position)
    stmt = (
        sa.select(q.c.id, position.label("position"), q.c.round, q.c.title, q.c.kind, q.c.config)
        .outerjoin(live, live.c.id == q.c.parent_id)
        .where(q.c.presentation_id == presentation.id)
        .order_by(position, sa.func.coalesce(live.c.id, q.c.id), q.c.round)
    )
    return [
        SummaryQuestion(row.id, int(row.position), int(row.round), row.title, row.kind, row.config)
        for row in session.execute(stmt).all()
        if row.kind not in NOT_SUMMARISED
    ]


def answer_keys(
    question: SummaryQuestion, stats: QuestionStats, language: str
) -> list[tuple[str, str]]:
    """(key, label) of the answers a question's summary has a row for, in a sensible order."""
    config = question.config
    if question.kind in ("choice", "quiz"):
        return [(str(o["id"]), str(o["label"])) for o in config.get("options", [])]
    if question.kind == "scale":
        return [(str(s["id"]), str(s["label"])) for s in config.get("statements", [])]
    if question.kind in ("ranking", "points"):
        return [(str(i["id"]), str(i["label"])) for i in config.get("items", [])]
    if question.kind == "grid":
        return [
            (f"{i['id']}:{axis}", f"{i['label']} – {config.get(f'{axis}_label') or axis}")
            for i in config.get("items", [])
            for axis in ("x", "y")
        ]
    if question.kind == "numeric":
        return [("n", str(config.get("unit") or ""))]
    if question.kind == "wordcloud":
        counted = sorted(stats.of().items(), key=lambda kv: (-kv[1].count, kv[0]))
        return [(key, key) for key, _ in counted[:MAX_WORDS]]
    if question.kind == "open":
        return [("text", translate(language, ANSWERS))]
    return sorted((key, key) for key in stats.of())


def _scale(question: SummaryQuestion) -> float:
    """Numeric answers are stored as whole numbers with `decimals` shifted in."""
    if question.kind == "numeric":
        return float(10 ** int(question.config.get("decimals", 0)))
    return 1.0


def _group_order(presentation: Presentation, stats: dict[int, QuestionStats]) -> list[str]:
    """The groups to show apart: the presentation's, then any other found, then no group."""
    seen: set[str] = set()
    for one in stats.values():
        seen.update(g for g in one.responses if g != ALL)
        seen.update(one.too_few)
    order = [g for g in presentation.groups or [] if g != NO_GROUP]
    order += sorted(g for g in seen if g not in order and g != NO_GROUP)
    if not order:  # nobody picked a group and there are none: no split at all
        return []
    if NO_GROUP in seen:
        order.append(NO_GROUP)
    return order


def summary_rows(session: Session, presentation: Presentation) -> Iterator[tuple[Cell, ...]]:
    """The summary: per question (and round) a row per answer for everyone, then the same per
    group; a group under the presentation's threshold gets one row "too few votes" without
    numbers. Cells are typed (numbers stay numbers); labels in the presentation's language.

    Two queries for every question's numbers (services/stats), one for the paper counts.
    """
    language = presentation.language
    questions = summary_questions(session, presentation)
    ids = [q.id for q in questions]
    stats = question_stats(
        session, ids, by_group=True, threshold=max(presentation.group_threshold, 1)
    )
    paper = paper_counts(session, ids)
    groups = _group_order(presentation, stats)
    for question in questions:
        one = stats[question.id]
        keys = answer_keys(question, one, language)
        type_label = translate(language, get_type(question.kind).label)
        head = (question.position, question.round, question.title, type_label)
        scale = _scale(question)
        for group in [ALL, *groups]:
            name = (
                translate(language, EVERYONE)
                if group == ALL
                else (group or translate(language, NO_GROUP_LABEL))
            )
            if group in one.too_few:
                yield (*head, name, translate(language, TOO_FEW), *([None] * 6))
                continue
            if group != ALL and group not in one.responses:
                continue  # nobody of this group answered this question
            responses = one.responses.get(group, 0)
            for key, label in keys:
                stat = one.of(group).get(key)
                count = stat.count if stat else 0
                share = round(100 * count / responses, 1) if responses else None
                mean = spread = None
                if stat is not None and stat.mean is not None and stat.spread is not None:
                    mean = round(stat.mean / scale, 2)
                    spread = round(stat.spread / scale, 2)
                yield (
                    *head,
                    name,
                    label,
                    responses,
                    count,
                    share,
                    mean,
                    spread,
                    paper.get(question.id, 0) if group == ALL else None,
                )


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float):
        return f"{cell:g}" if cell == int(cell) else f"{cell}"
    return str(cell)


def summary_csv_chunks(
    session: Session, presentation: Presentation, *, excel: bool
) -> Iterator[str]:
    """The summary as CSV text (formulas neutralised, like the raw export)."""
    language = presentation.language
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if excel else ",", lineterminator="\r\n")
    if excel:
        buffer.write("\ufeff")
    writer.writerow([translate(language, SUMMARY_LABELS[h]) for h in SUMMARY_HEADER])
    for count, row in enumerate(summary_rows(session, presentation), 1):
        cells = [neutralise(_text(cell)) for cell in row]
        if excel:  # Dutch Excel reads "3,5" as a number, "3.5" as a date or text
            cells = [
                c.replace(".", ",") if isinstance(v, float) else c
                for c, v in zip(cells, row, strict=True)
            ]
        writer.writerow(cells)
        if count % CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


# --- the workbook ---------------------------------------------------------------------------

SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\\x00-\x1f]")


def sheet_name(title: str, taken: set[str]) -> str:
    """A valid, unique worksheet name (at most 31 characters, none of []:*?/\\)."""
    base = SHEET_FORBIDDEN.sub(" ", title).strip().strip("'")
    base = " ".join(base.split())[:31] or "Sheet"
    name, n = base, 1
    while name.casefold() in taken:
        n += 1
        suffix = f" ({n})"
        name = base[: 31 - len(suffix)] + suffix
    taken.add(name.casefold())
    return name


def write_xlsx(session: Session, presentation: Presentation, file: IO[bytes]) -> None:
    """The .xlsx workbook: a summary sheet, then a sheet per question (its summary rows and
    every answer). Written row by row (openpyxl's write-only mode keeps memory bounded); text
    cells are typed as text, so nothing a participant wrote can become a formula."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    language = presentation.language
    book = Workbook(write_only=True)
    taken: set[str] = set()

    def cells(sheet: Any, values: Iterable[Cell]) -> list[Any]:
        out = []
        for value in values:
            if isinstance(value, str):
                cell = WriteOnlyCell(sheet, value=value.replace("\x00", ""))
                cell.data_type = "s"  # never a formula, whatever the text starts with
                out.append(cell)
            else:
                out.append(value)
        return out

    summary = book.create_sheet(sheet_name(translate(language, _l("Summary")), taken))
    summary.append(cells(summary, [presentation.title]))
    summary.append(cells(summary, _run_line(presentation)))
    summary.append([])
    header = [translate(language, SUMMARY_LABELS[h]) for h in SUMMARY_HEADER]
    summary.append(cells(summary, header))
    by_question: dict[tuple[int, int], list[tuple[Cell, ...]]] = {}
    for row in summary_rows(session, presentation):
        summary.append(cells(summary, row))
        key = (int(row[0] or 0), int(row[1] or 0))
        if len(by_question.setdefault(key, [])) < 2000:
            by_question[key].append(row)

    sheets: dict[tuple[str, str], Any] = {}
    for question in summary_questions(session, presentation):
        label = f"{question.position}" + (f".{question.round}" if question.round > 1 else "")
        sheet = book.create_sheet(sheet_name(f"{label} {question.title}", taken))
        sheets[(str(question.position), str(question.round))] = sheet
        sheet.append(cells(sheet, [question.title]))
        sheet.append([])
        sheet.append(cells(sheet, header))
        for row in by_question.get((question.position, question.round), []):
            sheet.append(cells(sheet, row))
        sheet.append([])
        sheet.append(cells(sheet, [translate(language, HEADER_LABELS[h]) for h in HEADER]))
    # Every answer, on its question's sheet (the raw rows come in question order).
    for raw in export_rows(session, presentation):
        target = sheets.get((raw[1], raw[2]))
        if target is not None:
            target.append(cells(target, raw))
    book.save(file)


def _run_line(presentation: Presentation) -> list[Cell]:
    """Date and place of the run, where known."""
    parts: list[Cell] = []
    if presentation.run_date is not None:
        parts.append(presentation.run_date.isoformat())
    if presentation.place:
        parts.append(presentation.place)
    return parts


def download_name(presentation: Presentation, kind: str, extension: str) -> str:
    """stemlab-<id>-<title>[-kind].<extension>"""
    stem = filename(presentation).removesuffix(".csv")
    return f"{stem}-{kind}.{extension}" if kind else f"{stem}.{extension}"
