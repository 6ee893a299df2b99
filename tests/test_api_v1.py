"""/api/v1: every endpoint with a personal token; numbers equal the votes cast; another
facilitator's ids are "not found"; every error has the documented shape and changes nothing."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from app.models import ApiToken, Participant, Presentation, Question
from app.ratelimit import Rate
from app.routes import api as api_routes
from app.services import api_tokens, control
from tests.conftest import (
    Facilitator,
    cast,
    fake_clock,
    login,
    make_current,
    make_presentation,
    make_question,
    make_user,
)

ERROR_KEYS = {"code", "message", "details"}


def token_for(db, owner: Facilitator, name: str = "script") -> str:
    with db.write_session() as session:
        _row, token = api_tokens.create_token(session=session, owner_id=owner.user_id, name=name)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_of(response, status: int, code: str) -> dict[str, Any]:
    """The error body, checked against the documented shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == ERROR_KEYS, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    for detail in body["error"]["details"]:
        assert set(detail) == {"loc", "message", "type"}
    return body["error"]


def set_group(db, participant: str, group: str | None) -> None:
    with db.write_session() as session:
        session.execute(
            sa.update(Participant)
            .where(Participant.token_hash == f"token-{participant}")
            .values(group_name=group)
        )


def snapshot(db) -> list[tuple[Any, ...]]:
    """Everything an API write could change, to compare before and after a refusal."""
    with db.session() as session:
        presentations = [
            (
                p.id,
                p.title,
                p.language,
                p.pace,
                tuple(p.groups),
                p.group_threshold,
                p.run_date,
                p.place,
                p.retention_days,
                p.version,
            )
            for p in session.exec(select(Presentation).order_by(Presentation.id)).all()
        ]
        questions = [
            (q.id, q.presentation_id, q.position, q.title, repr(q.config), q.countdown_seconds)
            for q in session.exec(select(Question).order_by(Question.id)).all()
        ]
    return [*presentations, *questions]


@dataclass
class World:
    owner: Facilitator
    other: Facilitator
    token: str
    other_token: str
    presentation: Presentation
    choice: Question
    scale: Question

    @property
    def mine(self) -> dict[str, str]:
        return bearer(self.token)

    @property
    def theirs(self) -> dict[str, str]:
        return bearer(self.other_token)


@pytest.fixture
def world(db) -> World:
    owner, other = make_user(db), make_user(db, "bert@example.org")
    presentation = make_presentation(db, owner, title="Prestatieafspraken")
    choice = make_question(db, owner, presentation, "choice", "Eens?", options="Ja\nNee\nWeet niet")
    scale = make_question(db, owner, presentation, "scale", "Cijfers", statements="Onderhoud\nHuur")
    return World(
        owner, other, token_for(db, owner), token_for(db, other), presentation, choice, scale
    )


# --- presentations -----------------------------------------------------------------------


