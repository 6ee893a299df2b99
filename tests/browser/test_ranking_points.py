"""Ranking and 100 points in Chromium: two phones answer, the projector shows the exact result.

The facilitator builds a presentation with a ranking and a points question through the
management pages and presents it; two phone-sized contexts join by the QR link, make a mistake
the server refuses (in Dutch), correct it, and the projector must show exactly the Borda points
and the average points that follow from their answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.layout import phone_problems, projector_problems
from tests.browser.support import DEMO_EMAIL, DEMO_PASSWORD, Screenshots, Server
from tests.browser.test_session import DESKTOP, PHONE_A, PHONE_B, SAVED, TIMEOUT_MS, Watched, nl

pytestmark = pytest.mark.browser

TITLE = "Thema's voor volgend jaar"
Q_RANKING = "Welk thema is het belangrijkst?"
Q_POINTS = "Verdeel 100 punten over de thema's"
ITEMS = ["Jaarcyclus", "Duurzaamheid", "Financiën"]

# Places per item (in ITEMS order). Borda with 3 items: 1st = 3 points, 2nd = 2, 3rd = 1.
RANKING_A = {"Financiën": 1, "Jaarcyclus": 2, "Duurzaamheid": 3}
RANKING_B = {"Duurzaamheid": 1, "Financiën": 2, "Jaarcyclus": 3}
BORDA = [("Financiën", "5"), ("Duurzaamheid", "4"), ("Jaarcyclus", "3")]
POINTS_A = {"Financiën": 60, "Jaarcyclus": 40}
POINTS_B_OVER = {"Duurzaamheid": 70, "Financiën": 50}  # 20 too many: refused
POINTS_B = {"Duurzaamheid": 70, "Financiën": 30}
AVERAGES = [("Financiën", "45,0"), ("Duurzaamheid", "35,0"), ("Jaarcyclus", "20,0")]


@pytest.fixture
def contexts(chromium: Browser) -> Iterator[dict[str, BrowserContext]]:
    made = {}
    for name, options in (("facilitator", DESKTOP), ("phone_a", PHONE_A), ("phone_b", PHONE_B)):
        context = chromium.new_context(**options)  # type: ignore[arg-type]
        context.set_default_timeout(TIMEOUT_MS)
        made[name] = context
    try:
        yield made
    finally:
        for context in made.values():
            context.close()


def add_question(page: Page, kind: str, title: str, **fields: str) -> None:
    """Add a question on the presentation page, fill its edit form, save."""
    page.locator("#q-kind").select_option(kind)
    page.locator("#q-title").fill(title)
    page.get_by_role("button", name=nl("Add question")).click()
    expect(page).to_have_url(re.compile(r"/manage/questions/\d+$"))
    for name, value in fields.items():
        page.locator(f"#{name}").fill(value)
    page.get_by_role("button", name=nl("Save")).click()
    expect(page).to_have_url(re.compile(r"/manage/presentations/\d+(#question-\d+)?$"))


def send(phone: Watched) -> None:
    page = phone.page
    expect(page.locator("#connection")).to_have_attribute("data-state", "online")
    page.locator("form.vote button[type=submit]").tap()


def send_and_expect_saved(phone: Watched) -> None:
    send(phone)
    saved = phone.page.locator("#vote-status .saved-text")
    expect(saved).to_be_visible()
    expect(saved).to_contain_text(SAVED)
    expect(phone.page.locator("#vote-status .error-text:visible")).to_have_count(0)


def rank(phone: Watched, places: dict[str, int]) -> None:
    for label, place in places.items():
        item = phone.page.locator("fieldset.rank-item").filter(has_text=label)
        point = item.locator("label.rank-point").filter(has_text=re.compile(rf"^\s*{place}\s*$"))
        point.tap()
        expect(point.locator("input")).to_be_checked()


def give(phone: Watched, points: dict[str, int]) -> None:
    for label, n in points.items():
        phone.page.locator(".points-item").filter(has_text=label).locator("input").fill(str(n))


def check_phone(phone: Watched, shoot: Screenshots, name: str) -> None:
    shoot(phone.page, name)
    assert phone_problems(phone.page) == [], f"{name} on {phone.name}"
    for target in phone.page.locator(".rank-point > span").all():
        box = target.bounding_box()
        assert box is not None and box["width"] >= 44 and box["height"] >= 44, (name, box)


def check_projector(projector: Page, shoot: Screenshots, name: str) -> None:
    projector.mouse.move(0, 0)
    shoot(projector, name)
    assert projector_problems(projector) == [], name


def expect_result(projector: Page, expected: list[tuple[str, str]], responses: int) -> None:
    rows = projector.locator("#stage .bar-row")
    expect(projector.locator("#response-count strong")).to_have_text(str(responses))
    expect(rows.locator(".bar-label")).to_have_text([label for label, _ in expected])
    expect(rows.locator(".bar-count strong")).to_have_text([n for _, n in expected])


def test_ranking_and_points(
    server: Server, contexts: dict[str, BrowserContext], shoot: Screenshots
) -> None:
    base = server.base_url
    facilitator = Watched(contexts["facilitator"].new_page(), "facilitator")
    page = facilitator.page
    page.goto(f"{base}/login")
    page.locator("#email").fill(DEMO_EMAIL)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(f"{base}/manage")

    page.locator("#new-title").fill(TITLE)
    page.locator("#new-language").select_option("nl")
    page.locator("#new-title").press("Enter")
    expect(page).to_have_url(re.compile(r"/manage/presentations/\d+$"))
    add_question(page, "ranking", Q_RANKING, items="\n".join(ITEMS))
    add_question(page, "points", Q_POINTS, items="\n".join(ITEMS), budget="100")
    expect(page.locator("ol.questions > li")).to_have_count(2)
    page.get_by_role("button", name=nl("Start presenting")).click()
    expect(page).to_have_url(re.compile(r"/present/\d+$"))
    projector = page
    expect(projector.locator("#stage h1.question-title")).to_have_text(Q_RANKING)
    code = projector.locator("#join-code").inner_text().replace(" ", "")

    phones = []
    for key, name in (("phone_a", "phone A"), ("phone_b", "phone B")):
        phone = Watched(contexts[key].new_page(), name)
        phone.page.goto(f"{base}/j/{code}")
        expect(phone.page.locator("#question-title")).to_have_text(Q_RANKING)
        expect(phone.page.locator("#connection")).to_have_attribute("data-state", "online")
        phones.append(phone)
    phone_a, phone_b = phones
    expect(phone_a.page.locator("fieldset.rank-item legend")).to_have_text(ITEMS)
    expect(phone_a.page.locator("fieldset.rank-item input[type=radio]")).to_have_count(9)

    # Ranking. Phone B first gives two items the first place: refused, in Dutch, nothing saved.
    rank(phone_a, RANKING_A)
    check_phone(phone_a, shoot, "phone-ranking")
    send_and_expect_saved(phone_a)
    rank(phone_b, {"Duurzaamheid": 1, "Financiën": 1, "Jaarcyclus": 3})
    send(phone_b)
    error = phone_b.page.locator("#vote-status .error-text:visible")
    expect(error).to_have_text(nl("Give each item a different place."))
    check_phone(phone_b, shoot, "phone-ranking-refused")
    expect(projector.locator("#response-count strong")).to_have_text("1")
    rank(phone_b, RANKING_B)
    send_and_expect_saved(phone_b)
    expect_result(projector, BORDA, responses=2)
    check_projector(projector, shoot, "projector-ranking")

    # On request: how often each item got each place.
    projector.locator("details.rank-places summary").click()
    table = projector.locator("details.rank-places table")
    expect(table).to_be_visible()
    expect(table.locator("tbody tr")).to_have_text(
        [
            re.compile(r"Financiën\s*1\s*1\s*0"),
            re.compile(r"Duurzaamheid\s*1\s*0\s*1"),
            re.compile(r"Jaarcyclus\s*0\s*1\s*1"),
        ]
    )
    shoot(projector, "projector-ranking-places")

    # 100 points. Phone B first gives 20 points too many.
    projector.keyboard.press("ArrowRight")
    expect(projector.locator("#stage h1.question-title")).to_have_text(Q_POINTS)
    for phone in phones:
        expect(phone.page.locator("#question-title")).to_have_text(Q_POINTS)
        expect(phone.page.locator(".points-item input[inputmode=numeric]")).to_have_count(3)
    give(phone_a, POINTS_A)
    check_phone(phone_a, shoot, "phone-points")
    send_and_expect_saved(phone_a)
    give(phone_b, POINTS_B_OVER)
    send(phone_b)
    too_many = nl(
        "That is %(over)s points too many. You can give %(budget)s points in total.",
        over=20,
        budget=100,
    )
    expect(phone_b.page.locator("#vote-status .error-text:visible")).to_have_text(too_many)
    check_phone(phone_b, shoot, "phone-points-refused")
    give(phone_b, POINTS_B)
    send_and_expect_saved(phone_b)
    expect_result(projector, AVERAGES, responses=2)
    check_projector(projector, shoot, "projector-points")

    for watched in (facilitator, phone_a, phone_b):
        assert watched.errors == [], f"{watched.name}: {watched.errors}"
