"""Shared fixtures: an empty migrated database per test, the app, clients and factories.

The suite runs on SQLite, or with STEMLAB_TEST_DATABASE=postgresql on PostgreSQL
(tests/databases.py). On SQLite each test gets a fresh file; on PostgreSQL the session
migrates one database and each test starts with its tables emptied. Tests marked
`sqlite_only` or `postgresql_only` check what only one of the two has.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.cli import migrate
from app.config import Settings
from app.db import Database
from app.main import create_app
from app.models import Presentation, Question
from app.questions import get_type
from app.services import accounts
from app.services.presentations import add_question, create_presentation, update_question
from app.services.votes import VoteCommand, VoteStatus, record_votes
from app.web import Limits
from tests.databases import DATABASES, KIND, ON_POSTGRESQL, ON_SQLITE, Emptier, check_server
from tests.server import join as join  # phones join as real ones do (tests/server.py)

PASSWORD = "correct horse battery"
BASE = "http://testserver"


# Files whose tests start real servers and load them (a hall of phones, attacks, faults, kills):
# they run one at a time after the rest (make pytest), which runs in two processes; sharing the
# two cores with another file made their timing checks flaky.
SERIAL_FILES = frozenset(
    {
        "test_abuse.py",
        "test_concurrent_writers.py",
        "test_crowd.py",
        "test_durability.py",
        "test_faults.py",
        "test_participant_tokens.py",
        "test_proxy.py",
        "test_scaleout.py",
        "test_shapes.py",
        "test_shutdown.py",
    }
)


# Files whose checks do not depend on the database at all (catalogs, text rules, the proxy's
# headers, the docs): make test runs them on the SQLite pass only (`any_database`).
ANY_DATABASE_FILES = frozenset(
    {
        "test_hygiene.py",
        "test_i18n.py",
        "test_plain_dutch.py",
        "test_profanity.py",
        "test_proxy.py",
        "test_question_registry.py",
        "test_security_doc.py",
        "test_text_normalisation.py",
    }
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "serial: runs alone, after the rest (SERIAL_FILES)")
    config.addinivalue_line(
        "markers", "any_database: checks nothing of the database (ANY_DATABASE_FILES)"
    )
    config.addinivalue_line("markers", "sqlite_only: checks what only SQLite has")
    config.addinivalue_line("markers", "postgresql_only: checks what only PostgreSQL has")
    # A database that is not there fails the run at once (never a skip that hides it).
    problem = check_server()
    if problem:
        raise pytest.UsageError(problem)


def pytest_report_header(config: pytest.Config) -> str:
    return f"database: {KIND}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in SERIAL_FILES:
            item.add_marker(pytest.mark.serial)
        if item.path.name in ANY_DATABASE_FILES:
            item.add_marker(pytest.mark.any_database)
        if ON_POSTGRESQL and item.get_closest_marker("sqlite_only"):
            item.add_marker(pytest.mark.skip(reason="SQLite only (this run is on PostgreSQL)"))
        if ON_SQLITE and item.get_closest_marker("postgresql_only"):
            item.add_marker(pytest.mark.skip(reason="PostgreSQL only (this run is on SQLite)"))


@pytest.fixture(scope="session", autouse=True)
def _drop_test_databases() -> Iterator[None]:
    """The PostgreSQL databases the session created go at its end."""
    yield
    DATABASES.drop_all()


@pytest.fixture(scope="session")
def _shared_postgresql(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emptier | None]:
    """On PostgreSQL: one database for the session, migrated once, emptied before each test."""
    if not ON_POSTGRESQL:
        yield None
        return
    url = DATABASES.new(tmp_path_factory.getbasetemp())
    migrate(Settings(database_url=url))
    emptier = Emptier(url)
    yield emptier
    emptier.dispose()


@pytest.fixture
def database_url(tmp_path: Path, _shared_postgresql: Emptier | None) -> str:
    """The URL of this test's database (migrated and emptied by `db`)."""
    if _shared_postgresql is not None:
        return _shared_postgresql.engine.url.render_as_string(hide_password=False)
    return f"sqlite:///{tmp_path / 'stemlab.db'}"


