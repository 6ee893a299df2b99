"""What operators watch: liveness, readiness, metrics, logs, and the checks `serve` makes."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time

import prometheus_client
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app import lifecycle
from app.cli import check_workers
from app.config import Settings
from app.live.hub import Frame
from app.main import create_app
from tests.conftest import BASE, browser, join, login, make_presentation, make_question, make_user

TOKEN = "metrics-" + "x" * 24
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ORIGIN = {"Origin": BASE}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_token": TOKEN})


def _metrics(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _value(samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def _present(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(db, owner, presentation, "choice", "SMART?", options="Ja\nNee")
    csrf = login(client, owner.email)
    client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "first"})
    return presentation, question


# --- liveness and readiness ----------------------------------------------------------------


def test_healthz_answers_while_the_process_lives(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"
    assert client.head("/healthz").status_code == 200


def test_readyz_names_redis_when_it_is_down_but_stays_ready(client, app, monkeypatch):
    """Votes never depend on Redis: a worker without it keeps taking them (and says so)."""
    svc = app.state.services
    monkeypatch.setattr(svc.settings, "redis_url", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(svc, "bus", type("Down", (), {"connected": False})())
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "degraded": ["redis"]}
    assert _value(_metrics(client), "stemlab_redis_connected") == 0


def test_readyz_is_200_when_database_and_ballot_box_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready"}


def test_readyz_is_503_naming_the_database_when_it_cannot_be_reached(
    client, app, tmp_path, monkeypatch
):
    monkeypatch.setattr(lifecycle, "DATABASE_CHECK_EVERY", 0)
    db = app.state.services.db
    working = db.engine
    monkeypatch.setattr(db, "engine", sa.create_engine(f"sqlite:///{tmp_path}/gone/x.db"))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "not ready", "failing": ["database"]}
    monkeypatch.setattr(db, "engine", working)
    assert client.get("/readyz").status_code == 200


def test_readyz_does_not_wait_long_for_a_database_that_hangs(client, app, monkeypatch):
    monkeypatch.setattr(lifecycle, "DATABASE_CHECK_EVERY", 0)
    monkeypatch.setattr(lifecycle, "DATABASE_TIMEOUT", 0.2)

    def hanging() -> sqlite3.Connection:
        time.sleep(1.5)
        return sqlite3.connect(":memory:")

    monkeypatch.setattr(
        app.state.services.db, "engine", sa.create_engine("sqlite://", creator=hanging)
    )
    started = time.monotonic()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["database"]
    assert time.monotonic() - started < 1.2


def test_readyz_is_503_once_shutdown_starts_and_votes_get_try_again(client, app, db):
    presentation, question = _present(client, db)
    phone = browser(client)
    join(phone, presentation.join_code)
    url = f"/p/{presentation.join_code}/vote"
    saved = phone.post(url, data={"question_id": str(question.id), "option": "o1"})
    assert saved.status_code == 200
    socket_headers = {
        **ORIGIN,
        "Cookie": f"stemlab_p={join(browser(client), presentation.join_code)}",
    }
    with client.websocket_connect(f"/ws/p/{presentation.join_code}", headers=socket_headers) as ws:
        ws.receive_text()
        client.portal.call(app.state.lifecycle.drain)

        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "not ready", "failing": ["shutting_down", "ballot_box"]}

        refused = phone.post(url, data={"question_id": str(question.id), "option": "o2"})
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "2"
        assert "Je stem is niet opgeslagen. Probeer het opnieuw." in refused.text

        ws.send_text(json.dumps({"question_id": str(question.id), "option": "o2"}))
        reply = ws.receive_text()
        assert "Je stem is niet opgeslagen. Probeer het opnieuw." in reply
    metrics = _metrics(client)
    assert _value(metrics, "stemlab_draining") == 1
    assert _value(metrics, "stemlab_votes_total", result="unavailable") == 2


# --- metrics -------------------------------------------------------------------------------


def test_metrics_move_with_sockets_votes_and_ticks(client, app, db):
    presentation, question = _present(client, db)
    before = _metrics(client)
    assert _value(before, "stemlab_sockets", audience="phone") == 0
    assert _value(before, "stemlab_votes_total", result="saved") == 0
    assert _value(before, "stemlab_draining") == 0
    assert ("process_resident_memory_bytes", ()) in before

    code = presentation.join_code
    url = f"/p/{code}/vote"
    with (
        client.websocket_connect(f"/ws/present/{presentation.id}", headers=ORIGIN) as screen,
        client.websocket_connect(
            f"/ws/p/{presentation.join_code}",
            headers={**ORIGIN, "Cookie": f"stemlab_p={join(browser(client), code)}"},
        ) as ws,
    ):
        screen.receive_text()
        ws.receive_text()
        during = _metrics(client)
        assert _value(during, "stemlab_sockets", audience="presenter") == 1
        assert _value(during, "stemlab_sockets", audience="phone") == 1

        phone = browser(client)
        join(phone, code)
        vote = {"question_id": str(question.id), "client_key": "k1", "option": "o1"}
        assert phone.post(url, data=vote).status_code == 200
        assert phone.post(url, data=vote).status_code == 200  # a retry
        assert phone.post(url, data={**vote, "option": "o2"}).status_code == 422  # same key
        assert phone.post(url, data={**vote, "option": "o9"}).status_code == 422  # no such option
        screen.receive_text()  # the presenter frame with the vote: a tick and a fan-out ran

    after = _metrics(client)
    assert _value(after, "stemlab_sockets", audience="phone") == 0
    for result, count in (("saved", 1), ("replayed", 1), ("conflict", 1), ("invalid", 1)):
        assert _value(after, "stemlab_votes_total", result=result) == count, result
    assert _value(after, "stemlab_ballot_box_batches_total") >= 1
    assert _value(after, "stemlab_ballot_box_written_votes_total") >= 3
    assert _value(after, "stemlab_ballot_box_commit_seconds_total") > 0
    assert _value(after, "stemlab_tick_seconds_count", audience="presenter") >= 1
    assert _value(after, "stemlab_tick_seconds_bucket", audience="presenter", le="+Inf") >= 1
    assert _value(after, "stemlab_fanout_seconds_count") >= 1
    if ("stemlab_ballot_box_batch_size_count", ()) in after:
        assert _value(after, "stemlab_ballot_box_batch_size_sum") >= 3


def test_a_slow_socket_dropped_by_the_hub_is_counted(client, app):
    hub = app.state.services.hub

    def fall_behind() -> None:
        hub.subscribe("presentation:999:phones")  # a socket whose sender never takes frames
        for version in range(20):
            hub.publish("presentation:999:phones", Frame(version, "frame"))

    client.portal.call(fall_behind)
    assert _value(_metrics(client), "stemlab_dropped_sockets_total") == 1


def test_metrics_need_the_token_when_one_is_set(client):
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers=AUTH).status_code == 200


def test_without_a_token_metrics_answer_only_this_machine(settings, db):
    app = create_app(settings.model_copy(update={"metrics_token": ""}))
    with TestClient(app, base_url=BASE) as elsewhere:
        assert elsewhere.get("/metrics").status_code == 403
    with TestClient(app, base_url=BASE, client=("127.0.0.1", 40000)) as local:
        assert local.get("/metrics").status_code == 200
        # A proxy on the same machine passing on a request from outside.
        proxied = local.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert proxied.status_code == 403


def test_every_app_has_its_own_registry(settings, db):
    first, second = create_app(settings), create_app(settings)  # no duplicate registration
    assert first.state.metrics.registry is not second.state.metrics.registry
    assert b"process_cpu_seconds_total" in first.state.metrics.render()
    names = {family.name for family in prometheus_client.REGISTRY.collect()}
    assert not any(name.startswith("stemlab") for name in names)


# --- serve ---------------------------------------------------------------------------------


def test_more_than_one_worker_needs_redis():
    with pytest.raises(SystemExit, match="STEMLAB_REDIS_URL"):
        check_workers(Settings(workers=3, redis_url=""))
    check_workers(Settings(workers=1))
    check_workers(Settings(workers=3, redis_url="redis://127.0.0.1:6379/0"))


def test_hints_between_workers_are_counted(settings, db):
    from tests.redis_server import SYSTEM_REDIS

    shared = settings.model_copy(
        update={"redis_url": SYSTEM_REDIS, "redis_prefix": "stemlab-test-" + secrets.token_hex(4)}
    )

    def until(check) -> None:
        deadline = time.monotonic() + 10
        while not check():
            assert time.monotonic() < deadline, "never happened"
            time.sleep(0.02)

    with (
        TestClient(create_app(shared), base_url=BASE) as one,
        TestClient(create_app(shared), base_url=BASE) as other,
    ):
        until(lambda: one.app.state.services.bus.connected)
        until(lambda: other.app.state.services.bus.connected)
        _present(one, db)  # moving to a question is a change the other worker must hear of
        until(lambda: _value(_metrics(other), "stemlab_hints_total", event="received") >= 1)
        samples = _metrics(one)
        assert _value(samples, "stemlab_hints_total", event="published") >= 1
        assert _value(samples, "stemlab_hints_total", event="failed") == 0
        assert _value(samples, "stemlab_redis_connected") == 1
        assert _value(samples, "stemlab_redis_subscriptions_total") == 1
