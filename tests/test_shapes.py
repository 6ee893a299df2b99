"""Every question type refuses every malformed vote through the real vote route, and nothing moves.

Hypothesis builds vote forms of every shape for each question type: unknown option ids and
ids of another question, scale values out of range, NaN, infinities, fractions, non-ASCII
digits and digit strings thousands long, duplicates, empty lists, oversized text, stray and
repeated fields; and, over the phone's socket, JSON of the wrong types. The answer must be the
type parser's own verdict: saved when `parse_answer` accepts the form, otherwise 422 with the
parser's message (409 for a question that is not the current one, 400 or 413 for a body past
the transport limits). After every refusal the tally in the database and the results on the
presenter page are exactly as before (RELIABILITY.md item 3, I2).
"""

from __future__ import annotations

import itertools
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from starlette.websockets import WebSocketDisconnect

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.models import Ballot, BallotItem, Question
from app.questions import all_types, get_type
from app.questions.base import AnswerError
from tests.conftest import BASE, browser, login, make_presentation, make_question, make_user
from tests.test_model import is_status, receive_within, until

ORIGIN = {"Origin": BASE}
FORM_FIELDS = 64  # the vote route's limits (routes/participant.py)
FIELD_BYTES = 16 * 1024
BODY_BYTES = 256 * 1024  # app/middleware.py
MESSAGE_FIELDS = 64
REPLY_SECONDS = 5.0
MOVED_ON = "This question is no longer open. Here is the current one."
CLOSED = "Voting on this question is closed."

# One question of each type (with "don't know" and several choices allowed where it matters),
# and decoys whose option and statement ids this question does not have.
CONFIGS: dict[str, dict[str, str]] = {
    "choice": {"options": "Yes\nNo\nPartly"},
    "multiple": {"options": "A\nB\nC\nD", "multiple": "1", "max_choices": "2"},
    "scale": {"statements": "Tenants\nMunicipality", "max": "5", "dont_know": "1"},
    "scale without don't know": {"statements": "Rents\nRepairs\nService", "max": "3"},
    "wordcloud": {"max_entries": "3", "max_length": "12"},
    "open": {"max_length": "40"},
    "ranking": {"items": "Rents\nRepairs\nGreenery"},
    "points": {"items": "Rents\nRepairs\nGreenery", "budget": "100"},
    "numeric": {"min": "-10", "max": "100", "decimals": "1", "unit": "m2"},
    "grid": {"items": "Repairs\nRents", "max": "5"},
    "content": {"text": "Welkom\nKoffie"},
    "quiz": {"options": "* Paris\nLondon\n* Rome", "multiple": "1", "max_choices": "2"},
    "leaderboard": {},
    "qa": {"max_length": "280", "allow_names": "1"},
}
DECOYS: dict[str, dict[str, str]] = {
    "choice": {"options": "\n".join(f"Option {n}" for n in range(1, 13))},
    "scale": {"statements": "\n".join(f"Statement {n}" for n in range(1, 11)), "max": "10"},
}
KIND = {"multiple": "choice", "scale without don't know": "scale"}


def test_every_question_type_is_covered() -> None:
    assert {KIND.get(name, name) for name in CONFIGS} == {t.kind for t in all_types()}


@dataclass
class Room:
    client: TestClient
    db: Database
    csrf: str
    presentation_id: int
    code: str
    questions: dict[str, Question]
    decoys: list[Question]
    phone: httpx.Client
    showing: tuple[int | None, bool] = (None, False)  # current question, open


@pytest.fixture
def room(settings: Settings, db: Database) -> Iterator[Room]:
    """A presentation with one question per shape and decoys, and one phone that joined.

    The phone may send far more than a person would: the vote rate limit is lifted here.
    """
    owner = make_user(db)
    presentation = make_presentation(db, owner, language="en")
    questions = {
        name: make_question(db, owner, presentation, KIND.get(name, name), name, **config)
        for name, config in CONFIGS.items()
    }
    decoys = [
        make_question(db, owner, presentation, kind, f"decoy {kind}", **config)
        for kind, config in DECOYS.items()
    ]
    app = create_app(settings.model_copy(update={"vote_rate_per_minute": 1_000_000}))
    with TestClient(app, base_url=BASE) as client:
        csrf = login(client, owner.email)
        phone = browser(client)
        assert phone.get(f"/p/{presentation.join_code}").status_code == 200
        yield Room(
            client,
            db,
            csrf,
            presentation.id or 0,
            presentation.join_code,
            questions,
            decoys,
            phone,
        )
        phone.close()


