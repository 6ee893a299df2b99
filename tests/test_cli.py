"""The `stemlab` command as an operator uses it: serve from empty, add users, export."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx
from sqlmodel import select

from app.config import Settings
from app.db import Database
from app.models import Presentation, Question, User
from tests.databases import DATABASES
from tests.server import ROOT, running_server, server_env

PASSWORD = "een-lang-wachtwoord"


def _stemlab(database, *args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=server_env(database, 8000),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_on_an_empty_database_creates_the_demo_and_prints_how_to_join(tmp_path):
    # On SQLite, in a directory that does not exist yet.
    database = DATABASES.new(tmp_path / "var")
    with running_server(database, STEMLAB_DEMO_PASSWORD=PASSWORD) as server:
        out = server.text()
        assert f"{server.url}/login" in out
        assert "demo@stemlab.local" in out and PASSWORD in out
        code = re.search(r"/j/(\d{8})", out).group(1)
        page = httpx.get(f"{server.url}/j/{code}", follow_redirects=True)
        assert page.status_code == 200
        assert "Kwaliteit van de prestatieafspraken" in page.text
    db = Database(Settings(database_url=database))
    with db.session() as session:
        presentation = session.exec(select(Presentation)).one()
        kinds = {q.kind for q in session.exec(select(Question))}
    db.dispose()
    assert presentation.language == "nl"
    assert kinds == {"choice", "scale", "wordcloud", "open"}


def test_second_start_keeps_data_and_does_not_reseed(new_database):
    database = new_database
    with running_server(database, STEMLAB_DEMO_PASSWORD=PASSWORD):
        pass
    with running_server(database) as server:
        assert PASSWORD not in server.text()
    db = Database(Settings(database_url=database))
    with db.session() as session:
        assert len(session.exec(select(Presentation)).all()) == 1
    db.dispose()


def test_create_user_and_log_in(new_database):
    database = new_database
    assert _stemlab(database, "migrate").returncode == 0
    done = _stemlab(
        database, "create-user", "kees@example.org", "--password-stdin", stdin="geheim-wachtwoord\n"
    )
    assert done.returncode == 0, done.stderr
    again = _stemlab(
        database, "create-user", "kees@example.org", "--password-stdin", stdin="geheim-wachtwoord\n"
    )
    assert again.returncode != 0 and "already" in again.stderr
    short = _stemlab(database, "create-user", "x@example.org", "--password-stdin", stdin="kort\n")
    assert short.returncode != 0
    db = Database(Settings(database_url=database))
    with db.session() as session:
        assert [u.email for u in session.exec(select(User))] == ["kees@example.org"]
    db.dispose()
    with running_server(database, STEMLAB_SEED_DEMO="false") as server:
        client = httpx.Client(base_url=server.url)
        r = client.post(
            "/login", data={"email": "kees@example.org", "password": "geheim-wachtwoord"}
        )
        assert r.status_code == 303


def test_export_command_matches_the_download(new_database):
    database = new_database
    with running_server(database, STEMLAB_DEMO_PASSWORD=PASSWORD) as server:
        code = re.search(r"/j/(\d{8})", server.text()).group(1)
        facilitator = httpx.Client(base_url=server.url)
        facilitator.post("/login", data={"email": "demo@stemlab.local", "password": PASSWORD})
        page = facilitator.get("/manage").text
        presentation_id = re.search(r'href="/present/(\d+)"', page).group(1)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        facilitator.post(
            f"/present/{presentation_id}/move", data={"csrf_token": csrf, "to": "first"}
        )
        phone = httpx.Client(base_url=server.url, follow_redirects=True)
        stage = phone.get(f"/p/{code}").text
        question_id = re.search(r'name="question_id" value="(\d+)"', stage).group(1)
        r = phone.post(
            f"/p/{code}/vote", data={"question_id": question_id, "s-s1": "4", "s-s2": "dk"}
        )
        assert r.status_code == 200
        downloaded = facilitator.get(
            f"/manage/presentations/{presentation_id}/export.csv?excel=true"
        )
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "export", code, "--excel"],
        cwd=ROOT,
        env=server_env(database, 8000),
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == downloaded.content
    lines = result.stdout.decode("utf-8-sig").splitlines()
    assert len(lines) == 3 and lines[0].count(";") == 11
    assert "weet niet" in lines[2]
