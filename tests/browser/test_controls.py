"""Facilitation controls in Chromium: a projector (1280x720) and two phones (390x844, 360x640).

The facilitator gives a question a timer and has results shown on phones; on the projector
the results are hidden with "r", the timer started with "t"; both phones count down, vote, and
when the time is up voting closes everywhere without anyone reloading. Revealing the results
("r") shows them on the projector and on both phones. The join screen ("j") and the list of
shortcuts ("?", Esc) open and close from the keyboard.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

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
    shoot_phone,
    shoot_projector,
)

pytestmark = pytest.mark.browser

TIMER_SECONDS = 6
CLOSED = nl("Voting on this question is closed. Wait for the next question.")


@pytest.fixture
def screens(chromium: Browser) -> Iterator[dict[str, BrowserContext]]:
    made = {
        "facilitator": chromium.new_context(**DESKTOP),  # type: ignore[arg-type]
        "phone_a": chromium.new_context(**PHONE_A),  # type: ignore[arg-type]
        "phone_b": chromium.new_context(**PHONE_B),  # type: ignore[arg-type]
    }
    try:
        yield made
    finally:
        for context in made.values():
            context.close()


def test_countdown_to_the_end_and_results_revealed_to_phones(
    server: Server, screens: dict[str, BrowserContext], shoot: Screenshots
) -> None:
    base, code = server.base_url, server.join_code
    facilitator = Watched(screens["facilitator"].new_page(), "facilitator")
    page = facilitator.page
    page.goto(f"{base}/login")
    page.locator("#email").fill(DEMO_EMAIL)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.get_by_role("link", name=DEMO_TITLE, exact=True).click()
    presentation_id = int(page.url.rsplit("/", 1)[1])

    # Settings: results on phones (once revealed). The single-choice question gets a timer.
    page.locator("input[name=results_on_phones]").check()
    page.locator(f"form[action='/manage/presentations/{presentation_id}'] button").click()
    expect(page.locator("input[name=results_on_phones]")).to_be_checked()
    page.get_by_role("link", name=Q_SINGLE, exact=True).click()
    page.locator("#countdown_seconds").fill(str(TIMER_SECONDS))
    page.locator("form.card button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"/manage/presentations/{presentation_id}#question-\d+$"))

    page.locator(".heading-row form[action$='/move'] button[type=submit]").click()
    expect(page).to_have_url(f"{base}/present/{presentation_id}")
    projector = page
    link = projector.locator("header.join-bar img.qr").get_attribute("src") or ""
    token = re.fullmatch(r"/qr/l/([\w-]+)\.svg", link)
    assert token, link

    # Phone A types the code; phone B scans the QR code (the link that outlives the code).
    phone_a = Watched(screens["phone_a"].new_page(), "phone A")
    phone_a.page.goto(f"{base}/")
    phone_a.page.locator("#code").fill(code)
    phone_a.page.locator("main form button[type=submit]").tap()
    phone_b = Watched(screens["phone_b"].new_page(), "phone B")
    phone_b.page.goto(f"{base}/l/{token.group(1)}")
    phones = [phone_a, phone_b]
    for phone in phones:
        expect(phone.page).to_have_url(f"{base}/p/{code}")
        expect(phone.page.locator("#connection")).to_have_attribute("data-state", "online")
        phone.page.evaluate("window.__stemlabSameDocument = true")

    projector.keyboard.press("ArrowRight")
    expect(projector.locator("#stage h1.question-title")).to_have_text(Q_SINGLE)
    for phone in phones:
        expect(phone.page.locator("#question-title")).to_have_text(Q_SINGLE)

    # "?" lists the shortcuts, Esc closes the list; "j" shows the join screen and hides it.
    projector.keyboard.press("?")
    expect(projector.locator("#shortcuts")).to_be_visible()
    shoot(projector, "controls-shortcuts")
    projector.keyboard.press("Escape")
    expect(projector.locator("#shortcuts")).to_be_hidden()
    projector.keyboard.press("j")
    expect(projector.locator("#join-screen")).to_be_visible()
    expect(projector.locator("#join-screen .join-screen-code")).to_have_text(
        f"{code[:4]} {code[4:]}"
    )
    shoot(projector, "controls-join-screen", docs=True)
    projector.keyboard.press("j")
    expect(projector.locator("#join-screen")).to_be_hidden()

    # "r" hides the results, "t" starts the timer: voting is open until it ends.
    projector.keyboard.press("r")
    expect(projector.locator("#stage")).to_have_attribute("data-results", "hidden")
    projector.keyboard.press("t")
    expect(projector.locator("#stage")).to_have_attribute("data-timer", "running")
    expect(projector.locator("#stage .countdown-label")).to_have_text(nl("Time left"))
    expect(projector.locator("#stage .countdown-value")).to_have_text(re.compile(r"^0:0[1-6]$"))
    for phone in phones:
        countdown = phone.page.locator("#stage .countdown")
        expect(countdown).to_be_visible()
        expect(countdown.locator(".countdown-value")).to_have_text(re.compile(r"^0:0[0-6]$"))
    choose(phone_a, [SINGLE_OPTIONS[0]])
    send_vote(phone_a)
    choose(phone_b, [SINGLE_OPTIONS[2]])
    send_vote(phone_b)
    shoot_phone(phone_b, shoot, "controls-phone-countdown")
    shoot_projector(projector, shoot, "controls-projector-countdown", docs=True)

    # The time runs out: voting closes on the projector and on both phones, without reloads.
    expect(projector.locator("#stage")).to_have_attribute("data-voting", "closed")
    expect(projector.locator("#stage")).to_have_attribute("data-timer", "none")
    for phone in phones:
        expect(phone.page.locator("#stage p.closed")).to_have_text(CLOSED)
        expect(phone.page.locator("form.vote")).to_have_count(0)
        # Hidden results: not a number of them on any phone.
        expect(phone.page.locator(".phone-results")).to_have_count(0)
        expect(phone.page.locator(".bar-count")).to_have_count(0)
    expect(projector.locator("#response-count strong")).to_have_text("2")

    # "r" reveals the results: on the projector, and on both phones.
    projector.keyboard.press("r")
    expect(projector.locator("#stage")).to_have_attribute("data-results", "shown")
    expect(projector.locator("#stage .bar-count strong")).to_have_text(["1", "0", "1", "0"])
    for phone in phones:
        counts = phone.page.locator(".phone-results .bar-count strong")
        expect(counts).to_have_text(["1", "0", "1", "0"])
        assert phone.page.evaluate("window.__stemlabSameDocument === true"), phone.name
    shoot_phone(phone_a, shoot, "controls-phone-results", docs=True)
    shoot_phone(phone_b, shoot, "controls-phone-results-small")
    shoot_projector(projector, shoot, "controls-projector-results")
    for watched in (facilitator, *phones):
        assert watched.errors == [], watched.errors
