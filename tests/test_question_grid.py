"""2x2 grid: items rated on two scales, stored per item and axis, averaged by the database,
voted by form post, and drawn on the presenter's live frame."""

from __future__ import annotations

import re
import statistics

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db import Database
from app.models import Ballot, BallotItem, Presentation, Question
from app.questions.base import AnswerError, ConfigError
from app.questions.grid import TYPE
from tests.conftest import (
    BASE,
    Facilitator,
    browser,
    cast,
    join,
    login,
    make_current,
    make_presentation,
    make_question,
    make_user,
)

CONFIG = {
    "items": [{"id": "i1", "label": "Onderhoud"}, {"id": "i2", "label": "Communicatie"}],
    "max": 5,
    "x_label": "Belang",
    "y_label": "Tevredenheid",
    "q_tl": "a",
    "q_tr": "b",
    "q_bl": "c",
    "q_br": "d",
}
RANGE = "Choose a value from %(low)s to %(high)s."


def config_form(items: str, **fields: str) -> dict[str, list[str]]:
    return {"items": [items], **{k: [v] for k, v in fields.items()}}


# --- configuration -------------------------------------------------------------------------


def test_default_config_is_dutch_or_english() -> None:
    assert TYPE.default_config("nl")["x_label"] == "Belang"
    assert TYPE.default_config("en")["q_br"] == "Work on this first"


def test_parse_config() -> None:
    config = TYPE.parse_config(
        config_form(
            " Onderhoud \n\nCommunicatie\nHuurverhoging",
            max="7",
            x_label="Belang",
            y_label="Tevredenheid",
            q_tl="Minder belangrijk",
            q_tr="Vasthouden",
            q_bl="",
            q_br="Eerst aanpakken",
        )
    )
    assert config == {
        "items": [
            {"id": "i1", "label": "Onderhoud"},
            {"id": "i2", "label": "Communicatie"},
            {"id": "i3", "label": "Huurverhoging"},
        ],
        "max": 7,
        "x_label": "Belang",
        "y_label": "Tevredenheid",
        "q_tl": "Minder belangrijk",
        "q_tr": "Vasthouden",
        "q_bl": "",
        "q_br": "Eerst aanpakken",
    }


def test_parse_config_keeps_ids_and_never_reuses_rated_ones() -> None:
    form = config_form("Communicatie\nVeiligheid")
    config = TYPE.parse_config(form, previous=CONFIG, reserved=["i1:x", "i1:y", "i3:x"])
    assert config["items"] == [
        {"id": "i2", "label": "Communicatie"},
        {"id": "i4", "label": "Veiligheid"},
    ]
    # Labels left out keep what they were.
    assert (config["x_label"], config["q_br"]) == ("Belang", "d")


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (config_form("Alleen"), "Give between %(low)s and %(high)s items, one per line."),
        (
            config_form("\n".join(f"Item {n}" for n in range(11))),
            "Give between %(low)s and %(high)s items, one per line.",
        ),
        (config_form("A\na"), "Each line must be different."),
        (config_form("x" * 81 + "\nB"), "Each line can have at most %(n)s characters."),
        (config_form("A\nB", max="2"), "Enter a whole number between %(low)s and %(high)s."),
        (config_form("A\nB", max="11"), "Enter a whole number between %(low)s and %(high)s."),
    ],
)
def test_parse_config_rejects(form: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        TYPE.parse_config(form)
    assert error.value.message == message


# --- answers -------------------------------------------------------------------------------


def test_parse_answer() -> None:
    parsed = TYPE.parse_answer(
        CONFIG, {"i1-x": ["5"], "i1-y": ["2"], "i2-x": [""], "i2-y": [""], "client_key": ["k"]}
    )
    assert parsed.answer == {"ratings": {"i1": {"x": 5, "y": 2}}}
    assert [(i.key, i.value) for i in parsed.items] == [("i1:x", 5), ("i1:y", 2)]


@pytest.mark.parametrize(
    "value", ["0", "6", "3.5", "NaN", "inf", "-1", "+3", "٣", "³", "drie", "1" * 5000]
)
def test_parse_answer_refuses_values_out_of_range(value: str) -> None:
    with pytest.raises(AnswerError) as error:
        TYPE.parse_answer(CONFIG, {"i1-x": [value], "i1-y": ["3"]})
    assert error.value.message == RANGE
    assert error.value.params == {"low": 1, "high": 5}


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({}, "Rate at least one item on both scales."),
        ({"i1-x": ["3"]}, "Give both ratings for “%(item)s”, or neither."),
        ({"i1-x": ["3", "4"], "i1-y": ["3"]}, "Choose one value per scale."),
        ({"i1-x": ["3"], "i1-y": ["3"], "i9-x": ["3"]}, "That item is not part of this question."),
        ({"i1-x": ["3"], "i1-y": ["3"], "-y": ["3"]}, "That item is not part of this question."),
    ],
)
def test_parse_answer_rejects(form: dict, message: str) -> None:
    with pytest.raises(AnswerError) as error:
        TYPE.parse_answer(CONFIG, form)
    assert error.value.message == message


