"""axe-core on every page and state of a session: no serious or critical WCAG 2.1 A/AA finding.

axe-core comes from the npm registry (pinned and vendored in tests/browser/vendor/ by
scripts/vendor-frontend.sh) and is injected by the test, never served by Stemlab. The pages
keep their strict CSP; only these test contexts bypass it, so the checker itself may run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.support import DEMO_EMAIL, DEMO_PASSWORD, DEMO_TITLE, Server

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING = {"serious", "critical"}
PHONE = {"viewport": {"width": 360, "height": 640}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 720}}

expect.set_options(timeout=10_000)


@cache
def axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def violations(page: Page) -> list[dict[str, Any]]:
    """The serious and critical findings of axe-core on the page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})",
        TAGS,
    )
    return [v for v in result["violations"] if v.get("impact") in FAILING]


def describe(found: list[dict[str, Any]]) -> str:
    lines = []
    for v in found:
        targets = [n["target"] for n in v["nodes"][:5]]
        lines.append(f"{v['impact']}: {v['id']} ({v['help']}) at {json.dumps(targets)}")
    return "\n".join(lines)


class Audit:
    """Collects the findings of every page and state, reported together at the end."""

    def __init__(self) -> None:
        self.findings: dict[str, list[dict[str, Any]]] = {}
        self.checked: list[str] = []

    def check(self, page: Page, name: str) -> None:
        self.checked.append(name)
        found = violations(page)
        if found:
            self.findings[name] = found

    def report(self) -> str:
        return "\n\n".join(f"{name}:\n{describe(found)}" for name, found in self.findings.items())


@pytest.fixture
def contexts(chromium: Browser) -> Iterator[dict[str, BrowserContext]]:
    made = {
        "facilitator": chromium.new_context(**DESKTOP, bypass_csp=True, locale="nl-NL"),
        "phone": chromium.new_context(**PHONE, bypass_csp=True, locale="nl-NL"),
        "phone_en": chromium.new_context(**PHONE, bypass_csp=True, locale="en-GB"),
        "newcomer": chromium.new_context(**PHONE, bypass_csp=True, locale="nl-NL"),
    }
    try:
        yield made
    finally:
        for context in made.values():
            context.close()


