"""Paper and hand counts: counted answers become paper participants with real ballots, merged
into the results, added in batches and removed batch by batch, the facilitator's own only."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.db import Database
from app.models import Ballot, BallotItem, Participant, Presentation, Question
from app.questions import get_type
from app.services import paper as svc_paper
from app.services.stats import ALL, question_stats
from tests.conftest import (
    Facilitator,
    cast,
    login,
    make_current,
    make_presentation,
    make_question,
    make_user,
)


@pytest.fixture
def owner(db: Database) -> Facilitator:
    return make_user(db)


def option_ids(question: Question) -> dict[str, str]:
    return {o["label"]: o["id"] for o in question.config["options"]}


def statement_ids(question: Question) -> dict[str, str]:
    return {s["label"]: s["id"] for s in question.config["statements"]}


def add(db: Database, owner: Facilitator, question: Question, form: dict[str, str]):
    with db.write_session() as session:
        return svc_paper.add_batch(
            session=session,
            owner_id=owner.user_id,
            question_id=question.id or 0,
            form={k: [v] for k, v in form.items()},
        )


def tally(db: Database, question: Question):
    with db.session() as session:
        fresh = session.get(Question, question.id)
        assert fresh is not None
        return get_type(fresh.kind).tally(session, fresh.id or 0, fresh.config)


def test_choice_counts_merge_into_the_results(db: Database, owner: Facilitator) -> None:
    presentation = make_presentation(db, owner)
    question = make_question(
        db, owner, presentation, "choice", "SMART genoeg?", options="Ja\nNee\nWeet niet"
    )
    ids = option_ids(question)
    make_current(db, question)
    cast(db, question, "ans", {"option": [ids["Ja"]]})
    cast(db, question, "bert", {"option": [ids["Nee"]]})

    batch = add(
        db,
        owner,
        question,
        {f"n-{ids['Ja']}": "4", f"n-{ids['Nee']}": "", f"n-{ids['Weet niet']}": "2"},
    )
    assert batch.people == 6
    add(db, owner, question, {f"n-{ids['Nee']}": "3"})

    bars = {b["label"]: b["count"] for b in tally(db, question).data["bars"]}
    assert bars == {"Ja": 5, "Nee": 4, "Weet niet": 2}
    assert tally(db, question).responses == 11
    with db.session() as session:
        assert svc_paper.paper_count(session, question.id or 0) == 9
        people = session.execute(
            sa.select(Participant.token_hash, Participant.paper, Participant.pseudonym)
        ).all()
        batches = svc_paper.batches(session=session, question=question)
    paper = [p for p in people if p.paper]
    assert len(paper) == 9
    # A paper token can never equal a phone's (hex) token hash.
    assert all(p.token_hash.startswith("paper:") for p in paper)
    assert len({p.pseudonym for p in people}) == len(people) == 11
    assert [b.people for b in batches] == [6, 3]


def test_removing_a_batch_removes_only_its_ballots(db: Database, owner: Facilitator) -> None:
    presentation = make_presentation(db, owner)
    question = make_question(db, owner, presentation, "choice", "Vraag", options="A\nB")
    ids = option_ids(question)
    make_current(db, question)
    cast(db, question, "ans", {"option": [ids["A"]]})
    first = add(db, owner, question, {f"n-{ids['A']}": "2"})
    add(db, owner, question, {f"n-{ids['B']}": "5"})
    with db.write_session() as session:
        removed = svc_paper.remove_batch(
            session=session, owner_id=owner.user_id, question_id=question.id or 0, key=first.key
        )
    assert removed == 2
    bars = {b["label"]: b["count"] for b in tally(db, question).data["bars"]}
    assert bars == {"A": 1, "B": 5}
    with db.session() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Participant)).scalar() == 6
        orphans = session.execute(
            sa.select(sa.func.count())
            .select_from(BallotItem)
            .outerjoin(Ballot, Ballot.id == BallotItem.ballot_id)
            .where(Ballot.id.is_(None))
        ).scalar()
        assert orphans == 0


def test_scale_counts_per_value_with_dont_know(db: Database, owner: Facilitator) -> None:
    presentation = make_presentation(db, owner)
    question = make_question(
        db,
        owner,
        presentation,
        "scale",
        "Samenwerking",
        statements="Huurders\nGemeente",
        dont_know="1",
    )
    s = statement_ids(question)
    make_current(db, question)
    cast(db, question, "ans", {f"s-{s['Huurders']}": ["5"]})
    # Huurders: 2x 4, 1x 2; Gemeente: 3x 1, 1x weet niet -> 4 people on paper.
    batch = add(
        db,
        owner,
        question,
        {
            f"n-{s['Huurders']}-4": "2",
            f"n-{s['Huurders']}-2": "1",
            f"n-{s['Gemeente']}-1": "3",
            f"n-{s['Gemeente']}-dk": "1",
        },
    )
    assert batch.people == 4
    with db.session() as session:
        stats = question_stats(session, [question.id or 0])[question.id or 0]
    assert stats.responses[ALL] == 5
    huurders = stats.of()[s["Huurders"]]
    assert (huurders.count, huurders.rated) == (4, 4)
    assert huurders.mean == pytest.approx((5 + 4 + 4 + 2) / 4)
    gemeente = stats.of()[s["Gemeente"]]
    assert (gemeente.count, gemeente.rated, gemeente.mean) == (4, 3, 1.0)


def test_a_batch_can_carry_a_group(db: Database, owner: Facilitator) -> None:
    presentation = make_presentation(db, owner)
    with db.write_session() as session:
        row = session.get(Presentation, presentation.id)
        assert row is not None
        row.groups = ["huurder", "gemeente"]
        session.add(row)
    question = make_question(db, owner, presentation, "choice", "Vraag", options="A\nB")
    ids = option_ids(question)
    add(db, owner, question, {f"n-{ids['A']}": "3", "group": "huurder"})
    with db.session() as session:
        stats = question_stats(session, [question.id or 0], by_group=True, threshold=3)
    assert stats[question.id or 0].responses["huurder"] == 3
    with pytest.raises(svc_paper.PaperError):
        add(db, owner, question, {f"n-{ids['A']}": "1", "group": "onbekend"})


@pytest.mark.parametrize("value", ["-1", "1001", "x", "1.5", "١", "99999999999999999999", "0"])
def test_bad_counts_change_nothing(db: Database, owner: Facilitator, value: str) -> None:
    presentation = make_presentation(db, owner)
    question = make_question(db, owner, presentation, "choice", "Vraag", options="A\nB")
    ids = option_ids(question)
    with pytest.raises(svc_paper.PaperError):
        add(db, owner, question, {f"n-{ids['A']}": value})
    with db.session() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Participant)).scalar() == 0


def test_other_kinds_and_other_owners_are_refused(db: Database, owner: Facilitator) -> None:
    from app.services import NotFound

    presentation = make_presentation(db, owner)
    open_ = make_question(db, owner, presentation, "open", "Tips?")
    with pytest.raises(svc_paper.PaperError):
        add(db, owner, open_, {"n-x": "1"})
    question = make_question(db, owner, presentation, "choice", "Vraag", options="A\nB")
    other = make_user(db, "bob@example.org")
    with pytest.raises(NotFound):
        add(db, other, question, {f"n-{option_ids(question)['A']}": "1"})


# --- over HTTP ------------------------------------------------------------------------------


def test_paper_card_over_http(client, db: Database) -> None:
    owner = make_user(db)
    presentation = make_presentation(db, owner, language="nl")
    question = make_question(db, owner, presentation, "choice", "Vraag", options="Ja\nNee")
    ids = option_ids(question)
    csrf = login(client, owner.email)

    page = client.get(f"/manage/questions/{question.id}")
    assert f'hx-get="/manage/questions/{question.id}/paper?card=1"' in page.text
    card = client.get(f"/manage/questions/{question.id}/paper")
    assert card.status_code == 200
    assert f'name="n-{ids["Ja"]}"' in card.text

    no_csrf = client.post(f"/manage/questions/{question.id}/paper", data={f"n-{ids['Ja']}": "2"})
    assert no_csrf.status_code == 403
    r = client.post(
        f"/manage/questions/{question.id}/paper",
        data={"csrf_token": csrf, f"n-{ids['Ja']}": "2", f"n-{ids['Nee']}": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(f"/manage/questions/{question.id}/paper").text
    assert "3 antwoorden, waarvan 3 op papier" in page

    # htmx: the card comes back in place, with the error in Dutch, and nothing is added.
    bad = client.post(
        f"/manage/questions/{question.id}/paper",
        data={"csrf_token": csrf, f"n-{ids['Ja']}": "5000"},
        headers={"HX-Request": "true"},
    )
    assert bad.status_code == 422
    assert bad.text.lstrip().startswith('<section class="card paper-card" id="paper">')
    assert "Vul een heel getal in" in bad.text
    assert tally(db, question).responses == 3

    key = re.search(r"/paper/([a-z0-9]+)/delete", page).group(1)
    unsigned = client.post(f"/manage/questions/{question.id}/paper/{key}/delete")
    assert unsigned.status_code == 403
    assert tally(db, question).responses == 3
    removed = client.post(
        f"/manage/questions/{question.id}/paper/{key}/delete",
        data={"csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    assert removed.status_code == 200
    assert tally(db, question).responses == 0
    gone = client.post(
        f"/manage/questions/{question.id}/paper/{key}/delete", data={"csrf_token": csrf}
    )
    assert gone.status_code == 404

    # Someone else sees nothing of it.
    client.post("/logout", data={"csrf_token": csrf})
    other = make_user(db, "bob@example.org")
    other_csrf = login(client, other.email)
    assert client.get(f"/manage/questions/{question.id}/paper").status_code == 404
    stolen = client.post(
        f"/manage/questions/{question.id}/paper",
        data={"csrf_token": other_csrf, f"n-{ids['Ja']}": "2"},
    )
    assert stolen.status_code == 404
    assert tally(db, question).responses == 0


def test_the_projector_says_how_many_responses_came_on_paper(client, db: Database) -> None:
    owner = make_user(db)
    presentation = make_presentation(db, owner, language="nl")
    question = make_question(db, owner, presentation, "choice", "Vraag", options="Ja\nNee")
    ids = option_ids(question)
    make_current(db, question)
    cast(db, question, "ans", {"option": [ids["Ja"]]})
    login(client, owner.email)
    page = client.get(f"/present/{presentation.id}").text
    assert "op papier" not in page
    add(db, owner, question, {f"n-{ids['Ja']}": "4", f"n-{ids['Nee']}": "2"})
    page = client.get(f"/present/{presentation.id}").text
    shown = re.search(
        r'id="response-count"[^>]*><strong>(\d+)</strong>[^<]*<span[^>]*>([^<]+)', page
    )
    assert shown, "no response count on the projector"
    assert shown.group(1) == "7"
    assert shown.group(2) == "(waarvan 6 op papier)"
