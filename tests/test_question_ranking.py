"""Ranking: items put in order, Borda points by the database, over HTTP and live."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from app.db import Database
from app.models import Ballot, BallotItem, Presentation, Question
from app.questions.base import AnswerError, ConfigError
from app.questions.ranking import TYPE, borda
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
    ]
}
LABELS = [i["label"] for i in THREE["items"]]
ORIGIN = {"Origin": BASE}
COL_ANSWER, COL_VALUE = 6, 7  # export columns: title, position, round, question, type, ...


def config_form(items: str) -> dict[str, list]:
    return {"items": [items]}


def ranks(**places: str) -> dict[str, list[str]]:
    return {f"r-{key}": [value] for key, value in places.items()}


def vote(db: Database, question: Question, participant: str, *order: str) -> None:
    """Rank items by label, most important first."""
    ids = {i["label"]: i["id"] for i in question.config["items"]}
    cast(
        db, question, participant, {f"r-{ids[label]}": [str(n)] for n, label in enumerate(order, 1)}
    )


def tally(db: Database, question: Question):
    with db.session() as session:
        return TYPE.tally(session, question.id or 0, question.config)


# --- configuration -------------------------------------------------------------------------


def test_parse_config_numbers_items_and_tidies_labels() -> None:
    assert TYPE.parse_config(config_form(" Jaarcyclus \n\nDuurzaamheid\r\nFinanciën\n")) == THREE


def test_parse_config_keeps_ids_of_unchanged_items_and_skips_reserved_ones() -> None:
    items = TYPE.parse_config(
        config_form("Financiën\nNieuw\nJaarcyclus"), previous=THREE, reserved=["i4"]
    )["items"]
    assert items == [
        {"id": "i3", "label": "Financiën"},
        {"id": "i5", "label": "Nieuw"},
        {"id": "i1", "label": "Jaarcyclus"},
    ]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (config_form(""), "Give between %(low)s and %(high)s items, one per line."),
        (config_form("Alleen"), "Give between %(low)s and %(high)s items, one per line."),
        (
            config_form("\n".join(f"Thema {n}" for n in range(11))),
            "Give between %(low)s and %(high)s items, one per line.",
        ),
        (config_form("Thema\nTHEMA"), "Each line must be different."),
        (config_form("A\n" + "x" * 121), "Each line can have at most %(n)s characters."),
        ({}, "Give between %(low)s and %(high)s items, one per line."),
    ],
)
def test_parse_config_rejects(form: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        TYPE.parse_config(form)
    assert error.value.message == message


def test_parse_config_accepts_the_limits() -> None:
    ten = "\n".join(f"Thema {n}" for n in range(10))
    assert len(TYPE.parse_config(config_form(ten))["items"]) == 10
    assert len(TYPE.parse_config(config_form("A\n" + "x" * 120))["items"]) == 2


@pytest.mark.parametrize("language", ["nl", "en"])
def test_default_config_parses_answers(language: str) -> None:
    config = TYPE.default_config(language)
    parsed = TYPE.parse_answer(config, ranks(i1="2", i2="3", i3="1"))
    assert parsed.answer == {"ranks": {"i1": 2, "i2": 3, "i3": 1}}


# --- answers -------------------------------------------------------------------------------


def test_parse_answer_stores_one_item_per_ranked_item() -> None:
    parsed = TYPE.parse_answer(THREE, {**ranks(i1="3", i2=" 1 ", i3="2"), "client_key": ["k"]})
    assert parsed.answer == {"ranks": {"i1": 3, "i2": 1, "i3": 2}}
    assert [(i.key, i.value, i.text) for i in parsed.items] == [
        ("i1", 3, None),
        ("i2", 1, None),
        ("i3", 2, None),
    ]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({}, "Put the items in order: give each item a place."),
        (ranks(i1="", i2="", i3=""), "Put the items in order: give each item a place."),
        (ranks(i1="1", i2="2"), "Give every item a place, from %(low)s to %(high)s."),
        (ranks(i1="1", i2="1", i3="2"), "Give each item a different place."),
        (ranks(i1="1", i2="1"), "Give each item a different place."),
        ({**ranks(i1="1", i2="2"), "r-i3": ["3", "3"]}, "Give each item one place."),
        (
            {**ranks(i1="1", i2="2", i3="3"), "r-i4": ["4"]},
            "That item is not part of this question.",
        ),
        ({**ranks(i1="1", i2="2", i3="3"), "r-": ["4"]}, "That item is not part of this question."),
        ({**ranks(i1="1", i2="2"), "r-I3": ["3"]}, "That item is not part of this question."),
        (ranks(i1="1", i2="2", i3="4"), "Choose a place from %(low)s to %(high)s."),
        (ranks(i1="1", i2="2", i3="0"), "Choose a place from %(low)s to %(high)s."),
        (ranks(i1="1", i2="2", i3="٣"), "Choose a place from %(low)s to %(high)s."),
        (ranks(i1="1", i2="2", i3="³"), "Choose a place from %(low)s to %(high)s."),
        (ranks(i1="1", i2="2", i3="-3"), "Choose a place from %(low)s to %(high)s."),
        (ranks(i1="1", i2="2", i3="+3"), "Choose a place from %(low)s to %(high)s."),
        (ranks(i1="1", i2="2", i3="3.0"), "Choose a place from %(low)s to %(high)s."),
        (ranks(i1="1", i2="2", i3="003"), "Choose a place from %(low)s to %(high)s."),
        (ranks(i1="1", i2="2", i3="3" * 5000), "Choose a place from %(low)s to %(high)s."),
        (ranks(i1="1", i2="2", i3="drie"), "Choose a place from %(low)s to %(high)s."),
    ],
)
def test_parse_answer_rejects(form: dict, message: str) -> None:
    with pytest.raises(AnswerError) as error:
        TYPE.parse_answer(THREE, form)
    assert error.value.message == message


def test_parse_answer_follows_the_number_of_items() -> None:
    ten = {"items": [{"id": f"i{n}", "label": f"T{n}"} for n in range(1, 11)]}
    form = {f"r-i{n}": [str(11 - n)] for n in range(1, 11)}
    assert TYPE.parse_answer(ten, form).answer["ranks"]["i1"] == 10
    with pytest.raises(AnswerError) as error:
        TYPE.parse_answer(THREE, ranks(i1="1", i2="2", i3="10"))
    assert error.value.params == {"low": 1, "high": 3}


form_values = st.lists(
    st.one_of(
        st.sampled_from(["1", "2", "3", "4", "", " 2", "0", "٢", "1e0"]), st.text(max_size=5)
    ),
    max_size=3,
)


@given(
    form=st.dictionaries(
        st.one_of(
            st.sampled_from(["r-i1", "r-i2", "r-i3", "r-i4", "r-", "option"]), st.text(max_size=6)
        ),
        form_values,
        max_size=6,
    )
)
def test_parse_answer_never_crashes_and_accepts_only_complete_orderings(form: dict) -> None:
    try:
        parsed = TYPE.parse_answer(THREE, form)
    except AnswerError:
        return
    places = parsed.answer["ranks"]
    assert sorted(places) == ["i1", "i2", "i3"]
    assert sorted(places.values()) == [1, 2, 3]
    assert [(i.key, i.value) for i in parsed.items] == list(places.items())
    for key, place in places.items():
        assert [int(v) for v in form[f"r-{key}"] if v.strip()] == [place]
    assert not any(k.startswith("r-") and k[2:] not in places for k in form)


# --- tally ---------------------------------------------------------------------------------


@pytest.fixture
def question(db: Database) -> Question:
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(
        db, owner, presentation, "ranking", "Welk thema eerst?", items="\n".join(LABELS)
    )
    make_current(db, question)
    return question


def test_borda_points() -> None:
    assert [borda(place, 3) for place in (1, 2, 3)] == [3, 2, 1]
    assert borda(5, 3) == 0  # a place beyond the items (after an edit) counts nothing


def test_tally_without_votes(question: Question, db: Database) -> None:
    results = tally(db, question)
    assert results.responses == 0
    assert [(r["label"], r["points"], r["width"]) for r in results.data["rows"]] == [
        (label, 0, 0) for label in LABELS
    ]
    assert results.data["places"] == [1, 2, 3]


def test_tally_borda_points_and_places(question: Question, db: Database) -> None:
    vote(db, question, "ans", "Financiën", "Jaarcyclus", "Duurzaamheid")
    vote(db, question, "bert", "Financiën", "Duurzaamheid", "Jaarcyclus")
    vote(db, question, "carla", "Jaarcyclus", "Financiën", "Duurzaamheid")
    vote(db, question, "dirk", "Duurzaamheid", "Jaarcyclus", "Financiën")

    results = tally(db, question)
    assert results.responses == 4
    rows = [(r["label"], r["points"], r["places"], r["width"]) for r in results.data["rows"]]
    # Financiën 3+3+2+1, Jaarcyclus 2+1+3+2, Duurzaamheid 1+2+1+3: most points first.
    assert rows == [
        ("Financiën", 9, [2, 1, 1], 100.0),
        ("Jaarcyclus", 8, [1, 2, 1], 88.9),
        ("Duurzaamheid", 7, [1, 1, 2], 77.8),
    ]
    assert sum(r["points"] for r in results.data["rows"]) == 4 * (3 + 2 + 1)


def test_tally_equal_points_keep_the_facilitators_order(question: Question, db: Database) -> None:
    vote(db, question, "ans", "Financiën", "Duurzaamheid", "Jaarcyclus")
    vote(db, question, "bert", "Duurzaamheid", "Financiën", "Jaarcyclus")
    labels = [r["label"] for r in tally(db, question).data["rows"]]
    assert labels == ["Duurzaamheid", "Financiën", "Jaarcyclus"]


def test_tally_follows_a_changed_vote(question: Question, db: Database) -> None:
    vote(db, question, "ans", "Jaarcyclus", "Duurzaamheid", "Financiën")
    vote(db, question, "ans", "Financiën", "Duurzaamheid", "Jaarcyclus")
    results = tally(db, question)
    assert results.responses == 1
    assert {r["label"]: r["points"] for r in results.data["rows"]} == {
        "Financiën": 3,
        "Duurzaamheid": 2,
        "Jaarcyclus": 1,
    }


# --- CSV -----------------------------------------------------------------------------------


def test_csv_cells_item_and_place() -> None:
    cells = TYPE.csv_cells(THREE, BallotItem(ballot_id=1, question_id=1, key="i3", value=2))
    assert (cells.answer, cells.value) == ("Financiën", "2")
    gone = TYPE.csv_cells(THREE, BallotItem(ballot_id=1, question_id=1, key="i9", value=1))
    assert (gone.answer, gone.value) == ("i9", "1")


def test_export_has_a_row_per_item_with_its_place(question: Question, db: Database) -> None:
    vote(db, question, "ans", "Financiën", "Jaarcyclus", "Duurzaamheid")
    with db.session() as session:
        presentation = session.get(Presentation, question.presentation_id)
        assert presentation is not None
        rows = list(export_rows(session, presentation))
    assert sorted((row[COL_ANSWER], row[COL_VALUE]) for row in rows) == [
        ("Duurzaamheid", "3"),
        ("Financiën", "1"),
        ("Jaarcyclus", "2"),
    ]


# --- over HTTP and live --------------------------------------------------------------------


def _present(client, db, language: str = "nl"):
    owner = make_user(db)
    presentation = make_presentation(db, owner, language=language)
    question = make_question(
        db, owner, presentation, "ranking", "Welk thema eerst?", items="\n".join(LABELS)
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


def test_phone_page_shows_a_place_per_item(client, db) -> None:
    presentation, _ = _present(client, db)
    phone = browser(client)
    join(phone, presentation.join_code)
    page = phone.get(f"/p/{presentation.join_code}").text
    for item_id in ("i1", "i2", "i3"):
        assert len(re.findall(rf'name="r-{item_id}" value="\d"', page)) == 3
    assert "Tik bij elk onderwerp een plek aan" in page


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("nl", "Geef elk onderwerp een andere plek."),
        ("en", "Give each item a different place."),
    ],
)
def test_vote_by_form_post_and_refusals(client, db, language: str, expected: str) -> None:
    presentation, question = _present(client, db, language)
    a, b, c = (f"r-{i['id']}" for i in question.config["items"])
    phone = browser(client)
    join(phone, presentation.join_code)
    url = f"/p/{presentation.join_code}/vote"
    base = {"question_id": str(question.id)}
    duplicate = phone.post(url, data={**base, "client_key": "a", a: "1", b: "1", c: "2"})
    assert duplicate.status_code == 422
    assert expected in duplicate.text
    for bad in (
        {a: "1", b: "2"},
        {a: "1", b: "2", c: "\u0663"},
        {a: "1", b: "2", c: "3", "r-i99": "4"},
        {a: "1", b: "2", c: "9" * 100},
    ):
        assert phone.post(url, data={**base, **bad}).status_code == 422, bad
    assert _ballots(db) == 0
    saved = phone.post(url, data={**base, "client_key": "b", a: "2", b: "3", c: "1"})
    assert saved.status_code == 200
    assert _ballots(db) == 1
    with db.session() as session:
        stored = session.execute(sa.select(BallotItem.key, BallotItem.value)).all()
    assert sorted(stored) == sorted([(a[2:], 2), (b[2:], 3), (c[2:], 1)])
    page = phone.get(f"/p/{presentation.join_code}").text
    assert f'name="{c}" value="1" checked' in page


def _points(frame: str) -> dict[str, int]:
    pairs = re.findall(
        r'bar-label"><bdi>([^<]+)</bdi>.*?bar-count"><strong>(\d+)</strong>', frame, re.S
    )
    return {label: int(n) for label, n in pairs}


def test_presenter_sees_borda_points_live(client, db) -> None:
    presentation, question = _present(client, db)
    with client.websocket_connect(f"/ws/present/{presentation.id}", headers=ORIGIN) as ws:
        assert _points(ws.receive_text()) == dict.fromkeys(LABELS, 0)
        orders = [("i3", "i1", "i2"), ("i3", "i2", "i1"), ("i1", "i3", "i2")]
        for order in orders:
            phone = browser(client)
            join(phone, presentation.join_code)
            data = {"question_id": str(question.id)}
            data.update({f"r-{key}": str(n) for n, key in enumerate(order, 1)})
            assert phone.post(f"/p/{presentation.join_code}/vote", data=data).status_code == 200
        expected = {"Financiën": 8, "Jaarcyclus": 6, "Duurzaamheid": 4}
        for _ in range(50):
            frame = ws.receive_text()
            if _points(frame) == expected:
                break
        else:
            raise AssertionError("no frame with the expected points")
        assert list(_points(frame)) == ["Financiën", "Jaarcyclus", "Duurzaamheid"]
        assert 'class="rank-places"' in frame
        table = frame[frame.index("rank-table") :]
        assert re.search(r"Financiën</bdi></th><td>2</td><td>1</td><td>0</td>", table)


def test_edit_form_shows_items_and_refuses_too_many(client, db) -> None:
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(db, owner, presentation, "ranking", "Volgorde", items="A\nB")
    csrf = login(client, owner.email)
    assert ">A\nB</textarea>" in client.get(f"/manage/questions/{question.id}").text
    eleven = "\n".join(f"T{n}" for n in range(11))
    refused = client.post(
        f"/manage/questions/{question.id}",
        data={"csrf_token": csrf, "title": "Volgorde", "items": eleven},
        headers={"Accept-Language": "nl"},
    )
    assert refused.status_code == 422
    assert "Geef 2 tot en met 10 onderwerpen, één per regel." in refused.text
    assert f">{eleven}</textarea>" in refused.text
    saved = client.post(
        f"/manage/questions/{question.id}",
        data={"csrf_token": csrf, "title": "Volgorde", "items": "B\nC\nA"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    with db.session() as session:
        stored = session.get(Question, question.id)
        assert stored is not None
        assert [i["id"] for i in stored.config["items"]] == [
            "i5",
            "i6",
            "i4",
        ]  # A, B kept theirs; the defaults had i1-i3
