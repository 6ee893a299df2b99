"""The summary CSV: one row per question and answer, numbers equal to the votes cast, groups
under the threshold without numbers, formulas neutralised."""

from __future__ import annotations

import csv
import io

import pytest

from app.db import Database
from app.models import Presentation
from app.services.export import summary_csv_chunks, summary_rows
from tests.conftest import Facilitator, login, make_user
from tests.reports_support import TITLE, build


@pytest.fixture
def owner(db: Database) -> Facilitator:
    return make_user(db)


def rows_of(db: Database, presentation: Presentation) -> list[tuple]:
    with db.session() as session:
        fresh = session.get(Presentation, presentation.id)
        assert fresh is not None
        return list(summary_rows(session, fresh))


def test_summary_numbers_are_the_votes_cast(db: Database, owner: Facilitator) -> None:
    built = build(db, owner, language="en")
    rows = rows_of(db, built.presentation)
    choice = {(r[4], r[5]): r[6:] for r in rows if r[2] == "SMART genoeg?"}
    # (responses, count, share, mean, spread, paper)
    assert choice[("Everyone", "Ja")] == (7, 5, 71.4, None, None, 3)
    assert choice[("Everyone", "Nee")] == (7, 2, 28.6, None, None, 3)
    assert choice[("huurder", "Ja")] == (6, 5, 83.3, None, None, None)
    assert choice[("huurder", "Nee")] == (6, 1, 16.7, None, None, None)
    # One voter in corporatie: under the threshold of 3, no numbers at all.
    assert choice[("corporatie", "too few votes")] == (None,) * 6
    assert not any(k[0] == "corporatie" and k[1] != "too few votes" for k in choice)

    scale = [r for r in rows if r[2] == "Samenwerking" and r[4] == "Everyone"]
    assert len(scale) == 1
    _, _, _, kind, _, label, responses, count, _share, mean, spread, paper = scale[0]
    assert (kind, label, responses, count, paper) == ("Scale", "Huurders", 3, 3, 0)
    assert mean == pytest.approx(11 / 3, abs=0.01)
    values = [4, 2, 5]
    expected = (sum((v - 11 / 3) ** 2 for v in values) / 3) ** 0.5
    assert spread == pytest.approx(expected, abs=0.01)
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)  # in question order


def test_threshold_follows_the_presentation(db: Database, owner: Facilitator) -> None:
    built = build(db, owner, language="en")
    with db.write_session() as session:
        row = session.get(Presentation, built.presentation.id)
        assert row is not None
        row.group_threshold = 1
        session.add(row)
    rows = rows_of(db, built.presentation)
    corporatie = {r[5]: r[7] for r in rows if r[2] == "SMART genoeg?" and r[4] == "corporatie"}
    assert corporatie == {"Ja": 0, "Nee": 1}
    with db.write_session() as session:
        row = session.get(Presentation, built.presentation.id)
        assert row is not None
        row.group_threshold = 7
        session.add(row)
    rows = rows_of(db, built.presentation)
    groups = {(r[4], r[5]) for r in rows if r[2] == "SMART genoeg?"}
    assert groups == {
        ("Everyone", "Ja"),
        ("Everyone", "Nee"),
        ("huurder", "too few votes"),
        ("corporatie", "too few votes"),
    }


def test_summary_csv_neutralises_formulas_and_speaks_dutch(
    db: Database, owner: Facilitator
) -> None:
    built = build(db, owner, language="nl")
    with db.write_session() as session:  # a question title that would run as a formula
        from app.models import Question

        question = session.get(Question, built.choice.id)
        assert question is not None
        question.title = TITLE
        session.add(question)
    for excel in (False, True):
        with db.session() as session:
            text = "".join(summary_csv_chunks(session, built.presentation, excel=excel))
        if excel:
            assert text.startswith("\ufeff")
            text = text[1:]
        parsed = list(csv.reader(io.StringIO(text, newline=""), delimiter=";" if excel else ","))
        assert parsed[0][:6] == [
            "Vraagnummer",
            "Ronde",
            "Vraag",
            "Soort vraag",
            "Groep",
            "Antwoord",
        ]
        titled = [r for r in parsed[1:] if r[2].endswith(TITLE)]
        assert titled and all(r[2] == "'" + TITLE for r in titled)
        everyone_ja = next(r for r in titled if r[4] == "Iedereen" and r[5] == "Ja")
        share = "71,4" if excel else "71.4"
        assert everyone_ja[6:] == ["7", "5", share, "", "", "3"]
        assert ["corporatie", "te weinig stemmen"] in [r[4:6] for r in titled]


def test_summary_download_is_the_owners_only(client, db: Database) -> None:
    owner = make_user(db)
    built = build(db, owner, language="en")
    url = f"/manage/presentations/{built.presentation.id}/summary.csv"
    assert client.get(url, follow_redirects=False).status_code in (303, 307, 401)
    login(client, owner.email)
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "-summary.csv" in response.headers["content-disposition"]
    assert "too few votes" in response.text
    client.cookies.clear()
    other = make_user(db, "bob@example.org")
    login(client, other.email)
    assert client.get(url).status_code == 404


def test_numbers_with_decimals_and_word_clouds(db: Database, owner: Facilitator) -> None:
    from tests.conftest import cast, make_current, make_presentation, make_question

    presentation = make_presentation(db, owner, language="en")
    numeric = make_question(
        db, owner, presentation, "numeric", "Hoeveel?", decimals="1", unit="km", max="100"
    )
    cloud = make_question(db, owner, presentation, "wordcloud", "In één woord")
    make_current(db, numeric)
    cast(db, numeric, "ans", {"number": ["3,5"]})
    cast(db, numeric, "bert", {"number": ["4"]})
    make_current(db, cloud)
    cast(db, cloud, "ans", {"word": ["Samen", "Rust"]})
    cast(db, cloud, "bert", {"word": ["samen"]})
    rows = rows_of(db, presentation)
    number = next(r for r in rows if r[2] == "Hoeveel?")
    assert number[5:] == ("km", 2, 2, 100.0, 3.75, 0.25, 0)
    words = [(r[5], r[7]) for r in rows if r[2] == "In één woord"]
    assert words == [("samen", 2), ("rust", 1)]


def test_summary_leaves_the_callers_language_alone(db: Database, owner: Facilitator) -> None:
    """Another caller (the API, a page) keeps its own language while reading a summary."""
    from app.i18n import current_language
    from app.services import report

    built = build(db, owner, language="nl")
    token = current_language.set("en")
    try:
        rows = rows_of(db, built.presentation)
        with db.session() as session:
            made = report.build(session, built.presentation)
        assert current_language.get() == "en"
    finally:
        current_language.reset(token)
    assert ("Iedereen", "Ja") in {(r[4], r[5]) for r in rows}
    assert made.questions[0].kind_label == "Meerkeuzevraag"
