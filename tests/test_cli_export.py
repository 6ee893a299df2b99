"""`stemlab export --format csv|summary|xlsx`: the same files as the downloads."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

from app.config import Settings
from app.db import Database
from app.services.export import csv_chunks, export_rows, summary_csv_chunks
from tests.conftest import make_user
from tests.reports_support import TITLE, build
from tests.server import ROOT, server_env


def _stemlab(database: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=server_env(database, 8000),
        capture_output=True,
        timeout=120,
    )


@pytest.fixture
def filled(new_database: str):
    """A migrated database with the reports' presentation in it (Dutch)."""
    assert _stemlab(new_database, "migrate").returncode == 0
    db = Database(Settings(database_url=new_database))
    try:
        owner = make_user(db)
        built = build(db, owner, language="nl")
        yield new_database, db, built.presentation
    finally:
        db.dispose()


def test_csv_and_summary_match_the_services(filled, tmp_path: Path) -> None:
    database, db, presentation = filled
    with db.session() as session:
        raw = "".join(csv_chunks(export_rows(session, presentation), language="nl", excel=False))
        summary = "".join(summary_csv_chunks(session, presentation, excel=True))

    out = _stemlab(database, "export", str(presentation.id))
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode() == raw
    rows = list(csv.reader(io.StringIO(raw, newline="")))
    assert rows[0][-2:] == ["Groep", "Bron"]
    assert sum(1 for r in rows[1:] if r[-1] == "papier") == 3

    target = tmp_path / "summary.csv"
    done = _stemlab(
        database,
        "export",
        presentation.join_code,
        "--format",
        "summary",
        "--excel",
        "-o",
        str(target),
    )
    assert done.returncode == 0, done.stderr
    assert target.read_bytes().decode("utf-8") == summary
    assert "te weinig stemmen" in summary


def test_xlsx_to_a_file(filled, tmp_path: Path) -> None:
    database, _db, presentation = filled
    target = tmp_path / "werkmap.xlsx"
    done = _stemlab(
        database, "export", str(presentation.id), "--format", "xlsx", "--output", str(target)
    )
    assert done.returncode == 0, done.stderr
    book = load_workbook(target)
    assert book.sheetnames[0] == "Overzicht"
    assert book["Overzicht"]["A1"].value == TITLE
    assert book["Overzicht"]["A1"].data_type == "s"
    assert len(book.sheetnames) == 5


def test_unknown_presentation_and_format(filled) -> None:
    database, _db, _presentation = filled
    missing = _stemlab(database, "export", "424242", "--format", "summary")
    assert missing.returncode != 0 and b"No presentation" in missing.stderr
    wrong = _stemlab(database, "export", "1", "--format", "pdf")
    assert wrong.returncode != 0 and b"invalid choice" in wrong.stderr
