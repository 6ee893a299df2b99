"""Participants over HTTP: join by code, see the question, vote, get clear errors."""

from __future__ import annotations

import sqlalchemy as sa

from app.models import Ballot, BallotItem
from tests.conftest import browser, join, login, make_presentation, make_question, make_user


def _present_first(client, presentation, csrf):
    response = client.post(
        f"/present/{presentation.id}/move",
        data={"csrf_token": csrf, "to": "first"},
        follow_redirects=False,
    )
    assert response.status_code == 303


def _setup(client, db, kind="choice", **form):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(db, owner, presentation, kind, "SMART genoeg?", **form)
    csrf = login(client, owner.email)
    _present_first(client, presentation, csrf)
    return owner, presentation, question, csrf


def _ballots(db):
    with db.session() as session:
        return session.execute(sa.select(sa.func.count()).select_from(Ballot)).scalar_one()


def test_join_by_code_redirects_to_the_question(client, db):
    _, presentation, _, _ = _setup(client, db, options="Ja\nNee")
    phone = browser(client)
    spaced = f"{presentation.join_code[:4]} {presentation.join_code[4:]}"
    response = phone.get("/join", params={"code": spaced}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/p/{presentation.join_code}"
    page = phone.get(response.headers["location"])
    assert "SMART genoeg?" in page.text
    assert "stemlab_p" in phone.cookies


def test_qr_link_opens_the_question(client, db):
    _, presentation, _, _ = _setup(client, db, options="Ja\nNee")
    phone = browser(client)
    page = phone.get(f"/j/{presentation.join_code}")
    assert page.status_code == 200
    assert "SMART genoeg?" in page.text


def test_unknown_code_gets_a_clear_message_in_dutch(client, db):
    phone = browser(client)
    response = phone.get("/join", params={"code": "12345678"}, headers={"Accept-Language": "nl"})
    assert response.status_code == 404
    assert "We kennen deze code niet" in response.text


def test_vote_is_saved_and_confirmed(client, db):
    _, presentation, question, _ = _setup(client, db, options="Ja\nNee")
    phone = browser(client)
    phone.get(f"/p/{presentation.join_code}")
    response = phone.post(
        f"/p/{presentation.join_code}/vote",
        data={"question_id": str(question.id), "client_key": "k1", "option": "o1"},
    )
    assert response.status_code == 200
    assert "Je stem is opgeslagen" in response.text
    assert _ballots(db) == 1


def test_changing_the_answer_keeps_one_ballot(client, db):
    _, presentation, question, _ = _setup(client, db, options="Ja\nNee")
    phone = browser(client)
    join(phone, presentation.join_code)
    url = f"/p/{presentation.join_code}/vote"
    phone.post(url, data={"question_id": str(question.id), "client_key": "a", "option": "o1"})
    phone.post(url, data={"question_id": str(question.id), "client_key": "b", "option": "o2"})
    with db.session() as session:
        keys = session.execute(sa.select(BallotItem.key)).scalars().all()
    assert keys == ["o2"]
    assert _ballots(db) == 1
    # The page shows the participant's own current answer.
    page = phone.get(f"/p/{presentation.join_code}")
    assert 'value="o2" checked' in page.text


def test_retry_with_same_key_counts_once(client, db):
    _, presentation, question, _ = _setup(client, db, options="Ja\nNee")
    phone = browser(client)
    join(phone, presentation.join_code)
    url = f"/p/{presentation.join_code}/vote"
    data = {"question_id": str(question.id), "client_key": "same", "option": "o1"}
    first = phone.post(url, data=data)
    second = phone.post(url, data=data)
    assert first.status_code == second.status_code == 200
    assert _ballots(db) == 1
    conflict = phone.post(url, data={**data, "option": "o2"})
    assert conflict.status_code == 422
    with db.session() as session:
        assert session.execute(sa.select(BallotItem.key)).scalars().all() == ["o1"]


def test_bad_answers_get_422_and_change_nothing(client, db):
    _, presentation, question, _ = _setup(client, db, options="Ja\nNee")
    phone = browser(client)
    join(phone, presentation.join_code)
    url = f"/p/{presentation.join_code}/vote"
    cases = [
        {"option": "o9"},
        {"option": ["o1", "o2"]},
        {},
        {"option": ["o1", "o1"]},
    ]
    for extra in cases:
        response = phone.post(url, data={"question_id": str(question.id), **extra})
        assert response.status_code == 422, extra
    assert _ballots(db) == 0


def test_error_messages_follow_the_presentation_language(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner, language="en")
    question = make_question(db, owner, presentation, "choice", "Q", options="A\nB")
    _present_first(client, presentation, login(client, owner.email))
    phone = browser(client)
    join(phone, presentation.join_code)
    response = phone.post(
        f"/p/{presentation.join_code}/vote",
        data={"question_id": str(question.id), "option": "o7"},
        headers={"Accept-Language": "nl"},
    )
    assert response.status_code == 422
    assert "That answer is not one of the options." in response.text


def test_vote_on_a_closed_question_is_refused(client, db):
    _, presentation, question, csrf = _setup(client, db, options="Ja\nNee")
    client.post(f"/present/{presentation.id}/voting", data={"csrf_token": csrf, "value": "close"})
    phone = browser(client)
    join(phone, presentation.join_code)
    response = phone.post(
        f"/p/{presentation.join_code}/vote",
        data={"question_id": str(question.id), "option": "o1"},
    )
    assert response.status_code == 409
    assert "gesloten" in response.text
    assert _ballots(db) == 0


def test_vote_on_a_question_that_is_not_current_is_refused(client, db):
    owner, presentation, first, csrf = _setup(client, db, options="Ja\nNee")
    make_question(db, owner, presentation, "open", "Tips?")
    client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "next"})
    phone = browser(client)
    join(phone, presentation.join_code)
    response = phone.post(
        f"/p/{presentation.join_code}/vote",
        data={"question_id": str(first.id), "option": "o1"},
    )
    assert response.status_code == 409
    assert "Tips?" in response.text  # the current question is shown instead
    assert _ballots(db) == 0