def test_presentations_create_list_get_change_delete(client, db, world):
    created = client.post(
        "/api/v1/presentations",
        json={
            "title": "Jaarbijeenkomst",
            "language": "en",
            "groups": ["huurder", "corporatie"],
            "group_threshold": 4,
            "run_date": "2026-05-12",
            "place": "Utrecht",
            "retention_days": 365,
        },
        headers=world.mine,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    pid = body["id"]
    assert body["title"] == "Jaarbijeenkomst" and body["language"] == "en"
    assert body["groups"] == ["huurder", "corporatie"] and body["group_threshold"] == 4
    assert body["run_date"] == "2026-05-12" and body["place"] == "Utrecht"
    assert body["retention_days"] == 365 and len(body["join_code"]) == 8
    with db.session() as session:
        stored = session.get(Presentation, pid)
        assert stored is not None and stored.owner_id == world.owner.user_id
        assert stored.groups == ["huurder", "corporatie"] and stored.place == "Utrecht"

    listed = client.get("/api/v1/presentations", headers=world.mine).json()
    assert listed["total"] == 2 and [p["id"] for p in listed["items"]] == [
        world.presentation.id,
        pid,
    ]
    paged = client.get("/api/v1/presentations?limit=1&offset=1", headers=world.mine).json()
    assert paged["total"] == 2 and [p["id"] for p in paged["items"]] == [pid]
    assert paged["limit"] == 1 and paged["offset"] == 1
    # The other facilitator sees only their own (none).
    assert client.get("/api/v1/presentations", headers=world.theirs).json()["total"] == 0

    got = client.get(f"/api/v1/presentations/{pid}", headers=world.mine)
    assert got.status_code == 200 and got.json() == body

    changed = client.patch(
        f"/api/v1/presentations/{pid}",
        json={"title": "Jaarbijeenkomst 2026", "pace": "audience", "place": None},
        headers=world.mine,
    )
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert after["title"] == "Jaarbijeenkomst 2026" and after["pace"] == "audience"
    assert after["place"] is None
    # Left out: kept.
    assert after["language"] == "en" and after["groups"] == ["huurder", "corporatie"]
    assert after["run_date"] == "2026-05-12" and after["retention_days"] == 365
    with db.session() as session:
        stored = session.get(Presentation, pid)
        assert stored is not None and stored.pace == "audience" and stored.place is None

    deleted = client.delete(f"/api/v1/presentations/{pid}", headers=world.mine)
    assert deleted.status_code == 204 and deleted.content == b""
    error_of(client.get(f"/api/v1/presentations/{pid}", headers=world.mine), 404, "not_found")
    with db.session() as session:
        assert session.get(Presentation, pid) is None


def test_writes_tell_the_live_layer(client, world):
    told: list[int] = []
    services = client.app.state.services
    original = services.changed
    services.changed = lambda pid: (told.append(pid), original(pid))
    pid = world.presentation.id
    client.patch(f"/api/v1/presentations/{pid}", json={"title": "Nieuw"}, headers=world.mine)
    assert told == [pid]
    client.patch(f"/api/v1/questions/{world.choice.id}", json={"title": "X"}, headers=world.mine)
    client.put(
        f"/api/v1/presentations/{pid}/groups",
        json={"groups": ["a"], "threshold": 3},
        headers=world.mine,
    )
    client.post(
        f"/api/v1/presentations/{pid}/questions", json={"kind": "wordcloud"}, headers=world.mine
    )
    client.delete(f"/api/v1/questions/{world.scale.id}", headers=world.mine)
    assert told == [pid] * 5


# --- questions ---------------------------------------------------------------------------


def test_questions_create_list_get_change_delete(client, db, world):
    pid = world.presentation.id
    created = client.post(
        f"/api/v1/presentations/{pid}/questions",
        json={
            "kind": "choice",
            "title": "Wat vindt u het belangrijkst?",
            "config": {"options": ["Onderhoud", "Huur", "Leefbaarheid"], "multiple": True},
            "countdown_seconds": 60,
        },
        headers=world.mine,
    )
    assert created.status_code == 201, created.text
    q = created.json()
    assert q["position"] == 3 and q["kind"] == "choice" and q["countdown_seconds"] == 60
    assert [o["label"] for o in q["config"]["options"]] == ["Onderhoud", "Huur", "Leefbaarheid"]
    assert q["config"]["multiple"] is True and q["config"]["max_choices"] == 3
    # Without a title: the type's name in the presentation's language.
    plain = client.post(
        f"/api/v1/presentations/{pid}/questions", json={"kind": "wordcloud"}, headers=world.mine
    )
    assert plain.status_code == 201 and plain.json()["title"] == "Woordwolk"

    listed = client.get(f"/api/v1/presentations/{pid}/questions", headers=world.mine).json()
    assert [x["id"] for x in listed["items"]] == [
        world.choice.id,
        world.scale.id,
        q["id"],
        plain.json()["id"],
    ]
    assert listed["total"] == 4
    second_page = client.get(
        f"/api/v1/presentations/{pid}/questions?limit=2&offset=2", headers=world.mine
    ).json()
    assert [x["id"] for x in second_page["items"]] == [q["id"], plain.json()["id"]]
    assert client.get(f"/api/v1/questions/{q['id']}", headers=world.mine).json() == q

    # Only the title: the configuration and the timer stay.
    retitled = client.patch(
        f"/api/v1/questions/{q['id']}", json={"title": "Belangrijkst?"}, headers=world.mine
    ).json()
    assert retitled["title"] == "Belangrijkst?" and retitled["config"] == q["config"]
    assert retitled["countdown_seconds"] == 60
    # A new configuration keeps the ids of unchanged options (their votes stay with them).
    reconfigured = client.patch(
        f"/api/v1/questions/{q['id']}",
        json={"config": {"options": ["Huur", "Onderhoud"]}, "countdown_seconds": None},
        headers=world.mine,
    ).json()
    ids = {o["label"]: o["id"] for o in q["config"]["options"]}
    assert reconfigured["config"]["options"] == [
        {"id": ids["Huur"], "label": "Huur"},
        {"id": ids["Onderhoud"], "label": "Onderhoud"},
    ]
    assert reconfigured["config"]["multiple"] is False and reconfigured["countdown_seconds"] is None
    with db.session() as session:
        stored = session.get(Question, q["id"])
        assert stored is not None and stored.title == "Belangrijkst?"
        assert stored.config == reconfigured["config"]

    assert client.delete(f"/api/v1/questions/{q['id']}", headers=world.mine).status_code == 204
    error_of(client.get(f"/api/v1/questions/{q['id']}", headers=world.mine), 404, "not_found")
    with db.session() as session:
        assert session.get(Question, q["id"]) is None


# --- results -----------------------------------------------------------------------------


def vote_choices(db, question: Question, picks: dict[str, tuple[str, str | None]]) -> None:
    """participant -> (option label, group)."""
    ids = {o["label"]: o["id"] for o in question.config["options"]}
    make_current(db, question)
    for name, (label, group) in picks.items():
        cast(db, question, name, {"option": [ids[label]]})
        set_group(db, name, group)


def test_results_equal_the_votes_cast(client, db, world):
    picks = {f"p{n}": (label, None) for n, label in enumerate(["Ja"] * 4 + ["Nee"] * 2)}
    vote_choices(db, world.choice, picks)
    statements = [s["id"] for s in world.scale.config["statements"]]
    make_current(db, world.scale)
    ratings = [(5, 2), (4, 2), (3, 2)]
    for n, (first, second) in enumerate(ratings):
        cast(
            db,
            world.scale,
            f"s{n}",
            {f"s-{statements[0]}": [str(first)], f"s-{statements[1]}": [str(second)]},
        )

    got = client.get(f"/api/v1/questions/{world.choice.id}/results", headers=world.mine)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["responses"] == 6 and body["round"] == 1 and body["rounds"] == [1]
    counts = {k["label"]: (k["count"], k["share"]) for k in body["keys"]}
    assert counts == {
        "Ja": (4, pytest.approx(4 / 6)),
        "Nee": (2, pytest.approx(2 / 6)),
        "Weet niet": (0, 0),
    }
    assert body["groups"] is None and body["too_few"] == []

    scale = client.get(f"/api/v1/questions/{world.scale.id}/results", headers=world.mine).json()
    assert scale["responses"] == 3
    by_label = {k["label"]: k for k in scale["keys"]}
    assert by_label["Onderhoud"]["mean"] == pytest.approx(4.0)
    assert by_label["Onderhoud"]["spread"] == pytest.approx((2 / 3) ** 0.5)
    assert by_label["Huur"]["mean"] == pytest.approx(2.0) and by_label["Huur"]["spread"] == 0


def test_results_by_group_keep_the_threshold(client, db, world):
    pid = world.presentation.id
    client.put(
        f"/api/v1/presentations/{pid}/groups",
        json={"groups": ["huurder", "corporatie", "gemeente"], "threshold": 3},
        headers=world.mine,
    )
    picks = {
        "h1": ("Ja", "huurder"),
        "h2": ("Ja", "huurder"),
        "h3": ("Nee", "huurder"),
        "c1": ("Nee", "corporatie"),
        "c2": ("Nee", "corporatie"),
        "x1": ("Ja", None),
    }
    vote_choices(db, world.choice, picks)
    url = f"/api/v1/questions/{world.choice.id}/results?by=group"
    body = client.get(url, headers=world.mine).json()
    assert body["threshold"] == 3 and body["responses"] == 6
    assert {k["label"]: k["count"] for k in body["keys"]} == {"Ja": 3, "Nee": 3, "Weet niet": 0}
    # Only huurder has 3 answers: corporatie (2) and no group (1) are named, without numbers.
    assert [g["group"] for g in body["groups"]] == ["huurder"]
    huurder = body["groups"][0]
    assert huurder["responses"] == 3
    assert {k["label"]: k["count"] for k in huurder["keys"]} == {"Ja": 2, "Nee": 1, "Weet niet": 0}
    assert len(body["too_few"]) == 2 and set(body["too_few"]) == {"corporatie", None}

    # A lower threshold shows corporatie apart.
    client.put(
        f"/api/v1/presentations/{pid}/groups",
        json={"groups": ["huurder", "corporatie", "gemeente"], "threshold": 2},
        headers=world.mine,
    )
    body = client.get(url, headers=world.mine).json()
    assert body["threshold"] == 2
    assert [g["group"] for g in body["groups"]] == ["huurder", "corporatie"]
    assert body["groups"][1]["responses"] == 2 and body["too_few"] == [None]
    corporatie = {k["label"]: k["count"] for k in body["groups"][1]["keys"]}
    assert corporatie == {"Ja": 0, "Nee": 2, "Weet niet": 0}


def test_results_of_an_earlier_round(client, db, world):
    vote_choices(db, world.choice, {"a": ("Ja", None), "b": ("Ja", None), "c": ("Nee", None)})
    with db.write_session() as session:
        control.reset_results(
            session=session,
            owner_id=world.owner.user_id,
            presentation_id=world.presentation.id or 0,
            question_id=world.choice.id,
        )
    with db.session() as session:
        live = session.get(Question, world.choice.id)
    assert live is not None
    vote_choices(db, live, {"a": ("Nee", None)})
    base = f"/api/v1/questions/{world.choice.id}/results"
    now = client.get(base, headers=world.mine).json()
    assert now["round"] == 2 and now["rounds"] == [1, 2] and now["responses"] == 1
    assert {k["label"]: k["count"] for k in now["keys"]}["Nee"] == 1
    first = client.get(base + "?round=1", headers=world.mine).json()
    assert first["round"] == 1 and first["responses"] == 3
    assert {k["label"]: k["count"] for k in first["keys"]} == {"Ja": 2, "Nee": 1, "Weet niet": 0}
    assert client.get(base + "?round=2", headers=world.mine).json() == now
    error_of(client.get(base + "?round=3", headers=world.mine), 404, "not_found")
    error_of(client.get(base + "?round=0", headers=world.mine), 422, "validation_error")
    error_of(client.get(base + "?by=person", headers=world.mine), 422, "validation_error")


# --- groups, runs, exports -----------------------------------------------------------------


def test_groups_read_and_replace(client, db, world):
    url = f"/api/v1/presentations/{world.presentation.id}/groups"
    assert client.get(url, headers=world.mine).json() == {"groups": [], "threshold": 3}
    put = client.put(
        url, json={"groups": [" huurder ", "gemeente"], "threshold": 5}, headers=world.mine
    )
    assert put.status_code == 200, put.text
    assert put.json() == {"groups": ["huurder", "gemeente"], "threshold": 5}
    assert client.get(url, headers=world.mine).json() == put.json()
    with db.session() as session:
        stored = session.get(Presentation, world.presentation.id)
        assert stored is not None and stored.groups == ["huurder", "gemeente"]
        assert stored.group_threshold == 5


def test_runs_list_and_create(client, db, world):
    pid = world.presentation.id
    vote_choices(db, world.choice, {"a": ("Ja", None), "b": ("Nee", None)})
    created = client.post(
        f"/api/v1/presentations/{pid}/runs",
        json={"run_date": "2026-06-01", "place": "Amersfoort"},
        headers=world.mine,
    )
    assert created.status_code == 201, created.text
    run = created.json()
    assert run["id"] != pid and run["series_key"] == world.presentation.series_key
    assert run["join_code"] != world.presentation.join_code
    assert run["run_date"] == "2026-06-01" and run["place"] == "Amersfoort"
    questions = client.get(f"/api/v1/presentations/{run['id']}/questions", headers=world.mine)
    copied = questions.json()["items"]
    assert [q["title"] for q in copied] == ["Eens?", "Cijfers"]
    assert [q["lineage"] for q in copied] == [world.choice.lineage, world.scale.lineage]
    # The new run has no votes of the first.
    results = client.get(f"/api/v1/questions/{copied[0]['id']}/results", headers=world.mine)
    assert results.json()["responses"] == 0

    listed = client.get(f"/api/v1/presentations/{pid}/runs", headers=world.mine).json()
    assert listed["total"] == 2
    # By date, undated last.
    assert [(r["id"], r["responses"]) for r in listed["items"]] == [(run["id"], 0), (pid, 2)]
    # Listed from either run: the same series.
    again = client.get(f"/api/v1/presentations/{run['id']}/runs", headers=world.mine).json()
    assert [r["id"] for r in again["items"]] == [r["id"] for r in listed["items"]]


def test_exports_hold_the_votes_cast(client, db, world):
    vote_choices(db, world.choice, {"a": ("Ja", None), "b": ("Nee", None), "c": ("Ja", None)})
    url = f"/api/v1/presentations/{world.presentation.id}/export"
    raw = client.get(url, headers=world.mine)
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("text/csv")
    assert "attachment" in raw.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(raw.text)))
    assert len(rows) == 1 + 3
    assert sorted(r[6] for r in rows[1:]) == ["Ja", "Ja", "Nee"]
    excel = client.get(url + "?format=csv&excel=true", headers=world.mine)
    assert excel.text.startswith("\ufeff") and ";" in excel.text.splitlines()[0]

    summary = client.get(url + "?format=summary", headers=world.mine)
    assert summary.status_code == 200 and summary.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(summary.text)))
    ja = [line for line in lines if "Ja" in line]
    assert ja and "2" in ja[0]

    workbook = client.get(url + "?format=xlsx", headers=world.mine)
    assert workbook.status_code == 200
    assert workbook.headers["content-type"] == api_routes.XLSX
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(workbook.content), read_only=True)
    assert len(book.sheetnames) >= 2
    error_of(client.get(url + "?format=pdf", headers=world.mine), 422, "validation_error")


