"""Open text: one cleaned answer per participant, shown newest first."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.db import Database
from app.models import BallotItem, Question
from app.questions.base import AnswerError, ConfigError
from app.questions.open_text import TYPE
from app.questions.text import clean_text
from app.services.votes import VoteCommand, VoteStatus, record_votes
from tests.conftest import (
    cast,
    make_current,
    make_presentation,
    make_question,
    make_user,
    vote_command,
)

CONFIG = {"max_length": 280}
TOO_LONG = "Your answer can have at most %(n)s characters."


def command(question: Question, participant: str, text: str) -> VoteCommand:
    return vote_command(question, participant, {"text": [text]})


def vote(db: Database, question: Question, participant: str, text: str) -> None:
    cast(db, question, participant, {"text": [text]})


def shown(db: Database, question: Question) -> tuple[int, list[str]]:
    with db.session() as session:
        results = TYPE.tally(session, question.id or 0, question.config)
    return results.responses, [a["text"] for a in results.data["answers"]]


# --- configuration -------------------------------------------------------------------------


def test_parse_config() -> None:
    assert TYPE.parse_config({}) == {"max_length": 280, "premoderate": False}
    assert TYPE.parse_config({"max_length": ["20"]}) == {"max_length": 20, "premoderate": False}
    assert TYPE.parse_config({"max_length": ["1000"], "premoderate": ["1"]}) == {
        "max_length": 1000,
        "premoderate": True,
    }


@pytest.mark.parametrize("value", ["19", "1001", "0", "-5", "lang", "280.5"])
def test_parse_config_rejects(value: str) -> None:
    with pytest.raises(ConfigError) as error:
        TYPE.parse_config({"max_length": [value]})
    assert error.value.params == {"low": 20, "high": 1000}


# --- answers -------------------------------------------------------------------------------


def test_parse_answer_keeps_the_text_and_its_lines() -> None:
    parsed = TYPE.parse_answer(CONFIG, {"text": ["  Meer koffie\r\nen   minder\tpraten  "]})
    assert parsed.answer == {"text": "Meer koffie\nen   minder praten"}
    assert [(i.key, i.text) for i in parsed.items] == [("text", "Meer koffie\nen   minder praten")]


def test_parse_answer_drops_bidi_and_zero_width_characters() -> None:
    parsed = TYPE.parse_answer(CONFIG, {"text": ["\u202egnol\u2066 ok\u200b\u200d\u2069\ufeff"]})
    assert parsed.answer == {"text": "gnol ok"}


def test_parse_answer_counts_the_cleaned_text() -> None:
    assert TYPE.parse_answer(CONFIG, {"text": ["a" * 280]}).answer == {"text": "a" * 280}
    padded = "\u200b".join("a" * 280)  # 559 characters, 280 of them visible
    assert TYPE.parse_answer(CONFIG, {"text": [padded]}).answer == {"text": "a" * 280}


@pytest.mark.parametrize(
    ("config", "form", "message"),
    [
        (CONFIG, {}, "Write an answer first."),
        (CONFIG, {"text": [""]}, "Write an answer first."),
        (CONFIG, {"text": [" \n\t "]}, "Write an answer first."),
        (CONFIG, {"text": ["\u202e\u200b\u2066\x00"]}, "Write an answer first."),
        (CONFIG, {"text": ["een", "twee"]}, "Send one answer at a time."),
        (CONFIG, {"text": ["a" * 281]}, TOO_LONG),
        ({"max_length": 20}, {"text": ["a" * 21]}, TOO_LONG),
        (CONFIG, {"text": ["\u200b" * 4001 + "a"]}, TOO_LONG),
        (CONFIG, {"text": ["x" * 100_000]}, TOO_LONG),
    ],
)
def test_parse_answer_rejects(config: dict, form: dict, message: str) -> None:
    with pytest.raises(AnswerError) as error:
        TYPE.parse_answer(config, form)
    assert error.value.message == message


@given(text=st.text(max_size=400), max_length=st.integers(20, 300))
def test_accepted_answers_are_clean_and_short_enough(text: str, max_length: int) -> None:
    try:
        parsed = TYPE.parse_answer({"max_length": max_length}, {"text": [text]})
    except AnswerError:
        return
    stored = parsed.answer["text"]
    assert 0 < len(stored) <= max_length
    assert stored == clean_text(stored)
    assert parsed.items[0].text == stored


# --- tally ---------------------------------------------------------------------------------


@pytest.fixture
def question(db: Database) -> Question:
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(db, owner, presentation, "open", "Tips voor de locatie?")
    make_current(db, question)
    return question


def test_tally_shows_answers_newest_first(question: Question, db: Database) -> None:
    vote(db, question, "ans", "eerste")
    vote(db, question, "bert", "tweede")
    vote(db, question, "carla", "derde")
    assert shown(db, question) == (3, ["derde", "tweede", "eerste"])

    vote(db, question, "ans", "eerste, herzien")  # a changed answer counts as new
    assert shown(db, question) == (3, ["eerste, herzien", "derde", "tweede"])


def test_tally_orders_one_batch_by_arrival(question: Question, db: Database) -> None:
    with db.write_session() as session:
        commands = [command(question, f"p{n}", f"antwoord {n}") for n in range(3)]
        assert record_votes(session, commands) == [VoteStatus.SAVED] * 3
    assert shown(db, question) == (3, ["antwoord 2", "antwoord 1", "antwoord 0"])


def test_tally_shows_at_most_sixty_answers(question: Question, db: Database) -> None:
    with db.write_session() as session:
        commands = [command(question, f"p{n}", f"antwoord {n}") for n in range(65)]
        record_votes(session, commands)
    responses, answers = shown(db, question)
    assert responses == 65
    assert answers == [f"antwoord {n}" for n in range(64, 4, -1)]


# --- CSV -----------------------------------------------------------------------------------


def test_csv_cells_hold_the_text() -> None:
    item = BallotItem(ballot_id=1, question_id=1, key="text", text="Meer koffie")
    assert (TYPE.csv_cells(CONFIG, item).answer, TYPE.csv_cells(CONFIG, item).value) == (
        "Meer koffie",
        "",
    )
