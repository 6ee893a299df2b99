"""Guess a number: parsing (decimal comma, range, junk), the database tally (histogram, mean,
median), the vote route in Dutch and English, the presenter's live frame, and the correct
answer that phones never receive."""

from __future__ import annotations

import re
import statistics

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db import Database
from app.i18n import current_language
from app.models import Ballot, BallotItem, Question
from app.questions.base import AnswerError, ConfigError
from app.questions.numeric import TYPE, format_scaled, nice_width, parse_scaled
from tests.conftest import (
    BASE,
    browser,
    cast,
    join,
    login,
    make_current,
    make_presentation,
    make_question,
    make_user,
)

WHOLE = {
    "min": 0,
    "max": 100,
    "decimals": 0,
    "unit": "",
    "correct": None,
    "correct_revealed": False,
}
# 0,0 to 10,0 with one decimal: stored as 0 to 100.
TENTHS = {**WHOLE, "max": 100, "decimals": 1, "unit": "m", "correct": 75}
NEGATIVE = {**WHOLE, "min": -50, "max": 50}
RANGE = "Enter a number from %(low)s to %(high)s."


def config_form(**fields: str) -> dict[str, list[str]]:
    return {k: [v] for k, v in fields.items()}


# --- configuration -------------------------------------------------------------------------


def test_parse_config() -> None:
    config = TYPE.parse_config(
        config_form(
            min="0",
            max="10,5",
            decimals="1",
            unit=" m² ",
            correct="7.5",
            correct_revealed="1",
        )
    )
    assert config == {
        "min": 0,
        "max": 105,
        "decimals": 1,
        "unit": "m²",
        "correct": 75,
        "correct_revealed": True,
    }


def test_parse_config_defaults() -> None:
    assert TYPE.parse_config({}) == {
        "min": 0,
        "max": 100,
        "decimals": 0,
        "unit": "",
        "correct": None,
        "correct_revealed": False,
    }


def test_reveal_needs_a_correct_answer() -> None:
    assert TYPE.parse_config(config_form(correct_revealed="1"))["correct_revealed"] is False


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (config_form(min="10", max="10"), "The highest number must be larger than the lowest."),
        (config_form(min="20", max="10"), "The highest number must be larger than the lowest."),
        (
            config_form(min="0", max="10", correct="11"),
            "The correct answer must lie within the range.",
        ),
        (
            config_form(max="1,5"),
            "Enter a number from %(low)s to %(high)s, with no more decimals than chosen.",
        ),
        (
            config_form(max="10000000"),
            "Enter a number from %(low)s to %(high)s, with no more decimals than chosen.",
        ),
        (
            config_form(min="veel"),
            "Enter a number from %(low)s to %(high)s, with no more decimals than chosen.",
        ),
        (config_form(decimals="3"), "Enter a whole number between %(low)s and %(high)s."),
    ],
)
def test_parse_config_rejects(form: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        TYPE.parse_config(form)
    assert error.value.message == message


# --- numbers as typed ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "decimals", "scaled"),
    [
        ("3", 0, 3),
        (" 42 ", 0, 42),
        ("007", 0, 7),
        ("3,5", 1, 35),
        ("3.5", 1, 35),
        ("3", 2, 300),
        ("3,5", 2, 350),
        ("0,05", 2, 5),
        ("-12", 0, -12),
        ("\u221212", 0, -12),  # a real minus sign
        ("1000000", 0, 1_000_000),
        ("-1000000,00", 2, -100_000_000),
    ],
)
def test_parse_scaled(text: str, decimals: int, scaled: int) -> None:
    assert parse_scaled(text, decimals) == scaled


@pytest.mark.parametrize(
    ("scaled", "decimals", "nl", "en"),
    [(35, 1, "3,5", "3.5"), (-5, 2, "-0,05", "-0.05"), (42, 0, "42", "42"), (0, 1, "0,0", "0.0")],
)
def test_format_scaled(scaled: int, decimals: int, nl: str, en: str) -> None:
    assert format_scaled(scaled, decimals, "nl") == nl
    assert format_scaled(scaled, decimals, "en") == en


