"""The comparison of runs: numbers equal the votes cast in each run, questions matched by
lineage, a trend line where there are more than two runs."""

from __future__ import annotations

import re
import statistics
from datetime import date

import pytest

from app.services import runs
from tests.conftest import login, make_presentation, make_question, make_user
from tests.runs_support import new_run, questions, vote

# Per run: choice picks (one participant each) and scale ratings of statement 1 and 2.
PICKS = [["o1", "o1", "o2"], ["o1", "o2", "o2", "o2"], ["o2", "o3", "o3", "o1", "o3"]]
RATINGS = [[(4, 2), (5, 3), (3, 3)], [(2, 2), (3, 1)], [(1, 5), (2, 4), (1, 5), (5, 5)]]


def _three_runs(db):
    owner = make_user(db)
    first = make_presentation(db, owner, title="Jaarevaluatie")
    make_question(db, owner, first, "choice", "SMART?", options="Ja\nNee\nDeels")
    make_question(db, owner, first, "scale", "Samenwerking", statements="Huurders\nGemeente")
    with db.write_session() as session:
        first = runs.set_run_details(
            session=session,
            owner_id=owner.user_id,
            presentation_id=first.id,
            run_date=date(2024, 5, 1),
            place="Buurthuis",
            retention_days=None,
        )
    second = new_run(db, owner, first, date(2025, 5, 1), "Stadhuis")
    third = new_run(db, owner, first, date(2026, 5, 1), "Bibliotheek")
    # Only the last run asks this one.
    make_question(db, owner, third, "choice", "Nieuwe vraag", options="A\nB")
    all_runs = [first, second, third]
    for index, run in enumerate(all_runs):
        choice, scale = questions(db, run)[:2]
        for n, option in enumerate(PICKS[index]):
            vote(db, choice, f"c{n}", {"option": [option]})
        s1, s2 = (s["id"] for s in scale.config["statements"])
        for n, (a, b) in enumerate(RATINGS[index]):
            vote(db, scale, f"s{n}", {f"s-{s1}": [str(a)], f"s-{s2}": [str(b)]})
    extra = questions(db, third)[2]
    vote(db, extra, "x0", {"option": [extra.config["options"][1]["id"]]})
    return owner, all_runs


def test_comparison_numbers_equal_the_votes_cast_in_each_run(db):
    owner, all_runs = _three_runs(db)
    with db.session() as session:
        comparison = runs.compare(
            session=session, owner_id=owner.user_id, presentation_id=all_runs[0].id
        )
    assert [r.id for r in comparison.runs] == [r.id for r in all_runs]
    choice, scale, extra = comparison.questions
    assert (choice.title, choice.measure) == ("SMART?", "share")
    assert choice.responses == [len(p) for p in PICKS]
    for row in choice.rows:
        expected = [p.count(row.key) / len(p) for p in PICKS]
        assert [c.value for c in row.cells] == pytest.approx(expected)
        assert [c.count for c in row.cells] == [p.count(row.key) for p in PICKS]
        assert row.change == pytest.approx(expected[-1] - expected[0])
    assert [r.label for r in choice.rows] == ["Ja", "Nee", "Deels"]
    assert scale.measure == "mean" and scale.responses == [len(r) for r in RATINGS]
    for position, row in enumerate(scale.rows):
        values = [[pair[position] for pair in ratings] for ratings in RATINGS]
        assert [c.value for c in row.cells] == pytest.approx([statistics.fmean(v) for v in values])
        assert [c.spread for c in row.cells] == pytest.approx(
            [statistics.pstdev(v) for v in values]
        )
    # The question only the newest run asks: missing in the others.
    assert extra.title == "Nieuwe vraag"
    assert extra.questions[0] is None and extra.questions[1] is None
    assert extra.responses == [None, None, 1]
    assert [row.cells[:2] for row in extra.rows] == [[None, None], [None, None]]
    assert extra.rows[1].cells[2].count == 1


