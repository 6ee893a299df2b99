"""A dropped socket reconnects and resyncs by itself, in Chromium against the real server.

Two cases: the server is restarted (SIGTERM, then `stemlab serve` again on the same port with
the same database) while a facilitator presents and two phones take part; and one phone loses
its network while the facilitator moves to the next question. In both, the pages must come back
by themselves, without a reload, and show what is current.

The htmx ws extension reconnects after a close with code 1006, 1011, 1012 or 1013, after a
random wait that grows with the number of failed attempts in a row (htmx.config.wsReconnectDelay:
the extension's "full-jitter" rule or the page's own function). The waits below are the longest
that setting can pick for the closes each page counted, so a slow draw makes a test slower,
never flaky. The times the pages needed are printed (run with -s to see them).

Chromium's emulated offline mode (`context.set_offline(True)`) does not close an open
websocket: it holds its frames until the network is back, and the page keeps saying
"connected". A network that goes away is therefore played with `page.route_web_socket`: the
phone's socket is closed on the server's side, the page gets the abnormal closure (1006) that a
lost connection gives, and the offline mode makes every new attempt fail until it is lifted.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Response,
    WebSocketRoute,
    expect,
)

from app.i18n import translate
from tests.browser.support import DEMO_EMAIL, DEMO_PASSWORD, DEMO_TITLE, Server, ServerFailed

pytestmark = pytest.mark.browser

TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)

DESKTOP = {"viewport": {"width": 1280, "height": 720}, "locale": "nl-NL"}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "locale": "nl-NL",
}

Q_SCALE = "Hoe goed is de samenwerking over de prestatieafspraken?"
Q_SINGLE = "Zijn de afspraken SMART genoeg?"
SAVED = translate("nl", "Your vote has been saved")
NOT_SENT = translate(
    "nl", "Not sent yet. Your vote is sent by itself as soon as the connection is back."
)
ONLINE = translate("nl", "Connected")
OFFLINE = translate("nl", "Connecting…")

# What a page logs while its server is away: the failed attempts and htmx's error event.
EXPECTED_CONSOLE = re.compile(r"^WebSocket connection to 'ws://[^']+' failed\b|^\[object Event\]$")

# Every page records when its socket opened and closed, with the close code.
SOCKET_LOG = """
(() => {
  const log = (window.__stemlabSocketLog = []);
  for (const type of ["htmx:wsOpen", "htmx:wsClose"]) {
    document.addEventListener(type, (event) => {
      const code = event.detail && event.detail.event ? event.detail.event.code : null;
      log.push({ type: type.slice(5), at: Date.now(), code: code === undefined ? null : code });
    });
  }
})();
"""

# The longest wait the page's reconnect setting can pick before retry number `retries` (from
# 0): the setting called with Math.random() pinned to its upper end. "full-jitter" is the
# extension's own rule, random() * 1000 * 2**min(retries, 6) ms.
LONGEST_RECONNECT_DELAY = """
(retries) => {
  const delay = htmx.config.wsReconnectDelay;
  if (typeof delay !== "function") {
    return 1000 * Math.pow(2, Math.min(retries, 6));
  }
  const random = Math.random;
  Math.random = () => 1;
  try {
    return delay(retries);
  } finally {
    Math.random = random;
  }
}
"""
# Opening a socket and rendering its first frame, on top of the backoff.
CONNECT_MS = 5_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Device:
    """A page with what went wrong in it: script errors, unexpected console errors, reloads."""

    page: Page
    name: str
    errors: list[str] = field(default_factory=list)
    loads: int = 0

    def __post_init__(self) -> None:
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.page.on("console", self._logged)
        self.page.on("load", self._loaded)
        self.page.on("response", self._answered)

    def _logged(self, message: ConsoleMessage) -> None:
        if message.type != "error" or EXPECTED_CONSOLE.search(message.text):
            return
        where = message.location.get("url", "")
        if where.endswith("/favicon.ico"):
            return
        self.errors.append(f"console {message.type}: {message.text} ({where})")

    def _loaded(self, _page: Page) -> None:
        self.loads += 1

    def _answered(self, response: Response) -> None:
        if response.status >= 400:
            self.errors.append(f"{response.status} {response.request.method} {response.url}")

    def socket_log(self) -> list[dict[str, object]]:
        log: list[dict[str, object]] = self.page.evaluate("window.__stemlabSocketLog")
        return log

    def closes_in_a_row(self) -> int:
        """Closes since the socket last opened: the extension's retry count, plus one."""
        count = 0
        for entry in reversed(self.socket_log()):
            if entry["type"] == "wsOpen":
                break
            count += 1
        return count

    def reconnect_budget_ms(self) -> int:
        """The longest the page can take to connect again, once the server can be reached.

        After the n-th close in a row the extension waits before retry n-1 (counted from 0).
        Attempts under way may still fail: one started before the server was back, and one
        whose close event the page had not yet handled when it was counted (a busy machine).
        """
        closes = max(self.closes_in_a_row(), 1)
        waits = (
            float(self.page.evaluate(LONGEST_RECONNECT_DELAY, retries))
            for retries in range(closes - 1, closes + 2)
        )
        return int(sum(waits)) + CONNECT_MS

    def opened_after(self, moment_ms: int) -> int:
        """When the socket first opened after `moment_ms` (epoch milliseconds)."""
        opens = [
            int(str(entry["at"]))
            for entry in self.socket_log()
            if entry["type"] == "wsOpen" and int(str(entry["at"])) >= moment_ms
        ]
        assert opens, f"{self.name}: no socket opened after {moment_ms}: {self.socket_log()}"
        return opens[0]

    def mark_document(self) -> None:
        """A marker that lives as long as this document: a reload or navigation loses it."""
        # Count loads from here; the load event of this document must not arrive afterwards.
        self.page.wait_for_load_state("load")
        self.page.evaluate("window.__stemlabSameDocument = true")
        self.loads = 1

    def same_document(self) -> None:
        assert self.page.evaluate("window.__stemlabSameDocument === true"), (
            f"{self.name} lost its page: it was reloaded or navigated"
        )
        assert self.loads == 1, f"{self.name} loaded a page {self.loads} times"


