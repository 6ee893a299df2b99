"""The statistics behind every split and comparison: database numbers equal a Python
reference, and groups below the threshold are never shown apart."""

from __future__ import annotations

import random
import statistics

import pytest
import sqlalchemy as sa

from app.models import Participant
from app.services import stats
from tests.conftest import cast, make_current, make_presentation, make_question, make_user


def _set_group(db, name: str, group: str | None) -> None:
    with db.write_session() as session:
        session.execute(
            sa.update(Participant)
            .where(Participant.token_hash == f"token-{name}")
            .values(group_name=group)
        )


def test_scale_means_and_spread_per_group_match_python(db) -> None:
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(
        db, owner, presentation, "scale", statements="Samenwerking\nSMART", dont_know="on"
    )
    make_current(db, question)
    s1, s2 = (s["id"] for s in question.config["statements"])
    rng = random.Random(7)
    groups = ["huurder", "corporatie", "gemeente"]
    votes: dict[str, tuple[str, str, int | None]] = {}
    for n in range(40):
        group = groups[n % 3] if n < 38 else "gemeente"
        value = rng.choice([1, 2, 3, 4, 5, None])
        raw = "dk" if value is None else str(value)
        cast(db, question, f"p{n}", {f"s-{s1}": [raw], f"s-{s2}": ["3"]})
        _set_group(db, f"p{n}", group)
        votes[f"p{n}"] = (group, s1, value)
    with db.session() as session:
        got = stats.question_stats(session, [question.id], by_group=True, threshold=3)[question.id]
    for group in [stats.ALL, *groups]:
        mine = [v for g, _, v in votes.values() if group in (stats.ALL, g)]
        values = [v for v in mine if v is not None]
        stat = got.of(group)[s1]
        assert got.responses[group] == len(mine)
        assert stat.count == len(mine) and stat.rated == len(values)
        assert stat.mean == pytest.approx(statistics.fmean(values))
        assert stat.spread == pytest.approx(statistics.pstdev(values))
        assert got.of(group)[s2].mean == pytest.approx(3.0)
    assert got.too_few == []


def test_a_group_below_the_threshold_is_not_shown_apart(db) -> None:
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(db, owner, presentation, "choice", options="Ja\nNee")
    yes, no = (o["id"] for o in question.config["options"])
    make_current(db, question)
    for n, (group, option) in enumerate(
        [("huurder", yes), ("huurder", no), ("huurder", yes), ("gemeente", no), ("gemeente", no)]
    ):
        cast(db, question, f"p{n}", {"option": [option]})
        _set_group(db, f"p{n}", group)
    cast(db, question, "nobody", {"option": [yes]})  # joined without picking a group
    with db.session() as session:
        got = stats.question_stats(session, [question.id], by_group=True, threshold=3)[question.id]
    assert got.too_few == ["", "gemeente"]
    assert set(got.responses) == {stats.ALL, "huurder"}
    assert "gemeente" not in got.keys
    assert got.of("huurder")[yes].count == 2 and got.share(yes, "huurder") == pytest.approx(2 / 3)
    # Everyone still counts everyone, the small groups included.
    assert got.responses[stats.ALL] == 6
    assert got.of()[no].count == 3 and got.of()[yes].count == 3


def test_shift_between_two_rounds(db) -> None:
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    first = make_question(db, owner, presentation, "choice", options="Ja\nNee")
    second = make_question(db, owner, presentation, "choice", options="Ja\nNee")
    yes, no = (o["id"] for o in first.config["options"])
    make_current(db, first)
    for n in range(4):
        cast(db, first, f"a{n}", {"option": [yes if n == 0 else no]})
    make_current(db, second)
    for n in range(4):
        cast(db, second, f"a{n}", {"option": [yes if n < 3 else no]})
    with db.session() as session:
        numbers = stats.question_stats(session, [first.id, second.id])
    moved = stats.shifts(numbers[first.id], numbers[second.id], [yes, no], by_mean=False)
    assert [(s.key, s.before, s.after) for s in moved] == [(yes, 0.25, 0.75), (no, 0.75, 0.25)]
    assert moved[0].delta == pytest.approx(0.5)
