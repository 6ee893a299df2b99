"""Moderation services: each decision changes the results the database computes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.db import Database
from app.models import Ballot, BallotItem, Moderation, Participant, Question, WordList
from app.questions import get_type
from app.services import NotFound
from app.services import moderation as svc
from tests.conftest import (
    Facilitator,
    cast,
    make_current,
    make_presentation,
    make_question,
    make_user,
)


@pytest.fixture
def owner(db: Database) -> Facilitator:
    return make_user(db)


@pytest.fixture
def open_q(db: Database, owner: Facilitator) -> Question:
    presentation = make_presentation(db, owner)
    question = make_question(db, owner, presentation, "open", "Tips?")
    make_current(db, question)
    return question


def fresh(db: Database, question: Question) -> Question:
    with db.session() as session:
        found = session.get(Question, question.id)
        assert found is not None
        return found


def shown(db: Database, question: Question) -> tuple[int, list[str]]:
    question = fresh(db, question)
    with db.session() as session:
        results = get_type(question.kind).tally(session, question.id or 0, question.config)
    if question.kind == "open":
        return results.responses, [a["text"] for a in results.data["answers"]]
    return results.responses, sorted(f"{w['word']}:{w['count']}" for w in results.data["words"])


def entries(db: Database, question: Question) -> list[svc.Entry]:
    with db.session() as session:
        return svc.queue(session=session, question=fresh(db, question))


def decide(db: Database, owner: Facilitator, question: Question, text: str, state) -> None:
    item = next(e for e in entries(db, question) if e.text == text)
    with db.write_session() as session:
        svc.set_state(
            session=session,
            owner_id=owner.user_id,
            presentation_id=question.presentation_id,
            item_id=item.item_id,
            state=state,
        )


def premoderate(db: Database, owner: Facilitator, question: Question, on: bool) -> None:
    with db.write_session() as session:
        svc.set_premoderation(
            session=session,
            owner_id=owner.user_id,
            presentation_id=question.presentation_id,
            question_id=question.id or 0,
            on=on,
        )


def version(db: Database, question: Question) -> int:
    from app.models import Presentation

    with db.session() as session:
        presentation = session.get(Presentation, question.presentation_id)
        assert presentation is not None
        return presentation.version


def test_filtered_entries_are_held_back_until_approved(db, owner, open_q) -> None:
    cast(db, open_q, "ans", {"text": ["Meer koffie"]})
    cast(db, open_q, "bert", {"text": ["Wat een k u u t idee"]})
    assert shown(db, open_q) == (1, ["Meer koffie"])
    queue = entries(db, open_q)
    assert [(e.text, e.state, e.filtered) for e in queue] == [
        ("Wat een k u u t idee", "hidden", True),
        ("Meer koffie", None, False),
    ]
    decide(db, owner, open_q, "Wat een k u u t idee", Moderation.APPROVED)
    assert shown(db, open_q) == (2, ["Wat een k u u t idee", "Meer koffie"])


def test_hide_and_restore_change_the_tally_and_the_version(db, owner, open_q) -> None:
    cast(db, open_q, "ans", {"text": ["eerste"]})
    cast(db, open_q, "bert", {"text": ["tweede"]})
    before = version(db, open_q)
    decide(db, owner, open_q, "eerste", Moderation.HIDDEN)
    assert shown(db, open_q) == (1, ["tweede"])
    assert version(db, open_q) == before + 1
    decide(db, owner, open_q, "eerste", Moderation.HIDDEN)  # again: nothing changes
    assert version(db, open_q) == before + 1
    decide(db, owner, open_q, "eerste", None)
    assert shown(db, open_q) == (2, ["tweede", "eerste"])


def test_premoderation_shows_only_approved_entries(db, owner, open_q) -> None:
    cast(db, open_q, "ans", {"text": ["eerste"]})
    cast(db, open_q, "bert", {"text": ["tweede"]})
    premoderate(db, owner, open_q, True)
    assert shown(db, open_q) == (0, [])
    decide(db, owner, open_q, "tweede", Moderation.APPROVED)
    assert shown(db, open_q) == (1, ["tweede"])
    cast(db, open_q, "carla", {"text": ["derde"]})
    assert shown(db, open_q) == (1, ["tweede"])
    premoderate(db, owner, open_q, False)
    assert shown(db, open_q) == (3, ["derde", "tweede", "eerste"])


def test_a_changed_answer_is_moderated_again(db, owner, open_q) -> None:
    premoderate(db, owner, open_q, True)
    cast(db, open_q, "ans", {"text": ["netjes"]})
    decide(db, owner, open_q, "netjes", Moderation.APPROVED)
    assert shown(db, open_q) == (1, ["netjes"])
    cast(db, open_q, "ans", {"text": ["iets anders"]})
    assert shown(db, open_q) == (0, [])


def test_word_cloud_counts_only_visible_words(db, owner) -> None:
    presentation = make_presentation(db, owner)
    cloud = make_question(db, owner, presentation, "wordcloud", "In één woord")
    make_current(db, cloud)
    cast(db, cloud, "ans", {"word": ["Samen", "KUT"]})
    cast(db, cloud, "bert", {"word": ["samen"]})
    cast(db, cloud, "carla", {"word": ["k\u200bu\u200bt"]})
    assert shown(db, cloud) == (2, ["Samen:2"])
    decide(db, owner, cloud, "Samen", Moderation.HIDDEN)
    assert shown(db, cloud) == (1, ["samen:1"])
    premoderate(db, owner, cloud, True)
    assert shown(db, cloud) == (0, [])
    decide(db, owner, cloud, "KUT", Moderation.APPROVED)
    assert shown(db, cloud) == (1, ["KUT:1"])


def test_remove_participant_takes_every_vote_out(db, owner) -> None:
    presentation = make_presentation(db, owner)
    choice = make_question(db, owner, presentation, "choice", "SMART?", options="Ja\nNee")
    text = make_question(db, owner, presentation, "open", "Tips?")
    make_current(db, choice)
    cast(db, choice, "ans", {"option": ["o1"]})
    cast(db, choice, "bert", {"option": ["o1"]})
    make_current(db, text)
    cast(db, text, "ans", {"text": ["storend"]})
    cast(db, text, "bert", {"text": ["nuttig"]})
    ans = next(e for e in entries(db, text) if e.text == "storend").participant_id
    with db.write_session() as session:
        svc.remove_participant(
            session=session,
            owner_id=owner.user_id,
            presentation_id=presentation.id or 0,
            participant_id=ans,
        )
    assert shown(db, text) == (1, ["nuttig"])
    with db.session() as session:
        assert get_type("choice").tally(session, choice.id or 0, choice.config).responses == 1
        participant = session.get(Participant, ans)
        assert participant is not None and participant.removed_at is not None
        left = session.execute(
            sa.select(sa.func.count()).select_from(Ballot).where(Ballot.participant_id == ans)
        ).scalar_one()
        assert left == 0
        items = session.execute(sa.select(sa.func.count()).select_from(BallotItem)).scalar_one()
        assert items == 2  # bert's two


def test_another_facilitator_cannot_moderate(db, owner, open_q) -> None:
    cast(db, open_q, "ans", {"text": ["eerste"]})
    other = make_user(db, "kees@example.org")
    item = entries(db, open_q)[0]
    with pytest.raises(NotFound), db.write_session() as session:
        svc.set_state(
            session=session,
            owner_id=other.user_id,
            presentation_id=open_q.presentation_id,
            item_id=item.item_id,
            state=Moderation.HIDDEN,
        )
    with pytest.raises(NotFound), db.write_session() as session:
        svc.remove_participant(
            session=session,
            owner_id=other.user_id,
            presentation_id=open_q.presentation_id,
            participant_id=item.participant_id,
        )
    # Their own presentation does not reach an entry of someone else's either.
    theirs = make_presentation(db, other)
    with pytest.raises(NotFound), db.write_session() as session:
        svc.set_state(
            session=session,
            owner_id=other.user_id,
            presentation_id=theirs.id or 0,
            item_id=item.item_id,
            state=Moderation.HIDDEN,
        )
    assert shown(db, open_q) == (1, ["eerste"])


def test_entries_of_other_question_types_are_not_moderated(db, owner) -> None:
    presentation = make_presentation(db, owner)
    choice = make_question(db, owner, presentation, "choice", "SMART?", options="Ja\nNee")
    make_current(db, choice)
    cast(db, choice, "ans", {"option": ["o1"]})
    with db.session() as session:
        item_id = session.execute(sa.select(BallotItem.id)).scalar_one()
    with pytest.raises(NotFound), db.write_session() as session:
        svc.set_state(
            session=session,
            owner_id=owner.user_id,
            presentation_id=presentation.id or 0,
            item_id=item_id,
            state=Moderation.HIDDEN,
        )


def test_word_lists_reach_every_text_question(db, owner, open_q) -> None:
    with db.session() as session:
        lists = svc.word_lists(session=session, owner_id=owner.user_id)
    assert "kut*" in lists["nl"] and "fuck*" in lists["en"]
    with db.write_session() as session:
        touched = svc.save_word_lists(
            session=session,
            owner_id=owner.user_id,
            lists={"nl": "Vergaderen\nkut*", "en": ""},
        )
    assert touched == [open_q.presentation_id]
    with db.session() as session:
        assert svc.word_lists(session=session, owner_id=owner.user_id) == {
            "nl": ["vergaderen", "kut*"],
            "en": [],
        }
        rows = session.execute(sa.select(sa.func.count()).select_from(WordList)).scalar_one()
        assert rows == 2
    question = fresh(db, open_q)
    assert question.config["blocked"] == ["vergaderen", "kut*"]
    cast(db, question, "ans", {"text": ["Te veel V E R G A D E R E N"]})
    cast(db, question, "bert", {"text": ["fuck"]})  # no longer on any list
    assert shown(db, question) == (1, ["fuck"])


def test_a_bad_word_list_changes_nothing(db, owner, open_q) -> None:
    from app.moderation import WordListError

    with pytest.raises(WordListError), db.write_session() as session:
        svc.save_word_lists(session=session, owner_id=owner.user_id, lists={"nl": "k*t"})
    with db.session() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(WordList)).scalar_one() == 0
    assert "blocked" not in fresh(db, open_q).config


def test_editing_a_question_keeps_its_word_list(db, owner, open_q) -> None:
    from app.services.presentations import update_question

    with db.write_session() as session:
        svc.save_word_lists(session=session, owner_id=owner.user_id, lists={"nl": "koffie"})
    with db.write_session() as session:
        update_question(
            session=session,
            owner_id=owner.user_id,
            question_id=open_q.id or 0,
            title="Tips?",
            form={"max_length": ["100"], "premoderate": ["1"], "blocked": ["niets"]},
        )
    config = fresh(db, open_q).config
    assert config == {"max_length": 100, "premoderate": True, "blocked": ["koffie"]}


def test_approve_waiting_approves_only_what_was_seen(db, owner, open_q) -> None:
    premoderate(db, owner, open_q, True)
    cast(db, open_q, "ans", {"text": ["eerste"]})
    cast(db, open_q, "bert", {"text": ["k u t"]})
    cast(db, open_q, "carla", {"text": ["tweede"]})
    seen = max(e.item_id for e in entries(db, open_q))
    cast(db, open_q, "dirk", {"text": ["te laat gezien"]})
    with db.write_session() as session:
        count = svc.approve_waiting(
            session=session,
            owner_id=owner.user_id,
            presentation_id=open_q.presentation_id,
            question_id=open_q.id or 0,
            upto=seen,
        )
    assert count == 2
    assert shown(db, open_q) == (2, ["tweede", "eerste"])
    with pytest.raises(NotFound), db.write_session() as session:
        svc.approve_waiting(
            session=session,
            owner_id=make_user(db, "kees@example.org").user_id,
            presentation_id=open_q.presentation_id,
            question_id=open_q.id or 0,
            upto=seen + 10,
        )


def test_a_question_added_after_saving_word_lists_uses_them(db, owner, open_q) -> None:
    with db.write_session() as session:
        svc.save_word_lists(session=session, owner_id=owner.user_id, lists={"nl": "koek", "en": ""})
    with db.session() as session:
        from app.models import Presentation

        presentation = session.get(Presentation, open_q.presentation_id)
        assert presentation is not None
    cloud = make_question(db, owner, presentation, "wordcloud", "Eén woord")
    choice = make_question(db, owner, presentation, "choice", "Kies", options="A\nB")
    assert fresh(db, cloud).config["blocked"] == ["koek"]
    assert "blocked" not in fresh(db, choice).config
