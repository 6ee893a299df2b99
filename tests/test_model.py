"""A model of a session's life: random sessions against the real app, checked after every step.

A Hypothesis state machine plays a whole session through the app in-process: the facilitator
uses the real forms (with the CSRF token of a real login), every phone is a browser of its own
that joins through the join route and votes through the vote route (a form post, or a message
over its socket). A small reference model says what must be stored. After every step:

- one ballot per participant per question, and the stored ballots (their client keys and
  counted items) are exactly those of the model;
- I1: for a single choice question, the counts add up to the participants who answered;
- I2: the presenter page and the live presenter frame show what COUNT ... GROUP BY says;
- I3: every acknowledged client key that no later change replaced is stored exactly once;
- I4: no count goes down, except where a participant changed their answer;
- I5: the frames of a presenter socket carry growing versions;

and every export has one row per stored item, with the model's answers.
(RELIABILITY.md items 7 and 38.) Each example runs a fresh app on an emptied database (the
facilitator's account and login are kept: hashing a password is the slowest thing here).

A late retry carrying a key that a later change of the same ballot replaced is a replay (the
server remembers a ballot's earlier keys): it never brings back the older answer.
Not rules yet: moderation (tests/test_moderation_*.py) and resets.
"""

from __future__ import annotations

import contextlib
import csv
import html
import io
import itertools
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, event
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlmodel import SQLModel
from starlette.websockets import WebSocketDisconnect

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.models import Ballot, BallotItem, Participant, Presentation, Question
from app.questions import all_types
from tests.conftest import BASE, browser, login, make_user

ORIGIN = {"Origin": BASE}
# How long a presenter frame may take to show what the database holds (ticks are 20 ms here).
CONVERGE_SECONDS = 5.0

# One question of every type; a new type must be taught to the model (ANSWERS below).
QUESTIONS: list[tuple[str, str, dict[str, str]]] = [
    ("choice", "Are the agreements SMART?", {"options": "Yes\nNo\nPartly"}),
    (
        "choice",
        "Which themes first?",
        {
            "options": "Year cycle\nSustainability\nFinances\nRents",
            "multiple": "1",
            "max_choices": "2",
        },
    ),
    (
        "scale",
        "How good is the collaboration?",
        {
            "statements": "Tenants and corporation\nMunicipality",
            "max": "5",
            "low_label": "Poor",
            "high_label": "Excellent",
            "dont_know": "1",
        },
    ),
    ("wordcloud", "The agreements in one word", {"max_entries": "3", "max_length": "25"}),
    ("open", "Tips for the venue", {"max_length": "280"}),
    ("ranking", "Which theme matters most?", {"items": "Rents\nMaintenance\nSustainability"}),
    ("points", "Divide the budget", {"items": "Greenery\nSafety\nPlay areas", "budget": "10"}),
    ("numeric", "How many homes?", {"min": "0", "max": "500", "decimals": "0", "unit": ""}),
    ("grid", "Importance and satisfaction", {"items": "Repairs\nRents", "max": "5"}),
    ("quiz", "Which city is the capital?", {"options": "* Amsterdam\nRotterdam\nThe Hague"}),
]


ACCOUNT_TABLES = {"user", "auth_session"}


def empty_database(db: Database, keep: set[str]) -> None:
    """Delete every row (children first) except those of the tables in `keep`."""
    with db.write_session() as session:
        for table in reversed(SQLModel.metadata.sorted_tables):
            if table.name not in keep:
                session.execute(table.delete())


# --- answers: what a phone sends and what must be stored ------------------------------------


@dataclass(frozen=True)
class Answer:
    """A valid answer: the form fields sent, and what the server must make of it."""

    form: dict[str, list[str]]
    canonical: Any  # equal for two submissions the server must see as the same answer
    items: frozenset[tuple[str, int | None, str | None]]  # (key, value, text) counted
    csv: frozenset[tuple[str, str]]  # (answer, value) cells of the export rows


@dataclass(frozen=True)
class QuestionInfo:
    id: int
    kind: str
    title: str
    position: int
    config: dict[str, Any]

    @property
    def single_choice(self) -> bool:
        return self.kind == "choice" and not self.config["multiple"]


def choice_answers(q: QuestionInfo) -> st.SearchStrategy[Answer]:
    ids = [o["id"] for o in q.config["options"]]
    labels = {o["id"]: o["label"] for o in q.config["options"]}
    most = int(q.config["max_choices"]) if q.config["multiple"] else 1

    def build(chosen: list[str]) -> Answer:
        return Answer(
            form={"option": chosen},  # in the order ticked; stored in the options' order
            canonical=tuple(sorted(chosen, key=ids.index)),
            items=frozenset((c, None, None) for c in chosen),
            csv=frozenset((labels[c], "") for c in chosen),
        )

    return st.lists(st.sampled_from(ids), min_size=1, max_size=most, unique=True).map(build)