def present(room: Room, question: Question, *, is_open: bool = True) -> None:
    """Make `question` current, with voting open or closed (the facilitator's controls)."""
    if room.showing == (question.id, is_open):
        return
    steps = [("move", {"to": str(question.id)}), ("voting", {"value": "open"})]
    if not is_open:
        steps.append(("voting", {"value": "close"}))
    for path, data in steps:
        response = room.client.post(
            f"/present/{room.presentation_id}/{path}",
            data={"csrf_token": room.csrf, **data},
            follow_redirects=False,
        )
        assert response.status_code == 303
    room.showing = (question.id, is_open)


def snapshot(room: Room, question: Question) -> tuple[Any, ...]:
    """The question's tally by COUNT ... GROUP BY, its ballots, and its results on the screen."""
    item = BallotItem.__table__  # type: ignore[attr-defined]
    ballot = Ballot.__table__  # type: ignore[attr-defined]
    with room.db.session() as session:
        tally = session.execute(
            sa.select(item.c.key, item.c.value, item.c.text, sa.func.count())
            .where(item.c.question_id == question.id)
            .group_by(item.c.key, item.c.value, item.c.text)
            .order_by(item.c.key, item.c.value, item.c.text)
        ).all()
        ballots = session.execute(
            sa.select(ballot.c.participant_id, ballot.c.client_key, ballot.c.answer)
            .where(ballot.c.question_id == question.id)
            .order_by(ballot.c.participant_id)
        ).all()
    page = room.client.get(f"/present/{room.presentation_id}").text
    shown = re.search(r'<section id="question-\d+-results".*?</section>', page, re.S)
    responses = re.search(r'id="response-count".*?</span>', page, re.S)
    return (
        tuple(tuple(r) for r in tally),
        tuple((p, k, json.dumps(a, sort_keys=True)) for p, k, a in ballots),
        shown[0] if shown else None,
        responses[0] if responses else None,
    )


Items = list[tuple[str, int | None, str | None]]


def in_order(items: Any) -> Items:
    return sorted(items, key=repr)


def stored_items(room: Room, key: str) -> Items:
    item = BallotItem.__table__  # type: ignore[attr-defined]
    ballot = Ballot.__table__  # type: ignore[attr-defined]
    with room.db.session() as session:
        rows = session.execute(
            sa.select(item.c.key, item.c.value, item.c.text)
            .join(ballot, ballot.c.id == item.c.ballot_id)
            .where(ballot.c.client_key == key)
        ).all()
    return in_order((k, v, t) for k, v, t in rows)


def verdict(question: Question, values: dict[str, list[str]]) -> Items | AnswerError:
    """What the type's parser makes of the form: the items it counts, or its refusal."""
    try:
        parsed = get_type(question.kind).parse_answer(question.config, values)
    except AnswerError as refused:
        return refused
    return in_order((i.key, i.value, i.text) for i in parsed.items)


def past_transport_limits(values: dict[str, list[str]]) -> bool:
    """Whether the form is refused before anyone reads it (too many fields, a field or the
    body too large), as the route's form parser and the body limit measure it."""
    pairs = [(name, value) for name, many in values.items() for value in many]
    sizes = [len(quote_plus(name)) + len(quote_plus(value)) for name, value in pairs]
    body = sum(sizes) + 2 * len(pairs)
    return len(pairs) > FORM_FIELDS or any(s > FIELD_BYTES for s in sizes) or body > BODY_BYTES


def error_text(html: str) -> str | None:
    match = re.search(r'<p class="error-text">([^<]*)</p>', html)
    return match[1] if match else None


# --- what a phone might send ---------------------------------------------------------------

