"""Browser fixtures: a real `stemlab serve` on a free port and the system Chromium.

The server is started exactly as in production (`python -m app.cli serve`) on a fresh database
(of the kind the suite runs on) with the demo account and presentation. Chromium is the one at
/usr/bin/chromium: these tests never download a browser, and they fail (never skip) when it is
missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser.support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DOCS_SCREENSHOTS,
    SCREENSHOTS,
    Screenshots,
    Server,
    ServerFailed,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`stemlab serve` with the demo presentation; stopped after the module."""
    try:
        srv = Server.start(tmp_path_factory.mktemp("stemlab-server"))
    except ServerFailed as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """The system Chromium; a missing browser is a failure, never a skip."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: the browser tests need the system Chromium "
            "(install the distribution's chromium package; Playwright's own browser download "
            "is not used).",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def shoot() -> Screenshots:
    """Screenshots in test-artifacts/screenshots/; STEMLAB_UPDATE_SCREENSHOTS=1 also fills docs/."""
    return Screenshots(
        SCREENSHOTS, DOCS_SCREENSHOTS, os.environ.get("STEMLAB_UPDATE_SCREENSHOTS") == "1"
    )