def test_vote_with_unknown_code_is_404(client, db):
    phone = browser(client)
    response = phone.post("/p/99999999/vote", data={"question_id": "1", "option": "o1"})
    assert response.status_code == 404
    assert _ballots(db) == 0


def test_cross_site_vote_is_refused(client, db):
    _, presentation, question, _ = _setup(client, db, options="Ja\nNee")
    phone = browser(client)
    join(phone, presentation.join_code)
    response = phone.post(
        f"/p/{presentation.join_code}/vote",
        data={"question_id": str(question.id), "option": "o1"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert _ballots(db) == 0


def test_oversized_body_is_refused(client, db):
    _, presentation, question, _ = _setup(client, db, "open")
    phone = browser(client)
    join(phone, presentation.join_code)
    response = phone.post(
        f"/p/{presentation.join_code}/vote",
        data={"question_id": str(question.id), "text": "x" * 400_000},
    )
    assert response.status_code == 413
    assert _ballots(db) == 0


def test_guessing_codes_is_rate_limited_but_the_right_code_still_works(client, db, settings):
    _, presentation, question, _ = _setup(client, db, options="Ja\nNee")
    phone = browser(client)
    statuses = [
        phone.get("/join", params={"code": f"{10000000 + i}"}).status_code
        for i in range(settings.join_rate_per_minute + 2)
    ]
    assert statuses[0] == 404
    assert statuses[-1] == 429
    # The same address (a venue behind one NAT) can still join and vote with the real code.
    assert phone.get("/join", params={"code": presentation.join_code}).status_code == 200
    vote = phone.post(
        f"/p/{presentation.join_code}/vote",
        data={"question_id": str(question.id), "option": "o1"},
    )
    assert vote.status_code == 200


def test_malformed_vote_gets_a_message_in_the_presentation_language(client, db):
    _, presentation, question, _ = _setup(client, db, options="Ja\nNee")
    phone = browser(client)
    join(phone, presentation.join_code)
    fields = {f"f{i}": "x" for i in range(100)}  # more fields than a vote form has
    response = phone.post(
        f"/p/{presentation.join_code}/vote",
        data={"question_id": str(question.id), **fields},
        headers={"HX-Request": "true", "Accept-Language": "en"},
    )
    assert response.status_code == 400
    assert "We konden je antwoord niet lezen" in response.text
    assert _ballots(db) == 0


def test_streamed_oversized_body_is_refused_with_413(client, db):
    _, presentation, question, _ = _setup(client, db, "open")
    phone = browser(client)
    join(phone, presentation.join_code)

    def chunks():
        yield f"question_id={question.id}&text=".encode()
        for _ in range(100):
            yield b"x" * 8192

    response = phone.post(
        f"/p/{presentation.join_code}/vote",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert _ballots(db) == 0


def test_participant_cannot_reach_facilitator_pages(client, db):
    _, presentation, _, _ = _setup(client, db, options="Ja\nNee")
    phone = browser(client)
    phone.get(f"/p/{presentation.join_code}")
    for url in (
        "/manage",
        f"/manage/presentations/{presentation.id}",
        f"/present/{presentation.id}",
        f"/manage/presentations/{presentation.id}/export.csv",
    ):
        response = phone.get(url, follow_redirects=False)
        assert response.status_code == 303, url
        assert response.headers["location"].startswith("/login")
    response = phone.post(
        f"/present/{presentation.id}/move", data={"to": "next"}, follow_redirects=False
    )
    assert response.status_code == 401
