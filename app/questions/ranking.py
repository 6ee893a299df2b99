"""Ranking: 2 to 10 items put in order; results as Borda points with the places per item."""

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
)

MIN_ITEMS = 2
MAX_ITEMS = 10
MAX_LABEL = 120
PREFIX = "r-"


def borda(place: int, count: int) -> int:
    """Points of one place in a ranking of `count` items: first gets `count`, last gets 1."""
    return max(0, count - place + 1)


class Ranking(QuestionType):
    kind = "ranking"
    label = _l("Ranking")
    order = 50

    def default_config(self, language: str) -> dict[str, Any]:
        labels = (
            ["Jaarcyclus", "Duurzaamheid", "Financiën"]
            if language == "nl"
            else ["Annual cycle", "Sustainability", "Finances"]
        )
        return {"items": [{"id": f"i{n}", "label": label} for n, label in enumerate(labels, 1)]}

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
        return {"items": items}

    def parse_answer(self, config: Mapping[str, Any], form: FormValues) -> ParsedAnswer:
        ids = [str(i["id"]) for i in config["items"]]
        count = len(ids)
        known = set(ids)
        for name in form:
            if name.startswith(PREFIX) and name[len(PREFIX) :] not in known:
                raise AnswerError("That item is not part of this question.")
        places: dict[str, int] = {}
        for item_id in ids:
            values = [v for v in form.get(PREFIX + item_id, ()) if v.strip() != ""]
            if not values:
                continue
            if len(values) > 1:
                raise AnswerError("Give each item one place.")
            raw = values[0].strip()
            # ASCII digits only, and short: int() never sees a huge or a non-Latin number.
            if not (raw.isascii() and raw.isdigit() and len(raw) <= 2) or not (
                1 <= int(raw) <= count
            ):
                raise AnswerError("Choose a place from %(low)s to %(high)s.", low=1, high=count)
            places[item_id] = int(raw)
        if not places:
            raise AnswerError("Put the items in order: give each item a place.")
        if len(set(places.values())) != len(places):
            raise AnswerError("Give each item a different place.")
        if len(places) != count:
            raise AnswerError(
                "Give every item a place, from %(low)s to %(high)s.", low=1, high=count
            )
        return ParsedAnswer({"ranks": places}, tuple(Item(key=i, value=places[i]) for i in ids))

    def tally(self, session: Session, question_id: int, config: Mapping[str, Any]) -> Results:
        stmt = (
            sa.select(col(BallotItem.key), col(BallotItem.value), sa.func.count())
            .where(col(BallotItem.question_id) == question_id)
            .group_by(col(BallotItem.key), col(BallotItem.value))
        )
        counts: dict[str, dict[int, int]] = {}
        for key, value, n in session.execute(stmt).all():
            if value is not None:
                counts.setdefault(key, {})[int(value)] = int(n)
        count = len(config["items"])
        rows = []
        for position, item in enumerate(config["items"]):
            dist = counts.get(item["id"], {})
            rows.append(
                {
                    "id": item["id"],
                    "label": item["label"],
                    "points": sum(borda(place, count) * n for place, n in dist.items()),
                    "places": [dist.get(place, 0) for place in range(1, count + 1)],
                    "position": position,
                }
            )
        top = max((r["points"] for r in rows), default=0)
        for row in rows:
            row["width"] = round(100 * row["points"] / top, 1) if top else 0
        # Most points first; equal points keep the order the facilitator gave.
        rows.sort(key=lambda r: (-r["points"], r["position"]))
        return Results(
            responses=count_ballots(session, question_id),
            data={"rows": rows, "places": list(range(1, count + 1))},
        )

    def csv_cells(self, config: Mapping[str, Any], item: BallotItem) -> CsvCells:
        labels = {i["id"]: i["label"] for i in config["items"]}
        value = "" if item.value is None else str(item.value)
        return CsvCells(answer=labels.get(item.key, item.key), value=value)


TYPE = Ranking()