def test_nice_width() -> None:
    assert nice_width(11) == 1
    assert nice_width(20) == 1
    assert nice_width(21) == 2
    assert nice_width(101) == 10
    assert nice_width(1001) == 100
    assert nice_width(2_000_001) == 200_000


# --- answers -------------------------------------------------------------------------------


def test_parse_answer() -> None:
    parsed = TYPE.parse_answer(TENTHS, {"number": ["3,5"], "client_key": ["k"]})
    assert parsed.answer == {"number": 35}
    assert [(i.key, i.value) for i in parsed.items] == [("n", 35)]


@pytest.mark.parametrize("value", ["0", "10", "0,0", "10.0", "5,5"])
def test_parse_answer_accepts_the_range(value: str) -> None:
    TYPE.parse_answer(TENTHS, {"number": [value]})


@pytest.mark.parametrize(
    "value",
    [
        "10,1",
        "-0,1",
        "11",
        "NaN",
        "nan",
        "inf",
        "-inf",
        "Infinity",
        "1e1",
        "0x5",
        "+3",
        "--3",
        "3-",
        "٣",
        "³",
        "３",
        "3 5",
        "1.000.000",
        "drie",
        ",5",
        "5,",
        "1" * 5000,
        "0" * 30 + "1",
    ],
)
def test_parse_answer_refuses(value: str) -> None:
    with pytest.raises(AnswerError) as error:
        TYPE.parse_answer(TENTHS, {"number": [value]})
    assert error.value.message == RANGE
    assert {k: str(v) for k, v in error.value.params.items()} == {"low": "0,0", "high": "10,0"}


def test_range_in_the_message_follows_the_language() -> None:
    with pytest.raises(AnswerError) as error:
        TYPE.parse_answer(TENTHS, {"number": ["99"]})
    assert error.value.text("nl") == "Vul een getal in van 0,0 tot en met 10,0."
    assert error.value.text("en") == "Enter a number from 0.0 to 10.0."


@pytest.mark.parametrize(
    ("config", "form", "message"),
    [
        (WHOLE, {}, "Enter a number."),
        (WHOLE, {"number": ["  "]}, "Enter a number."),
        (WHOLE, {"number": ["3", "4"]}, "Enter one number."),
        (WHOLE, {"number": ["3,5"]}, "Enter a whole number, without a comma or point."),
        (WHOLE, {"number": ["1.000"]}, "Enter a whole number, without a comma or point."),
        (TENTHS, {"number": ["3,55"]}, "Use at most one digit after the comma."),
        (
            {**TENTHS, "decimals": 2},
            {"number": ["3,555"]},
            "Use at most %(n)s digits after the comma.",
        ),
    ],
)
def test_parse_answer_rejects(config: dict, form: dict, message: str) -> None:
    with pytest.raises(AnswerError) as error:
        TYPE.parse_answer(config, form)
    assert error.value.message == message


def test_negative_numbers() -> None:
    assert TYPE.parse_answer(NEGATIVE, {"number": ["-50"]}).answer == {"number": -50}
    with pytest.raises(AnswerError):
        TYPE.parse_answer(NEGATIVE, {"number": ["-51"]})


@given(value=st.text(max_size=30), decimals=st.integers(0, 2))
def test_parse_answer_never_crashes(value: str, decimals: int) -> None:
    config = {**WHOLE, "min": -1000, "max": 1000 * 10**decimals, "decimals": decimals}
    try:
        parsed = TYPE.parse_answer(config, {"number": [value]})
    except AnswerError:
        return
    scaled = parsed.answer["number"]
    assert isinstance(scaled, int) and -1000 <= scaled <= 1000 * 10**decimals
    # Only ASCII digits, one minus and one separator got through, and they mean that number.
    text = value.strip().replace("\u2212", "-").replace("\u2013", "-")
    fraction = rf"([.,][0-9]{{1,{decimals}}})?" if decimals else ""
    assert re.fullmatch(r"-?[0-9]+" + fraction, text)
    assert float(text.replace(",", ".")) * 10**decimals == pytest.approx(scaled)


