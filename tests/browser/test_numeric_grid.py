"""Guess a number and the 2x2 grid in Chromium: a facilitator builds both questions, two phones
answer, and the projector shows the right histogram, mean and median, then the correct answer
once it is revealed (which the phones never receive), and the grid's points.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from app.i18n import translate
from tests.browser.layout import phone_problems, projector_problems
from tests.browser.support import DEMO_EMAIL, DEMO_PASSWORD, Screenshots, Server

pytestmark = pytest.mark.browser

TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)

DESKTOP = {"viewport": {"width": 1280, "height": 720}, "locale": "nl-NL"}
PHONE_A = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
PHONE_B = {"viewport": {"width": 360, "height": 640}, "is_mobile": True, "has_touch": True}

TITLE = "Raden en rasteren"
Q_NUMBER = "Hoeveel woningen heeft de corporatie?"
Q_GRID = "Hoe belangrijk is het, en hoe tevreden bent u?"
CORRECT = "7318,6"
ITEMS = ["Onderhoud", "Communicatie", "Veiligheid"]
SAVED = translate("nl", "Your vote has been saved")
ONE_DECIMAL = translate("nl", "Use at most one digit after the comma.")


@pytest.fixture
def contexts(chromium: Browser) -> Iterator[dict[str, BrowserContext]]:
    made = {
        "facilitator": chromium.new_context(**DESKTOP),  # type: ignore[arg-type]
        "phone_a": chromium.new_context(**PHONE_A, locale="nl-NL"),  # type: ignore[arg-type]
        "phone_b": chromium.new_context(**PHONE_B, locale="nl-NL"),  # type: ignore[arg-type]
    }
    for context in made.values():
        context.set_default_timeout(TIMEOUT_MS)
    try:
        yield made
    finally:
        for context in made.values():
            context.close()


def watch(page: Page, errors: list[str]) -> Page:
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda m: (
            errors.append(f"console: {m.text}")
            if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
            else None
        ),
    )
    return page


def add_question(page: Page, kind: str, title: str, fields: dict[str, str]) -> None:
    """Add a question on the presentation page and fill in its settings."""
    page.locator("#q-kind").select_option(kind)
    page.locator("#q-title").fill(title)
    page.locator("#q-title").press("Enter")
    expect(page).to_have_url(re.compile(r"/manage/questions/\d+$"))
    for name, value in fields.items():
        field = page.locator(f"#{name}")
        if field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    page.locator("main form.card button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/manage/presentations/\d+"))


def send(page: Page) -> None:
    page.locator("form.vote button[type=submit]").tap()
    expect(page.locator("#vote-status .saved-text")).to_contain_text(SAVED)


def rate(page: Page, item: int, x: int, y: int) -> None:
    fieldset = page.locator("fieldset.grid-item").nth(item)
    expect(fieldset.locator("legend")).to_have_text(ITEMS[item])
    for row, value in enumerate((x, y)):
        label = (
            fieldset.locator(".grid-row")
            .nth(row)
            .locator("label.scale-point")
            .filter(has_text=re.compile(rf"^\s*{value}\s*$"))
        )
        label.tap()
        expect(label.locator("input")).to_be_checked()


def test_numeric_and_grid(
    server: Server, contexts: dict[str, BrowserContext], shoot: Screenshots
) -> None:
    base = server.base_url
    errors: list[str] = []
    page = watch(contexts["facilitator"].new_page(), errors)
    page.goto(f"{base}/login")
    page.locator("#email").fill(DEMO_EMAIL)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(f"{base}/manage")
    page.locator("#new-title").fill(TITLE)
    page.locator("#new-title").press("Enter")
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/manage/presentations/\d+$"))
    editor_url = page.url

    number_fields = {"min": "0", "max": "10000", "decimals": "1", "unit": "woningen"}
    add_question(page, "numeric", Q_NUMBER, {**number_fields, "correct": CORRECT})
    add_question(
        page,
        "grid",
        Q_GRID,
        {"items": "\n".join(ITEMS), "x_label": "Belang", "y_label": "Tevredenheid"},
    )
    expect(page.locator("ol.questions > li")).to_have_count(2)
    numeric_edit = page.locator("ol.questions > li").first.locator("a[href^='/manage/questions/']")
    numeric_url = base + (numeric_edit.first.get_attribute("href") or "")

    page.locator(".heading-row form[action$='/move'] button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/present/\d+$"))
    projector = page
    expect(projector.locator("#stage h1.question-title")).to_have_text(Q_NUMBER)
    code = re.sub(r"\s", "", projector.locator("#join-code").inner_text())

    phones = []
    for name in ("phone_a", "phone_b"):
        phone = watch(contexts[name].new_page(), errors)
        phone.goto(f"{base}/j/{code}")
        expect(phone.locator("#connection")).to_have_attribute("data-state", "online")
        expect(phone.locator("#question-title")).to_have_text(Q_NUMBER)
        phones.append(phone)
    phone_a, phone_b = phones

    # Guess a number. A guess with too many decimals is refused in Dutch and changes nothing.
    phone_a.locator("#number-answer").fill("12,34")
    phone_a.locator("form.vote button[type=submit]").tap()
    expect(phone_a.locator("#vote-status .error-text").first).to_have_text(ONE_DECIMAL)
    expect(projector.locator("#response-count strong")).to_have_text("0")
    phone_a.locator("#number-answer").fill("7000")
    send(phone_a)
    phone_b.locator("#number-answer").fill("8000,5")
    shoot(phone_b, "phone-numeric")
    assert phone_problems(phone_b) == []
    send(phone_b)
    expect(projector.locator("#response-count strong")).to_have_text("2")
    numbers = projector.locator("#stage .numeric-numbers")
    expect(numbers.locator(".mean strong")).to_have_text("7500,25")
    expect(numbers.locator(".median strong")).to_have_text("7500,25")
    # 0 to 10.000 in bins of 1.000: 7000 in the 8th bar, 8000,5 in the 9th.
    expect(projector.locator("#stage .hist-bar")).to_have_count(2)
    expect(projector.locator("#stage .hist-count")).to_have_text(["1", "1"])
    expect(numbers.locator(".correct")).to_have_count(0)
    assert "7318" not in projector.content()
    projector.mouse.move(0, 0)
    shoot(projector, "projector-numeric")
    assert projector_problems(projector) == []

    # The facilitator reveals the correct answer (editing the question in another tab).
    editor = watch(contexts["facilitator"].new_page(), errors)
    editor.goto(numeric_url)
    expect(editor.locator("#correct")).to_have_value(CORRECT)
    editor.locator("input[name=correct_revealed]").check()
    editor.locator("main form.card button[type=submit]").click()
    expect(editor).to_have_url(re.compile(re.escape(editor_url)))
    expect(numbers.locator(".correct strong")).to_have_text(CORRECT)
    expect(projector.locator("#stage .hist-correct")).to_have_count(1)
    shoot(projector, "projector-numeric-correct", docs=True)
    assert projector_problems(projector) == []
    for phone in phones:
        html = phone.content()
        assert "7318" not in html and "73186" not in html, "a phone received the correct answer"
        phone.reload()
        expect(phone.locator("#number-answer")).to_be_visible()
        assert "7318" not in phone.content()

    # 2x2 grid.
    projector.keyboard.press("ArrowRight")
    expect(projector.locator("#stage h1.question-title")).to_have_text(Q_GRID)
    for phone in phones:
        expect(phone.locator("#question-title")).to_have_text(Q_GRID)
    rate(phone_a, 0, 5, 2)
    rate(phone_a, 1, 2, 4)
    send(phone_a)
    rate(phone_b, 0, 4, 1)
    rate(phone_b, 2, 3, 3)
    shoot(phone_b, "phone-grid")
    assert phone_problems(phone_b) == []
    send(phone_b)
    expect(projector.locator("#response-count strong")).to_have_text("2")
    legend = projector.locator("#stage .grid-legend > li")
    expect(legend.locator(".grid-legend-label")).to_have_text(ITEMS)
    expect(legend.locator(".grid-mean-x strong")).to_have_text(["4,5", "2,0", "3,0"])
    expect(legend.locator(".grid-mean-y strong")).to_have_text(["1,5", "4,0", "3,0"])
    points = projector.locator("#stage g.grid-point")
    expect(points).to_have_count(3)
    # Onderhoud (4,5; 1,5) lies in the bottom right quadrant: x = 90 + 87,5 * 5,3.
    first = points.nth(0).locator("circle")
    expect(first).to_have_attribute("cx", "553.75")
    expect(first).to_have_attribute("cy", "413.75")
    expect(projector.locator("#stage text.grid-quadrant").first).to_be_visible()
    projector.mouse.move(0, 0)
    shoot(projector, "projector-grid", docs=True)
    assert projector_problems(projector) == []
    box = projector.locator("#stage svg.grid-chart").bounding_box()
    assert box is not None and box["height"] >= 300, f"the grid is too small: {box}"

    assert not errors, errors
