"""Content slide: a heading (the question's title), text and an optional image; takes no votes.

For agendas, a welcome or "save the date". The text is shown as typed: line breaks kept, a
blank line starts a new paragraph, no markup (everything is escaped). The image is uploaded on
its own page (app/routes/uploads.py); the edit form never sets it, so a slide can only show an
image of its own presentation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlmodel import Session

from app.i18n import _l
from app.models import BallotItem
from app.questions.base import (
    AnswerError,
    ConfigError,
    CsvCells,
    FormValues,
    ParsedAnswer,
    QuestionType,
    Results,
    one_value,
)
from app.questions.text import clean_text

MAX_TEXT = 1200
MAX_LINES = 30
MAX_ALT = 200
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")


def clean_slide_text(raw: str) -> str:
    """Text as typed, made safe; spaces at line ends dropped, blank lines at most one in a row."""
    text = clean_text(raw)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text)


def paragraphs(text: str) -> list[str]:
    """The paragraphs of a slide's text (separated by a blank line)."""
    return [p for p in text.split("\n\n") if p.strip()]


class Content(QuestionType):
    kind = "content"
    label = _l("Content slide (no question)")
    order = 90
    takes_votes = False

    def default_config(self, language: str) -> dict[str, Any]:
        return {"text": "", "alt": "", "image": None}

    def parse_config(
        self,
        form: FormValues,
        previous: Mapping[str, Any] | None = None,
        reserved: Sequence[str] = (),
    ) -> dict[str, Any]:
        raw = form.get("text", [""])[0] if form.get("text") else ""
        if len(raw) > MAX_TEXT * 4:
            raise ConfigError("The text can have at most %(n)s characters.", n=MAX_TEXT)
        text = clean_slide_text(raw)
        if len(text) > MAX_TEXT:
            raise ConfigError("The text can have at most %(n)s characters.", n=MAX_TEXT)
        if text.count("\n") + 1 > MAX_LINES:
            raise ConfigError("The text can have at most %(n)s lines.", n=MAX_LINES)
        raw_alt = one_value(form, "alt")
        alt = " ".join(clean_text(raw_alt[: MAX_ALT * 4]).split())
        if len(alt) > MAX_ALT:
            raise ConfigError(
                "The description of the image can have at most %(n)s characters.", n=MAX_ALT
            )
        # The image is set on its own page only (services/uploads.py): the edit form keeps it.
        image = (previous or {}).get("image")
        return {"text": text, "alt": alt, "image": image}

    def parse_answer(self, config: Mapping[str, Any], form: FormValues) -> ParsedAnswer:
        raise AnswerError("This slide takes no answers. Look at the screen.")

    def tally(self, session: Session, question_id: int, config: Mapping[str, Any]) -> Results:
        # No vote is ever accepted, so there is nothing to count: no query.
        return Results(responses=0)

    def csv_cells(self, config: Mapping[str, Any], item: BallotItem) -> CsvCells:
        return CsvCells(answer=item.text or item.key)


TYPE = Content()
