"""Shared fixtures: a migrated SQLite file per test, the app, clients and factories."""

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

PASSWORD = "correct horse battery"
BASE = "http://testserver"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'stemlab.db'}",
        public_url=BASE,
        seed_demo=False,
        presenter_tick_ms=20,
        phone_tick_ms=20,
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
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
