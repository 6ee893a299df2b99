"""Quiz points and the leaderboard, computed from the database; nickname rules."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from app.db import Database
from app.models import Ballot, Participant, Question
from app.services import quiz
from app.services.quiz import (
    BASE_POINTS,
    MAX_POINTS,
    NicknameError,
    clean_nickname,
    nickname_key,
    points,
    rank,
    set_nickname,
    standings,
)
from tests.conftest import cast, make_current, make_presentation, make_question, make_user

OPENED = datetime(2026, 5, 1, 10, 0, 0, tzinfo=UTC)

# --- points --------------------------------------------------------------------------------

seconds = st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False))
windows = st.integers(1, 3600)


@given(correct=st.booleans(), taken=seconds, window=windows)
def test_points_are_never_negative_nor_above_the_maximum(correct, taken, window) -> None:
    score = points(correct=correct, seconds=taken, window=window)
    assert 0 <= score <= MAX_POINTS
    if correct:
        assert score >= BASE_POINTS
    else:
        assert score == 0


@given(a=st.floats(0, 1e5, allow_nan=False), b=st.floats(0, 1e5, allow_nan=False), w=windows)
def test_faster_correct_scores_at_least_as_much(a, b, w) -> None:
    fast, slow = min(a, b), max(a, b)
    assert points(correct=True, seconds=fast, window=w) >= points(
        correct=True, seconds=slow, window=w
    )


def test_points_at_the_edges() -> None:
    assert points(correct=True, seconds=0, window=30) == MAX_POINTS
    assert points(correct=True, seconds=15, window=30) == 750
    assert points(correct=True, seconds=30, window=30) == BASE_POINTS
    assert points(correct=True, seconds=99, window=30) == BASE_POINTS
    assert points(correct=True, seconds=None, window=30) == BASE_POINTS
    assert points(correct=False, seconds=0, window=30) == 0


def test_rank_orders_by_points_then_time_and_shares_exact_ties() -> None:
    rows = [(1, "a", 900, 5.0), (2, "b", 1500, 9.0), (3, "c", 900, 3.0), (4, "d", 900, 5.0)]
    ranked = rank(rows)
    assert [(s.participant_id, s.rank) for s in ranked] == [(2, 1), (3, 2), (1, 3), (4, 3)]


# --- from the database ---------------------------------------------------------------------


def _quiz(db, owner, presentation, title, options, *, countdown: int | None = None, **extra):
    question = make_question(db, owner, presentation, "quiz", title, options=options, **extra)
    with db.write_session() as session:
        q = session.get(Question, question.id)
        q.opened_at = OPENED
        q.countdown_seconds = countdown
        session.add(q)
    with db.session() as session:
        return session.get(Question, question.id)


def _answer(db, question, who: str, labels: list[str], after: float) -> None:
    make_current(db, question)
    ids = {o["label"]: o["id"] for o in question.config["options"]}
    cast(db, question, who, {"option": [ids[label] for label in labels]})
    with db.write_session() as session:
        session.execute(
            sa.update(Ballot)
            .where(
                Ballot.question_id == question.id,
                Ballot.participant_id
                == sa.select(Participant.id)
                .where(Participant.token_hash == f"token-{who}")
                .scalar_subquery(),
            )
            .values(updated_at=OPENED + timedelta(seconds=after))
        )


def _names(db, presentation) -> dict[int, str]:
    with db.session() as session:
        rows = session.execute(
            sa.select(Participant.id, Participant.token_hash).where(
                Participant.presentation_id == presentation.id
            )
        ).all()
    return {pid: token.removeprefix("token-") for pid, token in rows}


def _board(db, presentation, before=None) -> list[tuple[str, int, int]]:
    names = _names(db, presentation)
    with db.session() as session:
        found = standings(session, presentation.id, before)
    return [(names[s.participant_id], s.score, s.rank) for s in found]


@pytest.fixture
def room(db: Database):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    return owner, presentation


def test_standings_score_right_and_fast_answers(db, room) -> None:
    owner, presentation = room
    q1 = _quiz(db, owner, presentation, "Hoofdstad?", "*Amsterdam\nRotterdam", countdown=20)
    q2 = _quiz(
        db,
        owner,
        presentation,
        "Provincies?",
        "*Utrecht\nBrabant\n*Zeeland\nParijs",
        multiple="1",
    )
    _answer(db, q1, "ans", ["Amsterdam"], after=5)  # 500 + 500 * 15/20 = 875
    _answer(db, q1, "bert", ["Rotterdam"], after=1)  # wrong: 0
    _answer(db, q1, "carla", ["Amsterdam"], after=25)  # after the countdown: 500
    _answer(db, q2, "ans", ["Utrecht"], after=1)  # only one of two: wrong
    _answer(db, q2, "bert", ["Utrecht", "Zeeland"], after=3)  # 500 + 500 * 27/30 = 950
    _answer(db, q2, "carla", ["Utrecht", "Zeeland", "Brabant"], after=0)  # too many: wrong
    assert _board(db, presentation) == [("bert", 950, 1), ("ans", 875, 2), ("carla", 500, 3)]
    # A leaderboard at position 2 counts only the first question.
    assert _board(db, presentation, before=2) == [
        ("ans", 875, 1),
        ("carla", 500, 2),
        ("bert", 0, 3),
    ]


def test_a_changed_answer_counts_with_the_time_of_the_change(db, room) -> None:
    owner, presentation = room
    q = _quiz(db, owner, presentation, "Hoofdstad?", "*Amsterdam\nRotterdam")
    _answer(db, q, "ans", ["Rotterdam"], after=1)
    assert _board(db, presentation) == [("ans", 0, 1)]
    _answer(db, q, "ans", ["Amsterdam"], after=15)  # the cache sees the change
    assert _board(db, presentation) == [("ans", 750, 1)]


def test_equal_points_rank_by_the_shorter_time(db, room) -> None:
    owner, presentation = room
    q1 = _quiz(db, owner, presentation, "Een", "*Ja\nNee")
    q2 = _quiz(db, owner, presentation, "Twee", "*Ja\nNee")
    _answer(db, q1, "ans", ["Ja"], after=40)  # 500, 30 s counted
    _answer(db, q2, "bert", ["Ja"], after=31)  # 500, 30 s counted
    _answer(db, q2, "ans", ["Nee"], after=0)
    assert _board(db, presentation) == [("ans", 500, 1), ("bert", 500, 1)]
    _answer(db, q1, "carla", ["Ja"], after=30)
    _answer(db, q2, "carla", ["Nee"], after=0)
    assert [r for _, _, r in _board(db, presentation)] == [1, 1, 1]


def test_without_an_opening_time_a_right_answer_gets_the_base(db, room) -> None:
    owner, presentation = room
    q = make_question(db, owner, presentation, "quiz", "Q", options="*Ja\nNee")
    make_current(db, q)
    cast(db, q, "ans", {"option": [q.config["options"][0]["id"]]})
    assert _board(db, presentation) == [("ans", BASE_POINTS, 1)]


def test_removed_participants_and_other_questions_do_not_count(db, room) -> None:
    owner, presentation = room
    q = _quiz(db, owner, presentation, "Q", "*Ja\nNee")
    choice = make_question(db, owner, presentation, "choice", "Mening", options="Ja\nNee")
    _answer(db, q, "ans", ["Ja"], after=0)
    _answer(db, q, "bert", ["Ja"], after=0)
    make_current(db, choice)
    cast(db, choice, "carla", {"option": [choice.config["options"][0]["id"]]})
    with db.write_session() as session:
        session.execute(
            sa.update(Participant)
            .where(Participant.token_hash == "token-bert")
            .values(removed_at=OPENED)
        )
    assert _board(db, presentation) == [("ans", MAX_POINTS, 1)]


def test_the_leaderboard_slide_tallies_the_top_with_nicknames(db, room) -> None:
    owner, presentation = room
    q = _quiz(db, owner, presentation, "Q", "*Ja\nNee")
    board = make_question(db, owner, presentation, "leaderboard", "Tussenstand")
    for n in range(12):
        _answer(db, q, f"p{n}", ["Ja"], after=n)
    with db.write_session() as session:
        set_nickname(
            session=session, presentation_id=presentation.id, token_hash="token-p0", raw="Anna"
        )
    with db.session() as session:
        results = quiz.leaderboard_of(session, board.id)
        tally = board_type().tally(session, board.id, board.config)
    assert results[1] == tally.responses == 12
    top = tally.data["top"]
    assert len(top) == 10
    assert top[0] == {"rank": 1, "nickname": "Anna", "score": MAX_POINTS}
    assert [row["rank"] for row in top] == list(range(1, 11))
    assert all(row["nickname"] is None for row in top[1:])


def board_type():
    from app.questions import get_type

    return get_type("leaderboard")


# --- nicknames -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "name"),
    [("  Anna  ", "Anna"), ("Jan  de\tVries", "Jan de Vries"), ("Zoë 🙂", "Zoë 🙂"), ("x", "x")],
)
def test_clean_nickname_accepts(raw: str, name: str) -> None:
    assert clean_nickname(raw) == name


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Enter a name."),
        ("   ", "Enter a name."),
        ("a" * 25, "A name can have at most %(n)s characters."),
        ("a" * 5000, "A name can have at most %(n)s characters."),
        ("An\u200bna", "Use only letters, digits and ordinary signs in your name."),
        ("Anna\u202e", "Use only letters, digits and ordinary signs in your name."),
        ("An\x00na", "Use only letters, digits and ordinary signs in your name."),
        ("\u3164", "Use only letters, digits and ordinary signs in your name."),
        (
            "Z\u0301\u0301\u0301\u0301oe",
            "Use only letters, digits and ordinary signs in your name.",
        ),
        ("!!!", "Use at least one letter or digit in your name."),
        ("kanker", "Choose another name."),
        ("K4NK3R boy", "Choose another name."),
    ],
)
def test_clean_nickname_refuses(raw: str, message: str) -> None:
    with pytest.raises(NicknameError) as error:
        clean_nickname(raw)
    assert error.value.message == message


@given(st.text(max_size=60))
def test_clean_nickname_gives_a_short_visible_name_or_refuses(raw: str) -> None:
    try:
        name = clean_nickname(raw)
    except NicknameError:
        return
    assert 1 <= len(name) <= quiz.MAX_NICKNAME and name == name.strip()
    assert not any(unicodedata.category(ch) in {"Cc", "Cf", "Co", "Cs", "Cn"} for ch in name)
    assert clean_nickname(name) == name


def test_nicknames_are_unique_ignoring_case(db, room) -> None:
    _, presentation = room

    def choose(token: str, raw: str) -> str:
        with db.write_session() as session:
            participant = set_nickname(
                session=session, presentation_id=presentation.id, token_hash=token, raw=raw
            )
            return participant.nickname or ""

    assert choose("t1", "Anna") == "Anna"
    assert choose("t1", "anna") == "Anna"  # the same name again: fine, unchanged
    for taken in ("ANNA", " anna ", "Ａｎｎａ"):
        with pytest.raises(NicknameError) as error:
            choose("t2", taken)
        assert error.value.params["name"].casefold().endswith(" 2")
    assert choose("t3", "Anna 2") == "Anna 2"
    with pytest.raises(NicknameError) as error:
        choose("t2", "anna")
    assert error.value.params == {"name": "anna 3"}
    with pytest.raises(NicknameError) as error:
        choose("t1", "Bert")
    assert error.value.message == "You already have a name: %(name)s."
    with db.session() as session:
        names = session.execute(
            sa.select(Participant.nickname).where(Participant.presentation_id == presentation.id)
        ).scalars()
        assert sorted(n for n in names if n) == ["Anna", "Anna 2"]
    assert nickname_key("Ａｎｎａ") == nickname_key("anna")


def test_paper_counts_take_no_place_on_the_leaderboard(db, room) -> None:
    """A counted paper answer has no person to rank: it counts in the results, not here."""
    owner, presentation = room
    q = _quiz(db, owner, presentation, "Q", "*Ja\nNee")
    _answer(db, q, "ans", ["Ja"], after=0)
    _answer(db, q, "paper", ["Ja"], after=0)
    with db.write_session() as session:
        session.execute(
            sa.update(Participant).where(Participant.token_hash == "token-paper").values(paper=True)
        )
    assert _board(db, presentation) == [("ans", MAX_POINTS, 1)]
