"""Render once: the frame for all presenters and the frame for all phones of a presentation."""

from __future__ import annotations

import asyncio
from typing import Any

from app.db import Database
from app.live.hub import Frame
from app.live.presence import Presence
from app.questions import get_type
from app.services.control import Stage, stage
from app.templating import render_block


def stage_context(st: Stage, presence: Presence) -> dict[str, Any]:
    """Template context shared by full pages and live frames."""
    question = st.question
    return {
        "presentation": st.presentation,
        "question": question,
        "qtype": get_type(question.kind) if question else None,
        "index": st.index,
        "total": st.total,
        "results": st.results,
        "connected": presence.count(st.presentation.id or 0),
    }


class Fragments:
    """Builds frames from the database; called from a worker thread by the ticker."""

    def __init__(self, database: Database, presence: Presence) -> None:
        self._db = database
        self._presence = presence
        self._phone_frames: dict[int, Frame] = {}

    def presenter_frame(self, presentation_id: int, version: int) -> str | None:
        with self._db.session() as session:
            st = stage(session=session, presentation_id=presentation_id, with_results=True)
        if st is None:
            return None
        ctx = stage_context(st, self._presence)
        ctx["version"] = version
        return render_block("present.html", "live", st.presentation.language, ctx)

    async def phone_frame_cached(self, presentation_id: int, version: int) -> Frame | None:
        """The phone frame of a version, rendered once however many phones (re)connect."""
        cached = self._phone_frames.get(presentation_id)
        if cached is not None and cached[0] >= version:
            return cached
        rendered = await asyncio.to_thread(self._phone_frame, presentation_id)
        if rendered is None:
            return None
        self._phone_frames[presentation_id] = rendered
        return rendered

    def ended_frame(self) -> str:
        """What phones and screens show when their presentation was deleted (in both languages,
        as the presentation and its language are gone)."""
        messages = "".join(
            render_block("participant.html", "ended", language, {}) for language in ("nl", "en")
        )
        return '<section id="stage" data-state="ended">' + messages + "</section>"

    def phone_frame(self, presentation_id: int) -> Frame | None:
        """The stage every phone shows, with the presentation's version."""
        rendered = self._phone_frame(presentation_id)
        if rendered is not None:
            self._phone_frames[presentation_id] = rendered
        return rendered

    def _phone_frame(self, presentation_id: int) -> Frame | None:
        with self._db.session() as session:
            st = stage(session=session, presentation_id=presentation_id, with_results=False)
        if st is None:
            return None
        ctx = stage_context(st, self._presence)
        ctx.update(
            version=st.presentation.version, answer=None, status=None, error=None, client_key=""
        )
        text = render_block("participant.html", "live", st.presentation.language, ctx)
        return Frame.deduplicated(st.presentation.version, text)
