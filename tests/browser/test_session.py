"""A whole session in Chromium: a facilitator on the projector and two phones voting.

The facilitator logs in, opens the demo presentation and starts presenting; one phone joins by
typing the code on the home page, the other through the QR link. The facilitator steps through
the five questions with the arrow key; the phones follow over the websocket without reloading,
answer every question, and the projector's numbers must reach exactly what was voted. At the end
the CSV export must hold exactly those votes.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Response,
    expect,
)

from app.i18n import translate
from tests.browser.layout import phone_problems, projector_problems
from tests.browser.support import DEMO_EMAIL, DEMO_PASSWORD, DEMO_TITLE, Screenshots, Server

pytestmark = pytest.mark.browser

TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)

# What participants and the projector see: the presentation's language is Dutch.
SAVED = "Je stem is opgeslagen"


def nl(message: str, **params: object) -> str:
    """A message of the interface in Dutch; it must be translated."""
    text = translate("nl", message, **params)
    assert text != (message % params if params else message), f"no Dutch for {message!r}"
    return text


CLOSE_VOTING = nl("Close voting")
CLOSED = nl("Voting on this question is closed. Wait for the next question.")
DONT_KNOW_LABEL = nl("don't know")

DESKTOP = {"viewport": {"width": 1280, "height": 720}, "locale": "nl-NL"}
PROJECTOR_HD = {"width": 1920, "height": 1080}
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

QUESTIONS = 5
Q_SCALE = "Hoe goed is de samenwerking over de prestatieafspraken?"
Q_SINGLE = "Zijn de afspraken SMART genoeg?"
Q_MULTI = "Over welke thema's willen we volgende keer meer afspreken? (kies er 2)"
Q_CLOUD = "De prestatieafspraken in één woord"
Q_OPEN = "Tips voor het volgende Participatielab?"

STATEMENTS = [
    "Tussen huurders en de corporatie",
    "Tussen huurders en de gemeente",
    "Tussen corporatie en gemeente",
    "Huurders kunnen op gelijk niveau meepraten",
]
SINGLE_OPTIONS = [
    "Ja, de meeste afspraken zijn SMART",
    "Een deel wel, een deel niet",
    "Nee, ze zijn vaak te vaag",
    "Weet ik niet",
]
MULTI_OPTIONS = [
    "Jaarcyclus van de corporatie",
    "Duurzaamheid",
    "Financiën van de corporatie",
    "Betaalbaarheid",
    "Leefbaarheid in de wijk",
]
DONT_KNOW = "dk"

# The answers of each phone. Scale: one value (or "don't know") per statement, in order.
SCALE_A = [4, 2, 5, DONT_KNOW]
SCALE_B = [4, 3, 1, 5]
SINGLE_A_FIRST = SINGLE_OPTIONS[1]
SINGLE_A = SINGLE_OPTIONS[0]  # phone A changes its answer to this one
SINGLE_B = SINGLE_OPTIONS[2]
MULTI_A = [MULTI_OPTIONS[1], MULTI_OPTIONS[3]]
MULTI_B = [MULTI_OPTIONS[1], MULTI_OPTIONS[4]]
WORDS_A = ["Duidelijk", "Vaag"]
WORDS_B = ["duidelijk ", "Ambitieus"]  # merges with phone A's "Duidelijk"
OPEN_A = "Meer tijd voor de wijkronde"
OPEN_B = "Graag koffie bij binnenkomst & een grotere zaal"

# CSV columns (the header row is translated; the order is fixed).
(
    COL_POSITION,
    COL_ROUND,
    COL_QUESTION,
    COL_TYPE,
    COL_PARTICIPANT,
    COL_ANSWER,
    COL_VALUE,
    COL_WHEN,
) = range(1, 9)


@dataclass
class Watched:
    """A page with what went wrong in it: script errors, failed requests, reloads."""

    page: Page
    name: str
    errors: list[str] = field(default_factory=list)
    loads: int = 0
    step: ClassVar[str] = "start"  # where the session is, for the error messages

    def __post_init__(self) -> None:
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.on("pageerror", lambda exc: self.errors.append(f"[{self.step}] pageerror: {exc}"))
        self.page.on("console", self._logged)
        self.page.on("load", self._loaded)
        self.page.on("response", self._answered)

    def _logged(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "")
        if where.endswith("/favicon.ico"):  # the browser asks for it by itself; there is none
            return
        self.errors.append(f"[{self.step}] console {message.type}: {message.text} ({where})")

    def _loaded(self, _page: Page) -> None:
        self.loads += 1

    def _answered(self, response: Response) -> None:
        if response.status >= 400:
            self.errors.append(
                f"[{self.step}] {response.status} {response.request.method} {response.url}"
            )


def _context(browser: Browser, options: dict[str, object]) -> BrowserContext:
    context = browser.new_context(**options)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
def contexts(chromium: Browser) -> Iterator[dict[str, BrowserContext]]:
    made = {
        "facilitator": _context(chromium, DESKTOP),
        "phone_a": _context(chromium, PHONE_A),
        "phone_b": _context(chromium, PHONE_B),
    }
    try:
        yield made
    finally:
        for context in made.values():
            context.close()


# --- steps -------------------------------------------------------------------------------


def follows_without_reload(phone: Watched, title: str) -> None:
    """The phone shows `title` in the same document it loaded when joining."""
    expect(phone.page.locator("#question-title")).to_have_text(title)
    assert phone.page.evaluate("window.__stemlabSameDocument === true"), (
        f"{phone.name} lost its page: it was reloaded or navigated"
    )
    assert phone.loads == 1, f"{phone.name} loaded a page {phone.loads} times"


def advance(projector: Page, phones: list[Watched], title: str, position: int) -> None:
    """The facilitator presses the right arrow; projector and phones move to `title`."""
    Watched.step = f"question {position}"
    projector.keyboard.press("ArrowRight")
    expect(projector.locator("#stage h1.question-title")).to_have_text(title)
    where = nl("Question %(n)s of %(total)s", n=position, total=QUESTIONS)
    expect(projector.locator("#stage .position")).to_have_text(where)
    expect(projector.locator("#response-count strong")).to_have_text("0")
    for phone in phones:
        follows_without_reload(phone, title)
        expect(phone.page.locator("#stage .counter")).to_have_text(where)
        expect(phone.page.locator("form.vote")).to_be_visible()
        expect(phone.page.locator("#vote-status .saved")).to_be_hidden()


def send_vote(phone: Watched) -> None:
    """Tap the send button; the vote goes over the open socket, is acknowledged after it is
    stored, and the phone says so (no form post is needed while connected)."""
    page = phone.page
    expect(page.locator("#connection")).to_have_attribute("data-state", "online")
    posts: list[str] = []

    def note(request) -> None:
        if request.method == "POST" and request.url.endswith("/vote"):
            posts.append(request.url)

    page.on("request", note)
    page.locator("form.vote button[type=submit]").tap()
    saved = page.locator("#vote-status .saved-text")
    expect(saved).to_be_visible()
    expect(saved).to_contain_text(SAVED)
    expect(page.locator("#vote-status .error-text:visible")).to_have_count(0)
    page.remove_listener("request", note)
    assert posts == [], f"{phone.name}: the vote went as a form post, not over the socket"


def rate(phone: Watched, ratings: list[int | str]) -> None:
    page = phone.page
    for index, value in enumerate(ratings):
        statement = page.locator("fieldset.scale").nth(index)
        expect(statement.locator("legend")).to_have_text(STATEMENTS[index])
        if value == DONT_KNOW:
            label = statement.locator("label.dont-know")
        else:
            label = statement.locator("label.scale-point").filter(
                has_text=re.compile(rf"^\s*{value}\s*$")
            )
        label.tap()
        expect(label.locator("input")).to_be_checked()


def choose(phone: Watched, labels: list[str]) -> None:
    page = phone.page
    for text in labels:
        label = page.locator("label.choice").filter(has_text=text)
        label.tap()
        expect(label.locator("input")).to_be_checked()


def type_words(phone: Watched, words: list[str]) -> None:
    for index, word in enumerate(words):
        phone.page.locator(f"#word-{index}").fill(word)


def expect_bars(projector: Page, counts: list[int], responses: int) -> None:
    expect(projector.locator("#stage .bar-count strong")).to_have_text([str(n) for n in counts])
    expect(projector.locator("#response-count strong")).to_have_text(str(responses))


def shoot_projector(projector: Page, shoot: Screenshots, name: str, *, docs: bool = False) -> None:
    """The projector at 1280x720 and at 1920x1080, readable and complete at both sizes."""
    projector.mouse.move(0, 0)  # the controls show fully only under the mouse
    shoot(projector, name, docs=docs)
    assert projector_problems(projector) == [], f"{name} at 1280x720"
    projector.set_viewport_size(PROJECTOR_HD)
    try:
        shoot(projector, f"{name}-1080")
        assert projector_problems(projector) == [], f"{name} at 1920x1080"
    finally:
        projector.set_viewport_size(DESKTOP["viewport"])  # type: ignore[arg-type]


def shoot_phone(phone: Watched, shoot: Screenshots, name: str, *, docs: bool = False) -> None:
    """A phone screen: text of 18px or more, touch targets of 44px or more."""
    status = phone.page.locator("#vote-status .saved")
    if status.count() and status.is_visible():
        status.scroll_into_view_if_needed()
    shoot(phone.page, name, docs=docs)
    assert phone_problems(phone.page) == [], f"{name} on {phone.name}"


# --- the session -------------------------------------------------------------------------


def test_whole_session(
    server: Server, contexts: dict[str, BrowserContext], shoot: Screenshots
) -> None:
    base = server.base_url
    code = server.join_code
    assert re.fullmatch(r"[0-9A-Z]{8}", code), f"unexpected join code {code!r}"

    # The facilitator logs in and opens the demo presentation.
    facilitator = Watched(contexts["facilitator"].new_page(), "facilitator")
    page = facilitator.page
    page.goto(f"{base}/login")
    page.locator("#email").fill(DEMO_EMAIL)
    page.locator("#password").fill(DEMO_PASSWORD)
    shoot(page, "facilitator-login")
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(f"{base}/manage")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    shoot(page, "facilitator-presentations")
    page.get_by_role("link", name=DEMO_TITLE, exact=True).click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/manage/presentations/\d+$"))
    presentation_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("h1")).to_have_text(DEMO_TITLE)
    expect(page.locator("ol.questions > li")).to_have_count(5)
    shoot(page, "facilitator-presentation", docs=True, full_page=True)

    # Before the session the projector shows only how to join.
    page.locator(f".heading-row a[href='/present/{presentation_id}']").click()
    expect(page).to_have_url(f"{base}/present/{presentation_id}")
    expect(page.locator("#stage")).to_have_attribute("data-question", "")
    expect(page.locator("#stage h1.question-title")).to_have_text(DEMO_TITLE)
    expect(page.locator("#stage .online")).to_contain_text(re.compile(r"^\s*0\b"))
    for control in ("when-open", "when-closed", "when-shown", "when-hidden"):
        expect(page.locator(f".controls form.{control}")).to_be_hidden()  # nothing to control
    shoot_projector(page, shoot, "projector-welcome")
    page.go_back()
    expect(page).to_have_url(f"{base}/manage/presentations/{presentation_id}")

    # "Start presenting" makes the first question current and opens the projector screen.
    page.locator(".heading-row form[action$='/move'] button[type=submit]").click()
    expect(page).to_have_url(f"{base}/present/{presentation_id}")
    projector = page
    expect(projector.locator("#join-code")).to_have_text(f"{code[:4]} {code[4:]}")
    expect(projector.locator("#stage h1.question-title")).to_have_text(Q_SCALE)
    expect(projector.locator("#stage")).to_have_attribute("data-voting", "open")
    expect(projector.locator("#response-count strong")).to_have_text("0")

    # Phone A types the code on the home page; phone B scans the QR code.
    phone_a = Watched(contexts["phone_a"].new_page(), "phone A")
    phone_a.page.goto(f"{base}/")
    phone_a.page.locator("#code").fill(f"{code[:4]} {code[4:]}")
    shoot_phone(phone_a, shoot, "phone-join")
    phone_a.page.locator("main form button[type=submit]").tap()
    expect(phone_a.page).to_have_url(f"{base}/p/{code}")

    phone_b = Watched(contexts["phone_b"].new_page(), "phone B")
    phone_b.page.goto(f"{base}/j/{code}")
    expect(phone_b.page).to_have_url(f"{base}/p/{code}")

    phones = [phone_a, phone_b]
    for phone in phones:
        # Two documents were loaded for phone A (home page, then the stage); count from here.
        phone.loads = 1
        expect(phone.page.locator("html")).to_have_attribute("lang", "nl")
        expect(phone.page.locator("#connection")).to_have_attribute("data-state", "online")
        phone.page.evaluate("window.__stemlabSameDocument = true")
        follows_without_reload(phone, Q_SCALE)
    expect(projector.locator("#stage .online")).to_contain_text(re.compile(r"^\s*2\b"))
    shoot_projector(projector, shoot, "projector-start")

    # 1. Scale: four statements, 1 to 5 with "don't know".
    rate(phone_a, SCALE_A)
    rate(phone_b, SCALE_B)
    shoot_phone(phone_b, shoot, "phone-scale")
    send_vote(phone_a)
    send_vote(phone_b)
    shoot_phone(phone_b, shoot, "phone-scale-saved")
    expect(projector.locator("#response-count strong")).to_have_text("2")
    rows = projector.locator("#stage .scale-result")
    expect(rows).to_have_count(4)
    expect(rows.locator(".scale-label")).to_have_text(STATEMENTS)
    expect(rows.locator(".mean strong")).to_have_text(["4,0", "2,5", "3,0", "5,0"])
    for index, row in enumerate(SCALE_A):
        other = SCALE_B[index]
        expected = [f"{v}: {sum(1 for r in (row, other) if r == v)}" for v in range(1, 6)]
        expect(rows.nth(index).locator(".dist > span")).to_have_text(expected)
        dont_know = sum(1 for r in (row, other) if r == DONT_KNOW)
        expect(rows.nth(index).locator(".dk-count")).to_have_text(f"{DONT_KNOW_LABEL}: {dont_know}")
    shoot_projector(projector, shoot, "projector-scale", docs=True)

    # 2. Single choice; phone A changes its answer while voting is open.
    advance(projector, phones, Q_SINGLE, 2)
    expect(phone_a.page.locator("label.choice input[type=radio]")).to_have_count(4)
    choose(phone_a, [SINGLE_A_FIRST])
    send_vote(phone_a)
    choose(phone_b, [SINGLE_B])
    send_vote(phone_b)
    expect_bars(projector, [0, 1, 1, 0], responses=2)
    shoot_phone(phone_a, shoot, "phone-vote-saved", docs=True)
    choose(phone_a, [SINGLE_A])
    expect(phone_a.page.locator("label.choice input:checked")).to_have_count(1)
    send_vote(phone_a)
    expect_bars(projector, [1, 0, 1, 0], responses=2)
    shoot_phone(phone_a, shoot, "phone-vote-changed")
    shoot_projector(projector, shoot, "projector-choice")

    # The facilitator closes voting; the phones say so and offer no form any more.
    projector.get_by_role("button", name=CLOSE_VOTING).click()
    expect(projector.locator("#stage")).to_have_attribute("data-voting", "closed")
    expect(projector.get_by_role("button", name=CLOSE_VOTING)).to_be_hidden()
    for phone in phones:
        expect(phone.page.locator("#stage p.closed")).to_be_visible()
        expect(phone.page.locator("#stage p.closed")).to_contain_text(CLOSED)
        expect(phone.page.locator("form.vote")).to_have_count(0)
        follows_without_reload(phone, Q_SINGLE)
    expect_bars(projector, [1, 0, 1, 0], responses=2)
    shoot_phone(phone_b, shoot, "phone-closed")
    shoot_projector(projector, shoot, "projector-closed")

    # 3. Multiple choice, at most two.
    advance(projector, phones, Q_MULTI, 3)
    expect(phone_b.page.locator("label.choice input[type=checkbox]")).to_have_count(5)
    choose(phone_a, MULTI_A)
    choose(phone_b, MULTI_B)
    shoot_phone(phone_b, shoot, "phone-multiple")
    send_vote(phone_a)
    send_vote(phone_b)
    expect_bars(projector, [0, 2, 0, 1, 1], responses=2)
    shoot_projector(projector, shoot, "projector-multiple")

    # 4. Word cloud: "Duidelijk" and "duidelijk " are one word.
    advance(projector, phones, Q_CLOUD, 4)
    type_words(phone_a, WORDS_A)
    type_words(phone_b, WORDS_B)
    shoot_phone(phone_b, shoot, "phone-wordcloud")
    send_vote(phone_a)
    send_vote(phone_b)
    expect(projector.locator("#response-count strong")).to_have_text("2")
    cloud = projector.locator("#stage ul.cloud > li")
    expect(cloud).to_have_count(3)
    merged = cloud.filter(has_text=re.compile(r"^\s*duidelijk\s*$", re.IGNORECASE))
    expect(merged).to_have_count(1)
    expect(merged).to_have_attribute("title", "2")
    for word in ("vaag", "ambitieus"):
        entry = cloud.filter(has_text=re.compile(rf"^\s*{word}\s*$", re.IGNORECASE))
        expect(entry).to_have_count(1)
        expect(entry).to_have_attribute("title", "1")
    shoot_projector(projector, shoot, "projector-wordcloud", docs=True)

    # 5. Open question.
    advance(projector, phones, Q_OPEN, 5)
    phone_a.page.locator("#answer-text").fill(OPEN_A)
    phone_b.page.locator("#answer-text").fill(OPEN_B)
    shoot_phone(phone_b, shoot, "phone-open")
    send_vote(phone_a)
    send_vote(phone_b)
    expect(projector.locator("#response-count strong")).to_have_text("2")
    expect(projector.locator("#stage ul.wall > li")).to_have_count(2)
    expect(projector.locator("#stage ul.wall")).to_contain_text(OPEN_A)
    expect(projector.locator("#stage ul.wall")).to_contain_text(OPEN_B)
    shoot_projector(projector, shoot, "projector-open")
    shoot_phone(phone_a, shoot, "phone-open-saved")

    errors = {w.name: w.errors for w in (facilitator, *phones) if w.errors}
    assert not errors, errors
    for phone in phones:
        follows_without_reload(phone, Q_OPEN)

    # The organiser's CSV holds exactly these votes, one row per answer item.
    response = contexts["facilitator"].request.get(
        f"{base}/manage/presentations/{presentation_id}/export.csv"
    )
    assert response.status == 200, response.text()
    assert response.headers["content-type"].startswith("text/csv")
    check_csv(response.text())

    # The facilitator's overview counts the responses per question.
    overview = contexts["facilitator"].new_page()
    overview.goto(f"{base}/manage/presentations/{presentation_id}")
    expect(overview.locator("ol.questions .q-count")).to_have_text([re.compile(r"^2\b")] * 5)
    shoot(overview, "facilitator-after-session", full_page=True)


def expected_rows(
    scale: list[int | str], single: str, multi: list[str], words: list[str], text: str
) -> Counter[tuple[str, ...]]:
    """The rows one phone's answers must give: (position, question, type, answer, value)."""
    rows: list[tuple[str, ...]] = []
    for statement, value in zip(STATEMENTS, scale, strict=True):
        rows.append(
            (
                "1",
                Q_SCALE,
                "scale",
                statement,
                DONT_KNOW_LABEL if value == DONT_KNOW else str(value),
            )
        )
    rows.append(("2", Q_SINGLE, "choice", single, ""))
    rows.extend(("3", Q_MULTI, "choice", option, "") for option in multi)
    rows.extend(("4", Q_CLOUD, "wordcloud", w.strip(), w.strip().casefold()) for w in words)
    rows.append(("5", Q_OPEN, "open", text, ""))
    return Counter(rows)


