"""Every vote of a presentation as CSV, streamed straight from the database."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session

from app.i18n import _l, current_language, translate
from app.models import Ballot, BallotItem, Participant, Presentation, Question
from app.questions import get_type

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
}
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
        )
    # Q&A questions keep their entries in tables of their own: one row per entry after the
    # ballots, in question order and round (imported here: services/qa uses this module).
    from app.services import qa as svc_qa

    asked = sorted(
        (q_row for q_row in questions.values() if q_row.kind == "qa"),
        key=lambda q_row: (q_row.position, q_row.round, q_row.id),
    )
    for q_row in asked:
        current_language.set(presentation.language)
        asked_question = session.get(Question, q_row.id)
        if asked_question is None:  # deleted while the export ran
            continue
        for entry in svc_qa.export_rows(session, presentation, asked_question):
            # An earlier round is an archived copy: number it like its live question.
            yield (entry[0], str(q_row.position), str(q_row.round), *entry[2:])


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
