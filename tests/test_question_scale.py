"""Scale: statements rated 1 to N with an optional "don't know", and the database tally."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.db import Database
from app.i18n import current_language
from app.models import BallotItem, Question
from app.questions.base import AnswerError, ConfigError
from app.questions.scale import TYPE
from tests.conftest import (
    cast,
    make_current,
    make_presentation,
    make_question,
    make_user,
)

CONFIG = {
    "statements": [{"id": "s1", "label": "Samenwerking"}, {"id": "s2", "label": "Communicatie"}],
    "max": 5,
    "low_label": "Slecht",
    "high_label": "Goed",
    "dont_know": True,
}
NO_DONT_KNOW = {**CONFIG, "dont_know": False}
RANGE = "Choose a value from %(low)s to %(high)s."


def config_form(statements: str, **fields: str) -> dict[str, list]:
    return {"statements": [statements], **{k: [v] for k, v in fields.items()}}


def vote(db: Database, question: Question, participant: str, **ratings: str) -> None:
    """Rate statements by label: vote(db, q, "ans", Samenwerking="4")."""
    ids = {s["label"]: s["id"] for s in question.config["statements"]}
    form = {f"s-{ids[label]}": [value] for label, value in ratings.items()}
    cast(db, question, participant, form)


def rows_by_label(db: Database, question: Question) -> tuple[int, dict[str, dict]]:
    with db.session() as session:
        results = TYPE.tally(session, question.id or 0, question.config)
    return results.responses, {row["label"]: row for row in results.data["rows"]}


# --- configuration -------------------------------------------------------------------------


def test_parse_config() -> None:
    config = TYPE.parse_config(
        config_form(
            " Samenwerking \n\nCommunicatie",
            max="7",
            low_label="Nee",
            high_label="Ja",
            dont_know="1",
        )
    )
    assert config == {
        "statements": [
            {"id": "s1", "label": "Samenwerking"},
            {"id": "s2", "label": "Communicatie"},
        ],
        "max": 7,
        "low_label": "Nee",
        "high_label": "Ja",
        "dont_know": True,
    }


def test_parse_config_defaults_and_truncates_labels() -> None:
    config = TYPE.parse_config(config_form("Stelling", low_label="x" * 100))
    assert config["max"] == 5
    assert config["dont_know"] is False
    assert config["low_label"] == "x" * 60


def test_parse_config_keeps_ids_of_unchanged_statements() -> None:
    form = config_form("Communicatie\nVertrouwen")
    assert TYPE.parse_config(form, previous=CONFIG)["statements"] == [
        {"id": "s2", "label": "Communicatie"},
        {"id": "s3", "label": "Vertrouwen"},
    ]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (config_form(""), "Give between %(low)s and %(high)s statements, one per line."),
        (config_form(" \n \n"), "Give between %(low)s and %(high)s statements, one per line."),
        (
            config_form("\n".join(f"Stelling {n}" for n in range(11))),
            "Give between %(low)s and %(high)s statements, one per line.",
        ),
        (config_form("Stelling\nSTELLING"), "Each line must be different."),
        (config_form("x" * 161), "Each line can have at most %(n)s characters."),
        (config_form("Stelling", max="1"), "Enter a whole number between %(low)s and %(high)s."),
        (config_form("Stelling", max="11"), "Enter a whole number between %(low)s and %(high)s."),
        (config_form("Stelling", max="vijf"), "Enter a whole number between %(low)s and %(high)s."),
        (config_form("Stelling", max="4.5"), "Enter a whole number between %(low)s and %(high)s."),
    ],
)
def test_parse_config_rejects(form: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        TYPE.parse_config(form)
    assert error.value.message == message


def test_parse_config_accepts_the_limits() -> None:
    ten = "\n".join(f"Stelling {n}" for n in range(10))
    assert len(TYPE.parse_config(config_form(ten))["statements"]) == 10
    assert TYPE.parse_config(config_form("x" * 160, max="2"))["max"] == 2
    assert TYPE.parse_config(config_form("Stelling", max="10"))["max"] == 10


# --- answers -------------------------------------------------------------------------------


def test_parse_answer_rates_and_dont_know() -> None:
    parsed = TYPE.parse_answer(CONFIG, {"s-s1": ["4"], "s-s2": ["dk"]})
    assert parsed.answer == {"ratings": {"s1": 4, "s2": "dk"}}
    assert [(i.key, i.value) for i in parsed.items] == [("s1", 4), ("s2", None)]


def test_parse_answer_allows_skipping_a_statement() -> None:
    parsed = TYPE.parse_answer(CONFIG, {"s-s1": [""], "s-s2": [" 5 "], "client_key": ["k"]})
    assert parsed.answer == {"ratings": {"s2": 5}}
    assert [(i.key, i.value) for i in parsed.items] == [("s2", 5)]


@pytest.mark.parametrize("value", ["1", "2", "3", "4", "5"])
def test_parse_answer_accepts_every_value_in_range(value: str) -> None:
    assert TYPE.parse_answer(NO_DONT_KNOW, {"s-s1": [value]}).items[0].value == int(value)


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "6",
        "10",
        "3.5",
        "NaN",
        "nan",
        "inf",
        "-inf",
        "-1",
        "+3",
        "1e0",
        "٣",
        "³",
        "3 3",
        "drie",
        "DK",
        "1" * 5000,
    ],
)
def test_parse_answer_rejects_values_out_of_range(value: str) -> None:
    with pytest.raises(AnswerError) as error:
        TYPE.parse_answer(CONFIG, {"s-s1": [value]})
    assert error.value.message == RANGE
    assert error.value.params == {"low": 1, "high": 5}


@pytest.mark.parametrize(
    ("config", "form", "message"),
    [
        (NO_DONT_KNOW, {"s-s1": ["dk"]}, RANGE),
        (CONFIG, {}, "Choose a value for at least one statement."),
        (CONFIG, {"s-s1": [""], "s-s2": [""]}, "Choose a value for at least one statement."),
        (CONFIG, {"option": ["o1"]}, "Choose a value for at least one statement."),
        (CONFIG, {"s-s1": ["3", "4"]}, "Choose one value per statement."),
        (CONFIG, {"s-s1": ["3"], "s-s3": ["4"]}, "That statement is not part of this question."),
        (CONFIG, {"s-": ["4"]}, "That statement is not part of this question."),
        (CONFIG, {"s-S1": ["4"]}, "That statement is not part of this question."),
    ],
)
def test_parse_answer_rejects(config: dict, form: dict, message: str) -> None:
    with pytest.raises(AnswerError) as error:
        TYPE.parse_answer(config, form)
    assert error.value.message == message


def test_parse_answer_respects_a_longer_scale() -> None:
    config = {**CONFIG, "max": 10}
    assert TYPE.parse_answer(config, {"s-s1": ["10"]}).items[0].value == 10
    with pytest.raises(AnswerError):
        TYPE.parse_answer(config, {"s-s1": ["11"]})


@given(value=st.text(max_size=6))
def test_parse_answer_accepts_only_ascii_whole_numbers_in_range(value: str) -> None:
    try:
        parsed = TYPE.parse_answer(CONFIG, {"s-s1": [value]})
    except AnswerError:
        assert value.strip() not in {"1", "2", "3", "4", "5", "dk"}
        return
    stored = parsed.answer["ratings"]["s1"]
    assert stored == "dk" or (isinstance(stored, int) and 1 <= stored <= 5)
    assert value.strip().lstrip("0") in {"1", "2", "3", "4", "5", "dk"}


# --- tally ---------------------------------------------------------------------------------


@pytest.fixture
def question(db: Database) -> Question:
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(
        db,
        owner,
        presentation,
        "scale",
        "Hoe gaat de samenwerking?",
        statements="Samenwerking\nCommunicatie\nVertrouwen",
        max="5",
        dont_know="1",
    )
    make_current(db, question)
    return question


def test_tally_counts_means_and_dont_know(question: Question, db: Database) -> None:
    vote(db, question, "ans", Samenwerking="5", Communicatie="dk")
    vote(db, question, "bert", Samenwerking="4", Communicatie="2")
    vote(db, question, "carla", Samenwerking="dk")
    vote(db, question, "dirk", Samenwerking="3", Communicatie="3")

    responses, rows = rows_by_label(db, question)
    assert responses == 4

    first = rows["Samenwerking"]
    assert [(s["value"], s["count"]) for s in first["segments"]] == [
        (1, 0),
        (2, 0),
        (3, 1),
        (4, 1),
        (5, 1),
    ]
    assert first["rated"] == 3
    assert first["dont_know"] == 1
    assert first["mean"] == pytest.approx(4.0)  # (5 + 4 + 3) / 3: "don't know" is left out
    assert first["mean_x"] == pytest.approx(75.0)
    assert [s["width"] for s in first["segments"]] == pytest.approx([0, 0, 25, 25, 25])
    assert [s["x"] for s in first["segments"]] == pytest.approx([0, 0, 0, 25, 50])
    assert first["dont_know_x"] == pytest.approx(75.0)
    assert first["dont_know_width"] == pytest.approx(25.0)

    second = rows["Communicatie"]
    assert [s["count"] for s in second["segments"]] == [0, 1, 1, 0, 0]
    assert (second["rated"], second["dont_know"]) == (2, 1)
    assert second["mean"] == pytest.approx(2.5)
    assert second["mean_x"] == pytest.approx(37.5)
    assert second["dont_know_width"] == pytest.approx(100 / 3)

    unanswered = rows["Vertrouwen"]
    assert (unanswered["rated"], unanswered["dont_know"], unanswered["mean"]) == (0, 0, None)
    assert unanswered["mean_x"] is None
    assert [s["count"] for s in unanswered["segments"]] == [0] * 5
    assert unanswered["dont_know_width"] == 0


def test_tally_only_dont_know_has_no_mean(question: Question, db: Database) -> None:
    vote(db, question, "ans", Vertrouwen="dk")
    vote(db, question, "bert", Vertrouwen="dk")
    _, rows = rows_by_label(db, question)
    assert rows["Vertrouwen"]["mean"] is None
    assert rows["Vertrouwen"]["dont_know"] == 2
    assert rows["Vertrouwen"]["dont_know_width"] == pytest.approx(100.0)


def test_tally_follows_a_changed_vote(question: Question, db: Database) -> None:
    vote(db, question, "ans", Samenwerking="1", Communicatie="1")
    vote(db, question, "bert", Samenwerking="2")
    vote(db, question, "ans", Samenwerking="5")  # replaces both of ans's ratings

    responses, rows = rows_by_label(db, question)
    assert responses == 2
    assert rows["Samenwerking"]["mean"] == pytest.approx(3.5)
    assert [s["count"] for s in rows["Samenwerking"]["segments"]] == [0, 1, 0, 0, 1]
    assert rows["Communicatie"]["rated"] == 0


# --- CSV -----------------------------------------------------------------------------------


def test_csv_cells_statement_and_value() -> None:
    rated = BallotItem(ballot_id=1, question_id=1, key="s2", value=4)
    cells = TYPE.csv_cells(CONFIG, rated)
    assert (cells.answer, cells.value) == ("Communicatie", "4")


@pytest.mark.parametrize(("language", "label"), [("en", "don't know"), ("nl", "weet niet")])
def test_csv_cells_dont_know_in_the_presentation_language(language: str, label: str) -> None:
    token = current_language.set(language)
    try:
        cells = TYPE.csv_cells(CONFIG, BallotItem(ballot_id=1, question_id=1, key="s1"))
    finally:
        current_language.reset(token)
    assert (cells.answer, cells.value) == ("Samenwerking", label)