# --- ownership ---------------------------------------------------------------------------


def endpoints(world: World) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every endpoint with an id of the first facilitator's, with a valid request."""
    pid, qid = world.presentation.id, world.choice.id
    return [
        ("GET", f"/api/v1/presentations/{pid}", None),
        ("PATCH", f"/api/v1/presentations/{pid}", {"title": "Van mij"}),
        ("DELETE", f"/api/v1/presentations/{pid}", None),
        ("GET", f"/api/v1/presentations/{pid}/questions", None),
        ("POST", f"/api/v1/presentations/{pid}/questions", {"kind": "wordcloud"}),
        ("GET", f"/api/v1/questions/{qid}", None),
        ("PATCH", f"/api/v1/questions/{qid}", {"title": "Van mij"}),
        ("DELETE", f"/api/v1/questions/{qid}", None),
        ("GET", f"/api/v1/questions/{qid}/results", None),
        ("GET", f"/api/v1/questions/{qid}/results?by=group", None),
        ("GET", f"/api/v1/questions/{qid}/results?round=1", None),
        ("GET", f"/api/v1/presentations/{pid}/runs", None),
        ("POST", f"/api/v1/presentations/{pid}/runs", {}),
        ("GET", f"/api/v1/presentations/{pid}/export", None),
        ("GET", f"/api/v1/presentations/{pid}/export?format=summary", None),
        ("GET", f"/api/v1/presentations/{pid}/export?format=xlsx", None),
        ("GET", f"/api/v1/presentations/{pid}/groups", None),
        ("PUT", f"/api/v1/presentations/{pid}/groups", {"groups": ["x"], "threshold": 3}),
    ]


