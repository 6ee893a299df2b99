"""Bad venue wifi, played by Chromium itself: a slow 3G line, a vote held in transit, a reply
that never arrives, and a phone that goes offline while it sends.

What must hold each time: the phone says "saved" only once the server has the vote, and the
vote is counted exactly once (the database is read directly to check).

Chromium's network emulation slows HTTP (joining on slow 3G takes seconds) but not the frames
of a websocket that is already open, so the held, lost and offline cases play the network
through `page.route_web_socket` and the browser's offline mode instead.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, BrowserContext, Page, WebSocketRoute, expect

from app.i18n import translate
from tests.browser.support import DEMO_EMAIL, DEMO_PASSWORD, DEMO_TITLE, Server

pytestmark = pytest.mark.browser

TIMEOUT_MS = 30_000
PHONE = {
    "viewport": {"width": 360, "height": 640},
    "is_mobile": True,
    "has_touch": True,
    "locale": "nl-NL",
}
Q_SCALE = "Hoe goed is de samenwerking over de prestatieafspraken?"
SAVED = translate("nl", "Your vote has been saved")
# Chrome DevTools' "Slow 3G" preset: 2 s round trip, about 50 kB/s each way.
SLOW_3G = {
    "offline": False,
    "latency": 2000,
    "downloadThroughput": 500 * 1024 / 8 * 0.8,
    "uploadThroughput": 500 * 1024 / 8 * 0.8,
}


def ballots(server: Server) -> int:
    """Ballots of the scale question, straight from the server's database."""
    url = server.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    sa.text(
                        "SELECT count(*) FROM ballot JOIN question "
                        "ON question.id = ballot.question_id WHERE question.title = :title"
                    ),
                    {"title": Q_SCALE},
                ).scalar_one()
            )
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def presenting(server: Server, chromium: Browser) -> Iterator[Page]:
    """The projector, on the first question (a scale of four statements)."""
    context = chromium.new_context(viewport={"width": 1280, "height": 720}, locale="nl-NL")
    context.set_default_timeout(TIMEOUT_MS)
    login = context.request.post(
        f"{server.base_url}/login", form={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    )
    assert login.ok, login.status
    page = context.new_page()
    page.goto(f"{server.base_url}/manage")
    page.get_by_role("link", name=DEMO_TITLE, exact=True).click()
    page.locator(".heading-row form[action$='/move'] button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/present/\d+$"))
    expect(page.locator("#stage h1.question-title")).to_have_text(Q_SCALE)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def phone(chromium: Browser) -> Iterator[BrowserContext]:
    context = chromium.new_context(**PHONE)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


def rate(page: Page, value: int) -> None:
    statements = page.locator("fieldset.scale")
    expect(statements).to_have_count(4)
    for index in range(4):
        statements.nth(index).locator("label.scale-point").filter(
            has_text=re.compile(rf"^\s*{value}\s*$")
        ).tap()


def expect_saved(page: Page) -> None:
    """The phone says its vote is saved (the text is in the page all along, hidden)."""
    saved = page.locator("#vote-status .saved-text")
    expect(saved).to_be_visible()
    expect(saved).to_have_text(re.compile(re.escape(SAVED)))


def test_joining_and_voting_on_slow_3g(
    server: Server, presenting: Page, phone: BrowserContext, shoot
) -> None:
    before = ballots(server)
    page = phone.new_page()
    cdp = phone.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", SLOW_3G)
    started = time.monotonic()
    page.goto(f"{server.base_url}/j/{server.join_code}")
    expect(page.locator("#question-title")).to_have_text(Q_SCALE)
    expect(page.locator("#connection")).to_have_attribute("data-state", "online")
    joined = time.monotonic() - started
    rate(page, 4)
    sent = time.monotonic()
    page.locator("form.vote button[type=submit]").tap()
    expect_saved(page)
    saved = time.monotonic() - sent
    shoot(page, "network-slow-3g-saved")
    assert ballots(server) == before + 1
    print(f"\nslow 3G: joined and connected in {joined:.1f} s; saved {saved:.1f} s after Send")


