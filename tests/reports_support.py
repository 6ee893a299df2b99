"""A presentation with votes from phones and paper, in groups, that the export and report
tests check their numbers against."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from app.db import Database
from app.models import BallotItem, Participant, Presentation, Question
from app.services import paper as svc_paper
from tests.conftest import Facilitator, cast, make_current, make_presentation, make_question

TITLE = '=HYPERLINK("http://evil.example","klik")'
APPROVED = "Meer koffie bij binnenkomst"
HIDDEN = "Dit antwoord is verborgen"
WAITING = "Nog niet beoordeeld"


@dataclass
class Built:
    presentation: Presentation
    choice: Question
    scale: Question
    open_: Question
    premoderated: Question


def _ids(question: Question, field: str) -> dict[str, str]:
    return {e["label"]: e["id"] for e in question.config[field]}


def build(db: Database, owner: Facilitator, *, language: str = "nl", title: str = TITLE) -> Built:
    """Choice: phones huurder 3x Ja, corporatie 1x Nee, paper (huurder) 2x Ja 1x Nee:
    Ja 5, Nee 2, 7 responses, 3 on paper; groups huurder 6, corporatie 1 (too few).
    Scale: phones 4, 2 (huurder) and 5 (corporatie), so mean 11/3.
    Open (not pre-moderated): one approved, one hidden, one not moderated (shown).
    Pre-moderated open: one approved, one waiting (not shown)."""
    presentation = make_presentation(db, owner, language=language, title=title)
    with db.write_session() as session:
        row = session.get(Presentation, presentation.id)
        assert row is not None
        row.groups = ["huurder", "corporatie"]
        session.add(row)
        presentation = row
    choice = make_question(db, owner, presentation, "choice", "SMART genoeg?", options="Ja\nNee")
    scale = make_question(
        db, owner, presentation, "scale", "Samenwerking", statements="Huurders", dont_know="1"
    )
    open_ = make_question(db, owner, presentation, "open", "Tips?")
    premoderated = make_question(db, owner, presentation, "open", "Nog meer tips?", premoderate="1")
    options, statements = _ids(choice, "options"), _ids(scale, "statements")
    make_current(db, choice)
    for who in ("ans", "bert", "carla"):
        cast(db, choice, who, {"option": [options["Ja"]]})
    cast(db, choice, "dirk", {"option": [options["Nee"]]})
    make_current(db, scale)
    cast(db, scale, "ans", {f"s-{statements['Huurders']}": ["4"]})
    cast(db, scale, "bert", {f"s-{statements['Huurders']}": ["2"]})
    cast(db, scale, "dirk", {f"s-{statements['Huurders']}": ["5"]})
    make_current(db, open_)
    cast(db, open_, "ans", {"text": [APPROVED]})
    cast(db, open_, "bert", {"text": [HIDDEN]})
    cast(db, open_, "carla", {"text": ["Goede zaal"]})
    make_current(db, premoderated)
    cast(db, premoderated, "ans", {"text": ["Fijne dag"]})
    cast(db, premoderated, "bert", {"text": [WAITING]})
    with db.write_session() as session:
        for who, group in (("ans", "huurder"), ("bert", "huurder"), ("carla", "huurder")):
            session.execute(
                sa.update(Participant)
                .where(Participant.token_hash == f"token-{who}")
                .values(group_name=group)
            )
        session.execute(
            sa.update(Participant)
            .where(Participant.token_hash == "token-dirk")
            .values(group_name="corporatie")
        )
        for text, state in ((APPROVED, "approved"), (HIDDEN, "hidden"), ("Fijne dag", "approved")):
            session.execute(
                sa.update(BallotItem).where(BallotItem.text == text).values(moderation=state)
            )
        svc_paper.add_batch(
            session=session,
            owner_id=owner.user_id,
            question_id=choice.id or 0,
            form={f"n-{options['Ja']}": ["2"], f"n-{options['Nee']}": ["1"], "group": ["huurder"]},
        )
    return Built(presentation, choice, scale, open_, premoderated)