def test_another_facilitators_ids_are_not_found_on_every_endpoint(client, db, world):
    vote_choices(db, world.choice, {"a": ("Ja", "huurder")})
    before = snapshot(db)
    for method, url, body in endpoints(world):
        answer = client.request(method, url, json=body, headers=world.theirs)
        error = error_of(answer, 404, "not_found")
        # Nothing tells it apart from an id that does not exist.
        missing = url.replace(f"/{world.presentation.id}", "/999999").replace(
            f"/{world.choice.id}", "/999998"
        )
        unknown = client.request(method, missing, json=body, headers=world.theirs)
        assert unknown.status_code == 404 and unknown.json()["error"] == error, (method, url)
    assert snapshot(db) == before
    # And every one of them works for the owner (DELETEs last).
    for method, url, body in sorted(
        endpoints(world), key=lambda e: (e[0] == "DELETE", "presentations" in e[1])
    ):
        answer = client.request(method, url, json=body, headers=world.mine)
        assert answer.status_code in (200, 201, 204), (method, url, answer.text)


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "where"),
    [
        ("POST", "/api/v1/presentations", {}, ["body", "title"]),
        ("POST", "/api/v1/presentations", {"title": "   "}, ["body", "title"]),
        ("POST", "/api/v1/presentations", {"title": "x", "language": "de"}, ["body", "language"]),
        ("POST", "/api/v1/presentations", {"title": "x", "colour": "red"}, ["body", "colour"]),
        ("PATCH", "/api/v1/presentations/{pid}", {"group_threshold": 0}, None),
        ("PATCH", "/api/v1/presentations/{pid}", {"groups": ["a", "A"]}, ["body"]),
        ("PATCH", "/api/v1/presentations/{pid}", {"title": "x" * 201}, None),
        ("PATCH", "/api/v1/presentations/{pid}", {"run_date": "1999-12-31"}, ["body"]),
        ("PATCH", "/api/v1/presentations/{pid}", {"retention_days": 0}, None),
        ("PUT", "/api/v1/presentations/{pid}/groups", {"groups": ["a"]}, ["body", "threshold"]),
        ("PUT", "/api/v1/presentations/{pid}/groups", {"groups": ["a", "a"], "threshold": 3}, None),
        ("POST", "/api/v1/presentations/{pid}/questions", {"kind": "poll"}, ["body", "kind"]),
        (
            "POST",
            "/api/v1/presentations/{pid}/questions",
            {"kind": "choice", "config": {"options": ["Alleen één"]}},
            ["body"],
        ),
        ("PATCH", "/api/v1/questions/{qid}", {"config": {"options": ["a", "a"]}}, ["body"]),
        ("PATCH", "/api/v1/questions/{qid}", {"config": {"max": "99"}}, ["body"]),
        ("PATCH", "/api/v1/questions/{qid}", {"countdown_seconds": 2}, None),
        ("PATCH", "/api/v1/questions/{qid}", {"title": "bad\x00title"}, None),
        ("GET", "/api/v1/presentations/abc", None, ["path", "presentation_id"]),
        ("GET", "/api/v1/presentations/{pid}/questions?limit=0", None, ["query", "limit"]),
        ("GET", "/api/v1/presentations?limit=101", None, ["query", "limit"]),
        ("GET", "/api/v1/questions/{qid}/results?by_group=1", None, ["query", "by_group"]),
    ],
)
def test_refused_input_has_the_shape_and_changes_nothing(
    client, db, world, method, path, body, where
):
    before = snapshot(db)
    url = path.format(pid=world.presentation.id, qid=world.choice.id)
    error = error_of(
        client.request(method, url, json=body, headers=world.mine), 422, "validation_error"
    )
    assert error["details"], error
    if where is not None:
        assert error["details"][0]["loc"][: len(where)] == where, error
    assert snapshot(db) == before