class SocketCutter:
    """Passes a page's phone sockets through to the server, and can cut the current one."""

    def __init__(self, page: Page) -> None:
        self.routes: list[tuple[WebSocketRoute, WebSocketRoute]] = []
        page.route_web_socket(re.compile(r"/ws/p/"), self._route)

    def _route(self, ws: WebSocketRoute) -> None:
        self.routes.append((ws, ws.connect_to_server()))

    def cut_server_side(self) -> None:
        """The server loses this phone; the page is not told (as when the network goes)."""
        assert self.routes, "the page opened no phone socket"
        page_side, server_side = self.routes[-1]
        server_side.on_close(lambda code, reason: None)  # the page learns of it in cut_page_side
        page_side.on_close(lambda code, reason: None)  # 1006 cannot be sent to the server
        # The server side is a real socket opened in the page: it may only close with 1000.
        server_side.close(code=1000, reason="the phone went away")

    def cut_page_side(self) -> None:
        """The page sees the abnormal closure (1006) that a lost connection gives."""
        page_side, _ = self.routes[-1]
        page_side.close(code=1006, reason="network lost")


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def own_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    """A server of this test's own (it gets restarted), on a fresh database."""
    try:
        srv = Server.start(tmp_path, log_name=f"server-{request.node.name}.log")
    except ServerFailed as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def contexts(chromium: Browser) -> Iterator[dict[str, BrowserContext]]:
    made: dict[str, BrowserContext] = {}
    try:
        for name, options in (("facilitator", DESKTOP), ("phone A", PHONE), ("phone B", PHONE)):
            context = chromium.new_context(**options)
            context.set_default_timeout(TIMEOUT_MS)
            context.add_init_script(SOCKET_LOG)
            made[name] = context
        yield made
    finally:
        for context in made.values():
            context.close()


