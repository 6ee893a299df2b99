"""The facilitator's phone as a remote, and full screen, in Chromium.

The projector runs on a laptop (1280x720); the facilitator logs in on a phone (390x844) too and
steps the session from the remote page: next and previous, open and close voting, show and hide
the results, start the timer. The projector follows each press over its socket, without
reloading. On the projector, "f" asks the browser for full screen and "f" again leaves it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from app.i18n import translate
from tests.browser.support import DEMO_EMAIL, DEMO_PASSWORD, DEMO_TITLE, Screenshots, Server
from tests.browser.test_session import DESKTOP, PHONE_A, Q_SCALE, Q_SINGLE, nl

pytestmark = pytest.mark.browser


@pytest.fixture
def screens(chromium: Browser) -> Iterator[dict[str, BrowserContext]]:
    made = {
        "laptop": chromium.new_context(**DESKTOP),  # type: ignore[arg-type]
        "remote": chromium.new_context(**PHONE_A),  # type: ignore[arg-type]
    }
    try:
        yield made
    finally:
        for context in made.values():
            context.close()


def log_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login")
    page.locator("#email").fill(DEMO_EMAIL)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(f"{base}/manage")


def press(remote: Page, label: str) -> None:
    """Tap a remote button; the remote page comes back after the post."""
    remote.get_by_role("button", name=label, exact=True).tap()
    expect(remote).to_have_url(re.compile(r"/present/\d+/remote$"))


def test_the_phone_remote_steers_the_projector(
    server: Server, screens: dict[str, BrowserContext], shoot: Screenshots
) -> None:
    base = server.base_url
    laptop = screens["laptop"].new_page()
    log_in(laptop, base)
    laptop.get_by_role("link", name=DEMO_TITLE, exact=True).click()
    presentation_id = int(laptop.url.rsplit("/", 1)[1])
    laptop.goto(f"{base}/present/{presentation_id}")
    projector = laptop
    stage = projector.locator("#stage")
    projector.evaluate("window.__stemlabSameDocument = true")

    remote = screens["remote"].new_page()
    log_in(remote, base)
    remote.goto(f"{base}/present/{presentation_id}/remote")
    expect(remote.locator("h1")).to_have_text(nl("No question on screen yet"))
    # Everything on the remote is big enough to tap.
    for button in remote.locator(".remote-grid button, .remote-grid a.button").all():
        box = button.bounding_box()
        assert box is not None and box["height"] >= 44, box

    press(remote, nl("Next") + " →")
    expect(remote.locator("h1")).to_have_text(Q_SCALE)
    expect(stage.locator("h1.question-title")).to_have_text(Q_SCALE)
    press(remote, nl("Next") + " →")
    expect(stage.locator("h1.question-title")).to_have_text(Q_SINGLE)
    press(remote, "← " + nl("Previous"))
    expect(stage.locator("h1.question-title")).to_have_text(Q_SCALE)
    shoot(remote, "remote-phone")

    press(remote, nl("Close voting"))
    expect(stage).to_have_attribute("data-voting", "closed")
    press(remote, nl("Open voting"))
    expect(stage).to_have_attribute("data-voting", "open")
    results = stage.get_attribute("data-results")
    press(remote, nl("Hide results") if results == "shown" else nl("Show results"))
    expect(stage).not_to_have_attribute("data-results", results or "")
    press(remote, translate("nl", "Start timer"))  # the same word in Dutch
    expect(stage).to_have_attribute("data-timer", "running")
    expect(remote.locator("#remote-state")).to_have_attribute("data-timer", "running")
    press(remote, translate("nl", "Stop timer"))
    expect(stage).to_have_attribute("data-timer", "none")
    assert projector.evaluate("window.__stemlabSameDocument === true"), "the projector reloaded"

    # Full screen from the keyboard, and back.
    projector.keyboard.press("f")
    projector.wait_for_function("document.fullscreenElement !== null", timeout=5_000)
    projector.keyboard.press("f")
    projector.wait_for_function("document.fullscreenElement === null", timeout=5_000)
