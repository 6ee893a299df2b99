"""Two runs of the demo presentation in Chromium, compared.

The facilitator dates the demo (run 1), two phones answer the SMART question, the facilitator
makes run 2 from the runs card (a new code), the same phones answer it there, and the
comparison page shows each run's own numbers (screenshot in test-artifacts/screenshots/).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.support import DEMO_EMAIL, DEMO_PASSWORD, DEMO_TITLE, Screenshots, Server
from tests.browser.test_session import (
    DESKTOP,
    PHONE_A,
    PHONE_B,
    Q_SINGLE,
    SINGLE_OPTIONS,
    Watched,
    choose,
    nl,
    send_vote,
)

pytestmark = pytest.mark.browser

# What each phone answers in each run (option labels of the SMART question).
RUN_1 = {"phone A": SINGLE_OPTIONS[0], "phone B": SINGLE_OPTIONS[2]}
RUN_2 = {"phone A": SINGLE_OPTIONS[0], "phone B": SINGLE_OPTIONS[0]}


@pytest.fixture
def screens(chromium: Browser) -> Iterator[dict[str, BrowserContext]]:
    made = {
        "facilitator": chromium.new_context(**DESKTOP),  # type: ignore[arg-type]
        "phone A": chromium.new_context(**PHONE_A),  # type: ignore[arg-type]
        "phone B": chromium.new_context(**PHONE_B),  # type: ignore[arg-type]
    }
    try:
        yield made
    finally:
        for context in made.values():
            context.close()


def _log_in(page: Page, base: str) -> int:
    page.goto(f"{base}/login")
    page.locator("#email").fill(DEMO_EMAIL)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.get_by_role("link", name=DEMO_TITLE, exact=True).click()
    return int(page.url.rsplit("/", 1)[1])


def _run_votes(
    base: str,
    projector: Page,
    presentation_id: int,
    code: str,
    screens: dict[str, BrowserContext],
    answers: dict[str, str],
) -> None:
    """Present the run, move to the SMART question, and let each phone answer it."""
    projector.goto(f"{base}/manage/presentations/{presentation_id}")
    projector.locator(".heading-row form[action$='/move'] button[type=submit]").click()
    expect(projector).to_have_url(f"{base}/present/{presentation_id}")
    projector.keyboard.press("ArrowRight")
    expect(projector.locator("#stage h1.question-title")).to_have_text(Q_SINGLE)
    for name, label in answers.items():
        phone = Watched(screens[name].new_page(), name)
        phone.page.goto(f"{base}/p/{code}")
        expect(phone.page.locator("#connection")).to_have_attribute("data-state", "online")
        expect(phone.page.locator("#question-title")).to_have_text(Q_SINGLE)
        choose(phone, [label])
        send_vote(phone)
        assert phone.errors == [], phone.errors
        phone.page.close()
    expect(projector.locator("#response-count strong")).to_have_text(str(len(answers)))


def test_two_runs_compared(
    server: Server, screens: dict[str, BrowserContext], shoot: Screenshots
) -> None:
    base = server.base_url
    facilitator = Watched(screens["facilitator"].new_page(), "facilitator")
    page = facilitator.page
    first_id = _log_in(page, base)

    # Run 1: the demo, dated through the runs card; the list of runs comes in by htmx.
    card = page.locator("#runs")
    card.locator("#run-date").fill("2025-05-12")
    card.locator("#run-place").fill("Buurthuis De Linde")
    card.get_by_role("button", name=nl("Save run details")).click()
    expect(page).to_have_url(f"{base}/manage/presentations/{first_id}")
    expect(page.locator("#runs-list table")).to_contain_text("12-05-2025")
    _run_votes(base, page, first_id, server.join_code, screens, RUN_1)

    # Run 2: made from the card, with a code of its own.
    page.goto(f"{base}/manage/presentations/{first_id}")
    card = page.locator("#runs")
    card.locator("#new-run-date").fill("2026-05-12")
    card.locator("#new-run-place").fill("Stadhuis")
    card.get_by_role("button", name=nl("Make a new run")).click()
    expect(page).not_to_have_url(f"{base}/manage/presentations/{first_id}")
    second_id = int(page.url.rsplit("/", 1)[1])
    second_code = page.locator("p strong.mono").first.inner_text().replace(" ", "")
    assert second_code != server.join_code
    expect(page.locator("#runs-list tbody tr")).to_have_count(2)
    page.locator("#runs-list").scroll_into_view_if_needed()
    shoot(page, "runs-card")
    _run_votes(base, page, second_id, second_code, screens, RUN_2)

    # The comparison, reached from the runs card.
    page.goto(f"{base}/manage/presentations/{second_id}")
    page.locator("#runs-list").get_by_role("link", name=nl("Compare runs")).click()
    expect(page).to_have_url(f"{base}/manage/presentations/{second_id}/compare")
    section = page.locator("section.compare-question").filter(has_text=Q_SINGLE)
    expect(section.locator("tr.responses td.num")).to_have_text(["2", "2"])
    expected = {
        SINGLE_OPTIONS[0]: ["50% (1)", "100% (2)"],
        SINGLE_OPTIONS[2]: ["50% (1)", "0% (0)"],
        SINGLE_OPTIONS[1]: ["0% (0)", "0% (0)"],
    }
    for label, cells in expected.items():
        row = section.locator("tbody tr").filter(has_text=label)
        expect(row.locator("td[data-run]")).to_have_text(cells)
    expect(
        section.locator("tbody tr").filter(has_text=SINGLE_OPTIONS[0]).locator(".change")
    ).to_contain_text("+50")
    expect(page.locator(".compare-runs li")).to_have_count(2)
    expect(page.locator("svg.sparkline")).to_have_count(0)  # a trend needs three runs
    shoot(page, "runs-compare", docs=True, full_page=True)
    # Printable: without the menu and buttons, on A4.
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator(".no-print")).to_be_hidden()
    expect(section).to_be_visible()
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") >= 1
    page.emulate_media(media="screen")
    # The first run's own page still counts its own two answers only.
    page.goto(f"{base}/manage/presentations/{first_id}/runs")
    rows = page.locator("table.runs-table tbody tr")
    expect(rows.locator("td.num")).to_have_text(["2", "2"])
    assert facilitator.errors == [], facilitator.errors

    # A phone of run 2 follows the privacy link: the page in the run's language, with how
    # long this run's answers are kept.
    phone = Watched(screens["phone A"].new_page(), "phone A")
    phone.page.goto(f"{base}/p/{second_code}")
    phone.page.get_by_role("link", name=nl("Privacy: what we store")).click()
    expect(phone.page.locator("h1")).to_have_text(nl("Privacy: what we store"))
    expect(phone.page.locator("#privacy-run")).to_contain_text(
        nl("For this session: the answers are kept until the organiser deletes them.")
    )
    shoot(phone.page, "privacy-phone", full_page=True)
    assert phone.errors == [], phone.errors