JUNK = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "-1",
            "+1",
            "01",
            "1.0",
            "2.5",
            "1e0",
            "NaN",
            "nan",
            "inf",
            "-inf",
            "Infinity",
            " 3 ",
            "3\n",
            "３",
            "٣",
            "²",
            "dk",
            "DK",
            " dk",
            "null",
            "None",
            "true",
            "[]",
            "{}",
            "o1 ",
            "O1",
            "s-s1",
            "\x00",
            "\u202eo1",
            "o1\u200b",
        ]
    ),
    st.integers(-(10**6), 10**6).map(str),
    st.integers(5, 5000).map(lambda n: "9" * n),
    st.sampled_from(["9" * 4301, "1" + "0" * 5000]),  # past int()'s 4300 digits
)
HUGE_TEXT = st.builds(
    lambda ch, n: ch * n, st.sampled_from(["a", "é", "€", " ", "x "]), st.integers(40, 20_000)
)


def ids(question: Question, field: str) -> list[str]:
    return [str(entry["id"]) for entry in question.config[field]]


# Each form is either one the page itself could send (which must be saved) or built from
# anything at all: (fields, sent by the page).
Form = tuple[dict[str, list[str]], bool]


def either(
    page: st.SearchStrategy[Any], anything: st.SearchStrategy[Any]
) -> st.SearchStrategy[Form]:
    return st.tuples(page, st.just(True)) | st.tuples(anything, st.just(False))


