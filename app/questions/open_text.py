"""Open text: one answer per participant, shown as a wall, newest first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from app.i18n import _l
from app.models import Ballot, BallotItem
from app.moderation import held_back, moderation_config, visible_clause
from app.questions.base import (
    AnswerError,
    CsvCells,
    FormValues,
    Item,
    ParsedAnswer,
    QuestionType,
    Results,
    int_value,
    one_value,
)
from app.questions.text import clean_text

MAX_LENGTH = 1000
SHOWN_ANSWERS = 60


class OpenText(QuestionType):
    kind = "open"
    label = _l("Open question")
    order = 40

    def default_config(self, language: str) -> dict[str, Any]:
        return {"max_length": 280, "premoderate": False}

    def parse_config(
        self,
        form: FormValues,
        previous: Mapping[str, Any] | None = None,
        reserved: Sequence[str] = (),
    ) -> dict[str, Any]:
        return {
            "max_length": int_value(form, "max_length", default=280, low=20, high=MAX_LENGTH),
            **moderation_config(form, previous),
        }

    def parse_answer(self, config: Mapping[str, Any], form: FormValues) -> ParsedAnswer:
        if len(form.get("text", ())) > 1:
            raise AnswerError("Send one answer at a time.")
        max_length = int(config.get("max_length", 280))
        raw = one_value(form, "text")
        if len(raw) > MAX_LENGTH * 4:
            raise AnswerError("Your answer can have at most %(n)s characters.", n=max_length)
        text = clean_text(raw)
        if not text:
            raise AnswerError("Write an answer first.")
        if len(text) > max_length:
            raise AnswerError("Your answer can have at most %(n)s characters.", n=max_length)
        # Caught by the word filter: saved as usual, shown once a facilitator approves it.
        item = Item(key="text", text=text, moderation=held_back(text, config))
        return ParsedAnswer({"text": text}, (item,))

    def tally(self, session: Session, question_id: int, config: Mapping[str, Any]) -> Results:
        visible = (col(BallotItem.question_id) == question_id, visible_clause(config))
        stmt = (
            sa.select(col(BallotItem.text), col(Ballot.updated_at))
            .join(Ballot, col(Ballot.id) == col(BallotItem.ballot_id))
            .where(*visible)
            .order_by(col(Ballot.updated_at).desc(), col(BallotItem.id).desc())
            .limit(SHOWN_ANSWERS)
        )
        answers = [{"text": text} for text, _ in session.execute(stmt).all()]
        # One item per ballot: the visible items are the answers that count.
        count = sa.select(sa.func.count()).select_from(BallotItem).where(*visible)
        responses = int(session.execute(count).scalar_one())
        return Results(responses=responses, data={"answers": answers})

    def csv_cells(self, config: Mapping[str, Any], item: BallotItem) -> CsvCells:
        return CsvCells(answer=item.text or "")


TYPE = OpenText()
