"""Rounds and audience pace in Chromium: a projector (1280x720) and two phones (390x844,
360x640).

Reset: both phones vote, the facilitator resets the results (with a confirmation step); the
projector says round 2 and counts from zero, the phones show the question afresh without
reloading and vote again; the export has both rounds.

Audience pace: on a copy of the demo set to audience pace, the projector shows question 2
while phone A answers questions 3 and 1 and phone B question 4, each moving with Previous /
Next; the projector's progress list counts every answer, and choosing a question there shows
its results while the phones stay where they are.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.support import DEMO_EMAIL, DEMO_PASSWORD, DEMO_TITLE, Screenshots, Server
from tests.browser.test_session import (
    DESKTOP,
    MULTI_A,
    PHONE_A,
    PHONE_B,
    Q_CLOUD,
    Q_MULTI,
    Q_SCALE,
    Q_SINGLE,
    SCALE_A,
    SINGLE_OPTIONS,
    WORDS_B,
    Watched,
    choose,
    nl,
    rate,
    send_vote,
    shoot_phone,
    shoot_projector,
    type_words,
)

pytestmark = pytest.mark.browser


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


def _log_in(page: Page, base: str) -> int:
    """The demo facilitator logs in and opens the demo presentation; its id."""
    page.goto(f"{base}/login")
    page.locator("#email").fill(DEMO_EMAIL)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.get_by_role("link", name=DEMO_TITLE, exact=True).click()
    return int(page.url.rsplit("/", 1)[1])


def _phone(context: BrowserContext, name: str, url: str) -> Watched:
    phone = Watched(context.new_page(), name)
    phone.page.goto(url)
    expect(phone.page.locator("#connection")).to_have_attribute("data-state", "online")
    return phone


def test_reset_with_two_phones_voting_in_both_rounds(
    server: Server, screens: dict[str, BrowserContext], shoot: Screenshots
) -> None:
    base, code = server.base_url, server.join_code
    facilitator = Watched(screens["facilitator"].new_page(), "facilitator")
    projector = facilitator.page
    presentation_id = _log_in(projector, base)
    projector.locator(".heading-row form[action$='/move'] button[type=submit]").click()
    expect(projector).to_have_url(f"{base}/present/{presentation_id}")
    projector.keyboard.press("ArrowRight")
    expect(projector.locator("#stage h1.question-title")).to_have_text(Q_SINGLE)

    phones = [
        _phone(screens["phone_a"], "phone A", f"{base}/p/{code}"),
        _phone(screens["phone_b"], "phone B", f"{base}/p/{code}"),
    ]
    for phone in phones:
        expect(phone.page.locator("#question-title")).to_have_text(Q_SINGLE)
        phone.page.evaluate("window.__stemlabSameDocument = true")
    choose(phones[0], [SINGLE_OPTIONS[0]])
    send_vote(phones[0])
    choose(phones[1], [SINGLE_OPTIONS[2]])
    send_vote(phones[1])
    expect(projector.locator("#response-count strong")).to_have_text("2")
    expect(projector.locator("#round")).to_have_count(0)

    # Reset, with a confirmation step.
    projector.get_by_role("link", name=nl("Reset results")).click()
    confirm = projector.locator("#confirm-reset")
    expect(confirm).to_be_visible()
    shoot_projector(projector, shoot, "rounds-confirm-reset")
    confirm.locator("#confirm-reset-yes").click()
    expect(projector).to_have_url(f"{base}/present/{presentation_id}")
    expect(projector.locator("#confirm-reset")).to_have_count(0)
    expect(projector.locator("#round")).to_have_text(nl("Round %(n)s", n=2))
    expect(projector.locator("#response-count strong")).to_have_text("0")
    expect(projector.locator("#stage .bar-count strong")).to_have_text(["0", "0", "0", "0"])

    # The phones show the question afresh, without reloading, and vote again.
    for phone in phones:
        expect(phone.page.locator("#stage")).to_have_attribute("data-round", "2")
        expect(phone.page.locator("form.vote input:checked")).to_have_count(0)
        expect(phone.page.locator("#vote-status .saved")).to_be_hidden()
        assert phone.page.evaluate("window.__stemlabSameDocument === true"), phone.name
    shoot_phone(phones[1], shoot, "rounds-phone-round-2")
    choose(phones[0], [SINGLE_OPTIONS[1]])
    send_vote(phones[0])
    choose(phones[1], [SINGLE_OPTIONS[1]])
    send_vote(phones[1])
    expect(projector.locator("#response-count strong")).to_have_text("2")
    expect(projector.locator("#stage .bar-count strong")).to_have_text(["0", "2", "0", "0"])
    shoot_projector(projector, shoot, "rounds-projector-round-2", docs=True)

    # The export has both rounds of the question.
    text = projector.request.get(f"{base}/manage/presentations/{presentation_id}/export.csv").text()
    rows = list(csv.reader(io.StringIO(text)))[1:]
    single = sorted((row[2], row[6]) for row in rows if row[3] == Q_SINGLE)
    assert single == sorted(
        [
            ("1", SINGLE_OPTIONS[0]),
            ("1", SINGLE_OPTIONS[2]),
            ("2", SINGLE_OPTIONS[1]),
            ("2", SINGLE_OPTIONS[1]),
        ]
    ), single
    for watched in (facilitator, *phones):
        assert watched.errors == [], watched.errors


def test_audience_pace_with_two_phones_at_different_questions(
    server: Server, screens: dict[str, BrowserContext], shoot: Screenshots
) -> None:
    base = server.base_url
    facilitator = Watched(screens["facilitator"].new_page(), "facilitator")
    page = facilitator.page
    _log_in(page, base)
    # A copy of the demo (no votes), set to audience pace on its edit page.
    page.locator("form[action$='/duplicate'][action^='/manage/presentations/'] button").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/manage/presentations/\d+$"))
    presentation_id = int(page.url.rsplit("/", 1)[1])
    page.locator("input[name=pace][value=audience]").check()
    page.locator(f"form[action='/manage/presentations/{presentation_id}'] button").click()
    expect(page.locator("input[name=pace][value=audience]")).to_be_checked()
    code = re.sub(r"\s", "", page.locator("strong.mono").first.inner_text())
    page.locator(".heading-row form[action$='/move'] button[type=submit]").click()
    projector = page
    expect(projector).to_have_url(f"{base}/present/{presentation_id}")
    projector.keyboard.press("ArrowRight")
    expect(projector.locator("#stage h1.question-title")).to_have_text(Q_SINGLE)
    progress = projector.locator("#pace-progress li")
    expect(progress).to_have_count(5)

    phone_a = _phone(screens["phone_a"], "phone A", f"{base}/p/{code}")
    phone_b = _phone(screens["phone_b"], "phone B", f"{base}/p/{code}")
    for phone in (phone_a, phone_b):  # each starts at the first question, not the projector's
        expect(phone.page.locator("#question-title")).to_have_text(Q_SCALE)
        expect(phone.page.locator("#stage .counter")).to_have_text(
            nl("Question %(n)s of %(total)s", n=1, total=5)
        )

    def step(phone: Watched, link: str, title: str, n: int) -> None:
        phone.page.locator(f".pace-nav a.pace-{link}").tap()
        expect(phone.page.locator("#question-title")).to_have_text(title)
        expect(phone.page.locator("#stage .counter")).to_have_text(
            nl("Question %(n)s of %(total)s", n=n, total=5)
        )
        expect(phone.page.locator("#connection")).to_have_attribute("data-state", "online")

    # Phone A answers question 3, phone B question 4, phone A then question 1.
    step(phone_a, "next", Q_SINGLE, 2)
    step(phone_a, "next", Q_MULTI, 3)
    choose(phone_a, MULTI_A)
    send_vote(phone_a)
    step(phone_b, "next", Q_SINGLE, 2)
    step(phone_b, "next", Q_MULTI, 3)
    step(phone_b, "next", Q_CLOUD, 4)
    type_words(phone_b, WORDS_B)
    send_vote(phone_b)
    shoot_phone(phone_b, shoot, "pace-phone-question-4", docs=True)
    step(phone_a, "previous", Q_SINGLE, 2)
    step(phone_a, "previous", Q_SCALE, 1)
    rate(phone_a, SCALE_A)
    send_vote(phone_a)

    # The projector still shows question 2 and counts every answer per question.
    expect(projector.locator("#stage h1.question-title")).to_have_text(Q_SINGLE)
    counts = projector.locator("#pace-progress li")
    for n, expected in enumerate(["1", "0", "1", "1", "0"]):
        expect(counts.nth(n)).to_have_attribute("data-responses", expected)
    shoot_projector(projector, shoot, "pace-projector-progress", docs=True)

    # Choosing question 3 on the projector shows its results; the phones stay where they are.
    shown_before = {
        phone.name: int(phone.page.locator("#pace-refresh").get_attribute("data-version") or 0)
        for phone in (phone_a, phone_b)
    }
    counts.nth(2).locator("button").click()
    expect(projector.locator("#stage h1.question-title")).to_have_text(Q_MULTI)
    expect(projector.locator("#response-count strong")).to_have_text("1")
    stage_version = projector.locator("#stage")
    expect(stage_version).to_have_attribute("data-pace", "audience")
    for phone, title in ((phone_a, Q_SCALE), (phone_b, Q_CLOUD)):
        # The notice of the move arrives, and the phone fetches its own question again.
        phone.page.wait_for_function(
            """(before) => {
                const notice = +document.getElementById('pace-refresh').dataset.version;
                return notice > before
                    && notice === +document.getElementById('stage').dataset.version;
            }""",
            arg=shown_before[phone.name],
            timeout=10_000,
        )
        expect(phone.page.locator("#question-title")).to_have_text(title)
    # Phone A, back at question 1, sees its own saved answer.
    phone_a.page.goto(phone_a.page.url)
    expect(phone_a.page.locator("fieldset.scale input:checked")).to_have_count(len(SCALE_A))
    for watched in (facilitator, phone_a, phone_b):
        assert watched.errors == [], watched.errors
