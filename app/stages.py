"""What each presentation shows right now, cached per process for the vote path.

The cache only spares the hot path a database read; the ballot box checks again, inside its
write transaction, that the question is current and open, so a stale entry can never let a vote
in that the database would refuse. Entries are dropped on every PresentationChanged.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlmodel import select

from app.db import Database
from app.models import Pace, Presentation, Question
from app.services.presentations import normalise_code, questions_of

# Phone frames carry the presentation's version times this step: a stage frame shows version
# x STEP, and the frames that only update the results on phones (when votes come in) count up
# from there, so they pass a socket's "only newer" check until the next change of the stage.
PHONE_VERSION_STEP = 2**20


def phone_version(presentation_version: int) -> int:
    """The version of a presentation's stage as phones see it (pages, frames, `?v=`)."""
    return presentation_version * PHONE_VERSION_STEP


@dataclass(frozen=True)
class CurrentStage:
    presentation_id: int
    join_code: str
    language: str
    version: int  # phone_version(): what phones compare
    question_id: int | None
    kind: str | None
    config: dict[str, Any] | None
    state: str | None
    active_at: datetime | None = None  # last facilitator activity (the typed code expires)
    pace: str = Pace.FACILITATOR
    # Audience pace: every question of the presentation by id, as (kind, config, state).
    questions: dict[int, tuple[str, dict[str, Any], str]] = field(default_factory=dict)

    @property
    def audience_paced(self) -> bool:
        return self.pace == Pace.AUDIENCE

    def at(self, question_id: int) -> CurrentStage | None:
        """Audience pace: the stage of a phone at another question (None: no such question)."""
        found = self.questions.get(question_id)
        if found is None:
            return None
        kind, config, state = found
        return replace(self, question_id=question_id, kind=kind, config=config, state=state)


class StageCache:
    def __init__(self, database: Database, max_entries: int = 10_000) -> None:
        self._db = database
        self._max = max_entries
        self._by_code: dict[str, CurrentStage] = {}

    def _load(self, code: str) -> CurrentStage | None:
        with self._db.session() as session:
            presentation = session.exec(
                select(Presentation).where(Presentation.join_code == code)
            ).first()
            if presentation is None:
                return None
            question = (
                session.get(Question, presentation.current_question_id)
                if presentation.current_question_id
                else None
            )
            questions: dict[int, tuple[str, dict[str, Any], str]] = {}
            if presentation.pace == Pace.AUDIENCE:
                questions = {
                    q.id or 0: (q.kind, dict(q.config), q.state)
                    for q in questions_of(session=session, presentation_id=presentation.id or 0)
                }
            return CurrentStage(
                presentation_id=presentation.id or 0,
                join_code=presentation.join_code,
                language=presentation.language,
                version=phone_version(presentation.version),
                question_id=question.id if question else None,
                kind=question.kind if question else None,
                config=dict(question.config) if question else None,
                state=question.state if question else None,
                active_at=presentation.active_at,
                pace=presentation.pace,
                questions=questions,
            )

    async def by_code(self, code: str) -> CurrentStage | None:
        """The stage of a join code, or None when no presentation has it."""
        code = normalise_code(code)
        if not code:
            return None
        cached = self._by_code.get(code)
        if cached is not None:
            return cached
        stage = await asyncio.to_thread(self._load, code)
        if stage is not None:
            if len(self._by_code) >= self._max:
                self._by_code.clear()
            self._by_code[code] = stage
        return stage

    def clear(self) -> None:
        """Forget everything (after hints from other workers may have been missed)."""
        self._by_code.clear()

    def invalidate(self, presentation_id: int) -> None:
        for code, stage in list(self._by_code.items()):
            if stage.presentation_id == presentation_id:
                del self._by_code[code]