def test_the_comparison_is_the_same_from_every_run_of_the_series(db):
    owner, all_runs = _three_runs(db)
    with db.session() as session:
        shapes = [
            [
                (q.lineage, q.responses)
                for q in runs.compare(
                    session=session, owner_id=owner.user_id, presentation_id=run.id
                ).questions
            ]
            for run in all_runs
        ]
    assert shapes[0] == shapes[1] == shapes[2]


def test_compare_page_shows_numbers_trend_and_missing_questions(client, db):
    owner, all_runs = _three_runs(db)
    login(client, owner.email)
    page = client.get(f"/manage/presentations/{all_runs[1].id}/compare")
    assert page.status_code == 200
    html = page.text
    for run in all_runs:
        assert run.run_date.strftime("%d-%m-%Y") in html
    # Shares as percentages, per run, for "Ja" (o1): 2/3, 1/4, 1/5.
    row = re.search(r'<tr data-key="o1">(.*?)</tr>', html, re.S).group(1)
    cells = re.findall(r'data-count="(\d+)">(\d+)%', row)
    assert cells == [("2", "67"), ("1", "25"), ("1", "20")]
    assert "-47" in row  # change first -> last in percentage points
    # A trend line per option or statement, with a text alternative.
    assert html.count('<svg class="sparkline"') == 3 + 2 + 2
    title = re.search(r"<title[^>]*>([^<]*)</title>", row).group(1)
    assert "67%" in title and "25%" in title and "20%" in title
    assert "<polyline" in row
    # Scale means with their spread (Dutch decimal comma by default).
    s1 = questions(db, all_runs[0])[1].config["statements"][0]["id"]
    statement = re.search(rf'<tr data-key="{s1}">(.*?)</tr>', html, re.S).group(1)
    means = re.findall(r'data-count="\d+">([\d,.]+) <span class="spread">± ([\d,.]+)', statement)
    expected = [statistics.fmean(p[0] for p in r) for r in RATINGS]
    assert [float(m.replace(",", ".")) for m, _ in means] == pytest.approx(expected, abs=0.05)
    # The question the first two runs did not ask.
    extra = html[html.index("Nieuwe vraag") :]
    assert extra.count("not asked in this run") + extra.count("niet gevraagd") >= 2


def test_two_runs_have_no_trend_line_but_a_change(client, db):
    owner = make_user(db)
    first = make_presentation(db, owner)
    make_question(db, owner, first, "choice", "SMART?", options="Ja\nNee")
    second = new_run(db, owner, first, date(2026, 1, 1))
    vote(db, questions(db, first)[0], "a", {"option": ["o1"]})
    vote(db, questions(db, second)[0], "b", {"option": ["o2"]})
    login(client, owner.email)
    html = client.get(f"/manage/presentations/{first.id}/compare").text
    assert "<svg" not in html
    row = re.search(r'<tr data-key="o1">(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r'data-count="(\d+)">(\d+)%', row) == [("0", "0"), ("1", "100")]
    assert "+100" in row  # the undated first run comes last


def test_trend_points_follow_the_values():
    points = runs.trend_points([0.0, None, 1.0, 0.5], 0.0, 1.0, width=120, height=32)
    assert points == [(0.0, 32.0), (80.0, 0.0), (120.0, 16.0)]


def test_slides_are_left_out_and_open_questions_count_responses(db):
    owner = make_user(db)
    first = make_presentation(db, owner)
    make_question(db, owner, first, "content", "Welkom")
    make_question(db, owner, first, "open", "Tips")
    second = new_run(db, owner, first, date(2026, 1, 1))
    vote(db, questions(db, second)[1], "a", {"text": ["Meer koffie"]})
    with db.session() as session:
        comparison = runs.compare(session=session, owner_id=owner.user_id, presentation_id=first.id)
    assert [(q.title, q.measure, q.rows) for q in comparison.questions] == [("Tips", "", [])]
    assert comparison.questions[0].responses == [1, 0]  # the undated first run comes last
