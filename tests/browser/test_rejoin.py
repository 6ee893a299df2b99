"""A phone whose participant token is no longer good is offered to join again, in Chromium
against the real server, and after pressing the button it votes as before.

A phone's token stops being good when the server's secret key changes, or when the browser
lost or refused its cookie. Here the cookie is swapped for a made-up one while the page is
open; the page then reconnects its socket (as it does when the network comes back), the
server refuses the socket, and the page shows why and what to do.
"""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import Browser, expect

from app.i18n import translate
from tests.browser.support import Screenshots, Server
from tests.browser.test_reconnect import (
    DESKTOP,
    PHONE,
    TIMEOUT_MS,
    expect_connected,
    join,
    no_errors,
    rate_and_send,
    start_presenting,
)

pytestmark = pytest.mark.browser

NOT_JOINED = translate(
    "nl", "This phone is not taking part in this session (any more). Join again to vote."
)
JOIN_AGAIN = translate("nl", "Join again")


def test_a_phone_without_a_good_token_is_offered_to_join_again(
    server: Server, chromium: Browser, shoot: Screenshots
) -> None:
    facilitator = chromium.new_context(**DESKTOP)
    phone_context = chromium.new_context(**PHONE)
    try:
        facilitator.set_default_timeout(TIMEOUT_MS)
        phone_context.set_default_timeout(TIMEOUT_MS)
        projector = start_presenting(facilitator, server.base_url)
        phone = join(phone_context.new_page(), "phone", server)

        phone_context.clear_cookies()
        made_up = f"{secrets.token_urlsafe(12)}.{secrets.token_urlsafe(16)[:22]}"
        phone_context.add_cookies([{"name": "stemlab_p", "value": made_up, "url": server.base_url}])
        # The network comes back: the page opens a new socket, with the made-up cookie.
        phone.page.evaluate("window.dispatchEvent(new Event('online'))")

        stage = phone.page.locator("#stage.rejoin")
        expect(stage).to_contain_text(NOT_JOINED)
        expect(phone.page.locator("form.vote")).to_have_count(0)
        shoot(phone.page, "phone-join-again")

        phone.page.get_by_role("button", name=JOIN_AGAIN).tap()
        expect(phone.page).to_have_url(f"{server.base_url}/p/{server.join_code}")
        expect_connected(phone)
        rate_and_send(phone, 4)
        cookie = next(c for c in phone_context.cookies() if c["name"] == "stemlab_p")
        assert cookie["value"] != made_up and cookie["httpOnly"]
        no_errors(projector, phone)
    finally:
        phone_context.close()
        facilitator.close()