def quiz_answers(q: QuestionInfo) -> st.SearchStrategy[Answer]:
    """A quiz is answered like a choice question; its export says whether each was correct."""
    labels = {o["id"]: o["label"] for o in q.config["options"]}
    right = set(q.config["correct"])

    def mark(answer: Answer) -> Answer:
        cells = frozenset((labels[k], "1" if k in right else "0") for k, _, _ in answer.items)
        return Answer(answer.form, answer.canonical, answer.items, cells)

    return choice_answers(q).map(mark)


def scale_answers(q: QuestionInfo) -> st.SearchStrategy[Answer]:
    statements = q.config["statements"]
    rating = st.one_of(st.none(), st.just("dk"), st.integers(1, int(q.config["max"])))

    def build(ratings: list[int | str | None]) -> Answer:
        given = {s["id"]: r for s, r in zip(statements, ratings, strict=True) if r is not None}
        labels = {s["id"]: s["label"] for s in statements}
        return Answer(
            form={f"s-{sid}": [str(r)] for sid, r in given.items()},
            canonical=frozenset(given.items()),
            items=frozenset((sid, None if r == "dk" else int(r), None) for sid, r in given.items()),
            csv=frozenset(
                (labels[sid], "don't know" if r == "dk" else str(r)) for sid, r in given.items()
            ),
        )

    return (
        st.lists(rating, min_size=len(statements), max_size=len(statements))
        .filter(lambda ratings: any(r is not None for r in ratings))
        .map(build)
    )


# (typed, stored, key): spellings that must merge, and accents that must not.
WORDS = [
    ("Koffie", "Koffie", "koffie"),
    ("koffie ", "koffie", "koffie"),
    ("ＫＯＦＦＩＥ", "ＫＯＦＦＩＥ", "koffie"),
    ("thee  pot", "thee pot", "thee pot"),
    ("Één", "Één", "één"),
    ("een", "een", "een"),
    ("Tijd", "Tijd", "tijd"),
]


def wordcloud_answers(q: QuestionInfo) -> st.SearchStrategy[Answer]:
    keys = sorted({key for _, _, key in WORDS})
    spellings = {key: [w for w in WORDS if w[2] == key] for key in keys}
    most = int(q.config["max_entries"])

    @st.composite
    def build(draw: st.DrawFn) -> Answer:
        chosen = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=most, unique=True))
        words = [draw(st.sampled_from(spellings[key])) for key in chosen]
        # The form has max_entries inputs; the ones left empty are sent empty.
        typed = [w[0] for w in words] + [""] * (most - len(words))
        return Answer(
            form={"word": typed},
            canonical=tuple(w[1] for w in words),
            items=frozenset((w[2], None, w[1]) for w in words),
            csv=frozenset((w[1], w[2]) for w in words),
        )

    return build()


def open_answers(q: QuestionInfo) -> st.SearchStrategy[Answer]:
    def build(text: str) -> Answer:
        stored = text.strip()
        return Answer(
            form={"text": [text]},
            canonical=stored,
            items=frozenset([("text", None, stored)]),
            csv=frozenset([(stored, "")]),
        )

    # No word of the built-in word filter can be spelled from these letters (no g, k, r, s,
    # t, u), so no answer is held back; moderation has tests of its own.
    alphabet = "abcdefhijlmnop XYZ.,!?é"
    return st.text(alphabet=alphabet, min_size=1, max_size=40).filter(str.strip).map(build)


def ranking_answers(q: QuestionInfo) -> st.SearchStrategy[Answer]:
    items = q.config["items"]
    labels = {i["id"]: i["label"] for i in items}

    def build(order: list[int]) -> Answer:
        places = {item["id"]: place for item, place in zip(items, order, strict=True)}
        return Answer(
            form={f"r-{iid}": [str(place)] for iid, place in places.items()},
            canonical=frozenset(places.items()),
            items=frozenset((iid, place, None) for iid, place in places.items()),
            csv=frozenset((labels[iid], str(place)) for iid, place in places.items()),
        )

    return st.permutations(list(range(1, len(items) + 1))).map(build)


def points_answers(q: QuestionInfo) -> st.SearchStrategy[Answer]:
    items = q.config["items"]
    labels = {i["id"]: i["label"] for i in items}
    budget = int(q.config["budget"])

    def build(given: list[int]) -> Answer:
        points = {item["id"]: n for item, n in zip(items, given, strict=True)}
        kept = {iid: n for iid, n in points.items() if n}
        return Answer(
            form={f"p-{iid}": [str(n)] for iid, n in points.items()},
            canonical=frozenset(kept.items()),
            items=frozenset((iid, n, None) for iid, n in kept.items()),
            csv=frozenset((labels[iid], str(n)) for iid, n in kept.items()),
        )

    return (
        st.lists(st.integers(0, budget), min_size=len(items), max_size=len(items))
        .filter(lambda given: 0 < sum(given) <= budget)
        .map(build)
    )


def numeric_answers(q: QuestionInfo) -> st.SearchStrategy[Answer]:
    def build(n: int) -> Answer:
        return Answer(
            form={"number": [str(n)]},
            canonical=n,
            items=frozenset([("number", n, None)]),
            csv=frozenset([(str(n), str(n))]),
        )

    return st.integers(int(q.config["min"]), int(q.config["max"])).map(build)


