"""Multiple choice: one or several of 2 to 12 options; results as bars."""

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
    Item,
    ParsedAnswer,
    QuestionType,
    Results,
    count_ballots,
    count_by_key,
    entries_field,
    int_value,
    one_value,
)

MIN_OPTIONS = 2
MAX_OPTIONS = 12
MAX_LABEL = 120


class Choice(QuestionType):
    kind = "choice"
    label = _l("Multiple choice")
    order = 10

    def default_config(self, language: str) -> dict[str, Any]:
        labels = ["Ja", "Nee"] if language == "nl" else ["Yes", "No"]
        return {
            "options": [{"id": f"o{i}", "label": label} for i, label in enumerate(labels, 1)],
            "multiple": False,
            "max_choices": 1,
        }

    def parse_config(
        self,
        form: FormValues,
        previous: Mapping[str, Any] | None = None,
        reserved: Sequence[str] = (),
    ) -> dict[str, Any]:
        options = entries_field(
            form,
            "options",
            previous,
            prefix="o",
            max_length=MAX_LABEL,
            count=(MIN_OPTIONS, MAX_OPTIONS),
            too_few_or_many=_l("Give between %(low)s and %(high)s options, one per line."),
            reserved=reserved,
        )
        multiple = one_value(form, "multiple") in {"1", "on", "true"}
        max_choices = (
            int_value(form, "max_choices", default=len(options), low=1, high=len(options))
            if multiple
            else 1
        )
        return {"options": options, "multiple": multiple, "max_choices": max_choices}

    def parse_answer(self, config: Mapping[str, Any], form: FormValues) -> ParsedAnswer:
        chosen = [v for v in form.get("option", ()) if v != ""]
        if not chosen:
            raise AnswerError("Choose an answer.")
        if len(set(chosen)) != len(chosen):
            raise AnswerError("Choose each answer only once.")
        known = {str(o["id"]) for o in config["options"]}
        if any(c not in known for c in chosen):
            raise AnswerError("That answer is not one of the options.")
        if not config.get("multiple") and len(chosen) > 1:
            raise AnswerError("Choose one answer.")
        limit = int(config.get("max_choices", 1))
        if len(chosen) > limit:
            raise AnswerError("Choose at most %(n)s answers.", n=limit)
        order = [str(o["id"]) for o in config["options"]]
        chosen.sort(key=order.index)
        return ParsedAnswer({"options": chosen}, tuple(Item(key=c) for c in chosen))

    def tally(self, session: Session, question_id: int, config: Mapping[str, Any]) -> Results:
        counts = count_by_key(session, question_id)
        responses = count_ballots(session, question_id)
        top = max(counts.values(), default=0)
        bars = [
            {
                "id": o["id"],
                "label": o["label"],
                "count": counts.get(o["id"], 0),
                "percent": round(100 * counts.get(o["id"], 0) / responses) if responses else 0,
                "width": round(100 * counts.get(o["id"], 0) / top, 1) if top else 0,
            }
            for o in config["options"]
        ]
        return Results(responses=responses, data={"bars": bars})

    def csv_cells(self, config: Mapping[str, Any], item: BallotItem) -> CsvCells:
        labels = {o["id"]: o["label"] for o in config["options"]}
        return CsvCells(answer=labels.get(item.key, item.key))


TYPE = Choice()
