"""The migrations build exactly the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import app.models  # registers the tables
from app.cli import _alembic_ini, migrate
from app.config import Settings
from app.db import Database, make_engine, normalise_url
from app.models import Question, utcnow
from tests.conftest import Facilitator, make_presentation, make_question, make_user
from tests.server import ROOT, server_env


def _differences(url: str) -> list:
    engine = make_engine(Settings(database_url=url))
    try:
        with engine.connect() as connection:
            opts = {"render_as_batch": engine.dialect.name == "sqlite", "compare_type": True}
            context = MigrationContext.configure(connection, opts=opts)
            return compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()


def test_migrated_database_matches_the_models(db):
    assert _differences(db.settings.database_url) == []


def test_migrations_apply_to_an_empty_database_and_match_the_models(new_database):
    migrate(Settings(database_url=new_database))
    assert _differences(new_database) == []
    migrate(Settings(database_url=new_database))  # a second run finds nothing to do
    assert _differences(new_database) == []


def test_migrations_go_down_and_up_again(new_database):
    config = Config(str(_alembic_ini()))
    config.attributes["database_url"] = new_database
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    engine = make_engine(Settings(database_url=new_database))
    try:
        with engine.connect() as connection:
            assert set(sa.inspect(connection).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    command.upgrade(config, "head")
    assert _differences(new_database) == []


def test_workers_starting_together_migrate_one_after_the_other(new_database):
    """Every worker and host migrates when it starts; on one empty database none may fail."""
    env = server_env(new_database, 8000)
    starts = [
        subprocess.Popen(
            [sys.executable, "-m", "app.cli", "migrate"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    for start in starts:
        output, _ = start.communicate(timeout=120)
        assert start.returncode == 0, output
    assert _differences(new_database) == []


def test_datetimes_come_back_aware_and_in_utc(db, settings):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    with db.session() as session:
        if db.engine.dialect.name == "postgresql":  # whatever zone the server is in
            session.execute(sa.text("SET TIME ZONE 'Europe/Amsterdam'"))
        stored = session.get(type(presentation), presentation.id)
    assert stored is not None
    assert stored.created_at.utcoffset() == timedelta(0)
    assert abs(stored.created_at - utcnow()) < timedelta(minutes=1)
    assert stored.created_at.astimezone(UTC) == presentation.created_at.astimezone(UTC)


def test_json_columns_keep_nested_values(db):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(db, owner, presentation, "choice", "Welk thema?", options="A\nB")
    config = {"options": [{"id": "o1", "label": "één"}], "nested": {"n": [1, 2.5, None, True]}}
    with db.write_session() as session:
        stored = session.get(Question, question.id)
        assert stored is not None
        stored.config = config
        session.add(stored)
    with db.session() as session:
        again = session.get(Question, question.id)
    assert again is not None
    assert again.config == config


@pytest.mark.sqlite_only
def test_wal_and_foreign_keys_are_on(db):
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


@pytest.mark.postgresql_only
def test_postgresql_sessions_use_psycopg_and_read_committed(db):
    """Read committed: each statement of a vote batch sees what committed before it started,
    which the batch's locking relies on (services/votes.py)."""
    assert db.engine.dialect.driver == "psycopg"
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW transaction_isolation").scalar() == "read committed"
        assert connection.exec_driver_sql("SHOW application_name").scalar() == "stemlab"