@given(value=st.from_regex(r"\A-?[0-9]{1,7}([.,][0-9]{1,2})?\Z"))
def test_parse_answer_takes_every_well_formed_number(value: str) -> None:
    config = {**WHOLE, "min": -100_000_000, "max": 100_000_000, "decimals": 2}
    expected = round(float(value.replace(",", ".")) * 100)
    if abs(expected) > 100_000_000:
        with pytest.raises(AnswerError):
            TYPE.parse_answer(config, {"number": [value]})
    else:
        assert TYPE.parse_answer(config, {"number": [value]}).answer == {"number": expected}


# --- tally ---------------------------------------------------------------------------------


@pytest.fixture
def owner_and_presentation(db: Database):
    owner = make_user(db)
    return owner, make_presentation(db, owner)


def _question(db: Database, owner, presentation, **form: str) -> Question:
    question = make_question(db, owner, presentation, "numeric", "Hoeveel woningen?", **form)
    make_current(db, question)
    return question


def _tally(db: Database, question: Question, language: str = "nl") -> dict:
    token = current_language.set(language)
    try:
        with db.session() as session:
            results = TYPE.tally(session, question.id or 0, question.config)
    finally:
        current_language.reset(token)
    return {"responses": results.responses, **results.data}


def test_tally_histogram_mean_and_median(db: Database, owner_and_presentation) -> None:
    question = _question(db, *owner_and_presentation, min="1", max="10")
    for name, number in [("a", "2"), ("b", "2"), ("c", "9"), ("d", "4")]:
        cast(db, question, name, {"number": [number]})
    data = _tally(db, question)
    assert data["responses"] == data["count"] == 4
    assert [b["count"] for b in data["bins"]] == [0, 2, 0, 1, 0, 0, 0, 0, 1, 0]
    assert [b["height"] for b in data["bins"]][1] == pytest.approx(100)
    assert [t["label"] for t in data["ticks"]] == [str(n) for n in range(1, 11)]
    assert data["mean"] == pytest.approx(4.25)
    assert data["median"] == pytest.approx(3.0)
    assert data["median_digits"] == 0
    assert data["correct"] is None and data["correct_x"] is None
    # The mean lies a quarter of the way into the bar of 4: bars are 10 wide, 4 is the 4th.
    assert data["mean_x"] == pytest.approx(100 * (3.25 + 0.5) / 10)


def test_tally_bins_of_a_wide_range(db: Database, owner_and_presentation) -> None:
    question = _question(db, *owner_and_presentation, min="0", max="1000")
    for name, number in [("a", "0"), ("b", "99"), ("c", "100"), ("d", "1000"), ("e", "555")]:
        cast(db, question, name, {"number": [number]})
    data = _tally(db, question)
    # 1001 values in bins of 100: 0-99, 100-199, ..., 900-1000 (the highest in the last).
    assert len(data["bins"]) == 10
    assert [b["count"] for b in data["bins"]] == [2, 1, 0, 0, 0, 1, 0, 0, 0, 1]
    assert [t["label"] for t in data["ticks"]] == [str(n) for n in range(0, 1001, 100)]
    assert data["median"] == 100
    assert data["ticks"][-1]["label"] == "1000"