@given(
    form=st.dictionaries(
        st.sampled_from(["i1-x", "i1-y", "i2-x", "i2-y", "i3-x", "option", "x"])
        | st.text(max_size=6),
        st.lists(st.text(max_size=6), max_size=3),
        max_size=6,
    )
)
def test_parse_answer_never_crashes(form: dict[str, list[str]]) -> None:
    try:
        parsed = TYPE.parse_answer(CONFIG, form)
    except AnswerError:
        return
    keys = [i.key for i in parsed.items]
    assert len(keys) == len(set(keys)) and len(keys) % 2 == 0
    for item in parsed.items:
        assert item.key in {"i1:x", "i1:y", "i2:x", "i2:y"}
        assert isinstance(item.value, int) and 1 <= item.value <= 5


# --- tally ---------------------------------------------------------------------------------


@pytest.fixture
def owner_and_presentation(db: Database) -> tuple[Facilitator, Presentation]:
    owner = make_user(db)
    return owner, make_presentation(db, owner)


@pytest.fixture
def question(db: Database, owner_and_presentation) -> Question:
    owner, presentation = owner_and_presentation
    question = make_question(
        db, owner, presentation, "grid", "Wat vindt u?", items="Onderhoud\nCommunicatie\nVeiligheid"
    )
    make_current(db, question)
    return question


def _points(db: Database, question: Question) -> tuple[int, dict[str, dict]]:
    with db.session() as session:
        results = TYPE.tally(session, question.id or 0, question.config)
    return results.responses, {p["label"]: p for p in results.data["points"]}


def test_tally_means_per_item(db: Database, question: Question) -> None:
    cast(db, question, "a", {"i1-x": ["5"], "i1-y": ["1"], "i2-x": ["2"], "i2-y": ["4"]})
    cast(db, question, "b", {"i1-x": ["4"], "i1-y": ["2"]})
    responses, points = _points(db, question)
    assert responses == 2
    first = points["Onderhoud"]
    assert (first["x"], first["y"], first["count"]) == (4.5, 1.5, 2)
    assert first["px"] == pytest.approx(87.5) and first["py"] == pytest.approx(12.5)
    second = points["Communicatie"]
    assert (second["x"], second["y"], second["count"]) == (2.0, 4.0, 1)
    assert points["Veiligheid"]["px"] is None and points["Veiligheid"]["count"] == 0
    assert [p["number"] for p in points.values()] == [1, 2, 3]


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    votes=st.lists(
        st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5), st.integers(1, 5)),
        min_size=1,
        max_size=8,
    )
)
def test_tally_matches_a_reference(
    db: Database, owner_and_presentation, votes: list[tuple[int, ...]]
) -> None:
    # A new question per example; its items keep the ids i1 and i2 of the default ones.
    owner, presentation = owner_and_presentation
    q = make_question(db, owner, presentation, "grid", "Q", items="Onderhoud\nCommunicatie")
    make_current(db, q)
    for index, (ax, ay, bx, by) in enumerate(votes):
        form = {"i1-x": [str(ax)], "i1-y": [str(ay)], "i2-x": [str(bx)], "i2-y": [str(by)]}
        cast(db, q, f"p{index}", form)
    _, points = _points(db, q)
    for label, column in (("Onderhoud", 0), ("Communicatie", 2)):
        assert points[label]["x"] == pytest.approx(statistics.fmean(v[column] for v in votes))
        assert points[label]["y"] == pytest.approx(statistics.fmean(v[column + 1] for v in votes))


