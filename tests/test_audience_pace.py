"""Audience pace: every phone moves through the open questions by itself, like a survey."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.db import Database
from app.models import Ballot, Presentation, Question
from app.questions import get_type
from app.services import control
from app.services.presentations import EditError, update_presentation
from app.services.votes import VoteStatus, record_votes
from tests.conftest import (
    BASE,
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

ORIGIN = {"Origin": BASE}


def _room(db: Database, owner: Facilitator) -> tuple[Presentation, list[Question]]:
    presentation = make_presentation(db, owner, language="en")
    questions = [
        make_question(db, owner, presentation, "choice", f"Vraag {n}", options="Ja\nNee")
        for n in (1, 2, 3)
    ]
    make_current(db, questions[1])  # the facilitator shows question 2
    return presentation, questions


def _set_pace(db: Database, owner: Facilitator, presentation: Presentation, pace: str) -> None:
    with db.write_session() as session:
        update_presentation(
            session=session,
            owner_id=owner.user_id,
            presentation_id=presentation.id or 0,
            title=presentation.title,
            language=presentation.language,
            pace=pace,
        )


def _yes(question: Question) -> dict[str, list[str]]:
    return {"option": [question.config["options"][0]["id"]]}


def _tally(db: Database, question: Question) -> int:
    with db.session() as session:
        return get_type(question.kind).tally(session, question.id or 0, question.config).responses


def test_only_the_current_question_takes_votes_at_the_facilitators_pace(db: Database) -> None:
    owner = make_user(db)
    _, (q1, q2, q3) = _room(db, owner)
    with db.write_session() as session:
        statuses = record_votes(
            session, [vote_command(q, "ans", _yes(q), f"k{q.id}") for q in (q3, q1, q2)]
        )
    assert statuses == [VoteStatus.CLOSED, VoteStatus.CLOSED, VoteStatus.SAVED]


def test_every_open_question_takes_votes_at_the_audiences_pace(db: Database) -> None:
    owner = make_user(db)
    presentation, (q1, q2, q3) = _room(db, owner)
    _set_pace(db, owner, presentation, "audience")
    with db.write_session() as session:
        statuses = record_votes(
            session, [vote_command(q, "ans", _yes(q), f"k{q.id}") for q in (q3, q1)]
        )
    assert statuses == [VoteStatus.SAVED, VoteStatus.SAVED]
    # A closed question stays closed.
    with db.write_session() as session:
        question = session.get(Question, q3.id)
        assert question is not None
        question.state = "closed"
        session.add(question)
    with db.write_session() as session:
        assert record_votes(session, [vote_command(q3, "bert", _yes(q3), "kb")]) == [
            VoteStatus.CLOSED
        ]
    assert (_tally(db, q1), _tally(db, q2), _tally(db, q3)) == (1, 0, 1)


def test_an_unknown_pace_is_refused(db: Database) -> None:
    owner = make_user(db)
    presentation, _ = _room(db, owner)
    with pytest.raises(EditError):
        _set_pace(db, owner, presentation, "fast")


def test_a_phone_answers_questions_3_and_1_while_the_projector_shows_2(client, db) -> None:
    owner = make_user(db)
    presentation, (q1, q2, q3) = _room(db, owner)
    csrf = login(client, owner.email)
    # The setting lives on the presentation's edit page.
    edit = client.get(f"/manage/presentations/{presentation.id}").text
    assert 'name="pace" value="audience"' in edit
    saved = client.post(
        f"/manage/presentations/{presentation.id}",
        data={
            "csrf_token": csrf,
            "title": presentation.title,
            "language": "en",
            "pace": "audience",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    code = presentation.join_code

    phone = browser(client)
    join(phone, code)
    first = phone.get(f"/p/{code}").text
    assert "Question 1 of 3" in first and "Vraag 1" in first
    assert f'href="/p/{code}?q={q2.id}"' in first  # Next
    page3 = phone.get(f"/p/{code}", params={"q": str(q3.id)}).text
    assert "Question 3 of 3" in page3
    assert f'href="/p/{code}?q={q2.id}"' in page3  # Previous
    assert "pace-next" not in page3

    # A plain form post (no JavaScript): the phone stays at the question it answered.
    yes3, no1 = q3.config["options"][0]["id"], q1.config["options"][1]["id"]
    done = phone.post(
        f"/p/{code}/vote", data={"question_id": str(q3.id), "client_key": "a", "option": yes3}
    )
    assert done.status_code == 200 and "Question 3 of 3" in done.text
    ajax = phone.post(
        f"/p/{code}/vote",
        data={"question_id": str(q1.id), "client_key": "b", "option": no1},
        headers={"HX-Request": "true"},
    )
    assert ajax.status_code == 200 and "Your vote has been saved" in ajax.text
    assert (_tally(db, q1), _tally(db, q2), _tally(db, q3)) == (1, 0, 1)
    # Coming back to a question shows its own saved answer.
    again = phone.get(f"/p/{code}", params={"q": str(q1.id)}).text
    assert f'value="{no1}" checked' in again
    # A question of another presentation, or none: the first question.
    assert "Question 1 of 3" in phone.get(f"/p/{code}", params={"q": "999999"}).text

    # The projector: its own question's results, and responses per question.
    screen = client.get(f"/present/{presentation.id}").text
    progress = dict(re.findall(r'data-question="(\d+)" data-responses="(\d+)"', screen))
    assert progress == {str(q1.id): "1", str(q2.id): "0", str(q3.id): "1"}
    assert 'class="question-title">Vraag 2<' in screen
    # Choosing a question on the projector shows its results (phones stay where they are).
    client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": str(q3.id)})
    screen = client.get(f"/present/{presentation.id}").text
    assert 'class="question-title">Vraag 3<' in screen
    assert 'id="response-count" class="responses"><strong>1<' in screen
    assert "Question 3 of 3" in phone.get(f"/p/{code}", params={"q": str(q3.id)}).text


def test_phones_get_a_refresh_notice_and_follow_again_at_the_facilitators_pace(client, db) -> None:
    owner = make_user(db)
    presentation, (q1, _q2, q3) = _room(db, owner)
    _set_pace(db, owner, presentation, "audience")
    csrf = login(client, owner.email)
    phone = browser(client)
    cookie = join(phone, presentation.join_code)
    page = phone.get(f"/p/{presentation.join_code}", params={"q": str(q3.id)}).text
    version = re.search(r'ws-connect="/ws/p/\d+\?v=(\d+)"', page).group(1)  # type: ignore[union-attr]
    url = f"/ws/p/{presentation.join_code}?v={version}"
    headers = {**ORIGIN, "cookie": f"stemlab_p={cookie}"}
    with client.websocket_connect(url, headers=headers) as ws:
        client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "next"})
        notice = ws.receive_text()
        # Not dragged to the facilitator's question: a notice that something changed.
        assert notice.startswith('<div id="pace-refresh"') and 'id="stage"' not in notice
        new_version = int(re.search(r'data-version="(\d+)"', notice).group(1))  # type: ignore[union-attr]
        assert new_version > int(version)
        # What the phone then fetches: its own question, afresh.
        fresh = phone.get(
            f"/p/{presentation.join_code}",
            params={"q": str(q3.id)},
            headers={"HX-Request": "true"},
        ).text
        assert fresh.lstrip().startswith('<section id="stage"')
        assert f'data-version="{new_version}"' in fresh and "Question 3 of 3" in fresh
        # Back to the facilitator's pace: phones follow the projector again.
        client.post(
            f"/manage/presentations/{presentation.id}",
            data={
                "csrf_token": csrf,
                "title": presentation.title,
                "language": "en",
                "pace": "facilitator",
            },
        )
        frame = ws.receive_text()
        assert 'id="stage"' in frame and "Vraag 3" in frame and "Question 3 of 3" in frame
        assert "pace-next" not in frame
    with db.write_session() as session:
        assert record_votes(session, [vote_command(q1, "ans", _yes(q1), "late")]) == [
            VoteStatus.CLOSED
        ]


def test_voting_opens_set_opened_at(db: Database) -> None:
    owner = make_user(db)
    presentation, (q1, q2, _) = _room(db, owner)
    pid = presentation.id or 0
    moment = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

    def opened(question: Question) -> datetime | None:
        with db.session() as session:
            found = session.get(Question, question.id)
            assert found is not None
            return found.opened_at

    with db.write_session() as session:
        control.move(
            session=session, owner_id=owner.user_id, presentation_id=pid, to=q1.id or 0, now=moment
        )
    assert opened(q1) == moment
    with db.write_session() as session:
        control.set_voting(
            session=session, owner_id=owner.user_id, presentation_id=pid, is_open=False
        )
    later = moment.replace(minute=5)
    with db.write_session() as session:
        control.set_voting(
            session=session, owner_id=owner.user_id, presentation_id=pid, is_open=True, now=later
        )
    assert opened(q1) == later
    timer = moment.replace(minute=9)
    with db.write_session() as session:
        control.start_timer(session=session, owner_id=owner.user_id, presentation_id=pid, now=timer)
    assert opened(q1) == timer
    assert opened(q2) is None
    # A reset starts the new round's clock.
    reset_at = moment.replace(minute=20)
    with db.write_session() as session:
        control.reset_results(
            session=session, owner_id=owner.user_id, presentation_id=pid, now=reset_at
        )
    assert opened(q1) == reset_at
    with db.session() as session:
        ballots = session.execute(sa.select(sa.func.count()).select_from(Ballot)).scalar_one()
    assert ballots == 0