def grid_answers(q: QuestionInfo) -> st.SearchStrategy[Answer]:
    items = q.config["items"]
    labels = {i["id"]: i["label"] for i in items}
    top = int(q.config["max"])
    pair = st.one_of(st.none(), st.tuples(st.integers(1, top), st.integers(1, top)))

    def build(pairs: list[tuple[int, int] | None]) -> Answer:
        rated = {i["id"]: p for i, p in zip(items, pairs, strict=True) if p is not None}
        axis_labels = {"x": q.config["x_label"], "y": q.config["y_label"]}
        return Answer(
            form={
                f"{iid}-{axis}": [str(v)]
                for iid, (x, y) in rated.items()
                for axis, v in (("x", x), ("y", y))
            },
            canonical=frozenset(rated.items()),
            items=frozenset(
                (f"{iid}:{axis}", v, None)
                for iid, (x, y) in rated.items()
                for axis, v in (("x", x), ("y", y))
            ),
            csv=frozenset(
                (f"{labels[iid]} – {axis_labels[axis]}", str(v))
                for iid, (x, y) in rated.items()
                for axis, v in (("x", x), ("y", y))
            ),
        )

    return (
        st.lists(pair, min_size=len(items), max_size=len(items))
        .filter(lambda pairs: any(p is not None for p in pairs))
        .map(build)
    )


ANSWERS: dict[str, Callable[[QuestionInfo], st.SearchStrategy[Answer]]] = {
    "choice": choice_answers,
    "scale": scale_answers,
    "wordcloud": wordcloud_answers,
    "open": open_answers,
    "ranking": ranking_answers,
    "points": points_answers,
    "numeric": numeric_answers,
    "grid": grid_answers,
    "quiz": quiz_answers,
}


def test_the_model_knows_every_question_type() -> None:
    kinds = {t.kind for t in all_types() if getattr(t, "takes_votes", True)}
    assert set(ANSWERS) == kinds, "teach tests/test_model.py the new question type"
    assert {kind for kind, _, _ in QUESTIONS} == kinds


# --- the reference model -------------------------------------------------------------------


@dataclass
class Stored:
    key: str
    answer: Answer
    earlier: dict[str, Answer] = field(default_factory=dict)  # keys a change replaced


@dataclass
class Model:
    """What the server must hold for one presentation."""

    questions: list[QuestionInfo]
    current: int | None = None
    open: dict[int, bool] = field(default_factory=dict)
    ballots: dict[tuple[int, int], Stored] = field(default_factory=dict)  # (question, phone)
    replaced: set[str] = field(default_factory=set)  # acknowledged keys a change replaced

    def question(self, question_id: int) -> QuestionInfo:
        return next(q for q in self.questions if q.id == question_id)

    def move(self, to: str | int) -> None:
        """The facilitator's move, as services/control.move defines it."""
        ids = [q.id for q in self.questions]
        index = ids.index(self.current) if self.current in ids else -1
        if isinstance(to, int):
            target = ids.index(to)
        elif to == "first":
            target = 0 if index < 0 else index
        elif to == "next":
            target = min(index + 1, len(ids) - 1)
        else:
            target = max(index - 1, 0)
        self.current = ids[target]

    def expect(self, phone: int, question_id: int, answer: Answer, key: str) -> str:
        """saved, replayed, conflict or closed."""
        if question_id != self.current or not self.open[question_id]:
            return "closed"
        stored = self.ballots.get((question_id, phone))
        if stored is not None and stored.key == key:
            return "replayed" if stored.answer.canonical == answer.canonical else "conflict"
        if stored is not None and key in stored.earlier:
            sent = stored.earlier[key]
            return "replayed" if sent.canonical == answer.canonical else "conflict"
        return "saved"

    def apply(self, phone: int, question_id: int, answer: Answer, key: str) -> Counter[Any]:
        """Store a saved vote; the counts it may lower (the items of the answer it replaces)."""
        old = self.ballots.get((question_id, phone))
        earlier = {} if old is None else {**old.earlier, old.key: old.answer}
        self.ballots[(question_id, phone)] = Stored(key, answer, earlier)
        if old is None:
            return Counter()
        self.replaced.add(old.key)
        return Counter((question_id, k, v) for k, v, _ in old.answer.items)


# --- what the database and the screens say --------------------------------------------------


def _counts_by_key(db: Database, question_ids: list[int]) -> Counter[Any]:
    """(question, key, value) -> items, by COUNT ... GROUP BY."""
    item = BallotItem.__table__  # type: ignore[attr-defined]
    stmt = (
        sa.select(item.c.question_id, item.c.key, item.c.value, sa.func.count())
        .where(item.c.question_id.in_(question_ids))
        .group_by(item.c.question_id, item.c.key, item.c.value)
    )
    with db.session() as session:
        return Counter({(q, k, v): int(n) for q, k, v, n in session.execute(stmt).all()})


