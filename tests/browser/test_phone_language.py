"""The phone's own settings in Chromium: English on a Dutch session, and larger text.

A phone of the (Dutch) demo presentation switches to English with the button at the top,
votes and reads the English confirmation; the facilitator moves on and the phone follows in
English over its socket. With larger text on, the page must still be readable and usable at
390x844 and 360x640: no text under 18 px, no target under 44 px, no sideways scrolling, and
nothing serious for axe-core.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.layout import phone_problems
from tests.browser.support import DEMO_EMAIL, DEMO_PASSWORD, DEMO_TITLE, Screenshots, Server
from tests.browser.test_accessibility import describe, violations

pytestmark = pytest.mark.browser

TIMEOUT_MS = 15_000
expect.set_options(timeout=TIMEOUT_MS)
Q_SCALE = "Hoe goed is de samenwerking over de prestatieafspraken?"
PHONES = {
    "390x844": {"width": 390, "height": 844},
    "360x640": {"width": 360, "height": 640},
}


@pytest.fixture(scope="module")
def presenting(server: Server, chromium: Browser) -> Iterator[Page]:
    """The projector, on the first question (a scale of four statements)."""
    context = chromium.new_context(viewport={"width": 1280, "height": 720}, locale="nl-NL")
    context.set_default_timeout(TIMEOUT_MS)
    login = context.request.post(
        f"{server.base_url}/login", form={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    )
    assert login.ok, login.status
    page = context.new_page()
    page.goto(f"{server.base_url}/manage")
    page.get_by_role("link", name=DEMO_TITLE, exact=True).click()
    page.locator(".heading-row form[action$='/move'] button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/present/\d+$"))
    expect(page.locator("#stage h1.question-title")).to_have_text(Q_SCALE)
    try:
        yield page
    finally:
        context.close()


def rate(page: Page, value: int) -> None:
    statements = page.locator("fieldset.scale")
    expect(statements).to_have_count(4)
    for index in range(4):
        statements.nth(index).locator("label.scale-point").filter(
            has_text=re.compile(rf"^\s*{value}\s*$")
        ).tap()


def font_px(page: Page, selector: str) -> float:
    return float(page.eval_on_selector(selector, "el => parseFloat(getComputedStyle(el).fontSize)"))


def no_problems(page: Page, where: str) -> None:
    problems = phone_problems(page)
    assert problems == [], f"{where}: {problems}"
    found = violations(page)
    assert found == [], f"{where}: {describe(found)}"


@pytest.mark.parametrize("size", list(PHONES), ids=list(PHONES))
def test_a_phone_switches_to_english_and_to_larger_text(
    server: Server, presenting: Page, chromium: Browser, shoot: Screenshots, size: str
) -> None:
    context = chromium.new_context(
        viewport=PHONES[size], is_mobile=True, has_touch=True, locale="nl-NL"
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto(f"{server.base_url}/j/{server.join_code}")
        expect(page.locator("html")).to_have_attribute("lang", "nl")
        expect(page.locator("#connection")).to_have_attribute("data-state", "online")
        expect(page.locator(".counter")).to_have_text("Vraag 1 van 5")
        normal_size = font_px(page, "#question-title")

        # English, from the button at the top (a plain form: the page reloads in English).
        switch = page.get_by_role("button", name="English")
        expect(switch).to_have_attribute("lang", "en")
        switch.tap()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator(".counter")).to_have_text("Question 1 of 5")
        # The facilitator's own text stays as typed, marked as Dutch (for screen readers and
        # for hyphenation).
        expect(page.locator("#question-title")).to_have_text(Q_SCALE)
        expect(page.locator("#question-title")).to_have_attribute("lang", "nl")
        expect(page.locator("#connection")).to_have_attribute("data-state", "online")
        rate(page, 3)
        page.get_by_role("button", name="Send").tap()
        saved = page.locator("#vote-status .saved-text")
        expect(saved).to_be_visible()
        expect(saved).to_have_text(re.compile("Your vote has been saved"))
        no_problems(page, f"English at {size}")
        shoot(page, f"phone-english-{size}", docs=size == "390x844", full_page=True)

        # Larger text: everything about a third bigger, still usable without sideways scrolling.
        page.get_by_role("button", name="Larger text").tap()
        expect(page.locator("body")).to_have_class(re.compile(r"\btext-large\b"))
        expect(page.get_by_role("button", name="Larger text")).to_have_attribute(
            "aria-pressed", "true"
        )
        expect(page.locator("#vote-status .saved-text")).to_be_visible()  # still its vote
        large_size = font_px(page, "#question-title")
        assert large_size >= 1.2 * normal_size, (normal_size, large_size)
        assert font_px(page, "body") >= 1.25 * 19
        no_problems(page, f"larger text at {size}")
        shoot(page, f"phone-large-text-{size}", docs=size == "390x844", full_page=True)

        # The facilitator moves on: the phone follows over its socket, still in English.
        presenting.keyboard.press("ArrowRight")
        expect(page.locator(".counter")).to_have_text("Question 2 of 5")
        no_problems(page, f"question 2 in larger text at {size}")
        presenting.keyboard.press("ArrowLeft")
        expect(page.locator(".counter")).to_have_text("Question 1 of 5")

        # The join page keeps both choices.
        page.goto(f"{server.base_url}/")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("body")).to_have_class(re.compile(r"\btext-large\b"))
        no_problems(page, f"join page in larger text at {size}")
        shoot(page, f"phone-join-large-text-{size}")

        # And back: Dutch, usual text.
        page.get_by_role("button", name="Nederlands").tap()
        expect(page.locator("html")).to_have_attribute("lang", "nl")
        page.get_by_role("button", name="Grotere letters").tap()
        expect(page.locator("body")).not_to_have_class(re.compile(r"\btext-large\b"))
        no_problems(page, f"Dutch join page at {size}")
    finally:
        context.close()