@pytest.fixture
def new_database(tmp_path: Path) -> str:
    """The URL of an empty, unmigrated database of this test's own, for server processes."""
    return DATABASES.new(tmp_path)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        public_url=BASE,
        seed_demo=False,
        presenter_tick_ms=20,
        phone_tick_ms=20,
    )


@pytest.fixture
def db(settings: Settings, _shared_postgresql: Emptier | None) -> Iterator[Database]:
    if _shared_postgresql is not None:
        _shared_postgresql()
    else:
        migrate(settings)
    database = Database(settings)
    yield database
    database.dispose()


@pytest.fixture
def app(settings: Settings, db: Database):
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE) as c:
        yield c


class FakeClock:
    """A clock a test moves by hand, so rate-limit tests never sleep.

    It starts at the beginning of a minute, so a test's first minute is one window of the
    sliding-window limits (app/ratelimit.py).
    """

    def __init__(self, start: float = 1_000 * 60.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def fake_clock(app) -> FakeClock:
    """Put the rate limits of a running app on a new FakeClock (fresh counts)."""
    clock = FakeClock()
    services = app.state.services
    services.limits = Limits(services.settings, clock=clock)
    return clock


def browser(client: TestClient) -> httpx.Client:
    """Another browser (its own cookies) talking to the same running app as `client`."""
    return httpx.Client(transport=client._transport, base_url=BASE, follow_redirects=True)


@dataclass
class Facilitator:
    email: str
    user_id: int


def make_user(db: Database, email: str = "anna@example.org") -> Facilitator:
    with db.write_session() as session:
        user = accounts.create_user(session=session, email=email, password=PASSWORD)
        return Facilitator(user.email, user.id or 0)


def login(client: TestClient, email: str) -> str:
    """Log in and return the CSRF token of the new session."""
    response = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "next": "/manage"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = client.get("/manage")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "no CSRF token on /manage"
    return match.group(1)


def make_presentation(
    db: Database, owner: Facilitator, *, language: str = "nl", title: str = "Participatielab"
) -> Presentation:
    with db.write_session() as session:
        return create_presentation(
            session=session, owner_id=owner.user_id, title=title, language=language
        )


def make_question(
    db: Database,
    owner: Facilitator,
    presentation: Presentation,
    kind: str,
    title: str = "Vraag",
    **form: str,
) -> Question:
    with db.write_session() as session:
        question = add_question(
            session=session,
            owner_id=owner.user_id,
            presentation_id=presentation.id or 0,
            kind=kind,
            title=title,
        )
        if form:
            question = update_question(
                session=session,
                owner_id=owner.user_id,
                question_id=question.id or 0,
                title=title,
                form={k: [v] for k, v in form.items()},
            )
        return question


def all_routes(app) -> list[tuple[str, set[str]]]:
    """Every (path, methods) the app serves, through included routers."""
    from fastapi.routing import iter_route_contexts

    return [
        (ctx.path, set(ctx.methods or ()))
        for ctx in iter_route_contexts(app.routes)
        if ctx.path is not None
    ]


_vote_keys = itertools.count()


def make_current(db: Database, question: Question) -> None:
    """Make `question` the current one of its presentation (as presenting does)."""
    with db.write_session() as session:
        presentation = session.get(Presentation, question.presentation_id)
        assert presentation is not None
        presentation.current_question_id = question.id
        session.add(presentation)


def vote_command(
    question: Question, participant: str, form: dict[str, list[str]], key: str | None = None
) -> VoteCommand:
    """A validated vote of `participant` (any name) with the question type's form fields."""
    return VoteCommand(
        presentation_id=question.presentation_id,
        question_id=question.id or 0,
        token_hash=f"token-{participant}",
        client_key=key or f"key-{next(_vote_keys)}",
        answer=get_type(question.kind).parse_answer(question.config, form),
    )


def cast(db: Database, question: Question, participant: str, form: dict[str, list[str]]) -> None:
    """Record one vote through the ballot box's own function; it must be saved."""
    with db.write_session() as session:
        assert record_votes(session, [vote_command(question, participant, form)]) == [
            VoteStatus.SAVED
        ]