@pytest.mark.postgresql_only
def test_a_postgresql_url_without_a_driver_works(db):
    """Operators paste `postgresql://...` (as PostgreSQL prints it); it means psycopg 3."""
    url = db.settings.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    assert url.startswith("postgresql://")
    other = Database(Settings(database_url=url))
    try:
        assert other.engine.dialect.driver == "psycopg"
        with other.session() as session:
            assert session.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        other.dispose()


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://stem@db.example/stemlab", "postgresql+psycopg://stem@db.example/stemlab"),
        ("postgres://stem:pw@db:5433/stemlab", "postgresql+psycopg://stem:pw@db:5433/stemlab"),
        ("postgresql+psycopg://stem@db/stemlab", "postgresql+psycopg://stem@db/stemlab"),
        ("sqlite:///var/stemlab.db", "sqlite:///var/stemlab.db"),
    ],
)
def test_database_urls_are_normalised_to_the_psycopg_driver(given, used):
    assert normalise_url(given) == used
    if given.startswith("postgres"):
        engine = make_engine(Settings(database_url=given))  # connects only when used
        assert engine.dialect.driver == "psycopg"
        engine.dispose()


def test_upgrading_to_0003_keeps_every_row_and_gives_each_presentation_a_link(new_database):
    """0003 rebuilds tables on SQLite: children survive, every presentation gets its own link."""
    config = Config(str(_alembic_ini()))
    config.attributes["database_url"] = new_database
    command.upgrade(config, "0002")
    engine = make_engine(Settings(database_url=new_database))
    now = utcnow()
    try:
        with engine.begin() as c:
            c.execute(
                sa.text(
                    'INSERT INTO "user" (email, password_hash, created_at)'
                    " VALUES ('a@b.c', 'x', :t)"
                ),
                {"t": now},
            )
            for n in (1, 2):
                c.execute(
                    sa.text(
                        "INSERT INTO presentation (owner_id, title, language, join_code, version,"
                        " created_at, updated_at) VALUES (1, :title, 'nl', :code, 3, :t, :t)"
                    ),
                    {"title": f"P{n}", "code": f"1234567{n}", "t": now},
                )
                c.execute(
                    sa.text(
                        "INSERT INTO question (presentation_id, position, kind, title, config,"
                        " state, results_visible, created_at)"
                        " VALUES (:p, 0, 'choice', 'Q', '{}', 'open', true, :t)"
                    ),
                    {"p": n, "t": now},
                )
                c.execute(
                    sa.text(
                        "INSERT INTO participant (presentation_id, token_hash, pseudonym,"
                        " created_at) VALUES (:p, :h, :ps, :t)"
                    ),
                    {"p": n, "h": f"h{n}", "ps": f"P{n}", "t": now},
                )
                c.execute(
                    sa.text(
                        "INSERT INTO ballot (question_id, participant_id, client_key, answer,"
                        " created_at, updated_at) VALUES (:q, :q, 'k', '{}', :t, :t)"
                    ),
                    {"q": n, "t": now},
                )
        command.upgrade(config, "head")
        assert _differences(new_database) == []
        with engine.begin() as c:
            counts = {
                table: c.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("presentation", "question", "participant", "ballot")
            }
            assert counts == {"presentation": 2, "question": 2, "participant": 2, "ballot": 2}
            tokens = c.execute(sa.text("SELECT link_token FROM presentation")).scalars().all()
            assert len(set(tokens)) == 2 and all(len(t) >= 20 for t in tokens)
            # The last presentation is deleted; the next one gets a new id, never 2 again.
            c.execute(sa.text("DELETE FROM presentation WHERE id = 2"))
            assert c.execute(sa.text("SELECT count(*) FROM question")).scalar_one() == 1
    finally:
        engine.dispose()
    database = Database(Settings(database_url=new_database))
    try:
        again = make_presentation(database, Facilitator("a@b.c", 1), title="P3")
        assert again.id == 3
    finally:
        database.dispose()


def test_a_deleted_presentations_ids_are_never_given_out_again(db):
    owner = make_user(db)
    first = make_presentation(db, owner, title="first")
    question = make_question(db, owner, first, "choice")
    with db.write_session() as session:
        session.execute(
            sa.delete(app.models.Presentation).where(app.models.Presentation.id == first.id)
        )
    second = make_presentation(db, owner, title="second")
    assert second.id is not None and first.id is not None and second.id > first.id
    assert (make_question(db, owner, second, "choice").id or 0) > (question.id or 0)
