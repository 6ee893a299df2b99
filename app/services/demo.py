"""The demo account and presentation created on an empty database."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlmodel import Session, select

from app.db import DEMO_LOCK, advisory_lock
from app.models import Presentation, Question, User
from app.services import accounts
from app.services.presentations import create_presentation, questions_of

DEMO_TITLE = "Kwaliteit van de prestatieafspraken"


@dataclass
class DemoInfo:
    email: str
    password: str | None  # only when it was just created
    presentation: Presentation


def _questions() -> list[tuple[str, str, dict[str, object]]]:
    return [
        (
            "scale",
            "Hoe goed is de samenwerking over de prestatieafspraken?",
            {
                "statements": [
                    {"id": "s1", "label": "Tussen huurders en de corporatie"},
                    {"id": "s2", "label": "Tussen huurders en de gemeente"},
                    {"id": "s3", "label": "Tussen corporatie en gemeente"},
                    {"id": "s4", "label": "Huurders kunnen op gelijk niveau meepraten"},
                ],
                "max": 5,
                "low_label": "Heel slecht",
                "high_label": "Heel goed",
                "dont_know": True,
            },
        ),
        (
            "choice",
            "Zijn de afspraken SMART genoeg?",
            {
                "options": [
                    {"id": "o1", "label": "Ja, de meeste afspraken zijn SMART"},
                    {"id": "o2", "label": "Een deel wel, een deel niet"},
                    {"id": "o3", "label": "Nee, ze zijn vaak te vaag"},
                    {"id": "o4", "label": "Weet ik niet"},
                ],
                "multiple": False,
                "max_choices": 1,
            },
        ),
        (
            "choice",
            "Over welke thema's willen we volgende keer meer afspreken? (kies er 2)",
            {
                "options": [
                    {"id": "o1", "label": "Jaarcyclus van de corporatie"},
                    {"id": "o2", "label": "Duurzaamheid"},
                    {"id": "o3", "label": "Financiën van de corporatie"},
                    {"id": "o4", "label": "Betaalbaarheid"},
                    {"id": "o5", "label": "Leefbaarheid in de wijk"},
                ],
                "multiple": True,
                "max_choices": 2,
            },
        ),
        ("wordcloud", "De prestatieafspraken in één woord", {"max_entries": 3, "max_length": 25}),
        ("open", "Tips voor het volgende Participatielab?", {"max_length": 280}),
    ]


def ensure_demo(*, session: Session, email: str, password: str) -> DemoInfo | None:
    """Create the demo facilitator and presentation when there are no accounts at all."""
    # Several workers or hosts starting on one empty PostgreSQL database: one creates the
    # demo, the others wait and then find it.
    advisory_lock(session, DEMO_LOCK)
    if session.exec(select(User.id)).first() is not None:
        user = session.exec(
            select(User).where(User.email == accounts.normalise_email(email))
        ).first()
        if user is None:
            return None
        presentation = session.exec(
            select(Presentation).where(
                Presentation.owner_id == user.id, Presentation.title == DEMO_TITLE
            )
        ).first()
        return DemoInfo(user.email, None, presentation) if presentation else None
    chosen = password or secrets.token_urlsafe(9)
    user = accounts.create_user(session=session, email=email, password=chosen)
    presentation = create_presentation(
        session=session, owner_id=user.id or 0, title=DEMO_TITLE, language="nl"
    )
    for position, (kind, title, config) in enumerate(_questions(), 1):
        session.add(
            Question(
                presentation_id=presentation.id or 0,
                position=position,
                kind=kind,
                title=title,
                config=config,
            )
        )
    session.flush()
    assert len(questions_of(session=session, presentation_id=presentation.id or 0)) == 5
    return DemoInfo(user.email, chosen, presentation)