def test_tally_decimals_and_the_revealed_correct_answer(
    db: Database, owner_and_presentation
) -> None:
    question = _question(
        db, *owner_and_presentation, min="0", max="10", decimals="1", correct="7,5"
    )
    for name, number in [("a", "2,5"), ("b", "3"), ("c", "3,2"), ("d", "9,9")]:
        cast(db, question, name, {"number": [number]})
    data = _tally(db, question)
    assert data["mean"] == pytest.approx((2.5 + 3 + 3.2 + 9.9) / 4)
    assert data["median"] == pytest.approx(3.1)
    assert data["median_digits"] == 1
    assert data["correct"] is None  # not revealed yet
    revealed = {**question.config, "correct_revealed": True}
    with db.session() as session:
        shown = TYPE.tally(session, question.id or 0, revealed).data
    assert shown["correct"] == "7,5"
    # 0,0 to 10,0 in ten bars of 1,0 (the last holds 10,0 too): 7,5 is in the 8th.
    assert len(shown["bins"]) == 10
    assert shown["correct_x"] == pytest.approx(75)
    assert [b["count"] for b in shown["bins"]] == [0, 0, 1, 2, 0, 0, 0, 0, 0, 1]


def test_tally_without_votes(db: Database, owner_and_presentation) -> None:
    question = _question(db, *owner_and_presentation)
    data = _tally(db, question)
    assert (data["count"], data["mean"], data["median"]) == (0, None, None)
    assert all(b["count"] == 0 and b["height"] == 0 for b in data["bins"])


def test_tally_follows_a_changed_vote(db: Database, owner_and_presentation) -> None:
    question = _question(db, *owner_and_presentation)
    cast(db, question, "a", {"number": ["10"]})
    cast(db, question, "b", {"number": ["20"]})
    cast(db, question, "a", {"number": ["40"]})
    data = _tally(db, question)
    assert data["count"] == 2
    assert data["mean"] == pytest.approx(30)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    scaled=st.lists(st.integers(-20, 20), min_size=1, max_size=12),
    decimals=st.integers(0, 1),
)
def test_tally_matches_a_reference(
    db: Database, owner_and_presentation, scaled: list[int], decimals: int
) -> None:
    """Votes of -20 to 20 (whole numbers) or -2,0 to 2,0 (tenths): stored as -20 to 20."""
    owner, presentation = owner_and_presentation
    bound = "20" if decimals == 0 else "2"
    question = _question(
        db, owner, presentation, min=f"-{bound}", max=bound, decimals=str(decimals)
    )
    scale = 10**decimals
    for index, value in enumerate(scaled):
        cast(db, question, f"p{index}", {"number": [format_scaled(value, decimals, "en")]})
    data = _tally(db, question)
    values = [v / scale for v in scaled]
    assert data["count"] == len(values)
    assert data["mean"] == pytest.approx(statistics.fmean(values))
    assert data["median"] == pytest.approx(statistics.median(values))
    assert sum(b["count"] for b in data["bins"]) == len(values)


# --- CSV -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "answer"), [("nl", "3,5 m"), ("en", "3.5 m")])
def test_csv_cells(language: str, answer: str) -> None:
    token = current_language.set(language)
    try:
        cells = TYPE.csv_cells(TENTHS, BallotItem(ballot_id=1, question_id=1, key="n", value=35))
    finally:
        current_language.reset(token)
    assert (cells.answer, cells.value) == (answer, "3.5")


# --- through the app -----------------------------------------------------------------------


def _present(client, db, language: str = "nl"):
    owner = make_user(db)
    presentation = make_presentation(db, owner, language=language)
    question = make_question(
        db,
        owner,
        presentation,
        "numeric",
        "Hoeveel woningen heeft de corporatie?",
        min="0",
        max="100",
        decimals="1",
        unit="procent",
        correct="73,4",
    )
    csrf = login(client, owner.email)
    client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "first"})
    return presentation, question, csrf


def _ballots(db: Database) -> int:
    with db.session() as session:
        return session.execute(sa.select(sa.func.count()).select_from(Ballot)).scalar_one()