# --- steps -------------------------------------------------------------------------------


def start_presenting(context: BrowserContext, base: str) -> Device:
    """Log the demo facilitator in and start presenting: the projector shows question 1."""
    login = context.request.post(
        f"{base}/login", form={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    )
    assert login.ok and login.url == f"{base}/manage", f"login: {login.status} {login.url}"
    projector = Device(context.new_page(), "projector")
    page = projector.page
    page.goto(f"{base}/manage")
    page.get_by_role("link", name=DEMO_TITLE, exact=True).click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/manage/presentations/\d+$"))
    page.locator(".heading-row form[action$='/move'] button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/present/\d+$"))
    expect(page.locator("#stage h1.question-title")).to_have_text(Q_SCALE)
    projector.mark_document()
    return projector


def join(page: Page, name: str, server: Server) -> Device:
    """A phone opens the QR link and shows the current question, connected."""
    phone = Device(page, name)
    phone.page.goto(f"{server.base_url}/j/{server.join_code}")
    expect(phone.page).to_have_url(f"{server.base_url}/p/{server.join_code}")
    expect_connected(phone)
    expect(phone.page.locator("#question-title")).to_have_text(Q_SCALE)
    phone.mark_document()
    return phone


def expect_connected(phone: Device, timeout: float | None = None) -> None:
    connection = phone.page.locator("#connection")
    expect(connection).to_have_attribute("data-state", "online", timeout=timeout)
    expect(connection.locator(".when-online")).to_be_visible()
    expect(connection.locator(".when-online")).to_have_text(ONLINE)
    expect(connection.locator(".when-offline")).to_be_hidden()


def expect_disconnected(phone: Device) -> None:
    connection = phone.page.locator("#connection")
    expect(connection).to_have_attribute("data-state", "offline")
    expect(connection.locator(".when-offline")).to_be_visible()
    expect(connection.locator(".when-offline")).to_have_text(OFFLINE)
    expect(connection.locator(".when-online")).to_be_hidden()


def expect_phones_online(projector: Device, count: int, timeout: float | None = None) -> None:
    expect(projector.page.locator("#stage .online")).to_contain_text(
        re.compile(rf"^\s*{count}\b"), timeout=timeout
    )


def follows(phone: Device, title: str, timeout: float | None = None) -> None:
    """The phone shows `title` in the document it loaded when it joined."""
    expect(phone.page.locator("#question-title")).to_have_text(title, timeout=timeout)
    phone.same_document()


def rate_and_send(phone: Device, value: int) -> None:
    """Give every statement of the scale question `value` and send; the phone says it is saved."""
    page = phone.page
    statements = page.locator("fieldset.scale")
    expect(statements).to_have_count(4)
    for index in range(4):
        label = (
            statements.nth(index)
            .locator("label.scale-point")
            .filter(has_text=re.compile(rf"^\s*{value}\s*$"))
        )
        label.tap()
        expect(label.locator("input")).to_be_checked()
    saved = page.locator("#vote-status .saved-text")
    expect(saved).to_be_hidden()
    # The page may send the vote as a form post or over its socket: the server's answer is
    # what turns the status into "saved".
    page.locator("form.vote button[type=submit]").tap()
    expect(saved).to_be_visible()
    expect(saved).to_contain_text(SAVED)
    expect(page.locator("#vote-status .error-text:visible")).to_have_count(0)


def no_errors(*devices: Device) -> None:
    errors = {d.name: d.errors for d in devices if d.errors}
    assert not errors, errors


# --- the tests ---------------------------------------------------------------------------


