"""A content slide in Chromium: the facilitator writes an agenda slide and uploads its image
through the pages, the projector (1280x720) shows the heading, the text and the image, and two
phones show the heading and the text and are told to look at the screen.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from app.i18n import translate
from tests.browser.layout import phone_problems, projector_problems
from tests.browser.support import DEMO_EMAIL, DEMO_PASSWORD, Screenshots, Server
from tests.test_question_content import png

pytestmark = pytest.mark.browser

TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)

DESKTOP = {"viewport": {"width": 1280, "height": 720}, "locale": "nl-NL"}
PHONE_A = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
PHONE_B = {"viewport": {"width": 360, "height": 640}, "is_mobile": True, "has_touch": True}

TITLE = "Welkom bij het Participatielab"
HEADING = "Programma van vandaag"
TEXT = "13.30 Welkom en koffie\n14.00 Samenwerking <b>beoordelen</b>\n15.00 Afsluiting"
LOOK = translate("nl", "You do not need to do anything. Look at the screen.")


def stripes(width: int = 320, height: int = 180) -> bytes:
    """A 16:9 PNG in three bands of Stemlab's colours."""
    colours = [b"\x0b\x5c\xad", b"\xfa\xb0\x05", b"\x2b\x8a\x3e"]
    rows = b"".join(
        b"\x00" + b"".join(colours[3 * x // width] for x in range(width)) for _ in range(height)
    )
    return png(width, height, pixels=rows)


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


def loaded(page: Page, selector: str) -> None:
    """The image is there and the browser decoded it."""
    image = page.locator(selector)
    expect(image).to_be_visible()
    page.wait_for_function(
        "(sel) => { const i = document.querySelector(sel); return i && i.complete"
        " && i.naturalWidth > 0; }",
        arg=selector,
    )


def test_content_slide_with_an_image(
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

    # Add the slide and write its text.
    page.locator("#q-kind").select_option("content")
    page.locator("#q-title").fill(HEADING)
    page.locator("#q-title").press("Enter")
    expect(page).to_have_url(re.compile(r"/manage/questions/\d+$"))
    question_url = page.url
    page.locator("#content-text").fill(TEXT)
    page.locator("#content-alt").fill("Drie gekleurde banen")
    page.locator("main form.card button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/manage/presentations/\d+"))

    # Upload its image on the page the edit form links to.
    page.goto(question_url)
    page.locator("#content-image-link").click()
    expect(page).to_have_url(f"{question_url}/image")
    image = stripes()
    page.locator("#image-file").set_input_files(
        {"name": "programma.png", "mimeType": "image/png", "buffer": image}
    )
    page.locator("form[enctype='multipart/form-data'] button[type=submit]").click()
    expect(page).to_have_url(question_url)
    loaded(page, "img.content-thumb")
    expect(page.locator("#content-text")).to_have_value(TEXT)
    shoot(page, "content-edit")
    page.locator("main form.card button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/manage/presentations/\d+"))

    # Present it.
    page.locator(".heading-row form[action$='/move'] button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/present/\d+$"))
    projector = page
    expect(projector.locator("#stage h1.question-title")).to_have_text(HEADING)
    slide = projector.locator(".content-slide")
    expect(slide.locator(".content-text p")).to_have_text(TEXT)
    assert "<b>beoordelen</b>" in slide.locator(".content-text p").inner_text()  # shown, not run
    assert slide.locator(".content-text b").count() == 0
    loaded(projector, "img.content-image")
    box = projector.locator("img.content-image").bounding_box()
    assert box is not None and box["width"] >= 320 and box["y"] + box["height"] <= 720, box
    assert projector.locator("img.content-image").get_attribute("alt") == "Drie gekleurde banen"
    code = re.sub(r"\s", "", projector.locator("#join-code").inner_text())

    phones = []
    for name in ("phone_a", "phone_b"):
        phone = watch(contexts[name].new_page(), errors)
        phone.goto(f"{base}/j/{code}")
        expect(phone.locator("#connection")).to_have_attribute("data-state", "online")
        expect(phone.locator("#question-title")).to_have_text(HEADING)
        expect(phone.locator(".content-phone .content-text")).to_have_text(TEXT)
        expect(phone.locator(".content-phone .look")).to_have_text(LOOK)
        loaded(phone, ".content-phone img.content-image")  # small: phones get it too
        assert phone_problems(phone) == [], name
        phones.append(phone)
    shoot(phones[0], "content-phone-390")
    shoot(phones[1], "content-phone-360")

    assert projector_problems(projector) == []
    shoot(projector, "content-projector", docs=True)
    assert errors == []
