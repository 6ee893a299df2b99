"""Render once: the frame for all presenters and the frame for all phones of a presentation."""

from __future__ import annotations

from typing import Any

from app.config import Settings
from app.db import Database
from app.live import topics
from app.live.hub import Hub
from app.questions import get_type
from app.services.control import Stage, stage
from app.templating import render_block


def stage_context(st: Stage, settings: Settings, hub: Hub) -> dict[str, Any]:
    """Template context shared by full pages and live frames."""
    question = st.question
    return {
        "presentation": st.presentation,
        "question": question,
        "qtype": get_type(question.kind) if question else None,
        "index": st.index,
        "total": st.total,
        "results": st.results,
        "connected": hub.count(topics.phones(st.presentation.id or 0)),
        "base_url": settings.base_url,
    }


class Fragments:
    """Builds frames from the database; called from a worker thread by the ticker."""

    def __init__(self, database: Database, settings: Settings, hub: Hub) -> None:
        self._db = database
        self._settings = settings
        self._hub = hub

    def presenter_frame(self, presentation_id: int, version: int) -> str | None:
        with self._db.session() as session:
            st = stage(session=session, presentation_id=presentation_id, with_results=True)
        if st is None:
            return None
        ctx = stage_context(st, self._settings, self._hub)
        ctx["version"] = version
        return render_block("present.html", "live", st.presentation.language, ctx)

    def phone_frame(self, presentation_id: int, version: int = 0) -> str | None:
        """The stage every phone shows; it carries the presentation's version."""
        with self._db.session() as session:
            st = stage(session=session, presentation_id=presentation_id, with_results=False)
        if st is None:
            return None
        ctx = stage_context(st, self._settings, self._hub)
        ctx.update(
            version=st.presentation.version, answer=None, status=None, error=None, client_key=""
        )
        return render_block("participant.html", "live", st.presentation.language, ctx)
