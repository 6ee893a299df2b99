"""The report printed by Chromium: paper counts entered on the question page, then the report
saved as an A4 PDF and read back with pypdf, its text checked against the votes cast."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from datetime import date

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, BrowserContext, Page, expect
from pypdf import PdfReader

from app.config import Settings
from app.db import Database
from app.models import Presentation, User
from tests.browser.support import ARTIFACTS, DEMO_EMAIL, DEMO_PASSWORD, Screenshots, Server
from tests.conftest import Facilitator
from tests.reports_support import APPROVED, HIDDEN, WAITING, build

pytestmark = pytest.mark.browser

TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)
TITLE = "Jaarevaluatie prestatieafspraken 2026"
A4 = (595.0, 842.0)  # points


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    made = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="nl-NL")
    try:
        yield made
    finally:
        made.close()


def watch(page: Page, errors: list[str]) -> Page:
    page.set_default_timeout(TIMEOUT_MS)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda m: (
            errors.append(f"console: {m.text}")
            if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
            else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.request.method} {r.url}") if r.status >= 400 else None
        ),
    )
    return page


def seed(server: Server):
    """The demo facilitator's presentation with phones' votes, groups and a paper batch."""
    db = Database(Settings(database_url=server.database_url))
    try:
        with db.session() as session:
            user_id = session.execute(
                sa.select(User.id).where(User.email == DEMO_EMAIL)
            ).scalar_one()
        built = build(db, Facilitator(DEMO_EMAIL, user_id), language="nl", title=TITLE)
        with db.write_session() as session:
            row = session.get(Presentation, built.presentation.id)
            assert row is not None
            row.run_date = date(2026, 11, 28)
            row.place = "Buurthuis De Linde"
            session.add(row)
        return built
    finally:
        db.dispose()


def test_report_prints_to_an_a4_pdf(
    server: Server, context: BrowserContext, shoot: Screenshots
) -> None:
    built = seed(server)
    base = server.base_url
    errors: list[str] = []
    page = watch(context.new_page(), errors)
    page.goto(f"{base}/login")
    page.locator("#email").fill(DEMO_EMAIL)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(f"{base}/manage")

    # Four more "Nee" counted by hand, entered on the question page (the card loads in place).
    page.goto(f"{base}/manage/questions/{built.choice.id}")
    card = page.locator("#paper.paper-card")
    expect(card).to_be_visible()
    nee = next(o["id"] for o in built.choice.config["options"] if o["label"] == "Nee")
    card.locator(f"input[name='n-{nee}']").fill("4")
    card.get_by_role("button", name="Papieren stemmen toevoegen").click()
    expect(page.locator("#paper .paper-total")).to_have_text("11 antwoorden, waarvan 7 op papier")
    expect(page.locator("#paper .paper-batches li")).to_have_count(2)
    shoot(page, "report-paper-counts", full_page=True)

    page.goto(f"{base}/manage/presentations/{built.presentation.id}")
    page.get_by_role("link", name="Verslag (printen of pdf)").click()
    expect(page).to_have_url(f"{base}/manage/presentations/{built.presentation.id}/report")
    expect(page.locator("h1")).to_have_text(TITLE)
    shoot(page, "report", docs=True, full_page=True)

    pdf_path = ARTIFACTS / "report.pdf"
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    page.pdf(path=str(pdf_path), format="A4", print_background=True)
    assert not errors, errors

    reader = PdfReader(str(pdf_path))
    assert 1 <= len(reader.pages) <= 6, f"{len(reader.pages)} pages"
    for number, pdf_page in enumerate(reader.pages, 1):
        width, height = float(pdf_page.mediabox.width), float(pdf_page.mediabox.height)
        assert abs(width - A4[0]) <= 1 and abs(height - A4[1]) <= 1, (number, width, height)
    # NFKC: the PDF's ligatures ("ﬃ" in "koffie") as plain letters.
    text = unicodedata.normalize(
        "NFKC", " ".join(" ".join((p.extract_text() or "").split()) for p in reader.pages)
    )
    assert TITLE in text
    assert "28-11-2026" in text and "Buurthuis De Linde" in text
    # Choice: Ja 5 (2 on paper), Nee 6 (5 on paper): 11 answers, 7 on paper.
    assert "11 antwoorden · waarvan 7 op papier" in text
    assert re.search(r"Ja\s*5\s*45,5", text), text
    assert re.search(r"Nee\s*6\s*54,5", text), text
    # Scale: three ratings 4, 2, 5: mean 3,67.
    assert "3,67" in text
    # Groups: corporatie has one voter, under the threshold.
    assert "te weinig stemmen" in text
    # Approved (and unmoderated) open answers; never the hidden one, nor one awaiting approval.
    assert APPROVED in text
    assert HIDDEN not in text and WAITING not in text
    assert "Gemaakt met Stemlab op" in text
    # The participation table has a page of its own: the questions start on page 2.
    assert len(reader.pages) >= 2
    assert "SMART genoeg?" in (reader.pages[1].extract_text() or "")