def test_server_restart_mid_session(
    own_server: Server, contexts: dict[str, BrowserContext]
) -> None:
    server = own_server
    projector = start_presenting(contexts["facilitator"], server.base_url)
    phone_a = join(contexts["phone A"].new_page(), "phone A", server)
    phone_b = join(contexts["phone B"].new_page(), "phone B", server)
    phones = [phone_a, phone_b]
    expect_phones_online(projector, 2)

    # The phones follow a change (their stage is now newer than the page they loaded) ...
    projector.page.keyboard.press("ArrowRight")
    for phone in phones:
        follows(phone, Q_SINGLE)
    projector.page.keyboard.press("ArrowLeft")
    for phone in phones:
        follows(phone, Q_SCALE)
    # ... and phone B ticks an answer without sending it. Reconnecting must not wipe it: the
    # page reconnects saying which version it shows, so the server sends no copy of it.
    unsent = (
        phone_b.page.locator("fieldset.scale")
        .first.locator("label.scale-point")
        .filter(has_text=re.compile(r"^\s*3\s*$"))
    )
    unsent.tap()
    expect(unsent.locator("input")).to_be_checked()

    # Phone A answers before the restart.
    rate_and_send(phone_a, 4)
    expect(projector.page.locator("#response-count strong")).to_have_text("1")
    # A frame from the new server replaces the stage, and this attribute with it.
    projector.page.evaluate("document.getElementById('stage').dataset.beforeRestart = 'yes'")

    # SIGTERM: uvicorn closes the sockets with 1012 (service restart) and exits.
    stopped_at = now_ms()
    server.stop()
    code = server.join_code
    for phone in phones:
        expect_disconnected(phone)
    server.start_again()
    ready_at = now_ms()
    assert server.join_code == code, "the restarted server shows another join code"

    # Each page waits out its own backoff; the budgets are taken before waiting on any page.
    budgets = {d.name: d.reconnect_budget_ms() for d in (projector, *phones)}
    for phone in phones:
        expect_connected(phone, timeout=budgets[phone.name])
        follows(phone, Q_SCALE)
    expect(projector.page.locator("#stage[data-before-restart]")).to_have_count(
        0, timeout=budgets[projector.name]
    )
    projector.same_document()

    print(
        f"\nserver restart: down for {ready_at - stopped_at} ms "
        "(SIGTERM until the new process answered /healthz)"
    )
    for device in (projector, *phones):
        opened = device.opened_after(stopped_at)
        print(
            f"  {device.name}: connected again {opened - ready_at} ms after the server was "
            f"ready, {opened - stopped_at} ms after SIGTERM "
            f"(budget {budgets[device.name]} ms)"
        )

    # The vote from before the restart still counts; both phones are connected again.
    expect(projector.page.locator("#response-count strong")).to_have_text("1")
    expect_phones_online(projector, 2)
    expect(phone_a.page.locator("#vote-status .saved-text")).to_be_visible()
    expect(phone_b.page.locator("#vote-status .saved")).to_be_hidden()
    expect(unsent.locator("input")).to_be_checked()

    # The restarted server takes votes from the page that was open before it.
    rate_and_send(phone_b, 2)
    expect(projector.page.locator("#response-count strong")).to_have_text("2")

    # The facilitator moves on; the phones follow without reloading.
    projector.page.keyboard.press("ArrowRight")
    expect(projector.page.locator("#stage h1.question-title")).to_have_text(Q_SINGLE)
    expect(projector.page.locator("#response-count strong")).to_have_text("0")
    for phone in phones:
        follows(phone, Q_SINGLE)
        expect(phone.page.locator("form.vote")).to_be_visible()
        expect(phone.page.locator("#vote-status .saved")).to_be_hidden()

    # And back: both votes are counted, and each phone shows its own answer as saved.
    projector.page.keyboard.press("ArrowLeft")
    expect(projector.page.locator("#stage h1.question-title")).to_have_text(Q_SCALE)
    expect(projector.page.locator("#response-count strong")).to_have_text("2")
    for phone, value in ((phone_a, "4"), (phone_b, "2")):
        follows(phone, Q_SCALE)
        expect(phone.page.locator("#vote-status .saved-text")).to_be_visible()
        checked = phone.page.locator("fieldset.scale label.scale-point input:checked")
        expect(checked).to_have_count(4)
        for index in range(4):
            expect(checked.nth(index)).to_have_value(value)
    projector.same_document()
    no_errors(projector, *phones)


