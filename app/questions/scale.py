"""Scale: statements rated 1 to N, with an optional "don't know" kept out of the mean."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from app.i18n import _l, gettext
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
    one_value,
)

MAX_STATEMENTS = 10
MAX_LABEL = 160
DONT_KNOW = "dk"


class Scale(QuestionType):
    kind = "scale"
    label = _l("Scale")
    order = 20

    def default_config(self, language: str) -> dict[str, Any]:
        nl = language == "nl"
        return {
            "statements": [{"id": "s1", "label": "Stelling" if nl else "Statement"}],
            "max": 5,
            "low_label": "Helemaal oneens" if nl else "Strongly disagree",
            "high_label": "Helemaal eens" if nl else "Strongly agree",
            "dont_know": True,
        }

    def parse_config(
        self,
        form: FormValues,
        previous: Mapping[str, Any] | None = None,
        reserved: Sequence[str] = (),
    ) -> dict[str, Any]:
        statements = entries_field(
            form,
            "statements",
            previous,
            prefix="s",
            max_length=MAX_LABEL,
            count=(1, MAX_STATEMENTS),
            too_few_or_many=_l("Give between %(low)s and %(high)s statements, one per line."),
            reserved=reserved,
        )
        top = int_value(form, "max", default=5, low=2, high=10)
        low_label = one_value(form, "low_label")[:60]
        high_label = one_value(form, "high_label")[:60]
        return {
            "statements": statements,
            "max": top,
            "low_label": low_label,
            "high_label": high_label,
            "dont_know": one_value(form, "dont_know") in {"1", "on", "true"},
        }

    def parse_answer(self, config: Mapping[str, Any], form: FormValues) -> ParsedAnswer:
        top = int(config["max"])
        known = {str(s["id"]) for s in config["statements"]}
        for name in form:
            if name.startswith("s-") and name[2:] not in known:
                raise AnswerError("That statement is not part of this question.")
        ratings: dict[str, int | None] = {}
        for statement in config["statements"]:
            sid = str(statement["id"])
            values = [v for v in form.get(f"s-{sid}", ()) if v != ""]
            if not values:
                continue
            if len(values) > 1:
                raise AnswerError("Choose one value per statement.")
            raw = values[0].strip()
            if raw == DONT_KNOW:
                if not config.get("dont_know"):
                    raise AnswerError("Choose a value from %(low)s to %(high)s.", low=1, high=top)
                ratings[sid] = None
                continue
            # The length check keeps int() away from huge digit strings (ValueError beyond 4300).
            if not raw.isascii() or not raw.isdigit() or len(raw) > 4 or not 1 <= int(raw) <= top:
                raise AnswerError("Choose a value from %(low)s to %(high)s.", low=1, high=top)
            ratings[sid] = int(raw)
        if not ratings:
            raise AnswerError("Choose a value for at least one statement.")
        answer = {sid: (DONT_KNOW if v is None else v) for sid, v in ratings.items()}
        items = tuple(Item(key=sid, value=v) for sid, v in ratings.items())
        return ParsedAnswer({"ratings": answer}, items)

    def tally(self, session: Session, question_id: int, config: Mapping[str, Any]) -> Results:
        stmt = (
            sa.select(col(BallotItem.key), col(BallotItem.value), sa.func.count())
            .where(col(BallotItem.question_id) == question_id)
            .group_by(col(BallotItem.key), col(BallotItem.value))
        )
        counts: dict[str, dict[int | None, int]] = {}
        for key, value, n in session.execute(stmt).all():
            counts.setdefault(key, {})[value] = int(n)
        top = int(config["max"])
        rows = []
        for statement in config["statements"]:
            dist = counts.get(statement["id"], {})
            rated = sum(n for v, n in dist.items() if v is not None)
            total = sum(dist.values())
            mean = (sum(v * n for v, n in dist.items() if v is not None) / rated) if rated else None
            segments = []
            offset = 0.0
            for value in range(1, top + 1):
                n = dist.get(value, 0)
                width = 100 * n / total if total else 0.0
                segments.append({"value": value, "count": n, "x": offset, "width": width})
                offset += width
            dont_know = dist.get(None, 0)
            rows.append(
                {
                    "id": statement["id"],
                    "label": statement["label"],
                    "segments": segments,
                    "dont_know": dont_know,
                    "dont_know_x": offset,
                    "dont_know_width": 100 * dont_know / total if total else 0.0,
                    "rated": rated,
                    "mean": mean,
                    "mean_x": (100 * (mean - 1) / (top - 1)) if mean is not None else None,
                }
            )
        return Results(responses=count_ballots(session, question_id), data={"rows": rows})

    def csv_cells(self, config: Mapping[str, Any], item: BallotItem) -> CsvCells:
        labels = {s["id"]: s["label"] for s in config["statements"]}
        value = gettext("don't know") if item.value is None else str(item.value)
        return CsvCells(answer=labels.get(item.key, item.key), value=value)


TYPE = Scale()