def test_a_vote_held_in_transit_is_saved_only_once_the_server_has_it(
    server: Server, presenting: Page, phone: BrowserContext
) -> None:
    """The vote leaves the phone over its socket but is held on the way: the phone must not say
    "saved" while the server has nothing, and must once it arrives."""
    held: list[str | bytes] = []
    routes: list[WebSocketRoute] = []

    def route(ws: WebSocketRoute) -> None:
        to_server = ws.connect_to_server()
        routes.append(to_server)

        def from_page(message: str | bytes) -> None:
            if "client_key" in str(message):
                held.append(message)
            else:
                to_server.send(message)

        ws.on_message(from_page)

    page = phone.new_page()
    page.route_web_socket(re.compile(r"/ws/p/"), route)
    page.goto(f"{server.base_url}/j/{server.join_code}")
    expect(page.locator("#connection")).to_have_attribute("data-state", "online")
    before = ballots(server)
    rate(page, 2)
    page.locator("form.vote button[type=submit]").tap()
    page.wait_for_timeout(1500)
    assert len(held) == 1, "the vote did not leave the phone over its socket"
    expect(page.locator("#vote-status .saved")).to_be_hidden()
    assert ballots(server) == before
    routes[-1].send(held.pop())
    expect_saved(page)
    assert ballots(server) == before + 1


class Line:
    """A phone's sockets through a route that can lose the server's replies and cut the line."""

    def __init__(self, page: Page) -> None:
        self.sockets: list[tuple[WebSocketRoute, WebSocketRoute]] = []
        self.drop_replies = False
        self.votes_sent = 0
        page.route_web_socket(re.compile(r"/ws/p/"), self._route)

    def _route(self, ws: WebSocketRoute) -> None:
        to_server = ws.connect_to_server()
        self.sockets.append((ws, to_server))

        def from_page(message: str | bytes) -> None:
            if "client_key" in str(message):
                self.votes_sent += 1
            to_server.send(message)

        def from_server(message: str | bytes) -> None:
            if not self.drop_replies:
                ws.send(message)

        ws.on_message(from_page)
        to_server.on_message(from_server)

    def cut(self) -> None:
        """The connection is lost on both ends (the page sees 1006, as on a real drop)."""
        page_side, server_side = self.sockets[-1]
        server_side.on_close(lambda code, reason: None)
        page_side.on_close(lambda code, reason: None)
        server_side.close(code=1000, reason="the phone went away")
        page_side.close(code=1006, reason="network lost")


def test_a_vote_whose_reply_is_lost_is_sent_again_and_counted_once(
    server: Server, presenting: Page, phone: BrowserContext
) -> None:
    page = phone.new_page()
    line = Line(page)
    page.goto(f"{server.base_url}/j/{server.join_code}")
    expect(page.locator("#connection")).to_have_attribute("data-state", "online")
    before = ballots(server)
    rate(page, 5)
    line.drop_replies = True  # the vote reaches the server; its answer never comes back
    page.locator("form.vote button[type=submit]").tap()
    deadline = time.monotonic() + 10
    while ballots(server) == before and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert ballots(server) == before + 1, "the vote did not reach the server"
    expect(page.locator("#vote-status .saved")).to_be_hidden()
    # The connection drops; the phone reconnects by itself and sends the same vote again.
    line.drop_replies = False
    line.cut()
    expect_saved(page)
    assert line.votes_sent == 2, f"the vote was sent {line.votes_sent} times"
    assert ballots(server) == before + 1


def test_a_vote_sent_offline_goes_by_itself_when_the_network_returns(
    server: Server, presenting: Page, phone: BrowserContext, shoot
) -> None:
    page = phone.new_page()
    line = Line(page)
    page.goto(f"{server.base_url}/j/{server.join_code}")
    expect(page.locator("#connection")).to_have_attribute("data-state", "online")
    before = ballots(server)
    phone.set_offline(True)
    line.cut()
    expect(page.locator("#connection")).to_have_attribute("data-state", "offline")
    rate(page, 3)
    page.locator("form.vote button[type=submit]").tap()
    not_sent = page.locator("#vote-status .send-error")
    expect(not_sent).to_be_visible()
    expect(not_sent).to_have_text(
        translate(
            "nl", "Not sent yet. Your vote is sent by itself as soon as the connection is back."
        )
    )
    shoot(page, "network-offline-not-sent", docs=True)
    assert ballots(server) == before
    phone.set_offline(False)
    expect_saved(page)
    shoot(page, "network-back-online-saved")
    assert ballots(server) == before + 1