def test_phone_offline_while_the_question_changes(
    own_server: Server, contexts: dict[str, BrowserContext]
) -> None:
    server = own_server
    projector = start_presenting(contexts["facilitator"], server.base_url)
    phone_a = join(contexts["phone A"].new_page(), "phone A", server)
    # Phone B's sockets pass through a route, so that its connection can be cut.
    page_b = contexts["phone B"].new_page()
    cutter = SocketCutter(page_b)
    phone_b = join(page_b, "phone B", server)
    expect_phones_online(projector, 2)

    # Phone B's network goes: the browser says so, and the page shows it at once, before
    # any socket has noticed.
    contexts["phone B"].set_offline(True)
    expect_disconnected(phone_b)
    # The server drops it and the page's socket closes too.
    cutter.cut_server_side()
    expect_phones_online(projector, 1)
    cutter.cut_page_side()
    expect_disconnected(phone_b)

    # A vote while offline is posted as a form (the socket is down), cannot go, and the phone
    # says so instead of pretending it was saved; nothing is counted.
    for index in range(4):
        phone_b.page.locator("fieldset.scale").nth(index).locator("label.scale-point").first.tap()
    phone_b.page.locator("form.vote button[type=submit]").tap()
    expect(phone_b.page.locator("#vote-status .send-error")).to_be_visible()
    expect(phone_b.page.locator("#vote-status .send-error")).to_have_text(NOT_SENT)
    expect(phone_b.page.locator("#vote-status .saved")).to_be_hidden()
    expect(projector.page.locator("#response-count strong")).to_have_text("0")
    # The failed post is what this test expects to see logged (by Chromium and by htmx).
    expected = re.compile(r"ERR_INTERNET_DISCONNECTED|htmx:(sendError|afterRequest)")
    phone_b.errors = [e for e in phone_b.errors if not expected.search(e)]

    # The facilitator moves on; phone A follows, phone B cannot.
    projector.page.keyboard.press("ArrowRight")
    expect(projector.page.locator("#stage h1.question-title")).to_have_text(Q_SINGLE)
    follows(phone_a, Q_SINGLE)
    expect(phone_b.page.locator("#question-title")).to_have_text(Q_SCALE)
    expect_disconnected(phone_b)

    # The network comes back; the phone reconnects and shows the new question by itself.
    budget = phone_b.reconnect_budget_ms()
    online_at = now_ms()
    contexts["phone B"].set_offline(False)
    follows(phone_b, Q_SINGLE, timeout=budget)
    expect_connected(phone_b)
    expect(phone_b.page.locator("form.vote")).to_be_visible()
    expect_phones_online(projector, 2)
    shown_at = now_ms()
    print(
        f"\nphone B back online: connected {phone_b.opened_after(online_at) - online_at} ms and "
        f"showing the new question within {shown_at - online_at} ms after the network returned "
        f"(budget {budget} ms)"
    )
    follows(phone_a, Q_SINGLE)
    no_errors(projector, phone_a, phone_b)


def test_a_page_never_keeps_two_sockets_open(
    own_server: Server, contexts: dict[str, BrowserContext]
) -> None:
    """Two reconnects that overlap (the "online" event and the extension's retry timer) leave
    one socket, not an unseen second one that the projector counts as another phone."""
    projector = start_presenting(contexts["facilitator"], own_server.base_url)
    phone = join(contexts["phone A"].new_page(), "phone A", own_server)
    expect_phones_online(projector, 1)
    states = phone.page.evaluate(
        """() => new Promise((resolve) => {
            const path = document.querySelector("[ws-connect]").getAttribute("ws-connect");
            const url = location.origin.replace(/^http/, "ws") + path;
            const first = htmx.createWebSocket(url);
            const second = htmx.createWebSocket(url);
            second.addEventListener("open", () => resolve([first.readyState, second.readyState]));
        })"""
    )
    assert states == [3, 1] or states == [2, 1]  # the first closed (or closing), the second open
    expect_phones_online(projector, 1)
