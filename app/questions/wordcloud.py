"""Word cloud: up to three short entries per participant, merged by normalised form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from app.i18n import _l
from app.models import BallotItem
from app.questions.base import (
    AnswerError,
    CsvCells,
    FormValues,
    Item,
    ParsedAnswer,
    QuestionType,
    Results,
    count_ballots,
    int_value,
)
from app.questions.text import clean_text, word_key

MAX_ENTRIES = 3
MAX_LENGTH = 40
SHOWN_WORDS = 60
SIZE_CLASSES = 6


class WordCloud(QuestionType):
    kind = "wordcloud"
    label = _l("Word cloud")
    order = 30

    def default_config(self, language: str) -> dict[str, Any]:
        return {"max_entries": MAX_ENTRIES, "max_length": 25}

    def parse_config(self, form: FormValues) -> dict[str, Any]:
        return {
            "max_entries": int_value(form, "max_entries", default=3, low=1, high=MAX_ENTRIES),
            "max_length": int_value(form, "max_length", default=25, low=3, high=MAX_LENGTH),
        }

    def parse_answer(self, config: Mapping[str, Any], form: FormValues) -> ParsedAnswer:
        limit = int(config.get("max_entries", MAX_ENTRIES))
        max_length = int(config.get("max_length", MAX_LENGTH))
        raw = list(form.get("word", ()))
        if len(raw) > MAX_ENTRIES * 4:
            raise AnswerError("Enter at most %(n)s words.", n=limit)
        words = [w for w in (clean_text(" ".join(r.split())) for r in raw) if w]
        if not words:
            raise AnswerError("Enter at least one word.")
        if len(words) > limit:
            raise AnswerError("Enter at most %(n)s words.", n=limit)
        items: list[Item] = []
        seen: set[str] = set()
        for word in words:
            key = word_key(word)
            if not key:
                raise AnswerError("Enter at least one word.")
            if len(key) > max_length or len(word) > max_length:
                raise AnswerError("Each entry can have at most %(n)s characters.", n=max_length)
            if key in seen:
                raise AnswerError("You entered the same word twice.")
            seen.add(key)
            items.append(Item(key=key, text=word))
        return ParsedAnswer({"words": words}, tuple(items))

    def tally(self, session: Session, question_id: int, config: Mapping[str, Any]) -> Results:
        n = sa.func.count().label("n")
        # Show a form somebody typed (names and acronyms keep their capitals), not the key.
        shown = sa.func.min(col(BallotItem.text)).label("shown")
        stmt = (
            sa.select(col(BallotItem.key), n, shown)
            .where(col(BallotItem.question_id) == question_id)
            .group_by(col(BallotItem.key))
            .order_by(n.desc(), col(BallotItem.key))
            .limit(SHOWN_WORDS)
        )
        rows = [(key, int(count), text or key) for key, count, text in session.execute(stmt)]
        top = rows[0][1] if rows else 0
        words = [
            {"word": text, "count": count, "size": 1 + round((SIZE_CLASSES - 1) * count / top)}
            for key, count, text in rows
        ]
        # Alphabetical order spreads large and small words through the cloud.
        words.sort(key=lambda w: str(w["word"]).casefold())
        return Results(responses=count_ballots(session, question_id), data={"words": words})

    def csv_cells(self, config: Mapping[str, Any], item: BallotItem) -> CsvCells:
        return CsvCells(answer=item.text or item.key, value=item.key)


TYPE = WordCloud()
