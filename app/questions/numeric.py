"""Guess a number: one number within a range; results as a histogram with mean and median.

Numbers may have up to two decimals (a per-question setting). They are stored as whole numbers
scaled by 10**decimals (3,5 with one decimal is stored as 35), so the database counts, averages
and sorts them as integers. An optional correct value is kept in the configuration; it is never
rendered on phones, and the projector shows it only once `correct_revealed` is set.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from app.i18n import _l, current_language
from app.models import BallotItem
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
    int_value,
    one_value,
)
from app.questions.text import clean_text

KEY = "n"
MAX_DECIMALS = 2
# The largest number anyone can enter (before scaling): scaled by 100 it still fits the 32-bit
# integer column on PostgreSQL.
LIMIT = 1_000_000
MAX_INPUT = 24  # characters; "-1000000,00" is 11
MAX_UNIT = 20
MAX_BINS = 20
# A number as typed: an optional minus, ASCII digits, optionally a decimal comma or point and
# more digits. No grouping of thousands (in Dutch "1.000" is a thousand, in English one).
NUMBER = re.compile(r"(-?)([0-9]+)(?:[.,]([0-9]+))?", re.ASCII)
MINUS_SIGNS = "\u2212\u2013"  # minus sign and en dash, as some keyboards type a minus


@dataclass(frozen=True)
class Shown:
    """A scaled number shown in a message, with the decimal separator of the language it is
    shown in (messages are filled in after the language is chosen)."""

    scaled: int
    decimals: int

    def __str__(self) -> str:
        return format_scaled(self.scaled, self.decimals, current_language.get())


def format_scaled(scaled: int, decimals: int, language: str = "en") -> str:
    """A stored number as people write it: 35 with one decimal is "3,5" in Dutch."""
    sign = "-" if scaled < 0 else ""
    whole, fraction = divmod(abs(scaled), 10**decimals)
    if not decimals:
        return f"{sign}{whole}"
    separator = "," if language == "nl" else "."
    return f"{sign}{whole}{separator}{fraction:0{decimals}d}"


class NotANumber(ValueError):
    """Text that is not a number with at most the allowed decimals."""

    def __init__(self, too_many_decimals: bool = False) -> None:
        super().__init__("not a number")
        self.too_many_decimals = too_many_decimals


def parse_scaled(raw: str, decimals: int) -> int:
    """Text as typed ("3,5", "-12", "7.25") as a number scaled by 10**decimals.

    Raises NotANumber for anything else: other digits than ASCII, exponents, NaN, infinity,
    thousands separators, more decimals than allowed, or more than LIMIT.
    """
    text = raw.strip()
    if text[:1] and text[0] in MINUS_SIGNS:
        text = "-" + text[1:]
    if len(text) > MAX_INPUT or not text.isascii():
        raise NotANumber
    match = NUMBER.fullmatch(text)
    if match is None:
        raise NotANumber
    sign, whole, fraction = match.group(1), match.group(2), match.group(3) or ""
    if len(fraction) > decimals:
        raise NotANumber(too_many_decimals=True)
    whole = whole.lstrip("0") or "0"
    if len(whole) > len(str(LIMIT)):  # keeps int() away from huge digit strings
        raise NotANumber
    scaled = int(whole) * 10**decimals + int(fraction.ljust(decimals, "0") or "0")
    if scaled > LIMIT * 10**decimals:
        raise NotANumber
    return -scaled if sign else scaled


def nice_width(span: int) -> int:
    """The width of a histogram bin: 1, 2 or 5 times a power of ten, at most MAX_BINS bins."""
    if span <= MAX_BINS:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if math.ceil(span / (step * factor)) <= MAX_BINS:
                return step * factor
        step *= 10


class Numeric(QuestionType):
    kind = "numeric"
    label = _l("Guess a number")
    order = 25

    def default_config(self, language: str) -> dict[str, Any]:
        return {
            "min": 0,
            "max": 100,
            "decimals": 0,
            "unit": "",
            "correct": None,
            "correct_revealed": False,
        }

    def parse_config(
        self,
        form: FormValues,
        previous: Mapping[str, Any] | None = None,
        reserved: Sequence[str] = (),
    ) -> dict[str, Any]:
        decimals = int_value(form, "decimals", default=0, low=0, high=MAX_DECIMALS)

        def number(name: str, default: str) -> int:
            try:
                return parse_scaled(one_value(form, name, default) or default, decimals)
            except NotANumber:
                raise ConfigError(
                    "Enter a number from %(low)s to %(high)s, with no more decimals than chosen.",
                    low=-LIMIT,
                    high=LIMIT,
                ) from None

        low = number("min", "0")
        high = number("max", "100")
        if low >= high:
            raise ConfigError("The highest number must be larger than the lowest.")
        raw_correct = one_value(form, "correct")
        correct = number("correct", "0") if raw_correct else None
        if correct is not None and not low <= correct <= high:
            raise ConfigError("The correct answer must lie within the range.")
        unit = clean_text(" ".join(one_value(form, "unit").split()))[:MAX_UNIT]
        return {
            "min": low,
            "max": high,
            "decimals": decimals,
            "unit": unit,
            "correct": correct,
            "correct_revealed": correct is not None
            and one_value(form, "correct_revealed") in {"1", "on", "true"},
        }

    def parse_answer(self, config: Mapping[str, Any], form: FormValues) -> ParsedAnswer:
        decimals = int(config["decimals"])
        low, high = int(config["min"]), int(config["max"])
        values = [v for v in form.get("number", ()) if v.strip() != ""]
        if not values:
            raise AnswerError("Enter a number.")
        if len(values) > 1:
            raise AnswerError("Enter one number.")
        try:
            scaled = parse_scaled(values[0], decimals)
        except NotANumber as error:
            if error.too_many_decimals and decimals == 0:
                raise AnswerError("Enter a whole number, without a comma or point.") from None
            if error.too_many_decimals and decimals == 1:
                raise AnswerError("Use at most one digit after the comma.") from None
            if error.too_many_decimals:
                raise AnswerError("Use at most %(n)s digits after the comma.", n=decimals) from None
            scaled = None
        if scaled is None or not low <= scaled <= high:
            raise AnswerError(
                "Enter a number from %(low)s to %(high)s.",
                low=Shown(low, decimals),
                high=Shown(high, decimals),
            )
        return ParsedAnswer({"number": scaled}, (Item(key=KEY, value=scaled),))

    def tally(self, session: Session, question_id: int, config: Mapping[str, Any]) -> Results:
        decimals = int(config["decimals"])
        low, high = int(config["min"]), int(config["max"])
        value = col(BallotItem.value)
        mine = (col(BallotItem.question_id) == question_id, col(BallotItem.key) == KEY)
        count, mean = session.execute(
            sa.select(sa.func.count(value), sa.func.avg(value)).where(*mine)
        ).one()
        count = int(count)
        median = None
        if count:
            # The middle value (or the two middle values) in the database's own order.
            middle = (
                sa.select(value)
                .where(*mine)
                .order_by(value)
                .offset((count - 1) // 2)
                .limit(1 if count % 2 else 2)
            )
            middles = [int(v) for v in session.execute(middle).scalars()]
            median = sum(middles) / len(middles)
        width = nice_width(high - low + 1)
        # Bars of one value each, or `width` values each with the highest number in the last
        # bar (0 to 10.000 is ten bars of 1.000, not eleven with a bar for 10.000 alone).
        n_bins = high - low + 1 if width == 1 else max(1, math.ceil((high - low) / width))
        # Only values within the range have a bin (the range may have changed after votes);
        # `value - low` is then never negative, so integer division is the same everywhere.
        bucket = sa.case(
            (value >= low + n_bins * width, n_bins - 1), else_=(value - low) // width
        ).label("bucket")
        per_bucket = {
            int(b): int(n)
            for b, n in session.execute(
                sa.select(bucket, sa.func.count())
                .where(*mine, value.between(low, high))
                .group_by(bucket)
            ).all()
        }
        top = max(per_bucket.values(), default=0)
        language = current_language.get()
        bins = [
            {
                "x": 100 * index / n_bins,
                "count": per_bucket.get(index, 0),
                "height": (100 * per_bucket.get(index, 0) / top) if top else 0.0,
            }
            for index in range(n_bins)
        ]
        # Labels along the axis, at most about ten: single values under their bar, or the
        # lower edge of every (other) bin and the highest number at the end.
        every = 1 if n_bins <= 10 else 2
        ticks = []
        for index in range(0, n_bins, every):
            start = low + index * width
            label = format_scaled(start, decimals, language)
            if width == 1:
                ticks.append({"x": 100 * (index + 0.5) / n_bins, "label": label})
            else:
                ticks.append({"x": 100 * index / n_bins, "label": label})
        if width > 1:
            ticks.append({"x": 100.0, "label": format_scaled(high, decimals, language)})
        scale = 10**decimals
        stored = config.get("correct")
        correct = int(stored) if stored is not None else None
        median_digits = decimals if median is None or median == int(median) else decimals + 1
        shown_correct = (
            format_scaled(correct, decimals, language)
            if correct is not None and config.get("correct_revealed")
            else None
        )

        def x(scaled: float | None) -> float | None:
            """Where a value lies along the histogram, 0 to 100, matching the axis labels:
            a bar per value is labelled in its middle, wider bars at their lower edge."""
            if scaled is None:
                return None
            offset = 0.5 if width == 1 else 0.0
            return min(100.0, max(0.0, 100 * ((scaled - low) / width + offset) / n_bins))

        mean_scaled = float(mean) if mean is not None else None
        return Results(
            responses=count_ballots(session, question_id),
            data={
                "bins": bins,
                "bin_width": 100 / n_bins,
                "ticks": ticks,
                "count": count,
                "mean": mean_scaled / scale if mean_scaled is not None else None,
                "median": median / scale if median is not None else None,
                # A median between two values may need one more decimal than the answers.
                "median_digits": median_digits,
                "mean_x": x(mean_scaled),
                "median_x": x(median),
                "correct": shown_correct,
                "correct_x": x(correct) if shown_correct is not None else None,
                "decimals": decimals,
            },
        )

    def csv_cells(self, config: Mapping[str, Any], item: BallotItem) -> CsvCells:
        decimals = int(config["decimals"])
        if item.value is None:
            return CsvCells(answer="")
        shown = format_scaled(item.value, decimals, current_language.get())
        unit = str(config.get("unit") or "")
        return CsvCells(
            answer=f"{shown} {unit}".strip(), value=format_scaled(item.value, decimals, "en")
        )


TYPE = Numeric()