def test_a_body_that_is_no_json_is_refused_in_the_shape(client, world):
    answer = client.post(
        "/api/v1/presentations",
        content=b"{not json",
        headers={**world.mine, "Content-Type": "application/json"},
    )
    error_of(answer, 422, "validation_error")


def test_without_a_valid_token_nothing_is_answered(client, db, world):
    url = f"/api/v1/presentations/{world.presentation.id}"
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer stl_unknown"},
        {"Authorization": "Bearer " + world.token + "x"},
        {"Authorization": "Basic " + world.token},
        {"Authorization": world.token},
    ):
        answer = client.get(url, headers=headers)
        error_of(answer, 401, "unauthorized")
        assert answer.headers["www-authenticate"] == "Bearer"
    # A logged-in browser's cookie is no token (and so needs no CSRF defence here).
    login(client, world.owner.email)
    assert client.get("/manage").status_code == 200
    error_of(client.get(url), 401, "unauthorized")
    error_of(client.patch(url, json={"title": "Via cookie"}), 401, "unauthorized")
    # A revoked token is refused from the next request on.
    assert client.get(url, headers=world.mine).status_code == 200
    with db.write_session() as session:
        row = session.exec(
            select(ApiToken).where(ApiToken.token_hash == api_tokens.hash_token(world.token))
        ).one()
        api_tokens.revoke_token(session=session, owner_id=world.owner.user_id, token_id=row.id or 0)
    error_of(client.get(url, headers=world.mine), 401, "unauthorized")
    with db.session() as session:
        stored = session.get(Presentation, world.presentation.id)
        assert stored is not None and stored.title == "Prestatieafspraken"


