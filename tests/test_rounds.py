"""Reset results: a new round of a question; the earlier round stays for the export."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from app.db import Database
from app.models import Ballot, BallotItem, BallotKey, Question, QuestionState
from app.questions import get_type
from app.services import NotFound, control
from app.services.export import export_rows
from app.services.presentations import (
    delete_question,
    duplicate_presentation,
    get_question,
    questions_of,
    response_counts,
)
from app.services.votes import VoteStatus, record_votes
from tests.conftest import (
    Facilitator,
    browser,
    join,
    login,
    make_current,
    make_presentation,
    make_question,
    make_user,
    vote_command,
)

SAVED, REPLAYED, CONFLICT = VoteStatus.SAVED, VoteStatus.REPLAYED, VoteStatus.CONFLICT


@pytest.fixture
def owner(db: Database) -> Facilitator:
    return make_user(db)


def _choice(db: Database, owner: Facilitator, title: str = "Welk thema?") -> Question:
    presentation = make_presentation(db, owner, language="en")
    make_question(db, owner, presentation, "open", "Eerst een open vraag")
    question = make_question(db, owner, presentation, "choice", title, options="A\nB\nC")
    make_question(db, owner, presentation, "open", "Daarna nog een")
    make_current(db, question)
    return question


def _option(question: Question, n: int) -> dict[str, list[str]]:
    return {"option": [question.config["options"][n]["id"]]}


def _vote(db: Database, question: Question, phone: str, n: int, key: str) -> VoteStatus:
    with db.write_session() as session:
        return record_votes(session, [vote_command(question, phone, _option(question, n), key)])[0]


def _reset(db: Database, owner: Facilitator, question: Question) -> Question:
    with db.write_session() as session:
        return control.reset_results(
            session=session, owner_id=owner.user_id, presentation_id=question.presentation_id
        )


def _tally(db: Database, question: Question) -> int:
    with db.session() as session:
        return get_type(question.kind).tally(session, question.id or 0, question.config).responses


def _archives(db: Database, question: Question) -> list[Question]:
    with db.session() as session:
        return control.rounds_of(session=session, question_id=question.id or 0)


def test_a_reset_keeps_the_old_round_and_starts_the_live_tally_at_zero(
    db: Database, owner: Facilitator
) -> None:
    question = _choice(db, owner)
    assert _vote(db, question, "ans", 0, "k-ans") == SAVED
    assert _vote(db, question, "bert", 1, "k-bert") == SAVED
    _vote(db, question, "bert", 2, "k-bert-2")  # a changed answer: a BallotKey row
    with db.session() as session:
        ballot_ids = set(session.execute(sa.select(Ballot.id)).scalars())

    live = _reset(db, owner, question)
    assert live.round == 2
    assert _tally(db, question) == 0
    (archive,) = _archives(db, question)
    assert (archive.parent_id, archive.round, archive.state) == (
        question.id,
        1,
        QuestionState.CLOSED,
    )
    assert (archive.kind, archive.title, archive.config) == (
        question.kind,
        question.title,
        question.config,
    )
    assert _tally(db, archive) == 2
    with db.session() as session:
        moved = session.execute(sa.select(Ballot.id, Ballot.question_id)).all()
        items = set(session.execute(sa.select(BallotItem.question_id)).scalars())
        keys = session.execute(sa.select(sa.func.count()).select_from(BallotKey)).scalar_one()
    assert {bid for bid, _ in moved} == ballot_ids  # the same ballots, ids kept
    assert {qid for _, qid in moved} == {archive.id}
    assert items == {archive.id}
    assert keys == 1

    # Both phones vote again, in round 2.
    assert _vote(db, question, "ans", 1, "k-ans-r2") == SAVED
    assert _vote(db, question, "bert", 1, "k-bert-r2") == SAVED
    assert _tally(db, question) == 2 and _tally(db, archive) == 2
    with db.session() as session:
        counts = response_counts(session=session, presentation_id=question.presentation_id)
    assert counts == {question.id: 2}

    # The export has both rounds, the question's position first, then the round.
    presentation_id = question.presentation_id
    with db.session() as session:
        from app.models import Presentation

        presentation = session.get(Presentation, presentation_id)
        assert presentation is not None
        rows = list(export_rows(session, presentation))
    assert [(r[1], r[2], r[3], r[6]) for r in rows] == [
        ("2", "1", "Welk thema?", "A"),
        ("2", "1", "Welk thema?", "C"),
        ("2", "2", "Welk thema?", "B"),
        ("2", "2", "Welk thema?", "B"),
    ]


def test_a_second_reset_makes_round_two_and_three(db: Database, owner: Facilitator) -> None:
    question = _choice(db, owner)
    _vote(db, question, "ans", 0, "r1")
    _reset(db, owner, question)
    _vote(db, question, "ans", 1, "r2")
    live = _reset(db, owner, question)
    assert live.round == 3
    assert [(a.round, _tally(db, a)) for a in _archives(db, question)] == [(1, 1), (2, 1)]
    assert _tally(db, question) == 0


def test_a_reset_stops_the_running_timer_and_keeps_voting_open(
    db: Database, owner: Facilitator
) -> None:
    question = _choice(db, owner)
    with db.write_session() as session:
        timed = control.start_timer(
            session=session, owner_id=owner.user_id, presentation_id=question.presentation_id
        )
        assert timed.closes_at is not None
    live = _reset(db, owner, question)
    assert live.closes_at is None and live.state == QuestionState.OPEN
    assert _vote(db, question, "ans", 0, "after-reset") == SAVED


def test_a_stale_retry_from_before_the_reset_is_not_counted_again(
    db: Database, owner: Facilitator
) -> None:
    question = _choice(db, owner)
    assert _vote(db, question, "ans", 0, "old-1") == SAVED
    assert _vote(db, question, "ans", 2, "old-2") == SAVED  # old-1 is now in BallotKey
    _reset(db, owner, question)
    # The phone's retries of both submissions arrive after the reset: replays of round 1.
    assert _vote(db, question, "ans", 2, "old-2") == REPLAYED
    assert _vote(db, question, "ans", 0, "old-1") == REPLAYED
    assert _vote(db, question, "ans", 1, "old-1") == CONFLICT  # same key, other answer
    assert _tally(db, question) == 0
    # A new submission counts in round 2; a stale retry never replaces it.
    assert _vote(db, question, "ans", 1, "new") == SAVED
    assert _vote(db, question, "ans", 0, "old-1") == REPLAYED
    with db.session() as session:
        answers = session.execute(
            sa.select(Ballot.answer).where(Ballot.question_id == question.id)
        ).all()
    assert answers == [({"options": [question.config["options"][1]["id"]]},)]
    (archive,) = _archives(db, question)
    assert _tally(db, archive) == 1


def test_another_phone_with_the_same_key_is_no_replay(db: Database, owner: Facilitator) -> None:
    question = _choice(db, owner)
    _vote(db, question, "ans", 0, "same-key")
    _reset(db, owner, question)
    assert _vote(db, question, "bert", 0, "same-key") == SAVED


def test_archived_rounds_stay_out_of_every_list(db: Database, owner: Facilitator) -> None:
    question = _choice(db, owner)
    _vote(db, question, "ans", 0, "k")
    _reset(db, owner, question)
    (archive,) = _archives(db, question)
    pid = question.presentation_id
    with db.session() as session:
        listed = questions_of(session=session, presentation_id=pid)
        assert [q.id for q in listed] == sorted(q.id or 0 for q in listed)
        assert archive.id not in {q.id for q in listed} and len(listed) == 3
        st = control.stage(session=session, presentation_id=pid, with_results=True)
        assert st is not None and (st.index, st.total) == (2, 3)
        with pytest.raises(NotFound):
            get_question(session=session, owner_id=owner.user_id, question_id=archive.id or 0)
    with db.write_session() as session, pytest.raises(NotFound):
        control.move(
            session=session, owner_id=owner.user_id, presentation_id=pid, to=archive.id or 0
        )
    with db.write_session() as session:
        copy = duplicate_presentation(
            session=session, owner_id=owner.user_id, presentation_id=pid, copy_suffix="(copy)"
        )
        assert len(questions_of(session=session, presentation_id=copy.id or 0)) == 3
    # Deleting the live question deletes its earlier rounds and their votes.
    with db.write_session() as session:
        delete_question(session=session, owner_id=owner.user_id, question_id=question.id or 0)
    with db.session() as session:
        assert session.get(Question, archive.id) is None
        assert session.execute(sa.select(sa.func.count()).select_from(Ballot)).scalar_one() == 0


def test_reset_on_the_projector_needs_the_owner_and_shows_round_two(client, db) -> None:
    owner = make_user(db)
    question = _choice(db, owner, "Hoe gaat het?")
    pid = question.presentation_id
    csrf = login(client, owner.email)
    confirm = client.get(f"/present/{pid}?reset=1")
    assert 'id="confirm-reset"' in confirm.text
    assert 'id="round"' not in confirm.text
    url = f"/present/{pid}/reset"
    # Without CSRF token: refused, nothing reset.
    assert client.post(url, data={"question_id": str(question.id)}).status_code == 403
    # Someone else: not found, whatever the form says.
    other = browser(client)
    make_user(db, "bert@example.org")
    other_csrf = login(other, "bert@example.org")
    response = other.post(url, data={"csrf_token": other_csrf, "question_id": "x"})
    assert response.status_code == 404
    assert client.post(url, data={"csrf_token": csrf, "question_id": "x"}).status_code == 422
    wrong = client.post(url, data={"csrf_token": csrf, "question_id": "999999"})
    assert wrong.status_code == 409
    assert _archives(db, question) == []
    done = client.post(
        url, data={"csrf_token": csrf, "question_id": str(question.id)}, follow_redirects=False
    )
    assert done.status_code == 303
    page = client.get(f"/present/{pid}")
    assert "Round 2" in page.text
    remote = client.get(f"/present/{pid}/remote?reset=1")
    assert "Round 2" in remote.text and 'id="confirm-reset"' in remote.text
    assert len(_archives(db, question)) == 1


def test_a_phone_sees_the_question_fresh_after_a_reset_and_votes_again(client, db) -> None:
    owner = make_user(db)
    question = _choice(db, owner, "Hoe gaat het?")
    pid, code = question.presentation_id, _code(db, question)
    csrf = login(client, owner.email)
    phone = browser(client)
    join(phone, code)
    first, second = (o["id"] for o in question.config["options"][:2])
    vote = {"question_id": str(question.id), "client_key": "p1", "option": second}
    assert phone.post(f"/p/{code}/vote", data=vote).status_code == 200
    assert _tally(db, question) == 1
    before = phone.get(f"/p/{code}").text
    assert f'value="{second}" checked' in before
    client.post(f"/present/{pid}/reset", data={"csrf_token": csrf, "question_id": str(question.id)})
    after = phone.get(f"/p/{code}").text
    assert 'data-round="2"' in after
    assert "checked" not in after  # no saved answer shown
    # The same submission sent again (a retry) is not counted in round 2.
    phone.post(f"/p/{code}/vote", data=vote)
    assert _tally(db, question) == 0
    vote2 = {"question_id": str(question.id), "client_key": "p2", "option": first}
    assert phone.post(f"/p/{code}/vote", data=vote2).status_code == 200
    assert _tally(db, question) == 1


def _code(db: Database, question: Question) -> str:
    from app.models import Presentation

    with db.session() as session:
        presentation = session.get(Presentation, question.presentation_id)
        assert presentation is not None
        return presentation.join_code


def test_a_vote_racing_a_reset_is_in_one_round_exactly(db: Database, owner: Facilitator) -> None:
    """Votes from one connection while another resets: every vote ends up in round 1 or in
    round 2, never lost and never in both (on PostgreSQL the transactions really overlap)."""
    question = _choice(db, owner)
    phones = [f"phone{n:02}" for n in range(30)]
    results: list[VoteStatus] = []
    start = threading.Barrier(2)

    def voting() -> None:
        start.wait()
        for phone in phones:
            for attempt in range(20):
                try:
                    results.append(_vote(db, question, phone, 0, f"{phone}-k"))
                    break
                except Exception:  # a deadlock or serialisation failure: the box retries
                    if attempt == 19:
                        raise

    def resetting() -> None:
        start.wait()
        _reset(db, owner, question)

    threads = [threading.Thread(target=voting), threading.Thread(target=resetting)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [SAVED] * len(phones)
    (archive,) = _archives(db, question)
    in_old, in_new = _tally(db, archive), _tally(db, question)
    assert in_old + in_new == len(phones)
    with db.session() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Ballot)).scalar_one() == 30
    # Each phone retrying its vote now: a replay wherever it was counted, never a second one.
    again = [_vote(db, question, phone, 0, f"{phone}-k") for phone in phones]
    assert again == [REPLAYED] * len(phones)
    assert _tally(db, archive) + _tally(db, question) == len(phones)
