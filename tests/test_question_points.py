"""100 points: a budget divided over items, averages by the database, over HTTP and live."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from app.db import Database
from app.models import Ballot, BallotItem, Presentation, Question
from app.questions.base import AnswerError, ConfigError
from app.questions.points import TYPE
from app.services.export import export_rows
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

THREE = {
    "items": [
        {"id": "i1", "label": "Jaarcyclus"},
        {"id": "i2", "label": "Duurzaamheid"},
        {"id": "i3", "label": "Financiën"},
    ],
    "budget": 100,
}
LABELS = [i["label"] for i in THREE["items"]]
ORIGIN = {"Origin": BASE}
COL_ANSWER, COL_VALUE = 6, 7  # export columns: title, position, round, question, type, ...
ENTER = "Enter whole numbers of points: 0 or more."
AT_MOST = "You can give at most %(budget)s points."
TOO_MANY = "That is %(over)s points too many. You can give %(budget)s points in total."


def config_form(items: str, **fields: str) -> dict[str, list]:
    return {"items": [items], **{k: [v] for k, v in fields.items()}}


def points(**given: str) -> dict[str, list[str]]:
    return {f"p-{key}": [value] for key, value in given.items()}


def vote(db: Database, question: Question, participant: str, **given: int) -> None:
    """Give points by label: vote(db, q, "ans", Jaarcyclus=60, Financiën=40)."""
    ids = {i["label"]: i["id"] for i in question.config["items"]}
    cast(db, question, participant, {f"p-{ids[k]}": [str(n)] for k, n in given.items()})


def tally(db: Database, question: Question):
    with db.session() as session:
        return TYPE.tally(session, question.id or 0, question.config)


# --- configuration -------------------------------------------------------------------------


def test_parse_config_items_and_budget() -> None:
    config = TYPE.parse_config(config_form(" Jaarcyclus \nDuurzaamheid\n\nFinanciën", budget="100"))
    assert config == THREE
    assert TYPE.parse_config(config_form("A\nB"))["budget"] == 100
    assert TYPE.parse_config(config_form("A\nB", budget="10"))["budget"] == 10
    assert TYPE.parse_config(config_form("A\nB", budget="1000"))["budget"] == 1000


def test_parse_config_keeps_ids_of_unchanged_items() -> None:
    config = TYPE.parse_config(config_form("Financiën\nNieuw", budget="50"), previous=THREE)
    assert config["items"] == [{"id": "i3", "label": "Financiën"}, {"id": "i4", "label": "Nieuw"}]
    assert config["budget"] == 50


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (config_form("Alleen"), "Give between %(low)s and %(high)s items, one per line."),
        (
            config_form("\n".join(f"Thema {n}" for n in range(11))),
            "Give between %(low)s and %(high)s items, one per line.",
        ),
        (config_form("A\na"), "Each line must be different."),
        (config_form("A\nB", budget="9"), "Enter a whole number between %(low)s and %(high)s."),
        (config_form("A\nB", budget="1001"), "Enter a whole number between %(low)s and %(high)s."),
        (config_form("A\nB", budget="-100"), "Enter a whole number between %(low)s and %(high)s."),
        (config_form("A\nB", budget="1٠٠"), "Enter a whole number between %(low)s and %(high)s."),
        (
            config_form("A\nB", budget="9" * 50),
            "Enter a whole number between %(low)s and %(high)s.",
        ),
    ],
)
def test_parse_config_rejects(form: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        TYPE.parse_config(form)
    assert error.value.message == message


@pytest.mark.parametrize("language", ["nl", "en"])
def test_default_config_parses_answers(language: str) -> None:
    config = TYPE.default_config(language)
    assert config["budget"] == 100
    assert TYPE.parse_answer(config, points(i1="100")).answer == {"points": {"i1": 100}}


# --- answers -------------------------------------------------------------------------------


def test_parse_answer_stores_the_items_given_points() -> None:
    parsed = TYPE.parse_answer(THREE, {**points(i1=" 60 ", i2="0", i3="30"), "client_key": ["k"]})
    assert parsed.answer == {"points": {"i1": 60, "i3": 30}}  # 10 points kept: allowed
    assert [(i.key, i.value) for i in parsed.items] == [("i1", 60), ("i3", 30)]


def test_parse_answer_accepts_the_whole_budget_on_one_item() -> None:
    assert TYPE.parse_answer(THREE, points(i2="100", i1="", i3="")).answer == {
        "points": {"i2": 100}
    }


@pytest.mark.parametrize(
    ("form", "message", "params"),
    [
        ({}, "Give at least one item some points.", {}),
        (points(i1="0", i2="", i3="00"), "Give at least one item some points.", {}),
        (points(i1="60", i2="50"), TOO_MANY, {"over": 10, "budget": 100}),
        (points(i1="34", i2="34", i3="34"), TOO_MANY, {"over": 2, "budget": 100}),
        (points(i1="101"), AT_MOST, {"budget": 100}),
        (points(i1="9" * 5000), AT_MOST, {"budget": 100}),
        (points(i1="-10", i2="50"), ENTER, {}),
        (points(i1="12.5"), ENTER, {}),
        (points(i1="1e2"), ENTER, {}),
        (points(i1="٥٠"), ENTER, {}),
        (points(i1="５０"), ENTER, {}),
        (points(i1="²"), ENTER, {}),
        (points(i1="+5"), ENTER, {}),
        (points(i1="vijftig"), ENTER, {}),
        ({"p-i1": ["10", "20"]}, "Give one number per item.", {}),
        ({**points(i1="10"), "p-i4": ["5"]}, "That item is not part of this question.", {}),
        ({**points(i1="10"), "p-": ["5"]}, "That item is not part of this question.", {}),
    ],
)
def test_parse_answer_rejects(form: dict, message: str, params: dict) -> None:
    with pytest.raises(AnswerError) as error:
        TYPE.parse_answer(THREE, form)
    assert error.value.message == message
    assert error.value.params == params


def test_parse_answer_follows_the_budget() -> None:
    ten = {**THREE, "budget": 10}
    assert TYPE.parse_answer(ten, points(i1="4", i2="6")).answer == {"points": {"i1": 4, "i2": 6}}
    with pytest.raises(AnswerError) as error:
        TYPE.parse_answer(ten, points(i1="4", i2="7"))
    assert error.value.params == {"over": 1, "budget": 10}


values = st.one_of(
    st.integers(-5, 120).map(str),
    st.sampled_from(["", " 7", "٣", "1.5", "1e1", "9" * 40]),
    st.text(max_size=5),
)


@given(
    form=st.dictionaries(
        st.one_of(
            st.sampled_from(["p-i1", "p-i2", "p-i3", "p-i4", "p-", "r-i1"]), st.text(max_size=6)
        ),
        st.lists(values, max_size=2),
        max_size=6,
    )
)
def test_parse_answer_never_crashes_and_never_exceeds_the_budget(form: dict) -> None:
    try:
        parsed = TYPE.parse_answer(THREE, form)
    except AnswerError:
        return
    given_points = parsed.answer["points"]
    assert set(given_points) <= {"i1", "i2", "i3"}
    assert all(isinstance(n, int) and 0 < n <= 100 for n in given_points.values())
    assert 0 < sum(given_points.values()) <= 100
    assert [(i.key, i.value) for i in parsed.items] == list(given_points.items())
    for key, n in given_points.items():
        assert [int(v) for v in form[f"p-{key}"] if v.strip()] == [n]
    assert not any(k.startswith("p-") and k[2:] not in {"i1", "i2", "i3"} for k in form)


# --- tally ---------------------------------------------------------------------------------


@pytest.fixture
def question(db: Database) -> Question:
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(
        db, owner, presentation, "points", "Verdeel 100 punten", items="\n".join(LABELS)
    )
    make_current(db, question)
    return question


def test_tally_without_votes(question: Question, db: Database) -> None:
    results = tally(db, question)
    assert results.responses == 0
    assert [(r["label"], r["average"], r["width"]) for r in results.data["rows"]] == [
        (label, 0.0, 0) for label in LABELS
    ]


def test_tally_averages_over_everyone_who_answered(question: Question, db: Database) -> None:
    vote(db, question, "ans", Jaarcyclus=60, Financiën=40)
    vote(db, question, "bert", Financiën=100)
    vote(db, question, "carla", Duurzaamheid=20, Financiën=30)  # keeps 50 points

    results = tally(db, question)
    assert results.responses == 3
    rows = [(r["label"], r["total"], r["average"], r["width"]) for r in results.data["rows"]]
    assert rows == [
        ("Financiën", 170, pytest.approx(170 / 3), 100.0),
        ("Jaarcyclus", 60, pytest.approx(20.0), 35.3),
        ("Duurzaamheid", 20, pytest.approx(20 / 3), 11.8),
    ]


def test_tally_follows_a_changed_vote(question: Question, db: Database) -> None:
    vote(db, question, "ans", Jaarcyclus=100)
    vote(db, question, "bert", Duurzaamheid=50)
    vote(db, question, "ans", Duurzaamheid=10, Financiën=90)
    results = tally(db, question)
    assert results.responses == 2
    assert {r["label"]: r["average"] for r in results.data["rows"]} == {
        "Jaarcyclus": 0.0,
        "Duurzaamheid": 30.0,
        "Financiën": 45.0,
    }


# --- CSV -----------------------------------------------------------------------------------


def test_csv_cells_item_and_points() -> None:
    cells = TYPE.csv_cells(THREE, BallotItem(ballot_id=1, question_id=1, key="i2", value=35))
    assert (cells.answer, cells.value) == ("Duurzaamheid", "35")


def test_export_has_a_row_per_item_given_points(question: Question, db: Database) -> None:
    vote(db, question, "ans", Jaarcyclus=70, Financiën=30)
    with db.session() as session:
        presentation = session.get(Presentation, question.presentation_id)
        assert presentation is not None
        rows = list(export_rows(session, presentation))
    assert sorted((row[COL_ANSWER], row[COL_VALUE]) for row in rows) == [
        ("Financiën", "30"),
        ("Jaarcyclus", "70"),
    ]


# --- over HTTP and live --------------------------------------------------------------------


def _present(client, db, language: str = "nl"):
    owner = make_user(db)
    presentation = make_presentation(db, owner, language=language)
    question = make_question(
        db, owner, presentation, "points", "Verdeel", items="\n".join(LABELS), budget="100"
    )
    csrf = login(client, owner.email)
    response = client.post(
        f"/present/{presentation.id}/move",
        data={"csrf_token": csrf, "to": "first"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    return presentation, question


def _ballots(db: Database) -> int:
    with db.session() as session:
        return int(session.execute(sa.select(sa.func.count()).select_from(Ballot)).scalar_one())


def test_phone_page_shows_a_number_per_item(client, db) -> None:
    presentation, question = _present(client, db)
    phone = browser(client)
    join(phone, presentation.join_code)
    page = phone.get(f"/p/{presentation.join_code}").text
    for item in question.config["items"]:
        assert f'name="p-{item["id"]}" type="number" inputmode="numeric"' in page
    assert "Verdeel je 100 punten" in page


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("nl", "Dat zijn 20 punten te veel. Je kunt in totaal 100 punten geven."),
        ("en", "That is 20 points too many. You can give 100 points in total."),
    ],
)
def test_vote_by_form_post_and_refusals(client, db, language: str, expected: str) -> None:
    presentation, question = _present(client, db, language)
    a, b, c = (f"p-{i['id']}" for i in question.config["items"])
    phone = browser(client)
    join(phone, presentation.join_code)
    url = f"/p/{presentation.join_code}/vote"
    base = {"question_id": str(question.id)}
    over = phone.post(url, data={**base, "client_key": "a", a: "70", b: "50"})
    assert over.status_code == 422
    assert expected in over.text
    for bad in (
        {a: "-5", b: "50"},
        {a: "0", b: "0", c: ""},
        {a: "\u0665\u0660"},
        {a: "9" * 100},
        {a: "10", "p-i99": "5"},
    ):
        assert phone.post(url, data={**base, **bad}).status_code == 422, bad
    assert _ballots(db) == 0
    saved = phone.post(url, data={**base, "client_key": "b", a: "60", b: "0", c: "25"})
    assert saved.status_code == 200
    assert _ballots(db) == 1
    with db.session() as session:
        stored = session.execute(sa.select(BallotItem.key, BallotItem.value)).all()
    assert sorted(stored) == sorted([(a[2:], 60), (c[2:], 25)])
    page = phone.get(f"/p/{presentation.join_code}").text
    assert re.search(rf'name="{a}"[^>]*value="60"', page)


def _averages(frame: str) -> dict[str, str]:
    pairs = re.findall(
        r'bar-label"><bdi>([^<]+)</bdi>.*?bar-count"><strong>([^<]+)</strong>', frame, re.S
    )
    return dict(pairs)


def test_presenter_sees_averages_live(client, db) -> None:
    presentation, question = _present(client, db)
    ids = {i["label"]: i["id"] for i in question.config["items"]}
    with client.websocket_connect(f"/ws/present/{presentation.id}", headers=ORIGIN) as ws:
        assert _averages(ws.receive_text()) == dict.fromkeys(LABELS, "0,0")
        for given in ({"Jaarcyclus": 60, "Financiën": 40}, {"Financiën": 100}, {"Duurzaamheid": 5}):
            phone = browser(client)
            join(phone, presentation.join_code)
            data = {"question_id": str(question.id)}
            data.update({f"p-{ids[label]}": str(n) for label, n in given.items()})
            assert phone.post(f"/p/{presentation.join_code}/vote", data=data).status_code == 200
        expected = {"Financiën": "46,7", "Jaarcyclus": "20,0", "Duurzaamheid": "1,7"}
        for _ in range(50):
            frame = ws.receive_text()
            if _averages(frame) == expected:
                break
        else:
            raise AssertionError("no frame with the expected averages")
        assert list(_averages(frame)) == ["Financiën", "Jaarcyclus", "Duurzaamheid"]
        assert "van de 100 per persoon" in frame


def test_edit_form_shows_items_and_budget_and_refuses_a_bad_budget(client, db) -> None:
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(db, owner, presentation, "points", "Verdeel", items="A\nB")
    csrf = login(client, owner.email)
    page = client.get(f"/manage/questions/{question.id}").text
    assert ">A\nB</textarea>" in page and 'name="budget"' in page and 'value="100"' in page
    refused = client.post(
        f"/manage/questions/{question.id}",
        data={"csrf_token": csrf, "title": "Verdeel", "items": "A\nB\nC", "budget": "5000"},
    )
    assert refused.status_code == 422
    assert "Vul een heel getal in van 10 tot en met 1000." in refused.text
    assert ">A\nB\nC</textarea>" in refused.text and 'value="5000"' in refused.text
    saved = client.post(
        f"/manage/questions/{question.id}",
        data={"csrf_token": csrf, "title": "Verdeel", "items": "B\nC\nA", "budget": "30"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    with db.session() as session:
        stored = session.get(Question, question.id)
        assert stored is not None
        assert stored.config == {
            "items": [
                {"id": "i5", "label": "B"},
                {"id": "i6", "label": "C"},
                {"id": "i4", "label": "A"},
            ],
            "budget": 30,
        }