def spoil(fields: dict[str, list[str]], value: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """A page's form with one of its values replaced."""
    name = sorted(fields)[0]
    return value.map(lambda bad: {**fields, name: [bad]})


def twice(values: list[str]) -> list[str]:
    """A page's answer with its first value sent twice."""
    return [values[0], *values]


def choice_forms(question: Question, decoys: list[Question]) -> st.SearchStrategy[Form]:
    own = ids(question, "options")
    foreign = [i for d in decoys if d.kind == "choice" for i in ids(d, "options") if i not in own]
    value = st.one_of(st.sampled_from(own), st.sampled_from(foreign), JUNK)
    most = int(question.config["max_choices"])
    page = st.lists(st.sampled_from(own), min_size=1, max_size=most, unique=True)
    spoilt = page.flatmap(lambda chosen: value.map(lambda bad: [bad, *chosen[1:]]))
    anything = st.lists(value, max_size=14) | page.map(twice) | spoilt
    return either(page, anything).map(lambda f: ({"option": f[0]}, f[1]))


def scale_forms(question: Question, decoys: list[Question]) -> st.SearchStrategy[Form]:
    own = ids(question, "statements")
    foreign = [i for d in decoys if d.kind == "scale" for i in ids(d, "statements") if i not in own]
    top = int(question.config["max"])
    valid = st.integers(1, top).map(str)
    if question.config["dont_know"]:
        valid |= st.just("dk")
    page = st.dictionaries(
        st.sampled_from(own).map(lambda s: f"s-{s}"), st.tuples(valid).map(list), min_size=1
    )
    name = st.one_of(st.sampled_from(own), st.sampled_from(foreign), JUNK).map(lambda s: f"s-{s}")
    near = st.sampled_from(["dk", "0", str(top + 1), "NaN", "inf", "2.5", "３", "9" * 4301])
    value = st.one_of(st.integers(0, top + 1).map(str), valid, near, JUNK)
    anything = st.dictionaries(name, st.lists(value, max_size=3), max_size=len(own) + 2)
    spoilt = page.flatmap(lambda fields: spoil(fields, value))
    stray = page.flatmap(lambda fields: name.map(lambda n: {**fields, n: ["1"]}))
    return either(page, anything | spoilt | stray)


# (typed, key): spellings of one key merge, so the page sends each key once.
WORDS = [
    ("Koffie", "koffie"),
    ("koffie ", "koffie"),
    ("ＫＯＦＦＩＥ", "koffie"),
    ("k\u200boffie", "koffie"),
    ("thee", "thee"),
    ("Één", "één"),
    ("een", "een"),
]


def wordcloud_forms(question: Question, decoys: list[Question]) -> st.SearchStrategy[Form]:
    most = int(question.config["max_entries"])
    page = st.lists(
        st.sampled_from(WORDS), min_size=1, max_size=most, unique_by=lambda w: w[1]
    ).map(lambda words: [typed for typed, _ in words])
    word = st.one_of(
        st.sampled_from([typed for typed, _ in WORDS]),
        st.text(max_size=16),
        st.text(min_size=10, max_size=60),
        JUNK,
        HUGE_TEXT,
    )
    spoilt = page.flatmap(lambda words: word.map(lambda bad: [bad, *words[1:]]))
    anything = st.lists(word, max_size=14) | page.map(twice) | spoilt
    return either(page, anything).map(lambda f: ({"word": f[0]}, f[1]))


def open_forms(question: Question, decoys: list[Question]) -> st.SearchStrategy[Form]:
    most = int(question.config["max_length"])
    typed = st.text(st.characters(categories=["L", "N", "P", "S", "Zs"]), min_size=1, max_size=most)
    page = typed.filter(str.strip).map(lambda t: [t])
    text = st.one_of(st.text(max_size=60), st.text(min_size=30, max_size=400), JUNK, HUGE_TEXT)
    longer = typed.map(lambda t: [t.ljust(most + 1, "x")])  # one character too many
    anything = st.lists(text, max_size=3) | longer
    return either(page, anything).map(lambda f: ({"text": f[0]}, f[1]))


def _named_values(
    prefix: str, own: list[str], value: st.SearchStrategy[str]
) -> st.SearchStrategy[dict[str, list[str]]]:
    """Fields named `prefix` + an item id (its own, or junk) with any values."""
    name = st.one_of(st.sampled_from(own), JUNK).map(lambda i: f"{prefix}{i}")
    return st.dictionaries(name, st.lists(value, max_size=3), max_size=len(own) + 2)


def ranking_forms(question: Question, decoys: list[Question]) -> st.SearchStrategy[Form]:
    own = ids(question, "items")
    n = len(own)
    page = st.permutations(list(range(1, n + 1))).map(
        lambda places: {f"r-{i}": [str(p)] for i, p in zip(own, places, strict=True)}
    )
    value = st.one_of(st.integers(0, n + 1).map(str), JUNK, st.sampled_from(["٣", "³", "+1"]))
    anything = _named_values("r-", own, value) | page.flatmap(lambda f: spoil(f, value))
    return either(page, anything)


def points_forms(question: Question, decoys: list[Question]) -> st.SearchStrategy[Form]:
    own = ids(question, "items")
    budget = int(question.config["budget"])
    page = (
        st.lists(st.integers(0, budget), min_size=len(own), max_size=len(own))
        .filter(lambda given: 0 < sum(given) <= budget)
        .map(lambda given: {f"p-{i}": [str(g)] for i, g in zip(own, given, strict=True)})
    )
    near = st.sampled_from(["-1", "1.5", "1e2", str(budget + 1), "٣", " 7 ", "0x10"])
    value = st.one_of(st.integers(0, budget + 1).map(str), near, JUNK)
    anything = _named_values("p-", own, value) | page.flatmap(lambda f: spoil(f, value))
    return either(page, anything)


def numeric_forms(question: Question, decoys: list[Question]) -> st.SearchStrategy[Form]:
    decimals = int(question.config["decimals"])
    low, high = int(question.config["min"]), int(question.config["max"])

    def shown(scaled: int, comma: bool) -> str:
        text = f"{abs(scaled) // 10**decimals}.{abs(scaled) % 10**decimals:0{decimals}d}"
        text = ("-" if scaled < 0 else "") + (text.replace(".", ",") if comma else text)
        return text if decimals else text.split(".")[0].split(",")[0]

    page = st.builds(shown, st.integers(low, high), st.booleans()).map(lambda t: {"number": [t]})
    near = st.sampled_from(["NaN", "inf", "-inf", "1e3", "1.000", "٣", "3,55", "--1", "+-2"])
    value = st.one_of(st.integers(low - 50, high + 50).map(str), near, JUNK)
    anything = st.dictionaries(st.just("number"), st.lists(value, max_size=3), max_size=1)
    return either(page, anything)


def grid_forms(question: Question, decoys: list[Question]) -> st.SearchStrategy[Form]:
    own = ids(question, "items")
    top = int(question.config["max"])
    rating = st.integers(1, top).map(str)
    page = st.dictionaries(
        st.sampled_from(own), st.tuples(rating, rating), min_size=1, max_size=len(own)
    ).map(
        lambda rated: {
            f"{i}-{a}": [v] for i, (x, y) in rated.items() for a, v in (("x", x), ("y", y))
        }
    )
    value = st.one_of(st.integers(0, top + 1).map(str), JUNK)
    name = st.one_of(st.sampled_from(own), JUNK).flatmap(
        lambda i: st.sampled_from([f"{i}-x", f"{i}-y"])
    )
    anything = st.dictionaries(name, st.lists(value, max_size=3), max_size=len(own) * 2 + 1)
    return either(page, anything | page.flatmap(lambda f: spoil(f, value)))


def content_forms(question: Question, decoys: list[Question]) -> st.SearchStrategy[Form]:
    """A slide takes no answer: whatever is sent, nothing is saved."""
    name = st.one_of(st.sampled_from(["text", "option", "number"]), JUNK)
    return st.dictionaries(name, st.lists(JUNK, max_size=2), max_size=3).map(lambda f: (f, False))


FORMS = {
    "choice": choice_forms,
    "scale": scale_forms,
    "wordcloud": wordcloud_forms,
    "open": open_forms,
    "ranking": ranking_forms,
    "points": points_forms,
    "numeric": numeric_forms,
    "grid": grid_forms,
    "content": content_forms,
    "quiz": choice_forms,  # the same form as a choice question
    "leaderboard": content_forms,  # a slide: nothing is ever saved
    "qa": content_forms,  # questions arrive through their own routes: the vote form saves nothing
}
FIELD_NAMES = ["option", "word", "text", "s-s1", "s-", "question_id", "client_key", "HEADERS"]
EXTRA = st.dictionaries(
    st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8)),
    st.lists(JUNK, min_size=1, max_size=3),
    max_size=3,
)


