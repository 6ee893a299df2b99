"""Word cloud: up to three short entries per participant, merged by normalised form."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from app.i18n import _l
from app.models import BallotItem
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
        return {"max_entries": MAX_ENTRIES, "max_length": 25, "premoderate": False}

    def parse_config(
        self,
        form: FormValues,
        previous: Mapping[str, Any] | None = None,
        reserved: Sequence[str] = (),
    ) -> dict[str, Any]:
        return {
            "max_entries": int_value(form, "max_entries", default=3, low=1, high=MAX_ENTRIES),
            "max_length": int_value(form, "max_length", default=25, low=3, high=MAX_LENGTH),
            **moderation_config(form, previous),
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
            # Caught by the word filter: saved as usual, shown once a facilitator approves it.
            items.append(Item(key=key, text=word, moderation=held_back(word, config)))
        return ParsedAnswer({"words": words}, tuple(items))

    def tally(self, session: Session, question_id: int, config: Mapping[str, Any]) -> Results:
        n = sa.func.count().label("n")
        key = col(BallotItem.key)
        visible = (col(BallotItem.question_id) == question_id, visible_clause(config))
        stmt = (
            sa.select(key, n)
            .where(*visible)
            .group_by(key)
            .order_by(n.desc(), key)
            .limit(SHOWN_WORDS)
        )
        rows = [(k, int(count)) for k, count in session.execute(stmt)]
        shown = _most_typed_forms(session, visible, [k for k, _ in rows])
        top = rows[0][1] if rows else 0
        words = [
            {
                "word": shown.get(k, k),
                "count": count,
                "size": 1 + round((SIZE_CLASSES - 1) * count / top),
            }
            for k, count in rows
        ]
        # Alphabetical order spreads large and small words through the cloud.
        words.sort(key=lambda w: str(w["word"]).casefold())
        # Participants with at least one word on the screen.
        ballots = sa.select(sa.func.count(sa.distinct(col(BallotItem.ballot_id)))).where(*visible)
        responses = int(session.execute(ballots).scalar_one())
        return Results(responses=responses, data={"words": words})

    def csv_cells(self, config: Mapping[str, Any], item: BallotItem) -> CsvCells:
        return CsvCells(answer=item.text or item.key, value=item.key)


def _most_typed_forms(
    session: Session, visible: tuple[Any, ...], keys: list[str]
) -> dict[str, str]:
    """For each key, the spelling most people typed (names and acronyms keep their capitals);
    `visible`: the conditions that pick the question's items the results may show."""
    if not keys:
        return {}
    n = sa.func.count().label("n")
    stmt = (
        sa.select(col(BallotItem.key), col(BallotItem.text), n)
        .where(*visible, col(BallotItem.key).in_(keys))
        .group_by(col(BallotItem.key), col(BallotItem.text))
    )
    best: dict[str, tuple[int, str]] = {}
    for k, text, count in session.execute(stmt):
        if not text:
            continue
        current = best.get(k)
        if current is None or (int(count), _neg(text)) > (current[0], _neg(current[1])):
            best[k] = (int(count), text)
    return {k: text for k, (_, text) in best.items()}


def _neg(text: str) -> tuple[int, ...]:
    """Sort key that prefers the alphabetically first spelling among equally common ones."""
    return tuple(-ord(ch) for ch in text)


TYPE = WordCloud()
