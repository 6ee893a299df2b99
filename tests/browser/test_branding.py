"""The projector's look in Chromium: a logo, a main colour and the high-contrast theme.

The facilitator uploads a logo and picks a colour on the presentation page; the projector
shows both. High contrast is switched on from another tab: the open projector follows without
a reload. At 1280x720 and 1920x1080 the projector keeps its layout (layout.projector_problems)
and axe-core finds nothing serious, with and without high contrast; a phone votes so bars show.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.layout import projector_problems
from tests.browser.support import DEMO_EMAIL, DEMO_PASSWORD, DEMO_TITLE, Screenshots, Server
from tests.browser.test_accessibility import describe, violations
from tests.browser.test_session import (
    DESKTOP,
    PHONE_A,
    PROJECTOR_HD,
    Q_SINGLE,
    SINGLE_OPTIONS,
    Watched,
    choose,
    nl,
    send_vote,
)

pytestmark = pytest.mark.browser

BRAND = "#6a1b9a"
BRAND_RGB = "rgb(106, 27, 154)"


def logo_png(width: int = 240, height: int = 80) -> bytes:
    """A small two-colour PNG logo: a purple block on white."""

    def chunk(name: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + name + body + struct.pack(">I", zlib.crc32(name + body))
        )

    rows = b""
    for _y in range(height):
        row = b"".join(
            (b"\x6a\x1b\x9a" if x < width // 3 else b"\xff\xff\xff") for x in range(width)
        )
        rows += b"\x00" + row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def screens(chromium: Browser) -> Iterator[dict[str, BrowserContext]]:
    # The projector keeps its CSP (a CSP report would show as a console error); axe-core is
    # injected into a second context that bypasses it.
    made = {
        "facilitator": chromium.new_context(**DESKTOP),  # type: ignore[arg-type]
        "audit": chromium.new_context(**DESKTOP, bypass_csp=True),  # type: ignore[arg-type]
        "phone": chromium.new_context(**PHONE_A),  # type: ignore[arg-type]
    }
    try:
        yield made
    finally:
        for context in made.values():
            context.close()


def _login(page: Page, base: str) -> int:
    page.goto(f"{base}/login")
    page.locator("#email").fill(DEMO_EMAIL)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.get_by_role("link", name=DEMO_TITLE, exact=True).click()
    return int(page.url.rsplit("/", 1)[1])


def _axe(page: Page, name: str) -> None:
    found = violations(page)
    assert not found, f"{name}: {describe(found)}"


def _logo_shown(page: Page) -> bool:
    return bool(
        page.evaluate(
            "() => { const img = document.getElementById('brand-logo');"
            " return !!img && !img.hidden && img.complete && img.naturalWidth === 240"
            " && img.getBoundingClientRect().width > 0; }"
        )
    )


def _check_layout(page: Page, name: str, shoot: Screenshots, *, docs: bool = False) -> None:
    page.mouse.move(0, 0)
    shoot(page, name, docs=docs)
    assert projector_problems(page) == [], name
    # The logo sits in the top bar, left of the join text, and is not cut off.
    box = page.locator("#brand-logo").bounding_box()
    assert box is not None
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] < width / 3, name


def test_logo_colour_and_high_contrast_on_the_projector(
    server: Server, screens: dict[str, BrowserContext], shoot: Screenshots
) -> None:
    base, code = server.base_url, server.join_code
    facilitator = Watched(screens["facilitator"].new_page(), "facilitator")
    page = facilitator.page
    presentation_id = _login(page, base)
    manage_url = page.url

    # The settings card: a logo, then a colour that is too light (refused), then a dark one.
    card = page.locator("#branding")
    expect(card.get_by_role("heading", level=2)).to_have_text(nl("Look of the projector"))
    card.locator("#logo-file").set_input_files(
        {"name": "logo.png", "mimeType": "image/png", "buffer": logo_png()}
    )
    card.locator("form[action$='/logo'] button[type=submit]").click()
    expect(page).to_have_url(f"{manage_url}#branding")
    expect(page.locator("#branding img.branding-preview")).to_be_visible()
    page.locator("#brand-color-text").fill("#ffe600")
    page.locator("#branding form.branding-look button.primary").click()
    expect(page.locator("#branding-error")).to_contain_text("te licht")
    page.locator("#brand-color-text").fill(BRAND)
    page.locator("#branding form.branding-look button.primary").click()
    expect(page).to_have_url(f"{manage_url}#branding")
    expect(page.locator("#brand-color-text")).to_have_value(BRAND)
    shoot(page, "branding-settings")

    # The projector: logo top left, the join bar in the colour.
    page.locator(".heading-row form[action$='/move'] button[type=submit]").click()
    expect(page).to_have_url(f"{base}/present/{presentation_id}")
    projector = page
    projector.keyboard.press("ArrowRight")
    expect(projector.locator("#stage h1.question-title")).to_have_text(Q_SINGLE)
    phone = Watched(screens["phone"].new_page(), "phone")
    phone.page.goto(f"{base}/p/{code}")
    expect(phone.page.locator("#question-title")).to_have_text(Q_SINGLE)
    choose(phone, [SINGLE_OPTIONS[0]])
    send_vote(phone)
    expect(projector.locator("#response-count strong")).to_have_text("1")
    if projector.locator("#stage").get_attribute("data-results") != "shown":
        projector.keyboard.press("r")
    expect(projector.locator("#stage")).to_have_attribute("data-results", "shown")
    expect(projector.locator("#brand-logo")).to_be_visible()
    assert _logo_shown(projector)
    expect(projector.locator(".join-bar")).to_have_css("background-color", BRAND_RGB)
    expect(projector.locator("#stage .bar-fill.c0").first).to_have_css("fill", BRAND_RGB)
    _check_layout(projector, "branding-projector-colour", shoot)

    # High contrast from another tab: the open projector follows without a reload.
    loads = facilitator.loads
    settings = screens["facilitator"].new_page()
    settings.goto(manage_url)
    settings.locator("#branding input[name=high_contrast]").check()
    settings.locator("#branding form.branding-look button.primary").click()
    expect(settings).to_have_url(f"{manage_url}#branding")
    expect(settings.locator("#branding input[name=high_contrast]")).to_be_checked()
    settings.close()
    expect(projector.locator("#stage")).to_have_attribute("data-contrast", "high")
    expect(projector.locator("body")).to_have_class("projector high-contrast")
    expect(projector.locator("body")).to_have_css("background-color", "rgb(0, 0, 0)")
    expect(projector.locator("#stage h1.question-title")).to_have_css("color", "rgb(255, 255, 255)")
    expect(projector.locator(".join-code")).to_have_css("color", "rgb(255, 230, 0)")
    expect(projector.locator("#stage .bar-track").first).to_have_css("outline-width", "3px")
    assert facilitator.loads == loads  # no reload
    assert _logo_shown(projector)
    _check_layout(projector, "branding-projector-high-contrast", shoot, docs=True)

    # The same at 1920x1080; axe on both sizes, in a context that lets it run.
    projector.set_viewport_size(PROJECTOR_HD)
    _check_layout(projector, "branding-projector-high-contrast-hd", shoot)
    audit = screens["audit"].new_page()
    _login(audit, base)
    for size, name in ((DESKTOP["viewport"], "720"), (PROJECTOR_HD, "1080")):
        audit.set_viewport_size(size)  # type: ignore[arg-type]
        audit.goto(f"{base}/present/{presentation_id}")
        expect(audit.locator("body")).to_have_class("projector high-contrast")
        _axe(audit, f"projector high contrast {name}")
        assert projector_problems(audit) == [], name

    # High contrast off again, colour kept: also clean at both sizes.
    audit.goto(manage_url)
    _axe(audit, "presentation page with the look card")
    audit.locator("#branding input[name=high_contrast]").uncheck()
    audit.locator("#branding form.branding-look button.primary").click()
    expect(projector.locator("#stage")).to_have_attribute("data-contrast", "normal")
    expect(projector.locator("body")).to_have_class("projector")
    _check_layout(projector, "branding-projector-colour-hd", shoot)
    for size, name in ((DESKTOP["viewport"], "720"), (PROJECTOR_HD, "1080")):
        audit.set_viewport_size(size)  # type: ignore[arg-type]
        audit.goto(f"{base}/present/{presentation_id}")
        expect(audit.locator(".join-bar")).to_have_css("background-color", BRAND_RGB)
        _axe(audit, f"projector with colour {name}")

    # The bars grow with a transition, except for those who ask for less motion.
    duration = (
        "() => getComputedStyle(document.querySelector('#stage .bar-fill')).transitionDuration"
    )
    assert audit.evaluate(duration) == "0.4s"
    audit.emulate_media(reduced_motion="reduce")
    assert audit.evaluate(duration) == "0s"
    audit.emulate_media(reduced_motion="no-preference")

    # Removing the logo takes it off the open projector too.
    audit.goto(manage_url)
    audit.locator("#branding form[action$='/logo'] input[value=remove] + button").click()
    expect(audit).to_have_url(f"{manage_url}#branding")
    expect(audit.locator("#branding img.branding-preview")).to_have_count(0)
    expect(projector.locator("#brand-logo")).to_be_hidden()

    # The one refusal on purpose (the light colour) is the only failed request.
    unexpected = [e for e in facilitator.errors if "/look" not in e]
    assert unexpected == [], facilitator.errors
    assert len(facilitator.errors) == 2, facilitator.errors  # the 422 and its console line
    assert phone.errors == [], phone.errors