def test_axe_finds_nothing_serious_on_any_page(
    server: Server, contexts: dict[str, BrowserContext]
) -> None:
    base = server.base_url
    code = server.join_code
    audit = Audit()

    # Before logging in, and a phone before it joins (also with a wrong code).
    facilitator = contexts["facilitator"].new_page()
    facilitator.goto(f"{base}/login")
    audit.check(facilitator, "login")
    phone = contexts["phone"].new_page()
    phone.goto(f"{base}/")
    audit.check(phone, "join page")
    phone.locator("#code").fill("0000 0000")
    phone.locator("main form button[type=submit]").click()
    audit.check(phone, "join page, unknown code")

    # The facilitator's pages.
    facilitator.locator("#email").fill(DEMO_EMAIL)
    facilitator.locator("#password").fill(DEMO_PASSWORD)
    facilitator.locator("main form button[type=submit]").click()
    expect(facilitator).to_have_url(f"{base}/manage")
    audit.check(facilitator, "presentations")
    facilitator.get_by_role("link", name=DEMO_TITLE, exact=True).click()
    expect(facilitator).to_have_url(re.compile(r"/manage/presentations/\d+$"))
    presentation_url = facilitator.url
    audit.check(facilitator, "presentation")
    edit_links = facilitator.locator("ol.questions > li a[href*='/questions/']")
    hrefs = sorted(
        {edit_links.nth(i).get_attribute("href") or "" for i in range(edit_links.count())}
    )
    assert hrefs, "no question edit links on the presentation page"
    for href in hrefs:
        facilitator.goto(base + href)
        audit.check(facilitator, f"question editor {href}")
    facilitator.goto(presentation_url)
    facilitator.locator(".heading-row form[action$='/move'] button[type=submit]").click()
    expect(facilitator).to_have_url(re.compile(r"/present/\d+$"))
    projector = facilitator

    # Both phones join; every question on the projector and on the phones, before and after
    # a vote.
    phone.goto(f"{base}/j/{code}")
    expect(phone).to_have_url(f"{base}/p/{code}")
    phone_en = contexts["phone_en"].new_page()
    phone_en.goto(f"{base}/j/{code}")
    expect(phone_en.locator("html")).to_have_attribute("lang", re.compile("nl|en"))
    where = re.search(r"(\d+)\D+(\d+)", projector.locator("#stage .position").inner_text())
    assert where, "the projector does not say which question it shows"
    total = int(where.group(2))
    for n in range(1, total + 1):
        title = projector.locator("#stage h1.question-title").inner_text()
        expect(phone.locator("#stage h1")).to_have_text(title)
        audit.check(projector, f"projector, question {n}")
        audit.check(phone, f"phone, question {n}")
        audit.check(phone_en, f"phone (English browser), question {n}")
        if n < total:
            projector.keyboard.press("ArrowRight")
            expect(projector.locator("#stage h1.question-title")).not_to_have_text(title)

        if n == 1:
            # A vote saved on the phone; the join screen and the shortcuts on the projector.
            phone.locator(
                "form.vote input[type=radio], form.vote input[type=checkbox]"
            ).first.check()
            phone.locator("form.vote button[type=submit]").click()
            expect(phone.locator("#vote-status .saved")).to_be_visible()
            audit.check(phone, "phone, vote saved")
            projector.keyboard.press("j")
            audit.check(projector, "projector, join screen")
            projector.keyboard.press("j")
            projector.keyboard.press("?")
            audit.check(projector, "projector, shortcuts")
            projector.keyboard.press("Escape")

    # The facilitator's other pages: moderation, word lists, the phone remote.
    presentation_id = presentation_url.rsplit("/", 1)[1]
    for path in (
        f"/present/{presentation_id}/moderate",
        "/manage/words",
        f"/present/{presentation_id}/remote",
    ):
        facilitator.goto(base + path)
        audit.check(facilitator, path)

    # Sessions, comparison, report, paper counts, API keys (the facilitator), and the privacy
    # page (a phone).
    first_question = min(int(href.rsplit("/", 1)[1]) for href in hrefs)
    for path in (
        f"/manage/presentations/{presentation_id}/runs",
        f"/manage/presentations/{presentation_id}/compare",
        f"/manage/presentations/{presentation_id}/report",
        f"/manage/questions/{first_question}/paper",
        "/manage/tokens",
    ):
        facilitator.goto(base + path)
        audit.check(facilitator, path)
    phone.goto(f"{base}/privacy?code={code}")
    audit.check(phone, "privacy page")

    # Groups: the facilitator fills in the suggested ones; a new phone picks its group first,
    # and the projector splits the results by group.
    facilitator.goto(presentation_url)
    facilitator.locator("form.groups-suggested button[type=submit]").click()
    audit.check(facilitator, "presentation with groups")
    newcomer = contexts["newcomer"].new_page()
    newcomer.goto(f"{base}/j/{code}")
    expect(newcomer.locator("form[action$='/group'] button").first).to_be_visible()
    audit.check(newcomer, "phone, pick a group")
    newcomer.locator("form[action$='/group'] button").first.click()
    expect(newcomer.locator("#stage")).to_be_visible()
    audit.check(newcomer, "phone, after picking a group")
    facilitator.goto(f"{base}/present/{presentation_id}")
    facilitator.keyboard.press("g")
    expect(facilitator.locator("#stage")).to_have_attribute("data-split", "on")
    audit.check(facilitator, "projector, split by group")

    assert len(audit.checked) >= 22 + 3 * total
    assert not audit.findings, (
        f"axe-core found serious or critical problems on {len(audit.findings)} of "
        f"{len(audit.checked)} pages and states:\n\n{audit.report()}"
    )
