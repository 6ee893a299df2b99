"""Quiz in Chromium: two phones (390x844, 360x640) choose nicknames and answer a timed quiz
question, one right and one wrong; the facilitator closes voting and reveals the answer, then
moves to the leaderboard slide. The projector shows both nicknames in order with their
points; each phone shows only its own place.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from app.i18n import translate
from tests.browser.support import DEMO_EMAIL, DEMO_PASSWORD, Screenshots, Server
from tests.browser.test_numeric_grid import (
    DESKTOP,
    PHONE_A,
    PHONE_B,
    TIMEOUT_MS,
    add_question,
    watch,
)

pytestmark = pytest.mark.browser

TITLE = "Quizavond"
Q_QUIZ = "Wat is de hoofdstad van Nederland?"
Q_BOARD = "Tussenstand"
SAVED = translate("nl", "Your vote has been saved")


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


def answer(phone: Page, label: str) -> None:
    choice = phone.locator("label.choice").filter(has_text=label)
    choice.tap()
    expect(choice.locator("input")).to_be_checked()
    phone.locator("form.vote button.primary").tap()
    expect(phone.locator("#vote-status .saved-text")).to_contain_text(SAVED)


def test_quiz_nicknames_reveal_and_leaderboard(
    server: Server, contexts: dict[str, BrowserContext], shoot: Screenshots
) -> None:
    base = server.base_url
    errors: list[str] = []
    page = watch(contexts["facilitator"].new_page(), errors)
    page.goto(f"{base}/login")
    page.locator("#email").fill(DEMO_EMAIL)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.locator("#new-title").fill(TITLE)
    page.locator("#new-title").press("Enter")
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/manage/presentations/\d+$"))
    presentation_id = int(page.url.rsplit("/", 1)[1])
    # New questions hide their results until the facilitator shows them.
    page.locator("input[name=results_hidden_default]").check()
    page.locator(f"form[action='/manage/presentations/{presentation_id}'] button").click()
    expect(page.locator("input[name=results_hidden_default]")).to_be_checked()

    add_question(
        page,
        "quiz",
        Q_QUIZ,
        {"options": "Rotterdam\n* Amsterdam\nDen Haag", "countdown_seconds": "60"},
    )
    add_question(page, "leaderboard", Q_BOARD, {})
    expect(page.locator("ol.questions > li")).to_have_count(2)

    page.locator(".heading-row form[action$='/move'] button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/present/\d+$"))
    projector = page
    expect(projector.locator("#stage h1.question-title")).to_have_text(Q_QUIZ)
    expect(projector.locator("#stage")).to_have_attribute("data-results", "hidden")
    code = re.sub(r"\s", "", projector.locator("#join-code").inner_text())

    phones: list[Page] = []
    for name in ("phone_a", "phone_b"):
        phone = watch(contexts[name].new_page(), errors)
        phone.goto(f"{base}/j/{code}")
        expect(phone.locator("#connection")).to_have_attribute("data-state", "online")
        expect(phone.locator("#question-title")).to_have_text(Q_QUIZ)
        phones.append(phone)
    phone_a, phone_b = phones

    # Nicknames: phone A presses Enter in the field, phone B taps the button.
    phone_a.locator("#nickname").fill("Anna")
    phone_a.locator("#nickname").press("Enter")
    expect(phone_a.locator("#quiz-me .quiz-name")).to_contain_text("Anna")
    phone_b.locator("#nickname").fill("Bert")
    phone_b.locator("#quiz-me button").tap()
    expect(phone_b.locator("#quiz-me .quiz-name")).to_contain_text("Bert")
    shoot(phone_b, "quiz-phone-nickname")

    # The timer starts voting; A answers right, B wrong. Nothing shows what is correct.
    projector.keyboard.press("t")
    expect(projector.locator("#stage")).to_have_attribute("data-timer", "running")
    answer(phone_a, "Amsterdam")
    answer(phone_b, "Rotterdam")
    expect(projector.locator("#response-count strong")).to_have_text("2")
    for phone in phones:
        expect(phone.locator(".quiz-correct")).to_have_count(0)
    shoot(phone_a, "quiz-phone-question")
    expect(projector.locator(".quiz-correct")).to_have_count(0)

    # Close voting, reveal: the projector marks Amsterdam.
    projector.keyboard.press("o")
    expect(projector.locator("#stage")).to_have_attribute("data-voting", "closed")
    projector.keyboard.press("r")
    expect(projector.locator("#stage")).to_have_attribute("data-results", "shown")
    expect(projector.locator("#stage .quiz-correct .bar-label")).to_contain_text("Amsterdam")
    expect(projector.locator("#stage .bar-count strong")).to_have_text(["1", "1", "0"])
    projector.mouse.move(0, 0)
    shoot(projector, "quiz-projector-revealed")

    # The leaderboard: Anna first with her points, Bert second with none.
    projector.keyboard.press("ArrowRight")
    expect(projector.locator("#stage h1.question-title")).to_have_text(Q_BOARD)
    rows = projector.locator("#stage .leader-row")
    expect(rows).to_have_count(2)
    expect(rows.locator(".leader-name")).to_have_text(["Anna", "Bert"])
    expect(rows.locator(".leader-rank")).to_have_text(["1", "2"])
    anna_points = int(rows.nth(0).locator(".leader-score").inner_text())
    assert 500 < anna_points <= 1000
    expect(rows.nth(1).locator(".leader-score")).to_have_text("0")
    shoot(projector, "quiz-projector-leaderboard")

    place = translate("nl", "You are number %(rank)s of %(total)s.", rank=1, total=2)
    expect(phone_a.locator("#quiz-me .quiz-rank")).to_have_text(place)
    expect(phone_a.locator("#quiz-me .quiz-score strong")).to_have_text(str(anna_points))
    place = translate("nl", "You are number %(rank)s of %(total)s.", rank=2, total=2)
    expect(phone_b.locator("#quiz-me .quiz-rank")).to_have_text(place)
    expect(phone_b.locator("#quiz-me .quiz-score strong")).to_have_text("0")
    assert "Bert" not in phone_a.content() and "Anna" not in phone_b.content()
    shoot(phone_a, "quiz-phone-leaderboard")
    shoot(phone_b, "quiz-phone-leaderboard-small")
    assert errors == [], errors
