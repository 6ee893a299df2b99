"""Groups and rounds in Chromium: a projector (1280x720) and two phones (390x844).

The facilitator fills in the suggested groups of a tenants' workshop in one click and sets the
anonymity threshold to 1; both phones join, pick a group (one extra tap) and vote. The
projector splits the results by group with the key "g" (each group's share equals the votes
cast), then shows "te weinig stemmen" live once the threshold is raised. After a reset both
phones vote again and the key "v" puts round 1 beside round 2 with the shift. axe-core checks
the new pages and states.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.support import DEMO_EMAIL, DEMO_PASSWORD, DEMO_TITLE, Screenshots, Server
from tests.browser.test_accessibility import describe, violations
from tests.browser.test_session import (
    DESKTOP,
    PHONE_A,
    Q_SINGLE,
    SINGLE_OPTIONS,
    Watched,
    choose,
    nl,
    send_vote,
    shoot_phone,
)

pytestmark = pytest.mark.browser

HUURDERS = ["huurder", "huurdersorganisatie", "corporatie", "gemeente", "anders"]


@pytest.fixture
def screens(chromium: Browser) -> Iterator[dict[str, BrowserContext]]:
    # bypass_csp: axe-core is injected as a script (the pages themselves keep their CSP
    # checks in the other browser tests).
    made = {
        "facilitator": chromium.new_context(**DESKTOP, bypass_csp=True),  # type: ignore[arg-type]
        "phone_a": chromium.new_context(**PHONE_A, bypass_csp=True),  # type: ignore[arg-type]
        "phone_b": chromium.new_context(**PHONE_A, bypass_csp=True),  # type: ignore[arg-type]
    }
    try:
        yield made
    finally:
        for context in made.values():
            context.close()


def _axe(page: Page, name: str) -> None:
    found = violations(page)
    assert not found, f"{name}: {describe(found)}"


def _split_values(projector: Page, group: str) -> list[str]:
    cells = projector.locator(f'#stage td.split-cell[data-group="{group}"] .split-value')
    return [t.strip() for t in cells.all_inner_texts()]


def _join_and_pick(
    context: BrowserContext, name: str, url: str, group: str, shoot: Screenshots | None = None
) -> Watched:
    phone = Watched(context.new_page(), name)
    phone.page.goto(url)
    buttons = phone.page.locator("form.group-buttons button")
    expect(buttons).to_have_text([*HUURDERS, nl("I'd rather not say")])
    if shoot is not None:
        shoot_phone(phone, shoot, "groups-phone-pick")
        _axe(phone.page, "group buttons")
    phone.page.get_by_role("button", name=group, exact=True).tap()
    expect(phone.page.locator("#question-title")).to_have_text(Q_SINGLE)
    expect(phone.page.locator(".group-choice")).to_contain_text(group)
    expect(phone.page.locator("#connection")).to_have_attribute("data-state", "online")
    return phone


def test_groups_split_and_rounds_compared(
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
    manage_url = page.url

    # The suggested groups in one click; then the threshold down to 1 (two phones only).
    page.locator("form.groups-suggested button").click()
    expect(page.locator("#g-groups")).to_have_value("\n".join(HUURDERS))
    page.locator("#g-threshold").fill("1")
    page.locator("#groups form.stack button[type=submit]").click()
    expect(page.locator("#g-threshold")).to_have_value("1")
    page.locator("#groups").scroll_into_view_if_needed()
    shoot(page, "groups-settings")
    _axe(page, "presentation page with groups")

    page.locator(".heading-row form[action$='/move'] button[type=submit]").click()
    projector = page
    expect(projector).to_have_url(f"{base}/present/{presentation_id}")
    projector.keyboard.press("ArrowRight")
    expect(projector.locator("#stage h1.question-title")).to_have_text(Q_SINGLE)

    # Two phones join and pick a group: one extra tap before the question.
    url = f"{base}/p/{code}"
    phone_a = _join_and_pick(screens["phone_a"], "phone A", url, "huurder", shoot)
    phone_b = _join_and_pick(screens["phone_b"], "phone B", f"{base}/p/{code}", "corporatie")
    shoot_phone(phone_b, shoot, "groups-phone-question")
    choose(phone_a, [SINGLE_OPTIONS[0]])
    send_vote(phone_a)
    choose(phone_b, [SINGLE_OPTIONS[2]])
    send_vote(phone_b)
    expect(projector.locator("#response-count strong")).to_have_text("2")

    # "g": the results per group; each group's share is its one vote.
    projector.locator("body").press("g")
    expect(projector.locator("#stage")).to_have_attribute("data-split", "on")
    # Everyone, and the two groups that answered.
    expect(projector.locator("#stage .split-table thead th")).to_have_count(3)
    assert _split_values(projector, "huurder") == ["100%", "0%", "0%", "0%"]
    assert _split_values(projector, "corporatie") == ["0%", "0%", "100%", "0%"]
    everyone = projector.locator("#stage td.split-cell[data-everyone] .split-value")
    expect(everyone).to_have_text(["50%", "0%", "50%", "0%"])
    answered = projector.locator("#stage .group-answered li")
    expect(answered.filter(has_text="huurder").first.locator(".answered-count")).to_have_text("1")
    projector.mouse.move(0, 0)
    shoot(projector, "groups-projector-split", docs=True)
    _axe(projector, "projector split by group")

    # The threshold goes up to 2 on the presentation page: live, both groups too small.
    settings = screens["facilitator"].new_page()
    settings.goto(manage_url)
    settings.locator("#g-threshold").fill("2")
    settings.locator("#groups form.stack button[type=submit]").click()
    expect(settings.locator("#g-threshold")).to_have_value("2")
    settings.close()
    small = projector.locator("#stage li.too-few")
    expect(small).to_have_count(2)
    expect(small.first).to_have_text(re.compile(r"^\D*te weinig stemmen\D*$"))  # no numbers
    expect(projector.locator("#stage .split-table thead th")).to_have_count(1)  # everyone
    projector.mouse.move(0, 0)
    shoot(projector, "groups-projector-too-few")
    projector.locator("body").press("g")
    expect(projector.locator("#stage")).to_have_attribute("data-split", "off")
    expect(projector.locator("#stage .split-table")).to_have_count(0)

    # A second round: reset, both phones vote again (both for the middle option).
    projector.get_by_role("link", name=nl("Reset results")).click()
    projector.locator("#confirm-reset-yes").click()
    expect(projector.locator("#round")).to_have_text(nl("Round %(n)s", n=2))
    for phone in (phone_a, phone_b):
        expect(phone.page.locator("#stage")).to_have_attribute("data-round", "2")
        choose(phone, [SINGLE_OPTIONS[1]])
        send_vote(phone)
    expect(projector.locator("#response-count strong")).to_have_text("2")

    # "v": round 1 beside round 2, with the shift in words and numbers.
    projector.locator("body").press("v")
    expect(projector.locator("#stage")).to_have_attribute("data-compare", "on")
    lines = projector.locator("#stage .rounds-table tbody tr")
    expect(lines).to_have_count(len(SINGLE_OPTIONS))
    expect(lines.locator(".round-before")).to_have_text(["50%", "0%", "50%", "0%"])
    expect(lines.locator(".round-after")).to_have_text(["0%", "100%", "0%", "0%"])
    shifts = [
        re.sub(r"\s+", " ", t).strip() for t in lines.locator(".shift-text").all_inner_texts()
    ]
    assert shifts == ["-50 pp", "+100 pp", "-50 pp", "0 pp"], shifts
    expect(lines.nth(1).locator(".round-shift")).to_contain_text("omhoog")
    projector.mouse.move(0, 0)
    shoot(projector, "groups-projector-rounds", docs=True)
    _axe(projector, "projector rounds compared")
    projector.locator("body").press("v")
    expect(projector.locator("#stage")).to_have_attribute("data-compare", "off")
    expect(projector.locator("#stage .rounds-table")).to_have_count(0)

    for watched in (facilitator, phone_a, phone_b):
        assert watched.errors == [], watched.errors
