"""2x2 grid: each item rated on two scales (say importance and satisfaction); results as a
scatter of the items' averages over four labelled quadrants.

A rating is stored as one BallotItem per item and axis, keyed "<item>:x" and "<item>:y" with the
rating as its value, so the database averages them with one GROUP BY key.
"""

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
    one_value,
)
from app.questions.text import clean_text

MIN_ITEMS = 2
MAX_ITEMS = 10
MAX_LABEL = 80
MAX_AXIS = 40
MAX_QUADRANT = 40
AXES = ("x", "y")
# Quadrants in reading order: top left, top right, bottom left, bottom right (x grows to the
# right, y upwards).
QUADRANTS = ("q_tl", "q_tr", "q_bl", "q_br")
DEFAULTS = {
    "nl": {
        "x_label": "Belang",
        "y_label": "Tevredenheid",
        "q_tl": "Gaat goed, minder belangrijk",
        "q_tr": "Goed zo: vasthouden",
        "q_bl": "Minder belangrijk",
        "q_br": "Hier eerst aan werken",
        "items": ["Onderhoud", "Communicatie"],
    },
    "en": {
        "x_label": "Importance",
        "y_label": "Satisfaction",
        "q_tl": "Going well, less important",
        "q_tr": "Keep it up",
        "q_bl": "Less important",
        "q_br": "Work on this first",
        "items": ["Maintenance", "Communication"],
    },
}


def _label(form: FormValues, name: str, default: str, limit: int) -> str:
    text = clean_text(" ".join(one_value(form, name).split()))[:limit]
    return text or default


class Grid(QuestionType):
    kind = "grid"
    label = _l("2x2 grid")
    order = 35

    def default_config(self, language: str) -> dict[str, Any]:
        defaults = DEFAULTS["nl" if language == "nl" else "en"]
        return {
            "items": [
                {"id": f"i{n}", "label": label} for n, label in enumerate(defaults["items"], 1)
            ],
            "max": 5,
            **{key: defaults[key] for key in ("x_label", "y_label", *QUADRANTS)},
        }

    def parse_config(
        self,
        form: FormValues,
        previous: Mapping[str, Any] | None = None,
        reserved: Sequence[str] = (),
    ) -> dict[str, Any]:
        # Stored keys are "<item>:x"; an item id with stored ratings is reserved as well.
        reserved_ids = sorted({key.split(":", 1)[0] for key in reserved})
        items = entries_field(
            form,
            "items",
            previous,
            prefix="i",
            max_length=MAX_LABEL,
            count=(MIN_ITEMS, MAX_ITEMS),
            too_few_or_many=_l("Give between %(low)s and %(high)s items, one per line."),
            reserved=reserved_ids,
        )
        old = previous or {}
        defaults = DEFAULTS["en"]
        config: dict[str, Any] = {
            "items": items,
            "max": int_value(form, "max", default=5, low=3, high=10),
        }
        for key in ("x_label", "y_label"):
            config[key] = _label(form, key, str(old.get(key) or defaults[key]), MAX_AXIS)
        for key in QUADRANTS:
            if key not in form:
                config[key] = str(old.get(key, defaults[key]))
                continue
            # An emptied quadrant label stays empty: the facilitator may not want one.
            config[key] = clean_text(" ".join(one_value(form, key).split()))[:MAX_QUADRANT]
        return config

    def parse_answer(self, config: Mapping[str, Any], form: FormValues) -> ParsedAnswer:
        top = int(config["max"])
        known = {str(i["id"]) for i in config["items"]}
        for name in form:
            if name[-2:] in ("-x", "-y") and name[:-2] not in known:
                raise AnswerError("That item is not part of this question.")
        ratings: dict[str, dict[str, int]] = {}
        for entry in config["items"]:
            iid = str(entry["id"])
            pair: dict[str, int] = {}
            for axis in AXES:
                values = [v for v in form.get(f"{iid}-{axis}", ()) if v.strip() != ""]
                if not values:
                    continue
                if len(values) > 1:
                    raise AnswerError("Choose one value per scale.")
                raw = values[0].strip()
                # The length check keeps int() away from huge digit strings.
                if not (raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= top):
                    raise AnswerError("Choose a value from %(low)s to %(high)s.", low=1, high=top)
                pair[axis] = int(raw)
            if len(pair) == 1:
                raise AnswerError(
                    "Give both ratings for “%(item)s”, or neither.", item=str(entry["label"])
                )
            if pair:
                ratings[iid] = pair
        if not ratings:
            raise AnswerError("Rate at least one item on both scales.")
        items = tuple(
            Item(key=f"{iid}:{axis}", value=pair[axis])
            for iid, pair in ratings.items()
            for axis in AXES
        )
        return ParsedAnswer({"ratings": ratings}, items)

    def tally(self, session: Session, question_id: int, config: Mapping[str, Any]) -> Results:
        value = col(BallotItem.value)
        stmt = (
            sa.select(col(BallotItem.key), sa.func.avg(value), sa.func.count(value))
            .where(col(BallotItem.question_id) == question_id)
            .group_by(col(BallotItem.key))
        )
        means = {key: (float(avg), int(n)) for key, avg, n in session.execute(stmt).all() if n}
        top = int(config["max"])
        points = []
        for number, entry in enumerate(config["items"], 1):
            x = means.get(f"{entry['id']}:x")
            y = means.get(f"{entry['id']}:y")
            rated = x is not None and y is not None
            points.append(
                {
                    "number": number,
                    "id": entry["id"],
                    "label": entry["label"],
                    "x": x[0] if x and rated else None,
                    "y": y[0] if y and rated else None,
                    "count": min(x[1], y[1]) if x and y else 0,
                    # 0..100 along each axis: 1 at 0, the top of the scale at 100.
                    "px": 100 * (x[0] - 1) / (top - 1) if x and rated else None,
                    "py": 100 * (y[0] - 1) / (top - 1) if y and rated else None,
                }
            )
        return Results(responses=count_ballots(session, question_id), data={"points": points})

    def csv_cells(self, config: Mapping[str, Any], item: BallotItem) -> CsvCells:
        labels = {str(i["id"]): str(i["label"]) for i in config["items"]}
        iid, _, axis = item.key.partition(":")
        axis_label = config.get(f"{axis}_label") or axis
        answer = f"{labels.get(iid, iid)} – {axis_label}" if axis in AXES else item.key
        return CsvCells(answer=answer, value="" if item.value is None else str(item.value))


TYPE = Grid()
