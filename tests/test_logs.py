"""Log lines: text or JSON, the request they belong to, and no client addresses."""

from __future__ import annotations

import io
import json
import logging

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient

from app import logs
from app.config import Settings


def _json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture
def json_log() -> io.StringIO:
    """The root logger writing JSON lines into a string, as `STEMLAB_LOG_FORMAT=json` does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.PrivacyFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_json_log_lines_carry_time_level_logger_message(json_log):
    logging.getLogger("stemlab.test").warning("queue at %d", 7, extra={"votes": 7})
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("stemlab.test").exception("failed")
    first, second = _json_lines(json_log)
    assert first["level"] == "warning"
    assert first["logger"] == "stemlab.test"
    assert first["message"] == "queue at 7"
    assert first["votes"] == 7
    assert first["time"].endswith("Z") and "T" in first["time"]
    assert "request" not in first
    assert second["level"] == "error"
    assert "ValueError: boom" in second["exception"]


def test_json_log_lines_name_the_request_they_were_logged_in(json_log):
    async def endpoint(request):
        logging.getLogger("stemlab.test").warning("inside")
        return PlainTextResponse("ok")

    async def socket(websocket):
        await websocket.accept()
        logging.getLogger("stemlab.test").warning("inside a socket")
        await websocket.close()

    app = logs.RequestContext(
        Starlette(
            routes=[
                Route("/p/1/vote", endpoint, methods=["POST"]),
                WebSocketRoute("/ws/p/1", socket),
            ]
        )
    )
    with TestClient(app) as client:
        assert client.post("/p/1/vote?code=1").status_code == 200
        with client.websocket_connect("/ws/p/1"):
            pass
    logging.getLogger("stemlab.test").warning("outside")
    lines = [line for line in _json_lines(json_log) if line["logger"] == "stemlab.test"]
    assert [(line["message"], line.get("request")) for line in lines] == [
        ("inside", "POST /p/1/vote"),
        ("inside a socket", "WS /ws/p/1"),
        ("outside", None),
    ]


def test_uvicorn_lines_lose_the_client_address(json_log):
    access = logging.getLogger("uvicorn.access")
    access.info(
        '%s - "%s %s HTTP/%s" %d', "203.0.113.9:51234", "POST", "/p/12345678/vote", "1.1", 200
    )
    logging.getLogger("uvicorn.error").info(
        '%s - "WebSocket %s" [accepted]', "203.0.113.9:51235", "/ws/p/12345678"
    )
    text = json_log.getvalue()
    assert "203.0.113.9" not in text
    request, socket = _json_lines(json_log)
    assert request["message"] == '"POST /p/12345678/vote HTTP/1.1" 200'
    assert (request["method"], request["path"], request["status"]) == (
        "POST",
        "/p/12345678/vote",
        200,
    )
    assert socket["message"] == '"WebSocket /ws/p/12345678" [accepted]'


def test_text_log_lines_add_the_request_in_brackets():
    formatter = logs.TextFormatter()
    record = logging.LogRecord("stemlab", logging.INFO, __file__, 1, "hello", None, None)
    token = logs.request_context.set("POST /p/1/vote")
    try:
        assert formatter.format(record).endswith("INFO stemlab: hello [POST /p/1/vote]")
    finally:
        logs.request_context.reset(token)


def test_log_config_sends_uvicorn_lines_through_ours():
    config = logs.config(Settings(log_format="json", log_level="warning"))
    assert config["root"]["level"] == "WARNING"
    assert config["handlers"]["default"]["formatter"] == "json"
    assert config["loggers"]["uvicorn.access"]["propagate"] is True
    with pytest.raises(ValueError):
        Settings(log_format="xml")
