"""Word cloud: entries per participant, merging by normalised key, and the database tally."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.db import Database
from app.models import BallotItem, Question
from app.questions.base import AnswerError, ConfigError
from app.questions.text import word_key
from app.questions.wordcloud import TYPE
from app.services.votes import VoteCommand, VoteStatus, record_votes
from tests.conftest import (
    cast,
    make_current,
    make_presentation,
    make_question,
    make_user,
)

CONFIG = {"max_entries": 3, "max_length": 25}
AT_LEAST_ONE = "Enter at least one word."
AT_MOST = "Enter at most %(n)s words."
TOO_LONG = "Each entry can have at most %(n)s characters."
TWICE = "You entered the same word twice."


def vote(db: Database, question: Question, participant: str, *words: str) -> None:
    cast(db, question, participant, {"word": list(words)})


def tally(db: Database, question: Question):
    with db.session() as session:
        return TYPE.tally(session, question.id or 0, question.config)


# --- configuration -------------------------------------------------------------------------


def test_parse_config() -> None:
    assert TYPE.parse_config({}) == {"max_entries": 3, "max_length": 25, "premoderate": False}
    form = {"max_entries": ["1"], "max_length": ["40"]}
    assert TYPE.parse_config(form) == {"max_entries": 1, "max_length": 40, "premoderate": False}
    assert TYPE.parse_config({"max_length": ["3"]})["max_length"] == 3


@pytest.mark.parametrize(
    "form",
    [
        {"max_entries": ["0"]},
        {"max_entries": ["4"]},
        {"max_entries": ["veel"]},
        {"max_length": ["2"]},
        {"max_length": ["41"]},
        {"max_length": [""]},
    ],
)
def test_parse_config_rejects(form: dict) -> None:
    with pytest.raises(ConfigError) as error:
        TYPE.parse_config(form)
    assert error.value.message == "Enter a whole number between %(low)s and %(high)s."


# --- answers -------------------------------------------------------------------------------


def test_parse_answer_cleans_words_and_keys_them() -> None:
    parsed = TYPE.parse_answer(CONFIG, {"word": ["  Samen ", "werken\n  aan", ""]})
    assert parsed.answer == {"words": ["Samen", "werken aan"]}
    assert [(i.key, i.text) for i in parsed.items] == [
        ("samen", "Samen"),
        ("werken aan", "werken aan"),
    ]


def test_parse_answer_strips_invisible_characters_from_the_text() -> None:
    parsed = TYPE.parse_answer(CONFIG, {"word": ["\u202eVer\u200btrouwen\u2066"]})
    assert parsed.answer == {"words": ["Vertrouwen"]}
    assert parsed.items[0].key == "vertrouwen"


def test_parse_answer_accepts_the_longest_entry() -> None:
    parsed = TYPE.parse_answer(CONFIG, {"word": ["x" * 25]})
    assert parsed.items[0].key == "x" * 25


@pytest.mark.parametrize(
    ("config", "words", "message"),
    [
        (CONFIG, [], AT_LEAST_ONE),
        (CONFIG, ["", "  "], AT_LEAST_ONE),
        (CONFIG, ["\u200b\u202e\u2066"], AT_LEAST_ONE),
        (CONFIG, ["een", "twee", "drie", "vier"], AT_MOST),
        ({"max_entries": 1, "max_length": 25}, ["een", "twee"], AT_MOST),
        (CONFIG, [""] * 13, AT_MOST),
        (CONFIG, ["x" * 26], TOO_LONG),
        (CONFIG, ["kort", "x" * 10_000], TOO_LONG),
        ({"max_entries": 3, "max_length": 3}, ["vier"], TOO_LONG),
        (CONFIG, ["Samen", "samen"], TWICE),
        (CONFIG, ["Samen", "ＳＡＭＥＮ"], TWICE),
        (CONFIG, ["foo", "f\u200boo"], TWICE),
        (CONFIG, ["werken aan", "werken   AAN"], TWICE),
    ],
)
def test_parse_answer_rejects(config: dict, words: list[str], message: str) -> None:
    with pytest.raises(AnswerError) as error:
        TYPE.parse_answer(config, {"word": words})
    assert error.value.message == message


def test_parse_answer_keeps_accented_words_apart() -> None:
    parsed = TYPE.parse_answer(CONFIG, {"word": ["één", "een"]})
    assert [i.key for i in parsed.items] == ["één", "een"]


@given(
    words=st.lists(
        st.text(alphabet=st.sampled_from("aAbB \u200b\uff41\u0301\u202e"), max_size=8),
        max_size=5,
    ),
    limit=st.integers(1, 3),
    max_length=st.integers(3, 6),
)
def test_accepted_answers_respect_every_limit(
    words: list[str], limit: int, max_length: int
) -> None:
    config = {"max_entries": limit, "max_length": max_length}
    try:
        parsed = TYPE.parse_answer(config, {"word": words})
    except AnswerError:
        return
    keys = [item.key for item in parsed.items]
    assert 1 <= len(keys) <= limit
    assert len(set(keys)) == len(keys)
    assert all(key and len(key) <= max_length for key in keys)
    assert all(item.key == word_key(item.text or "") for item in parsed.items)
    assert [item.text for item in parsed.items] == parsed.answer["words"]


# --- tally ---------------------------------------------------------------------------------


@pytest.fixture
def question(db: Database) -> Question:
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(db, owner, presentation, "wordcloud", "De afspraken in één woord")
    make_current(db, question)
    return question


def test_tally_merges_by_normalised_key(question: Question, db: Database) -> None:
    vote(db, question, "ans", "Samen", "Vertrouwen")
    vote(db, question, "bert", "samen")
    vote(db, question, "carla", "ＳＡＭＥＮ", "Geld")
    vote(db, question, "dirk", "vertrouwen ", "sa\u200bmen")

    results = tally(db, question)
    assert results.responses == 4
    assert results.data["words"] == [  # alphabetical; size 1..6 relative to the largest
        {"word": "Geld", "count": 1, "size": 2},
        {"word": "samen", "count": 4, "size": 6},  # the most typed spelling
        {"word": "Vertrouwen", "count": 2, "size": 3},
    ]


def test_tally_follows_a_changed_vote(question: Question, db: Database) -> None:
    vote(db, question, "ans", "Samen", "Vertrouwen")
    vote(db, question, "bert", "Samen")
    vote(db, question, "ans", "Geld")

    results = tally(db, question)
    assert results.responses == 2
    assert [(w["word"], w["count"]) for w in results.data["words"]] == [("Geld", 1), ("Samen", 1)]


def test_tally_shows_the_sixty_most_frequent_words(question: Question, db: Database) -> None:
    vote(db, question, "ans", "populair")
    vote(db, question, "bert", "populair")
    commands = [
        VoteCommand(
            presentation_id=question.presentation_id,
            question_id=question.id or 0,
            token_hash=f"token-{n}",
            client_key=f"key-{n}",
            answer=TYPE.parse_answer(question.config, {"word": [f"woord{n:03d}"]}),
        )
        for n in range(70)
    ]
    with db.write_session() as session:
        assert set(record_votes(session, commands)) == {VoteStatus.SAVED}

    words = tally(db, question).data["words"]
    assert len(words) == 60
    assert {"word": "populair", "count": 2, "size": 6} in words
    # Ties are broken alphabetically: the first 59 single words make it.
    assert [w["word"] for w in words if w["word"] != "populair"] == [
        f"woord{n:03d}" for n in range(59)
    ]


# --- CSV -----------------------------------------------------------------------------------


def test_csv_cells_show_the_word_as_typed_and_its_key() -> None:
    item = BallotItem(ballot_id=1, question_id=1, key="samen", text="ＳＡＭＥＮ")
    cells = TYPE.csv_cells(CONFIG, item)
    assert (cells.answer, cells.value) == ("ＳＡＭＥＮ", "samen")