def check_csv(text: str) -> None:
    rows = list(csv.reader(io.StringIO(text)))
    assert rows, "the CSV is empty"
    assert len(rows[0]) == 12, f"header: {rows[0]}"
    body = rows[1:]
    per_participant: dict[str, Counter[tuple[str, ...]]] = {}
    for row in body:
        assert len(row) == 12, row
        assert row[0] == DEMO_TITLE, row
        assert row[10:] == ["", "telefoon"], row  # no group picked; sent from a phone
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[COL_WHEN]), row
        item = (
            row[COL_POSITION],
            row[COL_QUESTION],
            row[COL_TYPE],
            row[COL_ANSWER],
            row[COL_VALUE],
        )
        per_participant.setdefault(row[COL_PARTICIPANT], Counter())[item] += 1
    assert len(per_participant) == 2, f"participants in the CSV: {sorted(per_participant)}"

    want_a = expected_rows(SCALE_A, SINGLE_A, MULTI_A, WORDS_A, OPEN_A)
    want_b = expected_rows(SCALE_B, SINGLE_B, MULTI_B, WORDS_B, OPEN_B)
    # Phone A is the participant whose (changed) answer to question 2 is SINGLE_A.
    marker = ("2", Q_SINGLE, "choice", SINGLE_A, "")
    got_a = next((c for c in per_participant.values() if marker in c), Counter())
    got_b = next((c for c in per_participant.values() if marker not in c), Counter())
    assert got_a == want_a, (
        f"phone A's rows:\n{sorted(got_a.items())}\nexpected:\n{sorted(want_a.items())}"
    )
    assert got_b == want_b, (
        f"phone B's rows:\n{sorted(got_b.items())}\nexpected:\n{sorted(want_b.items())}"
    )
    assert len(body) == 20, f"{len(body)} rows"
    # Phone A's first answer to question 2 was replaced, not added.
    assert not any(row[COL_ANSWER] == SINGLE_A_FIRST for row in body), body
