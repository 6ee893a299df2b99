"""100 points: a budget of points divided over 2 to 10 items; results as average points."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    entries_field,
    int_value,
)

MIN_ITEMS = 2
MAX_ITEMS = 10
MAX_LABEL = 120
MIN_BUDGET = 10
MAX_BUDGET = 1000
DEFAULT_BUDGET = 100
PREFIX = "p-"
# Longer digit strings are refused before int() (no huge numbers, whatever the budget).
MAX_DIGITS = 7


class Points(QuestionType):
    kind = "points"
    label = _l("Divide points")
    order = 55

    def default_config(self, language: str) -> dict[str, Any]:
        labels = (
            ["Jaarcyclus", "Duurzaamheid", "Financiën"]
            if language == "nl"
            else ["Annual cycle", "Sustainability", "Finances"]
        )
        return {
            "items": [{"id": f"i{n}", "label": label} for n, label in enumerate(labels, 1)],
            "budget": DEFAULT_BUDGET,
        }

    def parse_config(
        self,
        form: FormValues,
        previous: Mapping[str, Any] | None = None,
        reserved: Sequence[str] = (),
    ) -> dict[str, Any]:
        items = entries_field(
            form,
            "items",
            previous,
            prefix="i",
            max_length=MAX_LABEL,
            count=(MIN_ITEMS, MAX_ITEMS),
            too_few_or_many=_l("Give between %(low)s and %(high)s items, one per line."),
            reserved=reserved,
        )
        budget = int_value(form, "budget", default=DEFAULT_BUDGET, low=MIN_BUDGET, high=MAX_BUDGET)
        return {"items": items, "budget": budget}

    def parse_answer(self, config: Mapping[str, Any], form: FormValues) -> ParsedAnswer:
        ids = [str(i["id"]) for i in config["items"]]
        budget = int(config.get("budget", DEFAULT_BUDGET))
        known = set(ids)
        for name in form:
            if name.startswith(PREFIX) and name[len(PREFIX) :] not in known:
                raise AnswerError("That item is not part of this question.")
        given: dict[str, int] = {}
        for item_id in ids:
            values = [v for v in form.get(PREFIX + item_id, ()) if v.strip() != ""]
            if not values:
                continue
            if len(values) > 1:
                raise AnswerError("Give one number per item.")
            raw = values[0].strip()
            if not (raw.isascii() and raw.isdigit()):
                raise AnswerError("Enter whole numbers of points: 0 or more.")
            if len(raw) > MAX_DIGITS or int(raw) > budget:
                raise AnswerError("You can give at most %(budget)s points.", budget=budget)
            if int(raw):
                given[item_id] = int(raw)
        total = sum(given.values())
        if total == 0:
            raise AnswerError("Give at least one item some points.")
        if total > budget:
            raise AnswerError(
                "That is %(over)s points too many. You can give %(budget)s points in total.",
                over=total - budget,
                budget=budget,
            )
        return ParsedAnswer(
            {"points": given}, tuple(Item(key=i, value=n) for i, n in given.items())
        )

    def tally(self, session: Session, question_id: int, config: Mapping[str, Any]) -> Results:
        # Items given no points are not stored: the average is over everyone who answered.
        stmt = (
            sa.select(col(BallotItem.key), sa.func.sum(col(BallotItem.value)))
            .where(col(BallotItem.question_id) == question_id)
            .group_by(col(BallotItem.key))
        )
        sums = {key: int(total or 0) for key, total in session.execute(stmt).all()}
        responses = count_ballots(session, question_id)
        rows = []
        for position, item in enumerate(config["items"]):
            total = sums.get(item["id"], 0)
            rows.append(
                {
                    "id": item["id"],
                    "label": item["label"],
                    "total": total,
                    "average": total / responses if responses else 0.0,
                    "position": position,
                }
            )
        top = max((r["average"] for r in rows), default=0.0)
        for row in rows:
            row["width"] = round(100 * row["average"] / top, 1) if top else 0
        # Most points first; equal averages keep the order the facilitator gave.
        rows.sort(key=lambda r: (-r["total"], r["position"]))
        return Results(responses=responses, data={"rows": rows})

    def csv_cells(self, config: Mapping[str, Any], item: BallotItem) -> CsvCells:
        labels = {i["id"]: i["label"] for i in config["items"]}
        value = "" if item.value is None else str(item.value)
        return CsvCells(answer=labels.get(item.key, item.key), value=value)


TYPE = Points()