def test_unknown_paths_and_methods_have_the_shape(client, world):
    for path in ("/api/v1/nothing", "/api/v1/presentations/1/nothing", "/api/v1", "/api/v1/"):
        error_of(client.get(path, headers=world.mine), 404, "not_found")
    wrong = client.put("/api/v1/presentations", json={}, headers=world.mine)
    error_of(wrong, 405, "method_not_allowed")
    assert wrong.headers["allow"] == "GET, POST"
    wrong = client.post(f"/api/v1/questions/{world.choice.id}/results", headers=world.mine)
    error_of(wrong, 405, "method_not_allowed")
    # The pages keep their own error pages.
    page = client.get("/manage/presentations/999999/nothing")
    assert page.status_code == 404 and not page.headers["content-type"].startswith(
        "application/json"
    )


def test_requests_per_token_are_rate_limited(client, world, monkeypatch):
    clock = fake_clock(client.app)
    monkeypatch.setattr(api_routes, "API_RATE", Rate(3, 60.0))
    for _ in range(3):
        assert client.get("/api/v1/presentations", headers=world.mine).status_code == 200
    refused = client.get("/api/v1/presentations", headers=world.mine)
    error_of(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # Another token has its own count.
    assert client.get("/api/v1/presentations", headers=world.theirs).status_code == 200
    clock.advance(120)
    assert client.get("/api/v1/presentations", headers=world.mine).status_code == 200


def test_guessing_tokens_is_rate_limited(client, world, monkeypatch):
    fake_clock(client.app)
    monkeypatch.setattr(api_routes, "BAD_TOKEN_RATE", Rate(2, 60.0))
    for n in range(2):
        error_of(
            client.get("/api/v1/presentations", headers=bearer(f"stl_{n}")), 401, "unauthorized"
        )
    error_of(client.get("/api/v1/presentations", headers=bearer("stl_x")), 429, "rate_limited")


def test_the_schema_documents_the_error_shape_and_the_token(client):
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["PersonalToken"]["scheme"] == "bearer"
    operations = [
        (path, method, op)
        for path, methods in schema["paths"].items()
        if path.startswith("/api/v1")
        for method, op in methods.items()
    ]
    assert len(operations) == 16
    for path, method, op in operations:
        assert op["operationId"] and op["tags"], (path, method)
        assert op["security"] == [{"PersonalToken": []}], (path, method)
        for status in ("401", "422", "429"):
            ref = op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorResponse"), (path, method, status)
