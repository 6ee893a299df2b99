"""A shutdown step that never ends is logged by name and the app still stops."""

from __future__ import annotations

import asyncio
import logging

import pytest
from fastapi.testclient import TestClient

from app.live.ticker import Ticker
from app.main import create_app
from tests.conftest import BASE


def test_a_hanging_step_is_logged_and_the_rest_still_stops(
    settings, db, monkeypatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def never(self: Ticker) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(Ticker, "stop", never)
    app = create_app(settings.model_copy(update={"shutdown_seconds": 1}))
    with caplog.at_level(logging.ERROR, logger="stemlab"), TestClient(app, base_url=BASE) as c:
        assert c.get("/healthz").status_code == 200
    assert "shutdown: the ticker did not stop within 1s" in caplog.text
