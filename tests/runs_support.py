"""Helpers of the runs, comparison and retention tests: a series of runs with votes."""

from __future__ import annotations

import re
from datetime import date

from app.db import Database
from app.models import Presentation, Question
from app.services import runs
from app.services.presentations import questions_of
from tests.conftest import Facilitator, cast, make_current


def new_run(
    db: Database,
    owner: Facilitator,
    presentation: Presentation,
    run_date: date | None = None,
    place: str | None = None,
) -> Presentation:
    with db.write_session() as session:
        return runs.new_run(
            session=session,
            owner_id=owner.user_id,
            presentation_id=presentation.id or 0,
            run_date=run_date,
            place=place,
        )


def questions(db: Database, presentation: Presentation) -> list[Question]:
    with db.session() as session:
        return questions_of(session=session, presentation_id=presentation.id or 0)


def vote(db: Database, question: Question, participant: str, form: dict[str, list[str]]) -> None:
    """One saved vote on a question (made current first, as presenting does)."""
    make_current(db, question)
    cast(db, question, participant, form)


def choices(db: Database, question: Question, picks: list[str], prefix: str = "p") -> None:
    """One participant per pick, choosing that option id."""
    for n, option in enumerate(picks):
        vote(db, question, f"{prefix}{n}", {"option": [option]})


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)
