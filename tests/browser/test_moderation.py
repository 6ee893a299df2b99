"""Moderation in Chromium: two phones answer the open question, one with a blocked word in
disguise; the projector shows only the clean answer; the facilitator approves and hides on the
moderation page and the projector follows without being reloaded."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from app.i18n import translate
from tests.browser.support import DEMO_EMAIL, DEMO_PASSWORD, DEMO_TITLE, Screenshots, Server

pytestmark = pytest.mark.browser

TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)

DESKTOP = {"viewport": {"width": 1280, "height": 720}, "locale": "nl-NL"}
PHONE_A = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "locale": "nl-NL",
}
PHONE_B = {
    "viewport": {"width": 360, "height": 640},
    "is_mobile": True,
    "has_touch": True,
    "locale": "nl-NL",
}
Q_OPEN = "Tips voor het volgende Participatielab?"
CLEAN = "Meer koffie bij binnenkomst"
# Zero-width spaces between the letters, capitals and a repeated letter.
DISGUISED = "Wat een K\u200bU\u200bU\u200bT zaal"
SHOWN_DISGUISED = "Wat een KUUT zaal"  # as stored and shown: the invisible characters are gone
SAVED = "Je stem is opgeslagen"


def nl(message: str, **params: object) -> str:
    text = translate("nl", message, **params)
    assert text != (message % params if params else message), f"no Dutch for {message!r}"
    return text


@pytest.fixture
def contexts(chromium: Browser) -> Iterator[dict[str, BrowserContext]]:
    made = {
        name: chromium.new_context(**options)  # type: ignore[arg-type]
        for name, options in (("facilitator", DESKTOP), ("a", PHONE_A), ("b", PHONE_B))
    }
    try:
        yield made
    finally:
        for context in made.values():
            context.close()


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


def answer(phone: Page, text: str) -> None:
    expect(phone.locator("#question-title")).to_have_text(Q_OPEN)
    expect(phone.locator("#connection")).to_have_attribute("data-state", "online")
    phone.locator("#answer-text").fill(text)
    phone.locator("form.vote button[type=submit]").tap()
    saved = phone.locator("#vote-status .saved-text")
    expect(saved).to_be_visible()
    expect(saved).to_contain_text(SAVED)  # the same message, filtered or not


def entry(moderation: Page, text: str):
    return moderation.locator("ol.moderation-queue > li.entry").filter(has_text=text)


def test_moderation_session(
    server: Server, contexts: dict[str, BrowserContext], shoot: Screenshots
) -> None:
    base, code = server.base_url, server.join_code
    errors: list[str] = []

    page = watch(contexts["facilitator"].new_page(), errors)
    page.goto(f"{base}/login")
    page.locator("#email").fill(DEMO_EMAIL)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(f"{base}/manage")
    page.get_by_role("link", name=DEMO_TITLE, exact=True).click()
    presentation_id = int(page.url.rsplit("/", 1)[1])
    page.locator(".heading-row form[action$='/move'] button[type=submit]").click()
    expect(page).to_have_url(f"{base}/present/{presentation_id}")
    projector = page
    for position in range(2, 6):  # to the open question, the fifth
        projector.keyboard.press("ArrowRight")
        where = nl("Question %(n)s of %(total)s", n=position, total=5)
        expect(projector.locator("#stage .position")).to_have_text(where)
    expect(projector.locator("#stage h1.question-title")).to_have_text(Q_OPEN)

    phones = []
    for name in ("a", "b"):
        phone = watch(contexts[name].new_page(), errors)
        phone.goto(f"{base}/j/{code}")
        expect(phone).to_have_url(f"{base}/p/{code}")
        phones.append(phone)
    phone_a, phone_b = phones

    # The disguised word is saved like any answer, but stays off the projector.
    answer(phone_b, DISGUISED)
    answer(phone_a, CLEAN)
    wall = projector.locator("#stage ul.wall > li")
    expect(wall).to_have_text([CLEAN])
    expect(projector.locator("#response-count strong")).to_have_text("1")
    projector.mouse.move(0, 0)
    shoot(projector, "moderation-projector-filtered")

    # The moderation page, in a tab beside the projector.
    moderation = watch(contexts["facilitator"].new_page(), errors)
    moderation.goto(f"{base}/present/{presentation_id}/moderate")
    expect(moderation.locator("#queue h2")).to_have_text(Q_OPEN)
    entries = moderation.locator("ol.moderation-queue > li.entry .entry-text")
    expect(entries).to_have_text([CLEAN, SHOWN_DISGUISED])  # newest first
    held = entry(moderation, SHOWN_DISGUISED)
    expect(held).to_have_attribute("data-state", "hidden")
    expect(held.locator(".filter-tag")).to_have_text(nl("word filter"))
    shoot(moderation, "moderation-queue", docs=True, full_page=True)

    # Approve the held-back answer: the projector shows it without a reload.
    projector.evaluate("window.__moderationMarker = true")  # gone if the page reloads
    held.get_by_role("button", name=nl("Approve")).click()
    expect(entry(moderation, SHOWN_DISGUISED)).to_have_attribute("data-state", "approved")
    expect(wall).to_have_text([CLEAN, SHOWN_DISGUISED])

    # Hide the clean one: it leaves the projector.
    entry(moderation, CLEAN).get_by_role("button", name=nl("Hide")).click()
    expect(entry(moderation, CLEAN)).to_have_attribute("data-state", "hidden")
    expect(wall).to_have_text([SHOWN_DISGUISED])
    expect(projector.locator("#response-count strong")).to_have_text("1")

    # Check first: only approved answers show; a new answer waits.
    moderation.get_by_role("button", name=nl("Check answers first")).click()
    expect(moderation.locator("form.premoderation")).to_have_attribute("data-premoderated", "on")
    answer(phone_a, "Een tweede tip")
    expect(entry(moderation, "Een tweede tip")).to_have_attribute("data-shown", "no")
    expect(wall).to_have_text([SHOWN_DISGUISED])
    entry(moderation, "Een tweede tip").get_by_role("button", name=nl("Approve")).click()
    expect(wall).to_have_text(["Een tweede tip", SHOWN_DISGUISED])
    projector.mouse.move(0, 0)
    shoot(projector, "moderation-projector-approved")

    # Remove participant B after confirming: their answer leaves the projector.
    entry(moderation, SHOWN_DISGUISED).get_by_role("link", name=nl("Remove participant")).click()
    expect(moderation.locator(".confirm-remove")).to_be_visible()
    shoot(moderation, "moderation-remove-confirm")
    moderation.locator(".confirm-remove button[type=submit]").click()
    expect(moderation).to_have_url(re.compile(rf"/present/{presentation_id}/moderate\?q=\d+$"))
    expect(entry(moderation, SHOWN_DISGUISED)).to_have_count(0)
    expect(wall).to_have_text(["Een tweede tip"])

    # The word lists page.
    moderation.goto(f"{base}/manage/words")
    expect(moderation.locator("#words_nl")).to_contain_text("kut*")
    shoot(moderation, "moderation-word-lists", docs=True, full_page=True)

    assert projector.evaluate("window.__moderationMarker === true"), "the projector reloaded"
    assert not errors, errors