# --- CSV -----------------------------------------------------------------------------------


def test_csv_cells() -> None:
    cells = TYPE.csv_cells(CONFIG, BallotItem(ballot_id=1, question_id=1, key="i2:y", value=4))
    assert (cells.answer, cells.value) == ("Communicatie – Tevredenheid", "4")


# --- through the app -----------------------------------------------------------------------


def _present(client, db, language: str = "nl"):
    owner = make_user(db)
    presentation = make_presentation(db, owner, language=language)
    question = make_question(
        db,
        owner,
        presentation,
        "grid",
        "Belang en tevredenheid",
        # The items of a new question, so they keep the ids i1 and i2.
        items="Onderhoud\nCommunicatie" if language == "nl" else "Maintenance\nCommunication",
        x_label="Belang",
        y_label="Tevredenheid",
        q_br="Eerst aanpakken",
    )
    csrf = login(client, owner.email)
    client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "first"})
    return presentation, question


@pytest.mark.parametrize(
    ("language", "refusals"),
    [
        (
            "nl",
            [
                ({"i1-x": "3"}, "Kies bij „Onderhoud” allebei de getallen, of geen van beide."),
                ({"i1-x": "9", "i1-y": "3"}, "Kies een getal van 1 tot en met 5."),
                ({}, "Kies bij minstens één onderwerp een getal op beide schalen."),
            ],
        ),
        (
            "en",
            [
                ({"i1-x": "3"}, "Give both ratings for “Maintenance”, or neither."),
                ({"i1-x": "9", "i1-y": "3"}, "Choose a value from 1 to 5."),
                ({}, "Rate at least one item on both scales."),
            ],
        ),
    ],
)
def test_vote_by_form_post(client, db, language: str, refusals: list) -> None:
    presentation, question = _present(client, db, language)
    phone = browser(client)
    join(phone, presentation.join_code)
    page = phone.get(f"/p/{presentation.join_code}").text
    assert 'name="i1-x"' in page and 'name="i2-y"' in page
    url = f"/p/{presentation.join_code}/vote"
    for fields, message in refusals:
        response = phone.post(url, data={"question_id": str(question.id), **fields})
        assert response.status_code == 422, fields
        assert message in response.text, (fields, response.text)
    with db.session() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Ballot)).scalar_one() == 0
    data = {"question_id": str(question.id), "client_key": "k", "i1-x": "5", "i1-y": "2"}
    assert phone.post(url, data=data).status_code == 200
    with db.session() as session:
        rows = session.execute(sa.select(BallotItem.key, BallotItem.value)).all()
    assert sorted(rows) == [("i1:x", 5), ("i1:y", 2)]
    assert 'name="i1-x" value="5" checked' in phone.get(f"/p/{presentation.join_code}").text


def _until(ws, predicate, limit: int = 50) -> str:
    for _ in range(limit):
        frame = ws.receive_text()
        if predicate(frame):
            return frame
    raise AssertionError("no frame matched")


def _plotted(frame: str) -> list[str]:
    return re.findall(r'<g class="grid-point" data-item="(\w+)">', frame)


def test_presenter_frame_plots_the_means(client, db) -> None:
    presentation, question = _present(client, db)
    with client.websocket_connect(f"/ws/present/{presentation.id}", headers={"Origin": BASE}) as ws:
        first = ws.receive_text()
        assert _plotted(first) == [] and "Eerst aanpakken" in first and "Tevredenheid" in first
        for index, (x, y) in enumerate([("5", "1"), ("4", "2")]):
            phone = browser(client)
            join(phone, presentation.join_code)
            response = phone.post(
                f"/p/{presentation.join_code}/vote",
                data={
                    "question_id": str(question.id),
                    "client_key": f"k{index}",
                    "i1-x": x,
                    "i1-y": y,
                },
            )
            assert response.status_code == 200
        frame = _until(ws, lambda f: "<strong>4,5</strong>" in f)
    assert _plotted(frame) == ["i1"]
    # Mean 4,5 and 1,5 on 1..5: x = 90 + 87.5 * 5.3, y = 470 - 12.5 * 4.5.
    assert 'cx="553.75" cy="413.75"' in frame
    assert re.search(r'grid-mean-y">Tevredenheid <strong>1,5</strong>', frame)