def vote_form(
    data: st.DataObject, room: Room, question: Question, key: str
) -> tuple[dict[str, list[str]], bool]:
    """question_id and client_key first (the route reads the first value), then the type's
    fields and stray ones, repeated names appending their values; and whether the page
    itself could have sent it."""
    values: dict[str, list[str]] = {"question_id": [str(question.id)], "client_key": [key]}
    drawn, by_page = data.draw(FORMS[question.kind](question, room.decoys), label="fields")
    extra = data.draw(st.just({}) | EXTRA, label="extra fields")
    for fields in (drawn, extra):
        for name, many in fields.items():
            if many:  # a form cannot send a field without a value
                values.setdefault(name, []).extend(many)
    return values, by_page and not extra


def check_sound(question: Question, values: dict[str, list[str]], items: Items) -> None:
    """What an accepted answer may hold, by the rules of its type (not by its parser)."""
    config = question.config
    keys = [key for key, _, _ in items]
    assert items and len(set(keys)) == len(keys)
    if question.kind == "choice":
        assert set(keys) <= set(ids(question, "options"))
        assert len(keys) <= (int(config["max_choices"]) if config["multiple"] else 1)
        assert all(value is None and text is None for _, value, text in items)
    elif question.kind == "scale":
        own = set(ids(question, "statements"))
        assert set(keys) <= own
        assert all(name[2:] in own for name in values if name.startswith("s-"))
        for _, value, _ in items:
            assert (value is None and config["dont_know"]) or 1 <= value <= int(config["max"])
    elif question.kind == "wordcloud":
        assert len(items) <= int(config["max_entries"])
        for key, _, text in items:
            assert key and text and len(key) <= int(config["max_length"])
            assert len(text) <= int(config["max_length"]) and text == text.strip()
            assert not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in key + text)
    elif question.kind == "open":
        [(key, _, text)] = items
        assert key == "text" and text and text == text.strip()
        assert len(text) <= int(config["max_length"])
        assert not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text if ch != "\n")


_keys = (f"shape-{n}" for n in itertools.count())

