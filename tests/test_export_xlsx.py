"""The .xlsx workbook: a summary sheet and a sheet per question, numbers equal to the votes
cast, and nothing anybody typed can become a formula."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from app.db import Database
from app.models import Presentation
from app.services.export import sheet_name, write_xlsx
from tests.conftest import Facilitator, login, make_question, make_user
from tests.reports_support import APPROVED, HIDDEN, TITLE, build


@pytest.fixture
def owner(db: Database) -> Facilitator:
    return make_user(db)


def workbook(db: Database, presentation: Presentation):
    buffer = io.BytesIO()
    with db.session() as session:
        fresh = session.get(Presentation, presentation.id)
        assert fresh is not None
        write_xlsx(session, fresh, buffer)
    buffer.seek(0)
    return load_workbook(buffer)


def test_workbook_sheets_and_numbers(db: Database, owner: Facilitator) -> None:
    built = build(db, owner, language="nl")
    # A long title, and two questions whose names only differ after 31 characters.
    long = "Hoe tevreden bent u over de [jaarcyclus]: planning/uitvoering?"
    make_question(db, owner, built.presentation, "choice", long, options="A\nB")
    make_question(db, owner, built.presentation, "choice", long, options="A\nB")
    book = workbook(db, built.presentation)
    names = book.sheetnames
    assert names[0] == "Overzicht"
    assert len(names) == 1 + 6
    assert all(len(n) <= 31 for n in names)
    assert len({n.casefold() for n in names}) == len(names)
    assert not any(ch in n for n in names for ch in "[]:*?/\\")
    assert names[1].startswith("1 SMART genoeg")

    summary = book["Overzicht"]
    title = summary["A1"]
    assert title.value == TITLE and title.data_type == "s"  # text, not a formula
    rows = [tuple(c.value for c in row) for row in summary.iter_rows()]
    header = next(i for i, r in enumerate(rows) if r[0] == "Vraagnummer")
    body = rows[header + 1 :]
    ja = next(r for r in body if r[2] == "SMART genoeg?" and r[4] == "Iedereen" and r[5] == "Ja")
    assert ja[:2] == (1, 1)
    assert ja[6:] == (7, 5, 71.4, None, None, 3)  # numbers stay numbers
    assert any(r[4] == "corporatie" and r[5] == "te weinig stemmen" for r in body)

    choice = book[names[1]]
    values = [c.value for row in choice.iter_rows() for c in row]
    assert values.count("papier") == 3
    assert values.count("telefoon") == 4
    open_sheet = book[names[3]]
    texts = [c.value for row in open_sheet.iter_rows() for c in row]
    assert APPROVED in texts and HIDDEN in texts  # every answer, like the raw CSV


def test_formulas_stay_text_everywhere(db: Database, owner: Facilitator) -> None:
    built = build(db, owner, language="en")
    from tests.conftest import cast, make_current

    make_current(db, built.open_)
    cast(db, built.open_, "eve", {"text": ["=1+1"]})
    book = workbook(db, built.presentation)
    cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
    assert all(c.data_type != "f" for c in cells)
    assert any(c.value == "=1+1" for c in cells)
    assert any(c.value == TITLE for c in cells)


def test_sheet_names() -> None:
    taken: set[str] = set()
    assert sheet_name("a/b:c*d?e[f]g\\h", taken) == "a b c d e f g h"
    first = sheet_name("x" * 40, taken)
    second = sheet_name("x" * 40, taken)
    assert first == "x" * 31 and second == "x" * 27 + " (2)"
    assert sheet_name("'quoted'", taken) == "quoted"
    assert sheet_name("", taken) == "Sheet"


def test_workbook_download(client, db: Database) -> None:
    owner = make_user(db)
    built = build(db, owner, language="en")
    login(client, owner.email)
    url = f"/manage/presentations/{built.presentation.id}/export.xlsx"
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames[0] == "Summary"
    client.cookies.clear()
    other = make_user(db, "bob@example.org")
    login(client, other.email)
    assert client.get(url).status_code == 404
