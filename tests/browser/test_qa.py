"""Q&A in Chromium: the facilitator builds a Q&A that allows names and presents it; two phones
(390x844 and 360x640) ask questions, one with a name, and upvote each other's; on the queue
page the facilitator approves, pins and marks answered. The projector follows in the
documented order (pinned first, answered last, then most votes, then oldest) with the right
counts, and the name shows on the projector and the queue, never on a phone.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from app.i18n import translations
from tests.browser.support import DEMO_EMAIL, DEMO_PASSWORD, Screenshots, Server

# The same desktop and phones (390x844, 360x640, nl-NL) as the moderation test.
from tests.browser.test_moderation import contexts, nl, watch  # noqa: F401 (a fixture)

pytestmark = pytest.mark.browser

TITLE = "Bewonersavond"
Q_QA = "Uw vragen aan het bestuur"
# B asks first and nobody upvotes it; then B and A ask, and upvote each other's question.
OLDEST = "Komt er een buurtfeest in de zomer?"
FROM_B = "Wat kost de renovatie per woning?"
FROM_A = "Wanneer wordt de lift vervangen?"
NAME = "Ria de Vries"


def votes(n: int) -> str:
    """The Dutch "n vote(s)" of the queue and the phones."""
    text = translations("nl").ngettext("%(num)s vote", "%(num)s votes", n) % {"num": n}
    assert "stem" in text, text
    return text


SENT = nl("Your question has been sent.")


def ask(phone: Page, text: str, name: str | None = None) -> None:
    phone.locator("form.qa-ask textarea[name=text]").fill(text)
    if name is not None:
        phone.locator("form.qa-ask input[name=name]").fill(name)
    phone.locator("form.qa-ask button[type=submit]").tap()
    expect(phone.locator(".qa-list .qa-status .saved-text")).to_contain_text(SENT)
    expect(phone.locator("form.qa-ask textarea[name=text]")).to_have_value("")
    mine = phone.locator("li.qa-entry.mine").filter(has_text=text)
    expect(mine.locator(".qa-own")).to_have_text(nl("Your question"))


def upvote(phone: Page, text: str) -> None:
    entry = phone.locator("li.qa-entry").filter(has_text=text)
    entry.get_by_role("button", name=nl("Me too")).tap()
    expect(entry).to_have_attribute("data-upvoted", "yes")
    expect(entry.locator(".qa-votes")).to_have_text(votes(1))


def queued(queue: Page, text: str) -> Locator:
    return queue.locator("ol.moderation-queue > li.qa-queue-entry").filter(has_text=text)


def test_qa_session(
    server: Server,
    contexts: dict[str, BrowserContext],  # noqa: F811 (the fixture imported above)
    shoot: Screenshots,
) -> None:
    base = server.base_url
    errors: list[str] = []

    # The facilitator builds a presentation with one Q&A that allows names.
    page = watch(contexts["facilitator"].new_page(), errors)
    page.goto(f"{base}/login")
    page.locator("#email").fill(DEMO_EMAIL)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(f"{base}/manage")
    page.locator("#new-title").fill(TITLE)
    page.locator("#new-title").press("Enter")
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/manage/presentations/\d+$"))
    presentation_id = int(page.url.rsplit("/", 1)[1])
    page.locator("#q-kind").select_option("qa")
    page.locator("#q-title").fill(Q_QA)
    page.locator("#q-title").press("Enter")
    expect(page).to_have_url(re.compile(r"/manage/questions/\d+$"))
    page.locator("input[name=allow_names]").check()
    page.locator("main form.card button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"/manage/presentations/{presentation_id}"))
    expect(page.locator("ol.questions > li")).to_have_count(1)

    page.locator(".heading-row form[action$='/move'] button[type=submit]").click()
    expect(page).to_have_url(f"{base}/present/{presentation_id}")
    projector = page
    expect(projector.locator("#stage h1.question-title")).to_have_text(Q_QA)
    code = re.sub(r"\s", "", projector.locator("#join-code").inner_text())

    phones: list[Page] = []
    for name in ("a", "b"):
        phone = watch(contexts[name].new_page(), errors)
        phone.goto(f"{base}/j/{code}")
        expect(phone).to_have_url(f"{base}/p/{code}")
        expect(phone.locator("#connection")).to_have_attribute("data-state", "online")
        expect(phone.locator("#question-title")).to_have_text(Q_QA)
        phones.append(phone)
    phone_a, phone_b = phones
    # Names are allowed: the field is there, with the promise that other phones never see it.
    expect(phone_a.locator("form.qa-ask input[name=name]")).to_be_visible()

    ask(phone_b, OLDEST)
    ask(phone_b, FROM_B)
    ask(phone_a, FROM_A, NAME)
    upvote(phone_a, FROM_B)
    upvote(phone_b, FROM_A)
    # An upvote of one's own question is not offered.
    own = phone_a.locator("li.qa-entry.mine").filter(has_text=FROM_A)
    expect(own.get_by_role("button", name=nl("Me too"))).to_have_count(0)

    # Most votes first, then oldest: the question nobody upvoted goes last.
    board = projector.locator("#stage ol.qa-board > li.qa-item")
    expect(board.locator(".qa-text")).to_have_text([FROM_B, FROM_A, OLDEST])
    expect(board.locator(".qa-count strong")).to_have_text(["1", "1", "0"])
    expect(board.filter(has_text=FROM_A).locator(".qa-name")).to_have_text(NAME)
    expect(board.locator(".qa-name")).to_have_count(1)
    for phone in phones:
        expect(phone.locator("li.qa-entry .qa-text")).to_have_text([FROM_B, FROM_A, OLDEST])

    # The queue, in a tab beside the projector: newest first, with the name.
    projector.evaluate("window.__qaMarker = true")  # gone if the page reloads
    queue = watch(contexts["facilitator"].new_page(), errors)
    queue.goto(f"{base}/present/{presentation_id}/qa")
    expect(queue.locator("#qa-queue h2")).to_have_text(Q_QA)
    expect(queue.locator("li.qa-queue-entry .entry-text")).to_have_text([FROM_A, FROM_B, OLDEST])
    expect(queued(queue, FROM_A).locator(".entry-meta")).to_contain_text(NAME)
    expect(queued(queue, FROM_A).locator(".qa-votes")).to_have_text(votes(1))
    expect(queued(queue, OLDEST).locator(".qa-votes")).to_have_text(votes(0))

    queued(queue, FROM_B).get_by_role("button", name=nl("Approve")).click()
    expect(queued(queue, FROM_B)).to_have_attribute("data-state", "approved")
    queued(queue, OLDEST).get_by_role("button", name=nl("Pin")).click()
    expect(queued(queue, OLDEST)).to_have_attribute("data-pinned", "yes")
    queued(queue, FROM_B).get_by_role("button", name=nl("Mark answered")).click()
    expect(queued(queue, FROM_B)).to_have_attribute("data-answered", "yes")
    expect(queued(queue, FROM_B).get_by_role("button", name=nl("Not answered"))).to_be_visible()
    shoot(queue, "qa-queue", docs=True, full_page=True)

    # Pinned first, answered last, the rest by votes; the projector was not reloaded.
    expect(board.locator(".qa-text")).to_have_text([OLDEST, FROM_A, FROM_B])
    expect(board.locator(".qa-count strong")).to_have_text(["0", "1", "1"])
    expect(board.nth(0)).to_have_class(re.compile(r"\bpinned\b"))
    expect(board.nth(2)).to_have_class(re.compile(r"\banswered\b"))
    expect(board.nth(1).locator(".qa-name")).to_have_text(NAME)
    projector.mouse.move(0, 0)
    shoot(projector, "qa-projector", docs=True)

    # The phones follow (on their next refresh), in the same order, with the same counts.
    for phone in phones:
        entries = phone.locator("li.qa-entry")
        expect(entries.locator(".qa-text")).to_have_text([OLDEST, FROM_A, FROM_B])
        expect(entries.locator(".qa-votes")).to_have_text([votes(0), votes(1), votes(1)])
        expect(entries.nth(0)).to_have_class(re.compile(r"\bpinned\b"))
        expect(entries.nth(2)).to_have_class(re.compile(r"\banswered\b"))
    shoot(phone_a, "qa-phone", docs=True)
    shoot(phone_b, "qa-phone-small", full_page=True)

    # The name never reaches a phone: not B's page at all, not A's list (only A's own form
    # keeps what A typed, for the next question).
    assert NAME not in phone_b.content()
    assert NAME not in phone_a.locator(".qa-list").inner_html()
    assert NAME not in phone_b.locator(".qa-list").inner_html()

    assert projector.evaluate("window.__qaMarker === true"), "the projector reloaded"
    assert errors == [], errors
