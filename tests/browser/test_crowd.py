"""Fifty real Chromium phone pages vote at the same moment against one `stemlab serve`.

Each phone is a browser context of its own (its own cookies: its own participant) at a phone
viewport; all fifty join through the QR link, then all press Send together. The projector must
end with exactly 50 responses and the counts per option of the votes cast, every phone must say
"saved", and the database must hold exactly 50 ballots. Runs alone (`serial`): fifty pages fill
the two cores.
"""

from __future__ import annotations

import re
import time

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, BrowserContext, Page, expect

from app.i18n import translate
from tests.browser.support import DEMO_EMAIL, DEMO_PASSWORD, DEMO_TITLE, Server

pytestmark = pytest.mark.browser

PHONES = 50
TIMEOUT_MS = 60_000
PHONE = {
    "viewport": {"width": 360, "height": 640},
    "is_mobile": True,
    "has_touch": True,
    "locale": "nl-NL",
}
Q_SINGLE = "Zijn de afspraken SMART genoeg?"
OPTIONS = ["Ja", "Deels", "Nee", "Weet ik niet"]
SAVED = translate("nl", "Your vote has been saved")


def _projector(chromium: Browser, base: str) -> tuple[BrowserContext, Page]:
    context = chromium.new_context(viewport={"width": 1280, "height": 720}, locale="nl-NL")
    context.set_default_timeout(TIMEOUT_MS)
    login = context.request.post(
        f"{base}/login", form={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    )
    assert login.ok, login.status
    page = context.new_page()
    page.goto(f"{base}/manage")
    page.get_by_role("link", name=DEMO_TITLE, exact=True).click()
    page.locator(".heading-row form[action$='/move'] button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/present/\d+$"))
    page.keyboard.press("ArrowRight")  # question 2: a single choice
    expect(page.locator("#stage h1.question-title")).to_have_text(Q_SINGLE)
    return context, page


def test_fifty_phones_vote_at_once(server: Server, chromium: Browser, shoot) -> None:
    base, code = server.base_url, server.join_code
    projector_context, projector = _projector(chromium, base)
    options = projector.locator("#stage .bar-label")
    expect(options).to_have_count(len(OPTIONS))
    labels = [text.strip() for text in options.all_inner_texts()]

    contexts: list[BrowserContext] = []
    phones: list[Page] = []
    errors: list[str] = []
    try:
        started = time.monotonic()
        for n in range(PHONES):
            context = chromium.new_context(**PHONE)  # type: ignore[arg-type]
            context.set_default_timeout(TIMEOUT_MS)
            contexts.append(context)
            page = context.new_page()
            page.on("pageerror", lambda exc, n=n: errors.append(f"phone {n}: {exc}"))
            page.goto(f"{base}/j/{code}")
            phones.append(page)
        for page in phones:
            expect(page.locator("#question-title")).to_have_text(Q_SINGLE)
            expect(page.locator("#connection")).to_have_attribute("data-state", "online")
        joined = time.monotonic() - started
        expect(projector.locator("#stage .online")).to_contain_text(re.compile(rf"^\s*{PHONES}\b"))

        # Each phone picks its option first; then all fifty press Send one right after the other
        # (no waiting in between: the votes are in flight together).
        chosen = [labels[n % len(labels)] for n in range(PHONES)]
        for page, label in zip(phones, chosen, strict=True):
            page.locator("label.choice").filter(has_text=label).first.tap()
        sent_at = time.monotonic()
        for page in phones:
            page.locator("form.vote button[type=submit]").dispatch_event("click")
        for page in phones:
            saved = page.locator("#vote-status .saved-text")
            expect(saved).to_be_visible()
            expect(saved).to_contain_text(SAVED)
        all_saved = time.monotonic() - sent_at
        expect(projector.locator("#response-count strong")).to_have_text(str(PHONES))
        expected = [str(chosen.count(label)) for label in labels]
        expect(projector.locator("#stage .bar-count strong")).to_have_text(expected)
        on_screen = time.monotonic() - sent_at
        shoot(projector, "crowd-projector-50", docs=True)
        shoot(phones[-1], "crowd-phone-saved")
        print(
            f"\n{PHONES} Chromium phones: joined in {joined:.1f} s; all saved "
            f"{all_saved:.1f} s and on the projector {on_screen:.1f} s after the first Send"
        )
    finally:
        for context in contexts:
            context.close()
        projector_context.close()

    url = server.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            ballots = connection.execute(
                sa.text(
                    "SELECT count(*) FROM ballot JOIN question ON question.id = ballot.question_id "
                    "WHERE question.title = :title"
                ),
                {"title": Q_SINGLE},
            ).scalar_one()
    finally:
        engine.dispose()
    assert ballots == PHONES
    assert errors == []