def database_view(db: Database, question: QuestionInfo | None) -> dict[str, Any]:
    """What the projector must show for the current question, from the database."""
    if question is None:
        return {"question": None}
    ballot = Ballot.__table__  # type: ignore[attr-defined]
    item = BallotItem.__table__  # type: ignore[attr-defined]
    with db.session() as session:
        responses = session.execute(
            sa.select(sa.func.count()).where(ballot.c.question_id == question.id)
        ).scalar_one()
        grouped = session.execute(
            sa.select(item.c.key, item.c.value, sa.func.count())
            .where(item.c.question_id == question.id)
            .group_by(item.c.key, item.c.value)
        ).all()
        texts = session.execute(
            sa.select(item.c.key, item.c.text).where(item.c.question_id == question.id)
        ).all()
    view: dict[str, Any] = {"question": question.id, "responses": int(responses)}
    if question.kind == "choice":
        counts = {k: int(n) for k, _, n in grouped}
        view["counts"] = [counts.get(o["id"], 0) for o in question.config["options"]]
    elif question.kind == "scale":
        dist = {(k, v): int(n) for k, v, n in grouped}
        view["rows"] = [
            (
                [dist.get((s["id"], v), 0) for v in range(1, int(question.config["max"]) + 1)],
                dist.get((s["id"], None), 0),
            )
            for s in question.config["statements"]
        ]
    elif question.kind == "wordcloud":
        spelled = {text: key for key, text in texts}
        view["words"] = sorted((k, int(n)) for k, _, n in grouped)
        view["spellings"] = spelled
    elif question.kind == "open":
        view["texts"] = sorted(text for _, text in texts)
    return view


STAGE = re.compile(
    r'<main id="stage" data-version="(\d+)" data-question="(\d*)"\s+data-voting="(\w+)"'
)
RESPONSES = re.compile(r'id="response-count" class="responses">\s*<strong>(\d+)</strong>')


def stage_of(text: str) -> tuple[int, int | None, str]:
    """The version, question and voting state of a presenter page or frame."""
    match = STAGE.search(text)
    assert match, f"no stage in {text[:300]!r}"
    return int(match[1]), int(match[2]) if match[2] else None, match[3]


def screen_view(text: str, question: QuestionInfo | None, view: dict[str, Any]) -> dict[str, Any]:
    """What a presenter page or frame shows, in the shape of database_view()."""
    _, shown, _ = stage_of(text)
    if shown is None:
        return {"question": None}
    responses = RESPONSES.search(text)
    result: dict[str, Any] = {
        "question": shown,
        "responses": int(responses[1]) if responses else -1,
    }
    if question is None or shown != question.id:
        return result
    if question.kind == "choice":
        result["counts"] = [int(n) for n in re.findall(r'bar-count"><strong>(\d+)', text)]
    elif question.kind == "scale":
        rows = []
        for chunk in text.split('<div class="scale-result">')[1:]:
            values = [
                int(n) for n in re.findall(r'<span class="v\d+ of\d+">\d+: (\d+)</span>', chunk)
            ]
            dont_know = re.search(r'class="dk-count">[^<]*?: (\d+)</span>', chunk)
            rows.append((values, int(dont_know[1]) if dont_know else 0))
        result["rows"] = rows
    elif question.kind == "wordcloud":
        shown_words = re.findall(
            r'<li class="w\d+" title="(\d+)"><bdi>(.*?)</bdi></li>', text, re.S
        )
        # The cloud shows the most typed spelling of each key: map it back to its key.
        spellings = view.get("spellings", {})
        result["words"] = sorted(
            (spellings.get(html.unescape(word), f"?{html.unescape(word)}"), int(n))
            for n, word in shown_words
        )
        result["spellings"] = spellings
    elif question.kind == "open":
        wall = re.search(r'<ul class="wall">(.*?)</ul>', text, re.S)
        found = re.findall(r"<li><bdi>(.*?)</bdi></li>", wall[1], re.S) if wall else []
        result["texts"] = sorted(html.unescape(t) for t in found)
    return result


def receive_within(ws: Any, seconds: float) -> str | None:
    """The next text frame of a test socket, or None when none comes in `seconds`.

    The test client has no timeout of its own; this waits on its queue the same way its
    receive() does (the queue is cancel-safe, so nothing is lost when the wait times out).
    """

    async def receive() -> Any:
        with anyio.move_on_after(seconds):
            return await ws._send_rx.receive()
        return None

    message = ws.portal.call(receive)
    if message is None:
        return None
    if message["type"] == "websocket.close":
        raise WebSocketDisconnect(code=message.get("code", 1000))
    return str(message["text"])


def until(ws: Any, predicate: Callable[[str], bool], seconds: float = CONVERGE_SECONDS) -> str:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        frame = receive_within(ws, left)
        if frame is not None and predicate(frame):
            return frame
    raise AssertionError("no matching frame arrived")


def is_status(frame: str) -> bool:
    """A socket's reply to a vote (not a frame of the stage, which holds a status block too)."""
    return 'id="vote-status"' in frame and 'id="stage"' not in frame


