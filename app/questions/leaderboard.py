"""Leaderboard slide: the quiz standings so far; takes no votes.

Placed between quiz questions, it counts the quiz questions before it. The projector shows the
top 10 nicknames with their points; a phone shows only its own place (loaded for that phone
alone, app/routes/quiz.py): participants never receive other participants' names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlmodel import Session

from app.i18n import _l
from app.models import BallotItem
from app.questions.base import (
    AnswerError,
    CsvCells,
    FormValues,
    ParsedAnswer,
    QuestionType,
    Results,
)


class Leaderboard(QuestionType):
    kind = "leaderboard"
    label = _l("Quiz leaderboard (no question)")
    order = 16
    takes_votes = False

    def default_config(self, language: str) -> dict[str, Any]:
        return {}

    def parse_config(
        self,
        form: FormValues,
        previous: Mapping[str, Any] | None = None,
        reserved: Sequence[str] = (),
    ) -> dict[str, Any]:
        return {}

    def parse_answer(self, config: Mapping[str, Any], form: FormValues) -> ParsedAnswer:
        raise AnswerError("This slide takes no answers. Look at the screen.")

    def tally(self, session: Session, question_id: int, config: Mapping[str, Any]) -> Results:
        # Imported here: the services import the question types.
        from app.services.quiz import TOP, leaderboard_of

        standings, total = leaderboard_of(session, question_id)
        top = [{"rank": s.rank, "nickname": s.nickname, "score": s.score} for s in standings[:TOP]]
        return Results(responses=total, data={"top": top})

    def csv_cells(self, config: Mapping[str, Any], item: BallotItem) -> CsvCells:
        return CsvCells(answer=item.text or item.key)


TYPE = Leaderboard()
