"""Multiple choice: configuration, answer validation and the tally computed by the database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.db import Database
from app.models import Presentation, Question
from app.questions.base import AnswerError, ConfigError
from app.questions.choice import TYPE
from tests.conftest import (
    cast,
    make_current,
    make_presentation,
    make_question,
    make_user,
)

THREE = {
    "options": [
        {"id": "o1", "label": "Jaarcyclus"},
        {"id": "o2", "label": "Duurzaamheid"},
        {"id": "o3", "label": "Financiën"},
    ],
    "multiple": True,
    "max_choices": 2,
}
SINGLE = {**THREE, "multiple": False, "max_choices": 1}


def config_form(options: str, **fields: str) -> dict[str, list]:
    return {"options": [options], **{k: [v] for k, v in fields.items()}}


def vote(db: Database, question: Question, participant: str, *labels: str) -> None:
    """Vote for options by label (ids of edited questions are not simply o1, o2, ...)."""
    ids = {o["label"]: o["id"] for o in question.config["options"]}
    cast(db, question, participant, {"option": [ids[label] for label in labels]})


def tally(db: Database, question: Question):
    with db.session() as session:
        return TYPE.tally(session, question.id or 0, question.config)


# --- configuration -------------------------------------------------------------------------


def test_parse_config_numbers_options_and_tidies_labels() -> None:
    config = TYPE.parse_config(config_form("  Rood   en  blauw \n\nGroen\r\nGeel\n"))
    assert config == {
        "options": [
            {"id": "o1", "label": "Rood en blauw"},
            {"id": "o2", "label": "Groen"},
            {"id": "o3", "label": "Geel"},
        ],
        "multiple": False,
        "max_choices": 1,
    }


def test_parse_config_multiple_defaults_max_choices_to_all_options() -> None:
    config = TYPE.parse_config(config_form("A\nB\nC", multiple="on"))
    assert config["multiple"] is True
    assert config["max_choices"] == 3
    config = TYPE.parse_config(config_form("A\nB\nC", multiple="1", max_choices="2"))
    assert config["max_choices"] == 2


def test_parse_config_keeps_ids_of_unchanged_labels() -> None:
    form = config_form("Financiën\nNieuw\nJaarcyclus")
    options = TYPE.parse_config(form, previous=THREE)["options"]
    assert options == [
        {"id": "o3", "label": "Financiën"},
        {"id": "o4", "label": "Nieuw"},
        {"id": "o1", "label": "Jaarcyclus"},
    ]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (config_form(""), "Give between %(low)s and %(high)s options, one per line."),
        (config_form("Alleen"), "Give between %(low)s and %(high)s options, one per line."),
        (
            config_form("\n".join(f"Optie {n}" for n in range(13))),
            "Give between %(low)s and %(high)s options, one per line.",
        ),
        (config_form("Ja\nNee\nja"), "Each line must be different."),
        (config_form("Ja\nJa"), "Each line must be different."),
        (config_form("Ja\n" + "x" * 121), "Each line can have at most %(n)s characters."),
        (
            config_form("A\nB\nC", multiple="1", max_choices="0"),
            "Enter a whole number between %(low)s and %(high)s.",
        ),
        (
            config_form("A\nB\nC", multiple="1", max_choices="4"),
            "Enter a whole number between %(low)s and %(high)s.",
        ),
        (
            config_form("A\nB\nC", multiple="1", max_choices="twee"),
            "Enter a whole number between %(low)s and %(high)s.",
        ),
    ],
)
def test_parse_config_rejects(form: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        TYPE.parse_config(form)
    assert error.value.message == message


def test_parse_config_accepts_the_limits() -> None:
    twelve = "\n".join(f"Optie {n}" for n in range(12))
    assert len(TYPE.parse_config(config_form(twelve))["options"]) == 12
    assert len(TYPE.parse_config(config_form("A\n" + "x" * 120))["options"]) == 2


def test_default_config_parses_answers() -> None:
    config = TYPE.default_config("nl")
    assert [o["label"] for o in config["options"]] == ["Ja", "Nee"]
    assert TYPE.parse_answer(config, {"option": ["o2"]}).answer == {"options": ["o2"]}


# --- answers -------------------------------------------------------------------------------


def test_parse_answer_single() -> None:
    parsed = TYPE.parse_answer(SINGLE, {"option": ["o2"]})
    assert parsed.answer == {"options": ["o2"]}
    assert [item.key for item in parsed.items] == ["o2"]


def test_parse_answer_multiple_in_option_order() -> None:
    parsed = TYPE.parse_answer(THREE, {"option": ["o3", "", "o1"]})
    assert parsed.answer == {"options": ["o1", "o3"]}
    assert [(i.key, i.value, i.text) for i in parsed.items] == [
        ("o1", None, None),
        ("o3", None, None),
    ]


@pytest.mark.parametrize(
    ("config", "chosen", "message"),
    [
        (THREE, [], "Choose an answer."),
        (THREE, [""], "Choose an answer."),
        (THREE, ["o1", "o1", "o2"], "Choose each answer only once."),
        (THREE, ["o1", "o1"], "Choose each answer only once."),
        (THREE, ["o9"], "That answer is not one of the options."),
        (THREE, ["o1", "<script>"], "That answer is not one of the options."),
        (THREE, [" o1"], "That answer is not one of the options."),
        (THREE, ["o1", "o2", "o3"], "Choose at most %(n)s answers."),
        (SINGLE, ["o1", "o2"], "Choose one answer."),
    ],
)
def test_parse_answer_rejects(config: dict, chosen: list[str], message: str) -> None:
    with pytest.raises(AnswerError) as error:
        TYPE.parse_answer(config, {"option": chosen})
    assert error.value.message == message


def test_parse_answer_rejects_an_option_of_another_question() -> None:
    two = {"options": THREE["options"][:2], "multiple": True, "max_choices": 2}
    assert TYPE.parse_answer(THREE, {"option": ["o3"]}).answer == {"options": ["o3"]}
    with pytest.raises(AnswerError):
        TYPE.parse_answer(two, {"option": ["o3"]})


def test_parse_answer_ignores_other_fields() -> None:
    form = {"option": ["o1"], "client_key": ["abc"], "s-s1": ["3"]}
    assert TYPE.parse_answer(SINGLE, form).answer == {"options": ["o1"]}


@given(
    chosen=st.lists(st.sampled_from(["o1", "o2", "o3", "o4", "o12", "", "O1", "1"]), max_size=6),
    multiple=st.booleans(),
    max_choices=st.integers(1, 3),
)
def test_parse_answer_accepts_exactly_the_valid_answers(
    chosen: list[str], multiple: bool, max_choices: int
) -> None:
    config = {**THREE, "multiple": multiple, "max_choices": max_choices if multiple else 1}
    picked = [c for c in chosen if c]
    valid = (
        0 < len(picked) <= config["max_choices"]
        and len(set(picked)) == len(picked)
        and set(picked) <= {"o1", "o2", "o3"}
    )
    try:
        parsed = TYPE.parse_answer(config, {"option": chosen})
    except AnswerError:
        assert not valid
        return
    assert valid
    keys = [item.key for item in parsed.items]
    assert keys == parsed.answer["options"]
    assert keys == sorted(set(picked))  # no duplicates, only known ids, in option order
    assert len(keys) <= config["max_choices"]


# --- tally ---------------------------------------------------------------------------------


@pytest.fixture
def question(db: Database) -> Question:
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(
        db,
        owner,
        presentation,
        "choice",
        "Welk thema eerst?",
        options="Jaarcyclus\nDuurzaamheid\nFinanciën",
        multiple="1",
        max_choices="2",
    )
    make_current(db, question)
    return question


def test_tally_without_votes(question: Question, db: Database) -> None:
    results = tally(db, question)
    assert results.responses == 0
    assert [(b["count"], b["percent"], b["width"]) for b in results.data["bars"]] == [(0, 0, 0)] * 3


def test_tally_counts_percentages_and_widths(question: Question, db: Database) -> None:
    vote(db, question, "ans", "Jaarcyclus", "Duurzaamheid")
    vote(db, question, "bert", "Jaarcyclus")
    vote(db, question, "carla", "Financiën")
    vote(db, question, "dirk", "Financiën", "Jaarcyclus")

    results = tally(db, question)
    assert results.responses == 4
    assert [b["id"] for b in results.data["bars"]] == [o["id"] for o in question.config["options"]]
    assert [(b["label"], b["count"], b["percent"], b["width"]) for b in results.data["bars"]] == [
        ("Jaarcyclus", 3, 75, 100.0),
        ("Duurzaamheid", 1, 25, 33.3),
        ("Financiën", 2, 50, 66.7),
    ]


def test_tally_follows_a_changed_vote(question: Question, db: Database) -> None:
    vote(db, question, "ans", "Jaarcyclus", "Duurzaamheid")
    vote(db, question, "bert", "Duurzaamheid")
    vote(db, question, "ans", "Financiën")

    results = tally(db, question)
    assert results.responses == 2
    assert [b["count"] for b in results.data["bars"]] == [0, 1, 1]
    assert [b["percent"] for b in results.data["bars"]] == [0, 50, 50]


def test_tally_single_choice_sums_to_the_number_of_voters(db: Database) -> None:
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(db, owner, presentation, "choice", options="Ja\nNee\nMisschien")
    make_current(db, question)
    for n, label in enumerate(["Ja", "Nee", "Ja", "Misschien", "Ja", "Nee", "Ja"]):
        vote(db, question, f"p{n}", label)
    vote(db, question, "p0", "Misschien")  # a change, not a new voter

    results = tally(db, question)
    counts = [b["count"] for b in results.data["bars"]]
    assert counts == [3, 2, 2]
    assert sum(counts) == results.responses == 7
    assert [b["percent"] for b in results.data["bars"]] == [43, 29, 29]


def test_tally_ignores_other_questions(question: Question, db: Database) -> None:
    vote(db, question, "ans", "Jaarcyclus")
    with db.session() as session:
        presentation = session.get(Presentation, question.presentation_id)
        assert presentation is not None
    owner = make_user(db, "bob@example.org")
    other_presentation = make_presentation(db, owner)
    other = make_question(db, owner, other_presentation, "choice", options="A\nB\nC")
    make_current(db, other)
    vote(db, other, "ans", "A")
    vote(db, other, "bert", "A")

    results = tally(db, question)
    assert results.responses == 1
    assert [b["count"] for b in results.data["bars"]] == [1, 0, 0]


# --- CSV -----------------------------------------------------------------------------------


def test_csv_cells_show_the_option_label() -> None:
    from app.models import BallotItem

    item = BallotItem(ballot_id=1, question_id=1, key="o3")
    assert TYPE.csv_cells(THREE, item).answer == "Financiën"
    assert TYPE.csv_cells(THREE, item).value == ""
    gone = BallotItem(ballot_id=1, question_id=1, key="o7")
    assert TYPE.csv_cells(THREE, gone).answer == "o7"
