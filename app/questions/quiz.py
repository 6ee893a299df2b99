"""Quiz: a choice question with correct answer(s), scored for being right and for being fast.

The facilitator marks correct options with `*` at the start of their line in the edit form.
Phones never see which options are correct until the answer is revealed: results shown
(`results_visible`) and voting closed (`revealed`). Points are computed from the database by
app/services/quiz.py; this module only validates, counts and says which options are right.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlmodel import Session

from app.i18n import _l
from app.models import BallotItem, Question, QuestionState
from app.questions.base import (
    AnswerError,
    ConfigError,
    CsvCells,
    FormValues,
    Item,
    ParsedAnswer,
    QuestionType,
    Results,
    count_ballots,
    count_by_key,
    int_value,
    lines_to_entries,
    one_value,
)

MIN_OPTIONS = 2
MAX_OPTIONS = 8
MAX_LABEL = 120
CORRECT_MARK = "*"


def revealed(question: Question) -> bool:
    """Whether the correct answer of a quiz question may be shown (projector and phones):
    the facilitator shows the results and voting is closed, so nobody can still change."""
    return bool(question.results_visible) and question.state == QuestionState.CLOSED


def correct_ids(config: Mapping[str, Any]) -> list[str]:
    """The ids of the correct options (in the options' order)."""
    correct = {str(c) for c in config.get("correct", [])}
    return [str(o["id"]) for o in config.get("options", []) if str(o["id"]) in correct]


def _marked_lines(raw: str) -> tuple[str, list[bool]]:
    """The options text without `*` marks, and per non-empty line whether it was marked."""
    lines: list[str] = []
    marks: list[bool] = []
    for line in raw.splitlines():
        text = line.strip()
        if not text:
            continue
        marked = text.startswith(CORRECT_MARK)
        if marked:
            text = text.lstrip(CORRECT_MARK).strip()
            if not text:
                raise ConfigError("Write an answer after the *.")
        lines.append(text)
        marks.append(marked)
    return "\n".join(lines), marks


class Quiz(QuestionType):
    kind = "quiz"
    label = _l("Quiz (with correct answer and points)")
    order = 15
    # New quiz questions hide their results: see app/services/presentations.add_question.
    hides_results = True

    def default_config(self, language: str) -> dict[str, Any]:
        labels = ["Ja", "Nee"] if language == "nl" else ["Yes", "No"]
        return {
            "options": [{"id": f"o{i}", "label": label} for i, label in enumerate(labels, 1)],
            "correct": ["o1"],
            "multiple": False,
            "max_choices": 1,
        }

    def parse_config(
        self,
        form: FormValues,
        previous: Mapping[str, Any] | None = None,
        reserved: Sequence[str] = (),
    ) -> dict[str, Any]:
        text, marks = _marked_lines(one_value(form, "options"))
        options = lines_to_entries(
            text,
            (previous or {}).get("options", []),
            prefix="o",
            max_length=MAX_LABEL,
            reserved=reserved,
        )
        if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
            raise ConfigError(
                "Give between %(low)s and %(high)s options, one per line.",
                low=MIN_OPTIONS,
                high=MAX_OPTIONS,
            )
        correct = [o["id"] for o, marked in zip(options, marks, strict=True) if marked]
        if not correct:
            raise ConfigError("Put a * before the correct answer.")
        if len(correct) == len(options):
            raise ConfigError("At least one answer must be wrong.")
        multiple = one_value(form, "multiple") in {"1", "on", "true"}
        if len(correct) > 1 and not multiple:
            raise ConfigError(
                "More than one answer is correct: let participants choose more than one."
            )
        max_choices = (
            int_value(
                form, "max_choices", default=len(options), low=len(correct), high=len(options)
            )
            if multiple
            else 1
        )
        return {
            "options": options,
            "correct": correct,
            "multiple": multiple,
            "max_choices": max_choices,
        }

    def parse_answer(self, config: Mapping[str, Any], form: FormValues) -> ParsedAnswer:
        chosen = [v for v in form.get("option", ()) if v != ""]
        if not chosen:
            raise AnswerError("Choose an answer.")
        if len(set(chosen)) != len(chosen):
            raise AnswerError("Choose each answer only once.")
        order = [str(o["id"]) for o in config["options"]]
        if any(c not in order for c in chosen):
            raise AnswerError("That answer is not one of the options.")
        if not config.get("multiple") and len(chosen) > 1:
            raise AnswerError("Choose one answer.")
        limit = int(config.get("max_choices", 1))
        if len(chosen) > limit:
            raise AnswerError("Choose at most %(n)s answers.", n=limit)
        chosen.sort(key=order.index)
        return ParsedAnswer({"options": chosen}, tuple(Item(key=c) for c in chosen))

    def tally(self, session: Session, question_id: int, config: Mapping[str, Any]) -> Results:
        counts = count_by_key(session, question_id)
        responses = count_ballots(session, question_id)
        top = max(counts.values(), default=0)
        correct = set(correct_ids(config))
        bars = [
            {
                "id": o["id"],
                "label": o["label"],
                "count": counts.get(o["id"], 0),
                "percent": round(100 * counts.get(o["id"], 0) / responses) if responses else 0,
                "width": round(100 * counts.get(o["id"], 0) / top, 1) if top else 0,
                # Templates show this only once the answer is revealed (see `revealed`).
                "correct": o["id"] in correct,
            }
            for o in config["options"]
        ]
        return Results(responses=responses, data={"bars": bars})

    def csv_cells(self, config: Mapping[str, Any], item: BallotItem) -> CsvCells:
        labels = {o["id"]: o["label"] for o in config["options"]}
        right = item.key in set(correct_ids(config))
        return CsvCells(answer=labels.get(item.key, item.key), value="1" if right else "0")


TYPE = Quiz()
