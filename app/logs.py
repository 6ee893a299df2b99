"""Logging: text or one JSON object per line, uvicorn's lines included, no addresses kept.

A log line never holds vote contents, cookies or tokens (nothing here logs them), and no client
address: uvicorn's access lines and websocket handshake lines lose theirs in `PrivacyFilter`,
so a vote cannot be tied to an address through the logs.
"""

from __future__ import annotations

import json
import logging
import logging.config
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import Settings

# "POST /p/12345678/vote" or "WS /ws/p/12345678": what the current request or socket is.
request_context: ContextVar[str | None] = ContextVar("stemlab_request", default=None)

_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's coloured copy of the message
    "taskName",
}
_WEBSOCKET_LINE = '%s - "WebSocket '


class RequestContext:
    """ASGI middleware: remembers which request or socket the code below is serving.

    One context variable set per request (uvicorn runs each in its own task), so a line
    logged while serving it, including uvicorn's own error lines, says what it was serving.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request_context.set(f"{scope['method']} {scope['path']}")
        elif scope["type"] == "websocket":
            request_context.set(f"WS {scope['path']}")
        await self.app(scope, receive, send)


class PrivacyFilter(logging.Filter):
    """Drops the client address from uvicorn's access and websocket handshake lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            _, method, path, version, status = args
            record.msg = '"%s %s HTTP/%s" %d'
            record.args = (method, path, version, status)
            record.__dict__.update(method=method, path=path, status=status)
        elif (
            isinstance(record.msg, str)
            and record.msg.startswith(_WEBSOCKET_LINE)
            and isinstance(args, tuple)
            and args
        ):
            record.msg = record.msg[len("%s - ") :]
            record.args = args[1:]
        return True


def _context(record: logging.LogRecord) -> str | None:
    # An access line names its request already.
    return None if record.name == "uvicorn.access" else request_context.get()


def _time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, process, request, and
    the fields a line was logged with (`extra=`)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,  # which worker, with STEMLAB_WORKERS > 1
        }
        context = _context(record)
        if context is not None:
            line["request"] = context
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message [request]`, for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = _context(record)
        if context is None:
            return text
        first, newline, rest = text.partition("\n")
        return f"{first} [{context}]{newline}{rest}"


def config(settings: Settings) -> dict[str, Any]:
    """A logging.config.dictConfig for the app, its libraries and uvicorn (every worker)."""
    level = settings.log_level.upper()
    formatter = "json" if settings.log_format == "json" else "text"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"private": {"()": PrivacyFilter}},
        "formatters": {"json": {"()": JsonFormatter}, "text": {"()": TextFormatter}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": formatter,
                "filters": ["private"],
            },
        },
        "loggers": {
            # uvicorn's own handlers are replaced by ours; its lines go through the root one.
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": level, "propagate": True},
            # Migrations say what they do only when something goes wrong.
            "alembic": {"level": "WARNING"},
        },
        "root": {"handlers": ["default"], "level": level},
    }


def configure(settings: Settings) -> None:
    logging.config.dictConfig(config(settings))
