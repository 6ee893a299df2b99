"""The printable report: the owner's only, the numbers of the votes cast, approved open
answers only, groups under the threshold not shown apart, in the presentation's language."""

from __future__ import annotations

import re
from datetime import date

import pytest

from app.db import Database
from app.models import Presentation
from tests.conftest import login, make_user
from tests.reports_support import APPROVED, HIDDEN, WAITING, build


def text_of(html: str) -> str:
    """The page as a reader sees it: tags gone, whitespace folded."""
    inline = re.sub(r"</?(bdi|strong|em|span)\b[^>]*>", "", html)
    return " ".join(re.sub(r"<[^>]+>", " ", inline).split())


@pytest.fixture
def owner(db: Database):
    return make_user(db)


def url(presentation: Presentation) -> str:
    return f"/manage/presentations/{presentation.id}/report"


def test_report_is_the_owners_only(client, db: Database, owner) -> None:
    built = build(db, owner)
    assert client.get(url(built.presentation), follow_redirects=False).status_code in (303, 307)
    other = make_user(db, "bob@example.org")
    login(client, other.email)
    assert client.get(url(built.presentation)).status_code == 404
    assert client.get("/manage/presentations/999999/report").status_code == 404


def test_report_numbers_and_open_answers(client, db: Database, owner) -> None:
    built = build(db, owner, language="nl", title="Participatielab 2026")
    with db.write_session() as session:
        row = session.get(Presentation, built.presentation.id)
        assert row is not None
        row.run_date = date(2026, 11, 28)
        row.place = "Buurthuis De Linde"
        session.add(row)
    login(client, owner.email)
    response = client.get(url(built.presentation))
    assert response.status_code == 200
    html = response.text
    text = text_of(html)
    assert "Participatielab 2026" in text
    assert "28-11-2026" in text and "Buurthuis De Linde" in text
    # 4 phones + 3 on paper joined.
    assert "Deelnemers 7 (waarvan 3 op papier)" in text
    # Choice: Ja 5 (71,4%), Nee 2 (28,6%), 7 responses of which 3 on paper.
    assert "7 antwoorden · waarvan 3 op papier" in text
    assert "Ja 5 71,4" in text and "Nee 2 28,6" in text
    # Scale: mean 3,67 with its spread.
    assert "Huurders 3 100,0 3,67 1,25" in text
    assert "Huurders 1: 0 · 2: 1 · 3: 0 · 4: 1 · 5: 1" in text  # the scale's distribution
    # Groups: huurder 6 on the choice question, corporatie too few everywhere.
    assert "huurder: 6" in text
    assert "corporatie: te weinig stemmen" in text
    assert "corporatie: 1" not in text
    # Open answers: approved and not moderated ones; never hidden or awaiting approval.
    assert APPROVED in text and "Goede zaal" in text and "Fijne dag" in text
    assert HIDDEN not in text and WAITING not in text
    assert "Gemaakt met Stemlab op" in text
    # Printable: the A4 page rule and no projector theme.
    assert 'class="report"' in html


def test_report_in_the_presentations_language(client, db: Database, owner) -> None:
    built = build(db, owner, language="en", title="Workshop")
    login(client, owner.email)
    client.cookies.set("stemlab_lang", "nl")
    text = text_of(client.get(url(built.presentation)).text)
    assert "Participation" in text and "Deelname" not in text
    assert "corporatie: too few votes" in text
    assert "Ja 5 71.4" in text


def test_reports_card_links_everything(client, db: Database, owner) -> None:
    built = build(db, owner)
    login(client, owner.email)
    page = client.get(f"/manage/presentations/{built.presentation.id}").text
    for path in ("report", "summary.csv", "export.xlsx"):
        assert f'href="/manage/presentations/{built.presentation.id}/{path}' in page


def test_report_of_an_empty_presentation(client, db: Database, owner) -> None:
    from tests.conftest import make_presentation

    presentation = make_presentation(db, owner, language="en", title="Nothing yet")
    login(client, owner.email)
    response = client.get(url(presentation))
    assert response.status_code == 200
    text = text_of(response.text)
    assert "Nothing yet" in text and "Participants 0" in text
    assert "Group" not in text  # no groups, no group table
