"""Quiz question: configuration with correct answers, answer validation, tally, templates."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.db import Database
from app.models import BallotItem, Question, QuestionState
from app.questions import get_type
from app.questions.base import AnswerError, ConfigError, Results
from app.questions.quiz import TYPE, correct_ids, revealed
from app.templating import render
from tests.conftest import cast, make_current, make_presentation, make_question, make_user

FOUR = {
    "options": [
        {"id": "o1", "label": "Amsterdam"},
        {"id": "o2", "label": "Rotterdam"},
        {"id": "o3", "label": "Den Haag"},
        {"id": "o4", "label": "Utrecht"},
    ],
    "correct": ["o1"],
    "multiple": False,
    "max_choices": 1,
}
TWO_RIGHT = {**FOUR, "correct": ["o1", "o3"], "multiple": True, "max_choices": 3}


def form(options: str, **fields: str) -> dict[str, list[str]]:
    return {"options": [options], **{k: [v] for k, v in fields.items()}}


# --- configuration -------------------------------------------------------------------------


def test_the_registry_finds_quiz_and_leaderboard() -> None:
    assert get_type("quiz") is TYPE
    assert get_type("leaderboard").takes_votes is False


def test_parse_config_reads_the_marks() -> None:
    config = TYPE.parse_config(form("Amsterdam\n*  Rotterdam \n\n Den   Haag\n"))
    assert config == {
        "options": [
            {"id": "o1", "label": "Amsterdam"},
            {"id": "o2", "label": "Rotterdam"},
            {"id": "o3", "label": "Den Haag"},
        ],
        "correct": ["o2"],
        "multiple": False,
        "max_choices": 1,
    }


def test_parse_config_several_correct_answers() -> None:
    config = TYPE.parse_config(form("*A\nB\n* C\nD", multiple="1"))
    assert config["correct"] == ["o1", "o3"]
    assert config["max_choices"] == 4
    config = TYPE.parse_config(form("*A\nB\n* C\nD", multiple="1", max_choices="2"))
    assert config["max_choices"] == 2


def test_parse_config_keeps_ids_and_marks_of_moved_lines() -> None:
    config = TYPE.parse_config(form("Utrecht\n* Amsterdam\nNieuw"), previous=FOUR)
    assert config["options"] == [
        {"id": "o4", "label": "Utrecht"},
        {"id": "o1", "label": "Amsterdam"},
        {"id": "o5", "label": "Nieuw"},
    ]
    assert config["correct"] == ["o1"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (form("A\nB"), "Put a * before the correct answer."),
        (form("*A\n*B"), "At least one answer must be wrong."),
        (form("*A"), "Give between %(low)s and %(high)s options, one per line."),
        (
            form("\n".join(f"*{n}" if n == 1 else str(n) for n in range(9))),
            "Give between %(low)s and %(high)s options, one per line.",
        ),
        (form("*A\n*\nB"), "Write an answer after the *."),
        (
            form("*A\n*B\nC"),
            "More than one answer is correct: let participants choose more than one.",
        ),
        (
            form("*A\n*B\nC", multiple="1", max_choices="1"),
            "Enter a whole number between %(low)s and %(high)s.",
        ),
        (
            form("*A\nB\nC", multiple="1", max_choices="4"),
            "Enter a whole number between %(low)s and %(high)s.",
        ),
        (form("*Ja\nja"), "Each line must be different."),
        (form("*Ja\n" + "x" * 121), "Each line can have at most %(n)s characters."),
    ],
)
def test_parse_config_refuses(fields: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        TYPE.parse_config(fields)
    assert error.value.message == message


def test_default_config_is_valid_and_answerable() -> None:
    config = TYPE.default_config("nl")
    assert correct_ids(config) == ["o1"]
    assert TYPE.parse_answer(config, {"option": ["o2"]}).answer == {"options": ["o2"]}


# --- answers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "chosen", "message"),
    [
        (FOUR, [], "Choose an answer."),
        (FOUR, [""], "Choose an answer."),
        (FOUR, ["o1", "o2"], "Choose one answer."),
        (FOUR, ["o9"], "That answer is not one of the options."),
        (FOUR, ["o1", "o1"], "Choose each answer only once."),
        (TWO_RIGHT, ["o1", "o2", "o3", "o4"], "Choose at most %(n)s answers."),
        (FOUR, ["correct"], "That answer is not one of the options."),
    ],
)
def test_parse_answer_refuses(config: dict, chosen: list[str], message: str) -> None:
    with pytest.raises(AnswerError) as error:
        TYPE.parse_answer(config, {"option": chosen})
    assert error.value.message == message


@given(
    chosen=st.lists(st.sampled_from(["o1", "o2", "o3", "o4", "o5", "", "O1", "١"]), max_size=6),
    two=st.booleans(),
)
def test_parse_answer_accepts_exactly_the_valid_answers(chosen: list[str], two: bool) -> None:
    config = TWO_RIGHT if two else FOUR
    picked = [c for c in chosen if c]
    valid = (
        0 < len(picked) <= config["max_choices"]
        and len(set(picked)) == len(picked)
        and set(picked) <= {"o1", "o2", "o3", "o4"}
    )
    try:
        parsed = TYPE.parse_answer(config, {"option": chosen})
    except AnswerError:
        assert not valid
        return
    assert valid
    assert [i.key for i in parsed.items] == parsed.answer["options"] == sorted(set(picked))


# --- tally and CSV -------------------------------------------------------------------------


@pytest.fixture
def question(db: Database) -> Question:
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(
        db, owner, presentation, "quiz", "Hoofdstad?", options="*Amsterdam\nRotterdam\nDen Haag"
    )
    make_current(db, question)
    return question


def test_tally_counts_and_knows_the_correct_option(question: Question, db: Database) -> None:
    ids = {o["label"]: o["id"] for o in question.config["options"]}
    for name, label in [
        ("a", "Amsterdam"),
        ("b", "Rotterdam"),
        ("c", "Amsterdam"),
        ("a", "Den Haag"),
    ]:
        cast(db, question, name, {"option": [ids[label]]})
    with db.session() as session:
        results = TYPE.tally(session, question.id or 0, question.config)
    assert results.responses == 3
    assert [(b["label"], b["count"], b["correct"]) for b in results.data["bars"]] == [
        ("Amsterdam", 1, True),
        ("Rotterdam", 1, False),
        ("Den Haag", 1, False),
    ]


def test_csv_cells_say_whether_the_answer_was_correct() -> None:
    right = BallotItem(ballot_id=1, question_id=1, key="o1")
    wrong = BallotItem(ballot_id=1, question_id=1, key="o2")
    assert (TYPE.csv_cells(FOUR, right).answer, TYPE.csv_cells(FOUR, right).value) == (
        "Amsterdam",
        "1",
    )
    assert TYPE.csv_cells(FOUR, wrong).value == "0"


# --- templates: the correct answer only once revealed ----------------------------------------

MARKERS = ("quiz-correct", "quiz-answer", "quiz-mark", "quiz-revealed", "✓")


def _results_html(config: dict, *, visible: bool, state: str) -> str:
    question = Question(
        id=5,
        presentation_id=1,
        position=1,
        kind="quiz",
        title="Q",
        config=config,
        results_visible=visible,
        state=state,
    )
    bars = [
        {
            "id": o["id"],
            "label": o["label"],
            "count": 1,
            "percent": 25,
            "width": 100.0,
            "correct": o["id"] in config["correct"],
        }
        for o in config["options"]
    ]
    return render(
        TYPE.template("results"),
        "nl",
        {"question": question, "results": Results(responses=4, data={"bars": bars})},
    )


@pytest.mark.parametrize(
    ("visible", "state"),
    [(False, QuestionState.OPEN), (True, QuestionState.OPEN), (False, QuestionState.CLOSED)],
)
def test_results_show_no_trace_of_the_correct_answer_before_reveal(visible, state) -> None:
    first = _results_html(FOUR, visible=visible, state=state)
    other = _results_html({**FOUR, "correct": ["o3"]}, visible=visible, state=state)
    assert first == other  # which option is correct changes nothing in the page
    assert not any(marker in first for marker in MARKERS)


def test_results_mark_the_correct_answer_once_revealed() -> None:
    html = _results_html(TWO_RIGHT, visible=True, state=QuestionState.CLOSED)
    assert html.count('class="bar-row quiz-correct"') == 2
    assert "Goed:" in html and "Amsterdam" in html.split("Goed:")[1]
    question = Question(presentation_id=1, position=1, kind="quiz", title="Q", config=FOUR)
    question.results_visible, question.state = True, QuestionState.CLOSED
    assert revealed(question)
    question.state = QuestionState.OPEN
    assert not revealed(question)


def test_a_new_quiz_question_starts_with_its_results_hidden(db: Database) -> None:
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    assert not presentation.results_hidden_default
    quiz = make_question(db, owner, presentation, "quiz", "Hoeveel?", options="*Tien\nTwintig")
    choice = make_question(db, owner, presentation, "choice", "Kies", options="A\nB")
    assert (quiz.results_visible, choice.results_visible) == (False, True)
