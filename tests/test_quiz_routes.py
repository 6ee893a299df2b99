"""Quiz through the app: nicknames, a phone's own place, and what phones may never see."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.models import Participant, Presentation, Question
from tests.conftest import BASE, browser, join, login, make_presentation, make_question, make_user

ORIGIN = {"Origin": BASE}
HX = {"HX-Request": "true"}
# Anything that tells which option is correct (tests/test_question_quiz.py checks the
# templates render identically whichever option is correct before the reveal).
MARKERS = ("quiz-correct", "quiz-wrong", "quiz-answer", "quiz-mark", "quiz-revealed", "Correct:")


def _post(client, pid, csrf, action, **data) -> None:
    response = client.post(
        f"/present/{pid}/{action}", data={"csrf_token": csrf, **data}, follow_redirects=False
    )
    assert response.status_code == 303, response.text


def _until(ws, predicate, limit: int = 80) -> str:
    for _ in range(limit):
        frame = ws.receive_text()
        if predicate(frame):
            return frame
    raise AssertionError("no frame matched")


@pytest.fixture
def room(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner, language="en")
    question = make_question(
        db, owner, presentation, "quiz", "Capital?", options="Paris\n* Amsterdam\nBerlin"
    )
    board = make_question(db, owner, presentation, "leaderboard", "Standings")
    with db.write_session() as session:
        saved = session.get(Presentation, presentation.id)
        saved.results_on_phones = True
        session.add(saved)
        q = session.get(Question, question.id)
        q.results_visible = False
        q.countdown_seconds = 20
        session.add(q)
    csrf = login(client, owner.email)
    _post(client, presentation.id, csrf, "move", to=str(question.id))
    ids = {o["label"]: o["id"] for o in question.config["options"]}
    return presentation, question, board, csrf, ids


def _nicknames(db, presentation) -> list[str]:
    with db.session() as session:
        rows = session.execute(
            sa.select(Participant.nickname).where(
                Participant.presentation_id == presentation.id,
                Participant.nickname.is_not(None),
            )
        ).scalars()
        return sorted(rows)


# --- nicknames -----------------------------------------------------------------------------


def test_a_nickname_from_the_vote_form_without_javascript(client, db, room):
    presentation, question, _, _, ids = room
    phone = browser(client)
    join(phone, presentation.join_code)
    page = phone.get(f"/p/{presentation.join_code}").text
    # The nickname button comes first in the vote form, so Enter in the field posts the name.
    form = page.split('<form class="vote"')[1]
    assert form.index(f'formaction="/p/{presentation.join_code}/nickname"') < form.index(
        'class="primary big"'
    )
    response = phone.post(
        f"/p/{presentation.join_code}/nickname",
        data={"question_id": str(question.id), "option": ids["Paris"], "nickname": " Anna "},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/p/{presentation.join_code}"
    assert _nicknames(db, presentation) == ["Anna"]
    mine = phone.get(f"/p/{presentation.join_code}/quiz/me", headers=HX)
    assert mine.status_code == 200 and "Anna" in mine.text and 'name="nickname"' not in mine.text
    # Without JavaScript the page of its own shows the same.
    assert "Anna" in phone.get(f"/p/{presentation.join_code}/quiz/me").text


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Enter a name."),
        ("x" * 25, "A name can have at most 24 characters."),
        ("An\u200bna", "Use only letters, digits and ordinary signs in your name."),
        ("kanker", "Choose another name."),
        ("ANNA", "Somebody already has this name. Add a number, for example: ANNA 2"),
    ],
)
def test_refused_nicknames_change_nothing(client, db, room, typed, message):
    presentation, *_ = room
    first = browser(client)
    join(first, presentation.join_code)
    assert first.post(f"/p/{presentation.join_code}/nickname", data={"nickname": "Anna"}).is_success
    phone = browser(client)
    join(phone, presentation.join_code)
    response = phone.post(
        f"/p/{presentation.join_code}/nickname", data={"nickname": typed}, headers=HX
    )
    assert response.status_code == 422
    assert message in response.text and 'name="nickname"' in response.text
    assert _nicknames(db, presentation) == ["Anna"]
    page = phone.post(f"/p/{presentation.join_code}/nickname", data={"nickname": typed})
    assert page.status_code == 422 and message in page.text  # without JavaScript: a page


def test_a_nickname_is_text_and_stays_text(client, db, room):
    presentation, *_ = room
    phone = browser(client)
    join(phone, presentation.join_code)
    response = phone.post(
        f"/p/{presentation.join_code}/nickname", data={"nickname": "<b>Bo</b>"}, headers=HX
    )
    assert response.status_code == 200
    assert "&lt;b&gt;Bo&lt;/b&gt;" in response.text and "<b>Bo" not in response.text


def test_only_joined_phones_of_this_presentation_choose_a_name(client, db, room):
    presentation, *_ = room
    stranger = browser(client)
    response = stranger.post(f"/p/{presentation.join_code}/nickname", data={"nickname": "Eve"})
    assert response.status_code == 403
    assert stranger.get(f"/p/{presentation.join_code}/quiz/me").status_code == 403
    other = make_presentation(db, make_user(db, "bob@example.org"), title="Other")
    elsewhere = browser(client)
    token = join(elsewhere, other.join_code)
    at_ours = browser(client)
    at_ours.cookies.set("stemlab_p", token)
    response = at_ours.post(f"/p/{presentation.join_code}/nickname", data={"nickname": "Eve"})
    assert response.status_code == 403
    # A cross-site post is refused before the route, like a vote.
    phone = browser(client)
    join(phone, presentation.join_code)
    response = phone.post(
        f"/p/{presentation.join_code}/nickname",
        data={"nickname": "Eve"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 403
    assert _nicknames(db, presentation) == []


# --- what phones see -----------------------------------------------------------------------


def _phone_views(phone, code, ws) -> list[str]:
    return [phone.get(f"/p/{code}").text, ws.receive_text()]


def test_phones_never_see_the_correct_answer_before_reveal(client, db, room):
    presentation, question, _, csrf, ids = room
    code, pid = presentation.join_code, presentation.id
    phone = browser(client)
    token = join(phone, code)
    voter = browser(client)
    join(voter, code)
    assert voter.post(
        f"/p/{code}/vote", data={"question_id": str(question.id), "option": ids["Amsterdam"]}
    ).is_success
    seen: list[str] = []
    headers = {**ORIGIN, "cookie": f"stemlab_p={token}"}
    with client.websocket_connect(f"/ws/p/{code}", headers=headers) as ws:
        seen.append(ws.receive_text())  # open, results hidden
        seen.append(phone.get(f"/p/{code}").text)
        _post(client, pid, csrf, "timer", value="start")
        seen.append(_until(ws, lambda f: "countdown" in f))
        _post(client, pid, csrf, "results", value="show")  # shown while open: counts only
        seen.append(_until(ws, lambda f: "phone-results" in f))
        seen.append(phone.get(f"/p/{code}").text)
        _post(client, pid, csrf, "results", value="hide")
        _post(client, pid, csrf, "voting", value="close")  # closed, hidden
        seen.append(_until(ws, lambda f: 'data-state="closed"' in f))
        seen.append(phone.get(f"/p/{code}").text)
        seen.append(phone.get(f"/p/{code}/quiz/me", headers=HX).text)
        for text in seen:
            assert not any(marker in text for marker in MARKERS), text
            hint = "Choose the correct answer. Fast and correct gives the most points."
            assert "correct" not in text.replace(hint, "")
        _post(client, pid, csrf, "results", value="show")  # the reveal
        revealed = _until(ws, lambda f: "quiz-correct" in f)
    assert revealed.count("quiz-correct") == 1
    assert re.search(r'quiz-correct">\s*<span class="bar-label">.*Amsterdam', revealed, re.S)
    assert "quiz-correct" in phone.get(f"/p/{code}").text


def test_the_leaderboard_names_on_the_projector_and_only_ones_own_place_on_phones(client, db, room):
    presentation, question, board, csrf, ids = room
    code, pid = presentation.join_code, presentation.id
    phones = {}
    for name in ("Anna", "Bert", "Carla"):
        phones[name] = browser(client)
        join(phones[name], code)
        assert phones[name].post(f"/p/{code}/nickname", data={"nickname": name}).is_success
    _post(client, pid, csrf, "timer", value="start")
    for name, label in (("Anna", "Paris"), ("Bert", "Amsterdam")):
        assert (
            phones[name]
            .post(f"/p/{code}/vote", data={"question_id": str(question.id), "option": ids[label]})
            .is_success
        )
    _post(client, pid, csrf, "voting", value="close")
    _post(client, pid, csrf, "results", value="show")
    with db.session() as session:
        opened = session.get(Question, question.id).opened_at
    assert opened is not None  # set by starting the timer (app/services/control.py)
    _post(client, pid, csrf, "move", to=str(board.id))

    screen = client.get(f"/present/{pid}").text
    rows = re.findall(
        r'leader-rank">(\d+)</span>\s*<span class="leader-name"><bdi>(\w+)</bdi></span>\s*'
        r'<span class="leader-score">(\d+)',
        screen,
    )
    assert [(r, n) for r, n, _ in rows] == [("1", "Bert"), ("2", "Anna"), ("2", "Carla")]
    assert int(rows[0][2]) > 500 and rows[1][2] == rows[2][2] == "0"

    bert = phones["Bert"].get(f"/p/{code}/quiz/me", headers=HX).text
    assert "You are number 1 of 3." in bert and "Bert" in bert
    anna = phones["Anna"].get(f"/p/{code}/quiz/me", headers=HX).text
    assert "You are number 2 of 3." in anna and "<strong>0</strong>" in anna
    for name, phone in phones.items():
        mine = phone.get(f"/p/{code}/quiz/me", headers=HX).text
        page = phone.get(f"/p/{code}").text
        others = [n for n in phones if n != name]
        assert not any(other in mine or other in page for other in others)
        assert name not in page  # the shared page holds no names at all

    # A name chosen on the leaderboard slide reaches the projector live; phones get no names.
    late = browser(client)
    token = join(late, code)
    headers = {**ORIGIN, "cookie": f"stemlab_p={token}"}
    with (
        client.websocket_connect(f"/ws/present/{pid}", headers=ORIGIN) as screen_ws,
        client.websocket_connect(f"/ws/p/{code}", headers=headers) as phone_ws,
    ):
        frame = phone_ws.receive_text()
        assert not any(n in frame for n in phones)
        _until(screen_ws, lambda f: "leaderboard" in f)
        assert late.post(f"/p/{code}/nickname", data={"nickname": "Dirk"}).is_success
        _until(screen_ws, lambda f: "Dirk" in f)
    mine = late.get(f"/p/{code}/quiz/me", headers=HX).text
    assert "You have not answered a quiz question yet." not in mine  # named: 0 points, ranked
    assert "You are number 2 of 4." in mine  # tied with Anna and Carla at 0


def test_a_countdown_question_scores_from_its_opening(client, db, room):
    """The speed points use the time between opening and the ballot's last change."""
    presentation, question, board, csrf, ids = room
    code, pid = presentation.join_code, presentation.id
    phone = browser(client)
    join(phone, code)
    _post(client, pid, csrf, "timer", value="start")
    assert phone.post(
        f"/p/{code}/vote", data={"question_id": str(question.id), "option": ids["Amsterdam"]}
    ).is_success
    with db.write_session() as session:  # pretend the answer came 10 of 20 seconds in
        q = session.get(Question, question.id)
        session.execute(
            sa.text("UPDATE ballot SET updated_at = :at WHERE question_id = :q"),
            {"at": q.opened_at + timedelta(seconds=10), "q": question.id},
        )
    _post(client, pid, csrf, "move", to=str(board.id))
    assert re.search(r'leader-score">750<', client.get(f"/present/{pid}").text)