def cookie_header(phone: httpx.Client) -> str:
    """The phone's cookies as its browser sends them on the socket handshake."""
    return "; ".join(f"{name}={value}" for name, value in phone.cookies.items())


# --- the state machine ---------------------------------------------------------------------


@dataclass
class Live:
    """The presentation being played, its screens and phones."""

    id: int
    code: str
    title: str
    model: Model
    screen_cm: Any
    screen: Any
    last_version: int = 0
    last_frame: str | None = None
    phones: list[httpx.Client] = field(default_factory=list)


class SessionMachine(RuleBasedStateMachine):
    settings: Settings
    db: Database
    cookies: dict[str, str]  # the facilitator's login
    csrf: str

    def __init__(self) -> None:
        super().__init__()
        empty_database(self.db, keep=ACCOUNT_TABLES)
        self._client_cm = TestClient(create_app(self.settings), base_url=BASE)
        self.client = self._client_cm.__enter__()
        # One login serves every example.
        for name, value in self.cookies.items():
            self.client.cookies.set(name, value)
        self.live: Live | None = None
        self.keys = (f"key-{n}" for n in itertools.count())
        self.presentations = 0
        # I4: the counts after the previous step, and what the last step may have lowered.
        self.counts: Counter[Any] = Counter()
        self.may_lower: Counter[Any] = Counter()

    def teardown(self) -> None:
        try:
            if self.live is not None:
                self._close_screen(self.live)
                for phone in self.live.phones:
                    phone.close()
        finally:
            self._client_cm.__exit__(None, None, None)

    @staticmethod
    def _close_screen(live: Live) -> None:
        with contextlib.suppress(WebSocketDisconnect):
            live.screen_cm.__exit__(None, None, None)

    # facilitator ----------------------------------------------------------------------

    def post(self, url: str, **data: str) -> httpx.Response:
        response = self.client.post(
            url, data={"csrf_token": self.csrf, **data}, follow_redirects=False
        )
        assert response.status_code == 303, (url, response.status_code, response.text[:500])
        return response

    @initialize(phones=st.integers(1, 3), start_at=st.sampled_from([None, 0, 1, 2, 3, 4]))
    def start(self, phones: int, start_at: int | None) -> None:
        """Most sessions start presenting, at any question, with a few phones in the room."""
        self.create_presentation()
        if start_at is not None:
            self.move("by id", start_at)
        for _ in range(phones):
            self.join_phone(by_qr=False)

    @precondition(lambda self: self.live is None)
    @rule()
    def create_presentation(self) -> None:
        self.presentations += 1
        title = f"Session {self.presentations}"
        created = self.post("/manage/presentations", title=title, language="en")
        presentation_id = int(created.headers["location"].rsplit("/", 1)[1])
        for kind, question_title, config in QUESTIONS:
            added = self.post(
                f"/manage/presentations/{presentation_id}/questions",
                kind=kind,
                title=question_title,
            )
            question_url = added.headers["location"]
            self.post(question_url, title=question_title, **config)
        with self.db.session() as session:
            presentation = session.get(Presentation, presentation_id)
            assert presentation is not None
            code = presentation.join_code
            rows = session.execute(
                sa.select(Question).where(
                    Question.presentation_id == presentation_id, Question.parent_id.is_(None)
                )
            ).scalars()
            questions = sorted(
                (
                    QuestionInfo(q.id or 0, q.kind, q.title, q.position, dict(q.config))
                    for q in rows
                ),
                key=lambda q: q.position,
            )
        assert [(q.kind, q.title) for q in questions] == [(k, t) for k, t, _ in QUESTIONS]
        model = Model(questions, open={q.id: True for q in questions})
        screen_cm = self.client.websocket_connect(f"/ws/present/{presentation_id}", headers=ORIGIN)
        self.live = Live(presentation_id, code, title, model, screen_cm, screen_cm.__enter__())

    @precondition(lambda self: self.live is not None)
    @rule(to=st.sampled_from(["next", "previous", "first", "by id"]), which=st.integers(0, 4))
    def move(self, to: str, which: int) -> None:
        assert self.live is not None
        model = self.live.model
        target: str | int = model.questions[which].id if to == "by id" else to
        self.post(f"/present/{self.live.id}/move", to=str(target))
        model.move(target)

    @precondition(lambda self: self.live is not None and self.live.model.current is not None)
    @rule(is_open=st.booleans())
    def set_voting(self, is_open: bool) -> None:
        assert self.live is not None and self.live.model.current is not None
        self.post(f"/present/{self.live.id}/voting", value="open" if is_open else "close")
        self.live.model.open[self.live.model.current] = is_open

    @precondition(lambda self: self.live is not None)
    @rule(excel=st.booleans())
    def export_csv(self, excel: bool) -> None:
        assert self.live is not None
        response = self.client.get(
            f"/manage/presentations/{self.live.id}/export.csv", params={"excel": excel}
        )
        assert response.status_code == 200
        text = response.text
        if excel:
            assert text.startswith("\ufeff")
            text = text[1:]
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";" if excel else ","))
        header, body = rows[0], rows[1:]
        assert len(header) == 12
        model = self.live.model
        pseudonyms = self._pseudonyms()  # phone -> pseudonym, from the database
        assert len(set(pseudonyms.values())) == len(pseudonyms)
        expected = sorted(
            (
                self.live.title,
                str(q.position),
                "1",
                q.title,
                q.kind,
                pseudonyms[phone],
                answer,
                value,
            )
            for (question_id, phone), stored in model.ballots.items()
            for q in [model.question(question_id)]
            for answer, value in stored.answer.csv
        )
        assert sorted(tuple(row[:8]) for row in body) == expected
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[8]) for row in body)
        # No groups in the model's presentations; every answer came from a phone.
        assert all(row[10] == "" and row[11] in {"telefoon", "phone"} for row in body)
        positions = [int(row[1]) for row in body]
        assert positions == sorted(positions)  # in question order

    # After some votes: deleting an empty presentation tells little and costs a new one.
    @precondition(lambda self: self.live is not None and self.live.model.ballots)
    @rule()
    def delete_presentation(self) -> None:
        assert self.live is not None
        live = self.live
        self.post(f"/manage/presentations/{live.id}/delete")
        # The screen gets the last frame, then a normal close.
        until(live.screen, lambda f: 'data-state="ended"' in f)
        try:
            after = receive_within(live.screen, CONVERGE_SECONDS)
            raise AssertionError(f"after the last frame, not a close but {after!r:.200}")
        except WebSocketDisconnect as closed:
            assert closed.code == 1000
        self._close_screen(live)
        for phone in live.phones:
            phone.close()
        self.live = None
        question_ids = [q.id for q in live.model.questions]
        with self.db.session() as session:
            assert session.get(Presentation, live.id) is None
            for table in (Ballot, BallotItem):
                column = table.__table__.c.question_id  # type: ignore[attr-defined]
                left = session.execute(
                    sa.select(sa.func.count()).where(column.in_(question_ids))
                ).scalar_one()
                assert left == 0, f"{table.__name__} rows outlived their presentation"
            participants = session.execute(
                sa.select(sa.func.count()).where(Participant.presentation_id == live.id)
            ).scalar_one()
            assert participants == 0
        self.counts = Counter()

    # phones ---------------------------------------------------------------------------

    @precondition(lambda self: self.live is not None and len(self.live.phones) < 4)
    @rule(by_qr=st.booleans())
    def join_phone(self, by_qr: bool) -> None:
        assert self.live is not None
        phone = browser(self.client)
        code = self.live.code
        spaced = f"{code[:4]} {code[4:]}"  # as it is shown on the screen
        response = phone.get(f"/j/{code}") if by_qr else phone.get("/join", params={"code": spaced})
        assert response.status_code == 200
        assert urlsplit(str(response.url)).path == f"/p/{code}"
        assert phone.cookies, "joining gave the phone no cookie"
        self.live.phones.append(phone)

    def submit(
        self, phone: int, question_id: int, answer: Answer, key: str, over_socket: bool
    ) -> None:
        """Send a vote as the phone's page does, and check the outcome against the model."""
        assert self.live is not None
        model = self.live.model
        expected = model.expect(phone, question_id, answer, key)
        event(f"vote {expected} over {'socket' if over_socket else 'form'}")
        fields = {"question_id": [str(question_id)], "client_key": [key], **answer.form}
        client = self.live.phones[phone]
        if over_socket:
            message = {
                name: values if len(values) > 1 else values[0] for name, values in fields.items()
            }
            message["HEADERS"] = {"HX-Request": "true"}
            headers = {**ORIGIN, "cookie": cookie_header(client)}
            with self.client.websocket_connect(f"/ws/p/{self.live.code}", headers=headers) as ws:
                ws.send_text(json.dumps(message))
                reply = until(ws, is_status)
            saved = re.search(r'<div class="saved"\s*>', reply) is not None
            error = re.search(r'<p class="error-text">([^<]*)</p>', reply)
            if expected in ("saved", "replayed"):
                assert saved and error is None, (expected, reply)
            else:
                assert not saved and error is not None, (expected, reply)
                if expected == "closed":
                    assert "closed" in error[1] or "no longer open" in error[1], error[1]
                else:
                    assert "went wrong" in error[1], error[1]
        else:
            response = client.post(f"/p/{self.live.code}/vote", data=fields)
            status = {"saved": 200, "replayed": 200, "conflict": 422, "closed": 409}[expected]
            assert response.status_code == status, (expected, response.status_code)
            if status == 200:
                assert re.search(r'<div class="saved"\s*>', response.text)
        if expected == "saved":
            self.may_lower += model.apply(phone, question_id, answer, key)

    def _phone_and_current(self, data: st.DataObject) -> tuple[int, QuestionInfo]:
        assert self.live is not None
        model = self.live.model
        phone = data.draw(st.integers(0, len(self.live.phones) - 1), label="phone")
        question = model.question(
            model.current if model.current is not None else model.questions[0].id
        )
        return phone, question

    @precondition(lambda self: self.live is not None and self.live.phones)
    @rule(data=st.data())
    def vote(self, data: st.DataObject) -> None:
        """A new vote, or a changed one (a new key), as a form post; refused when closed."""
        self._vote(data, over_socket=False)

    @precondition(lambda self: self.live is not None and self.live.phones)
    @rule(data=st.data())
    def vote_over_socket(self, data: st.DataObject) -> None:
        """The same over the phone's socket, as its page does while the socket is up."""
        self._vote(data, over_socket=True)

    def _vote(self, data: st.DataObject, over_socket: bool) -> None:
        phone, question = self._phone_and_current(data)
        answer = data.draw(ANSWERS[question.kind](question), label="answer")
        self.submit(phone, question.id, answer, next(self.keys), over_socket)

    def _sent(self) -> list[tuple[int, int]]:
        assert self.live is not None
        return sorted(self.live.model.ballots)

    @precondition(lambda self: self.live is not None and self.live.model.ballots)
    @rule(data=st.data(), over_socket=st.booleans())
    def replay(self, data: st.DataObject, over_socket: bool) -> None:
        """The same vote again with the same key (a retry after a lost reply): counted once."""
        assert self.live is not None
        question_id, phone = data.draw(st.sampled_from(self._sent()), label="ballot")
        stored = self.live.model.ballots[(question_id, phone)]
        self.submit(phone, question_id, stored.answer, stored.key, over_socket)

    @precondition(
        lambda self: (
            self.live is not None and any(s.earlier for s in self.live.model.ballots.values())
        )
    )
    @rule(data=st.data(), over_socket=st.booleans())
    def late_retry(self, data: st.DataObject, over_socket: bool) -> None:
        """A retry of a submission that a later change replaced: a replay, the newer answer
        stays."""
        assert self.live is not None
        changed = sorted(k for k, s in self.live.model.ballots.items() if s.earlier)
        question_id, phone = data.draw(st.sampled_from(changed), label="changed ballot")
        stored = self.live.model.ballots[(question_id, phone)]
        key = data.draw(st.sampled_from(sorted(stored.earlier)), label="earlier key")
        self.submit(phone, question_id, stored.earlier[key], key, over_socket)

    @precondition(lambda self: self.live is not None and self.live.model.ballots)
    @rule(data=st.data(), over_socket=st.booleans())
    def conflict(self, data: st.DataObject, over_socket: bool) -> None:
        """Another answer under the key of the stored vote: refused (or a replay when equal)."""
        assert self.live is not None
        question_id, phone = data.draw(st.sampled_from(self._sent()), label="ballot")
        question = self.live.model.question(question_id)
        stored = self.live.model.ballots[(question_id, phone)]
        answer = data.draw(ANSWERS[question.kind](question), label="answer")
        self.submit(phone, question_id, answer, stored.key, over_socket)

    @precondition(lambda self: self.live is not None and self.live.phones)
    @rule(data=st.data(), over_socket=st.booleans())
    def vote_elsewhere(self, data: st.DataObject, over_socket: bool) -> None:
        """A valid vote on a question that is not the current one: refused."""
        assert self.live is not None
        model = self.live.model
        phone = data.draw(st.integers(0, len(self.live.phones) - 1), label="phone")
        others = [q for q in model.questions if q.id != model.current]
        question = data.draw(st.sampled_from(others), label="question")
        answer = data.draw(ANSWERS[question.kind](question), label="answer")
        self.submit(phone, question.id, answer, next(self.keys), over_socket)

    # invariants -------------------------------------------------------------------------

    def _ballots(self) -> list[tuple[int, int, str, str]]:
        """(question, participant, client key, pseudonym) of every stored ballot."""
        assert self.live is not None
        question_ids = [q.id for q in self.live.model.questions]
        ballot = Ballot.__table__  # type: ignore[attr-defined]
        participant = Participant.__table__  # type: ignore[attr-defined]
        with self.db.session() as session:
            return [
                (q, p, k, name)
                for q, p, k, name in session.execute(
                    sa.select(
                        ballot.c.question_id,
                        ballot.c.participant_id,
                        ballot.c.client_key,
                        participant.c.pseudonym,
                    )
                    .join(participant, participant.c.id == ballot.c.participant_id)
                    .where(ballot.c.question_id.in_(question_ids))
                ).all()
            ]

    def _phones_of_participants(self) -> dict[int, int]:
        """participant id -> phone: every stored key belongs to one phone, each phone is one
        participant, and no two phones share one."""
        assert self.live is not None
        phone_of_key = {s.key: phone for (_, phone), s in self.live.model.ballots.items()}
        phones: dict[int, int] = {}
        for _, participant, key, _ in self._ballots():
            assert key in phone_of_key, f"stored key {key} was never acknowledged as current"
            assert phones.setdefault(participant, phone_of_key[key]) == phone_of_key[key]
        assert len(set(phones.values())) == len(phones), "two phones share a participant"
        return phones

    def _pseudonyms(self) -> dict[int, str]:
        phones = self._phones_of_participants()
        return {phones[p]: name for _, p, _, name in self._ballots()}

    @invariant()
    def ballots_match_the_model(self) -> None:
        """One ballot per participant per question, holding what the model says (and I3)."""
        if self.live is None:
            return
        model = self.live.model
        ballots = self._ballots()
        pairs = [(q, p) for q, p, _, _ in ballots]
        assert len(pairs) == len(set(pairs)), "two ballots of one participant for one question"
        keys = Counter(k for _, _, k, _ in ballots)
        for stored in model.ballots.values():  # I3
            assert keys[stored.key] == 1, (
                f"acknowledged key {stored.key} stored {keys[stored.key]}x"
            )
        for key in model.replaced - {s.key for s in model.ballots.values()}:
            assert keys[key] == 0, f"replaced key {key} is still stored"
        self._phones_of_participants()
        item = BallotItem.__table__  # type: ignore[attr-defined]
        ballot = Ballot.__table__  # type: ignore[attr-defined]
        with self.db.session() as session:
            rows = session.execute(
                sa.select(
                    ballot.c.question_id, ballot.c.client_key, item.c.key, item.c.value, item.c.text
                )
                .join(ballot, ballot.c.id == item.c.ballot_id)
                .where(ballot.c.question_id.in_([q.id for q in model.questions]))
            ).all()
        stored_items: dict[tuple[int, str], set[tuple[str, int | None, str | None]]] = {}
        for q, k, key, value, text in rows:
            stored_items.setdefault((q, k), set()).add((key, value, text))
        assert len(rows) == sum(len(s) for s in stored_items.values())
        expected = {(q, s.key): set(s.answer.items) for (q, _), s in model.ballots.items()}
        assert stored_items == expected

    @invariant()
    def single_choice_adds_up(self) -> None:
        """I1: a single choice question has as many counted items as participants answering."""
        if self.live is None:
            return
        item = BallotItem.__table__  # type: ignore[attr-defined]
        ballot = Ballot.__table__  # type: ignore[attr-defined]
        with self.db.session() as session:
            for question in self.live.model.questions:
                if not question.single_choice:
                    continue
                counted = session.execute(
                    sa.select(sa.func.count()).where(item.c.question_id == question.id)
                ).scalar_one()
                participants = session.execute(
                    sa.select(sa.func.count(sa.distinct(ballot.c.participant_id))).where(
                        ballot.c.question_id == question.id
                    )
                ).scalar_one()
                assert counted == participants, f"{counted} counted, {participants} answered"

    @invariant()
    def counts_only_drop_on_a_change(self) -> None:
        """I4: no (question, key, value) count goes down unless a changed vote removed it."""
        if self.live is None:
            self.may_lower = Counter()
            return
        now = _counts_by_key(self.db, [q.id for q in self.live.model.questions])
        for what, before in self.counts.items():
            assert now[what] >= before - self.may_lower[what], f"{what}: {before} -> {now[what]}"
        self.counts, self.may_lower = now, Counter()

    @invariant()
    def screens_show_the_database(self) -> None:
        """I2 on the presenter page and the live frame; I5 on the frames' versions."""
        if self.live is None:
            return
        live = self.live
        model = live.model
        question = model.question(model.current) if model.current is not None else None
        expected = database_view(self.db, question)
        page = self.client.get(f"/present/{live.id}").text
        assert screen_view(page, question, expected) == expected
        if question is not None:
            assert stage_of(page)[2] == ("open" if model.open[question.id] else "closed")

        def shows_it(frame: str | None) -> bool:
            if frame is None:
                return False
            _, _, voting = stage_of(frame)
            if question is not None and voting != ("open" if model.open[question.id] else "closed"):
                return False
            return screen_view(frame, question, expected) == expected

        deadline = time.monotonic() + CONVERGE_SECONDS
        while not shows_it(live.last_frame):
            left = deadline - time.monotonic()
            frame = receive_within(live.screen, left) if left > 0 else None
            if frame is None:
                shown = (
                    screen_view(live.last_frame or "", question, expected)
                    if live.last_frame
                    else None
                )
                raise AssertionError(f"the screen shows {shown}, the database {expected}")
            version = stage_of(frame)[0]
            assert version > live.last_version, f"frame version {version} after {live.last_version}"
            live.last_version, live.last_frame = version, frame


def test_a_session_keeps_its_invariants(settings: Settings, db: Database) -> None:
    owner = make_user(db)
    with TestClient(create_app(settings), base_url=BASE) as client:
        SessionMachine.csrf = login(client, owner.email)
        SessionMachine.cookies = dict(client.cookies.items())
    SessionMachine.settings = settings
    SessionMachine.db = db
    run_state_machine_as_test(
        SessionMachine,
        settings=hypothesis_settings(
            max_examples=12,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            # Shrinking replays hundreds of sessions (minutes, past the suite's timeout): a
            # failure is reported with its steps as found, at most 30 of them. The example
            # database replays it first on the next run.
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
            report_multiple_bugs=False,
        ),
    )