@pytest.mark.parametrize(
    ("language", "refusals"),
    [
        (
            "nl",
            {
                "abc": "Vul een getal in van 0,0 tot en met 100,0.",
                "100,1": "Vul een getal in van 0,0 tot en met 100,0.",
                "1,25": "Gebruik hoogstens één cijfer achter de komma.",
                "": "Vul een getal in.",
            },
        ),
        (
            "en",
            {
                "abc": "Enter a number from 0.0 to 100.0.",
                "100,1": "Enter a number from 0.0 to 100.0.",
                "1,25": "Use at most one digit after the comma.",
                "": "Enter a number.",
            },
        ),
    ],
)
def test_vote_by_form_post(client, db, language: str, refusals: dict[str, str]) -> None:
    presentation, question, _ = _present(client, db, language)
    phone = browser(client)
    join(phone, presentation.join_code)
    page = phone.get(f"/p/{presentation.join_code}")
    assert 'name="number"' in page.text and "73,4" not in page.text and "73.4" not in page.text
    url = f"/p/{presentation.join_code}/vote"
    for typed, message in refusals.items():
        response = phone.post(url, data={"question_id": str(question.id), "number": typed})
        assert response.status_code == 422, typed
        assert message in response.text, (typed, response.text)
    assert _ballots(db) == 0
    response = phone.post(
        url, data={"question_id": str(question.id), "client_key": "k1", "number": "12,5"}
    )
    assert response.status_code == 200
    with db.session() as session:
        assert session.execute(sa.select(BallotItem.key, BallotItem.value)).all() == [("n", 125)]
    # The phone's page shows its own answer again, never the correct one.
    page = phone.get(f"/p/{presentation.join_code}").text
    assert 'value="12,5"' in page if language == "nl" else 'value="12.5"' in page
    assert "73,4" not in page and "73.4" not in page and "734" not in page


def _until(ws, predicate, limit: int = 50) -> str:
    for _ in range(limit):
        frame = ws.receive_text()
        if predicate(frame):
            return frame
    raise AssertionError("no frame matched")


def _number(frame: str, cls: str) -> str | None:
    match = re.search(rf'<div class="{cls}"><dt>[^<]*</dt><dd><strong>([^<]*)</strong>', frame)
    return match.group(1) if match else None


def test_presenter_frame_shows_mean_median_and_then_the_correct_answer(client, db) -> None:
    presentation, question, csrf = _present(client, db)
    origin = {"Origin": BASE}
    with client.websocket_connect(f"/ws/present/{presentation.id}", headers=origin) as ws:
        assert _number(ws.receive_text(), "mean") == "–"
        for index, typed in enumerate(["10", "20", "60,5"]):
            phone = browser(client)
            join(phone, presentation.join_code)
            response = phone.post(
                f"/p/{presentation.join_code}/vote",
                data={"question_id": str(question.id), "client_key": f"k{index}", "number": typed},
            )
            assert response.status_code == 200
        frame = _until(ws, lambda f: _number(f, "mean") == "30,17")
        assert _number(frame, "median") == "20,0"
        assert 'class="hist-bar"' in frame and "73,4" not in frame
        # The facilitator reveals the correct answer by editing the question.
        client.post(
            f"/manage/questions/{question.id}",
            data={
                "csrf_token": csrf,
                "title": question.title,
                "min": "0",
                "max": "100",
                "decimals": "1",
                "unit": "procent",
                "correct": "73,4",
                "correct_revealed": "1",
            },
        )
        frame = _until(ws, lambda f: _number(f, "correct") is not None)
        assert _number(frame, "correct") == "73,4"
        assert 'class="hist-correct"' in frame
    # Phones still never receive it, over the socket or in their page.
    phone = browser(client)
    cookie = join(phone, presentation.join_code)
    headers = {**origin, "cookie": f"stemlab_p={cookie}"}
    with client.websocket_connect(f"/ws/p/{presentation.join_code}", headers=headers) as ws:
        phone_frame = ws.receive_text()
    assert 'name="number"' in phone_frame
    for text in (phone_frame, phone.get(f"/p/{presentation.join_code}").text):
        assert "73,4" not in text and "73.4" not in text and "734" not in text