SHAPES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- the properties ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", list(CONFIGS))
@SHAPES
@given(
    data=st.data(), htmx=st.booleans(), stage=st.sampled_from(["open", "open", "closed", "moved"])
)
def test_a_vote_is_saved_only_as_its_parser_accepts_it(
    room: Room, shape: str, data: st.DataObject, htmx: bool, stage: str
) -> None:
    """Saved as the parser says while the question is current and open; 409 otherwise."""
    question = room.questions[shape]
    if stage == "moved":
        others = [q for q in room.questions.values() if q.id != question.id]
        present(room, data.draw(st.sampled_from(others), label="current"))
    else:
        present(room, question, is_open=stage == "open")
    key = next(_keys)
    values, by_page = vote_form(data, room, question, key)
    expected = verdict(question, values)
    if isinstance(expected, AnswerError):
        assert not by_page, f"the parser refuses what the page sends: {expected}"
    else:
        check_sound(question, values, expected)
    refused = stage != "open" or isinstance(expected, AnswerError)
    event("past the limits" if past_transport_limits(values) else "refused" if refused else "saved")
    before = snapshot(room, question) if refused else None
    headers = {"HX-Request": "true"} if htmx else {}
    response = room.phone.post(f"/p/{room.code}/vote", data=values, headers=headers)

    if past_transport_limits(values):
        assert response.status_code in (400, 413), response.status_code
        assert "Traceback" not in response.text
    elif stage != "open":
        assert response.status_code == 409, response.status_code
        assert error_text(response.text) in (MOVED_ON, CLOSED)
    elif isinstance(expected, AnswerError):
        assert response.status_code == 422, (response.status_code, expected)
        # The parser's own message, in the presentation's language, where the phone shows it.
        assert error_text(response.text) == expected.text("en")
    else:
        assert response.status_code == 200, (response.status_code, error_text(response.text))
        assert error_text(response.text) is None
        assert stored_items(room, key) == expected
    if refused:
        assert snapshot(room, question) == before
        assert stored_items(room, key) == []


# JSON values of every type, and lists and objects of them.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10) | JUNK,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def well_formed(message: object) -> bool:
    """Whether a socket message is a vote form at all (routes/participant.vote_message)."""
    if not isinstance(message, dict) or len(message) > MESSAGE_FIELDS:
        return False
    for name, value in message.items():
        if name == "HEADERS":
            continue
        many = value if isinstance(value, list) else [value]
        if len(many) > MESSAGE_FIELDS or not all(isinstance(v, str) for v in many):
            return False
    return True


@pytest.mark.parametrize("shape", list(CONFIGS))
@settings(SHAPES, max_examples=25)
@given(data=st.data())
def test_a_socket_message_of_the_wrong_types_closes_the_socket(
    room: Room, shape: str, data: st.DataObject
) -> None:
    """Over the phone's socket: a vote form is answered as over HTTP; anything else closes the
    socket (1008); either way only an accepted form moves the tally."""
    question = room.questions[shape]
    present(room, question)
    key = next(_keys)
    form, _ = vote_form(data, room, question, key)
    message: Any = {name: many if len(many) != 1 else many[0] for name, many in form.items()}
    # Replace some fields by JSON of any type, or send something that is no object at all.
    typed = sorted(set(message) - {"question_id", "client_key"})
    retyped = st.lists(st.sampled_from(typed), max_size=2) if typed else st.just([])
    for name in data.draw(retyped, label="retyped"):
        message[name] = data.draw(JSON, label=f"{name} as")
    if data.draw(st.integers(0, 9), label="not an object") == 0:
        message = data.draw(JSON, label="message")
    before = snapshot(room, question)  # (a refusal is only known once the server answers)
    cookie = "; ".join(f"{k}={v}" for k, v in room.phone.cookies.items())
    headers = {**ORIGIN, "cookie": cookie}
    expected: Any = None
    with room.client.websocket_connect(f"/ws/p/{room.code}", headers=headers) as ws:
        ws.send_text(json.dumps(message))
        if not well_formed(message):
            with pytest.raises(WebSocketDisconnect) as closed:
                for _ in range(3):  # the stage it shows may come first
                    frame = receive_within(ws, REPLY_SECONDS)
                    assert frame is not None, "the socket stayed open"
                    assert not is_status(frame), "a message that is no vote form was answered"
                raise AssertionError("the socket stayed open, sending frames")
            assert closed.value.code == 1008
            event("socket: closed")
        else:
            reply = until(ws, is_status, REPLY_SECONDS)
            values = {
                name: value if isinstance(value, list) else [value]
                for name, value in message.items()
                if name != "HEADERS"
            }
            expected = verdict(question, values)
            event("socket: " + ("refused" if isinstance(expected, AnswerError) else "saved"))
            if values.get("question_id", [""])[:1] != [str(question.id)]:
                assert error_text(reply) == MOVED_ON
            elif isinstance(expected, AnswerError):
                assert error_text(reply) == expected.text("en")
            else:
                assert error_text(reply) is None and re.search(r'<div class="saved"\s*>', reply)
                assert stored_items(room, key) == expected
                return
    assert snapshot(room, question) == before
    assert stored_items(room, key) == []
