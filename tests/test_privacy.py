"""The privacy page says in Dutch and English what is stored, and what it says holds: no
column of the schema can hold an address or a browser signature, and a participant row holds
only what the page lists."""

from __future__ import annotations

import re
from datetime import date
from types import SimpleNamespace

import sqlalchemy as sa
from sqlmodel import SQLModel

import app.models
from app.templating import render
from tests.conftest import make_presentation, make_user

# Column names that would hold where a vote came from or which browser sent it.
SUSPECT = re.compile(
    r"(^|_)(ip|ips|ipv4|ipv6|ip_address|address|addr|remote|host|hostname|user_agent|useragent|"
    r"agent|forwarded|x_forwarded_for|device|fingerprint|location|geo)(_|$)"
)

# What the privacy page says a participant leaves behind; a new column is a new claim to make.
PARTICIPANT_DATA = {
    "participant": {
        "id",
        "presentation_id",
        "token_hash",
        "pseudonym",
        "nickname",
        "removed_at",
        "group_name",
        "paper",
        "created_at",
    },
    "ballot": {
        "id",
        "question_id",
        "participant_id",
        "client_key",
        "answer",
        "created_at",
        "updated_at",
    },
    "ballot_item": {
        "id",
        "ballot_id",
        "question_id",
        "key",
        "value",
        "text",
        "position",
        "moderation",
    },
    "ballot_key": {"id", "ballot_id", "client_key", "answer"},
    "qa_entry": {
        "id",
        "question_id",
        "participant_id",
        "text",
        "name",
        "state",
        "answered",
        "pinned",
        "created_at",
    },
    "qa_vote": {"id", "entry_id", "participant_id", "created_at"},
}


def _suspects(columns):
    return sorted(name for name in columns if SUSPECT.search(name.lower()))


def test_no_table_has_a_column_for_addresses_or_browsers():
    found = {
        table.name: _suspects(c.name for c in table.columns)
        for table in SQLModel.metadata.sorted_tables
    }
    assert {t: c for t, c in found.items() if c} == {}
    # The check itself catches such columns.
    assert _suspects(["ip", "client_ip", "user_agent", "remote_addr", "ip_address"]) == [
        "client_ip",
        "ip",
        "ip_address",
        "remote_addr",
        "user_agent",
    ]
    assert _suspects(["pseudonym", "token_hash", "client_key", "email"]) == []


def test_the_migrated_database_has_no_such_column_either(db):
    inspector = sa.inspect(db.engine)
    for table in inspector.get_table_names():
        columns = [c["name"] for c in inspector.get_columns(table)]
        assert _suspects(columns) == [], table


def test_participant_data_is_what_the_privacy_page_lists():
    tables = {t.name: {c.name for c in t.columns} for t in SQLModel.metadata.sorted_tables}
    for table, columns in PARTICIPANT_DATA.items():
        assert tables[table] == columns, f"{table}: update the privacy page and this list"


def test_privacy_page_in_dutch_and_english(client):
    dutch = client.get("/privacy?lang=nl")
    english = client.get("/privacy?lang=en")
    assert dutch.status_code == english.status_code == 200
    assert '<html lang="nl">' in dutch.text and '<html lang="en">' in english.text
    assert "Wat we bewaren" in dutch.text and "IP-adres" in dutch.text
    assert "Wat we niet bewaren" in dutch.text and "deelnemersnummer" in dutch.text
    assert "What we store" in english.text and "IP address" in english.text
    assert "What we do not store" in english.text and "participant number" in english.text
    for text in (dutch.text, english.text):
        assert "<script>" not in text
    # Without a choice: the browser's language (as on the join page); Dutch without one.
    assert "What we store" in client.get("/privacy", headers={"Accept-Language": "en"}).text
    assert "Wat we bewaren" in client.get("/privacy", headers={"Accept-Language": "nl-NL"}).text
    assert "Wat we bewaren" in client.get("/privacy").text
    # A language we do not have is no choice.
    assert (
        "Wat we bewaren" in client.get("/privacy?lang=xx", headers={"Accept-Language": "nl"}).text
    )


def test_privacy_page_with_a_join_code_says_how_long_that_run_is_kept(client, db):
    owner = make_user(db)
    run = make_presentation(db, owner, language="en")
    with db.write_session() as session:
        session.execute(
            sa.update(app.models.Presentation)
            .where(app.models.Presentation.id == run.id)
            .values(retention_days=30, run_date=date(2026, 5, 12))
        )
    page = client.get(f"/privacy?code={run.join_code}")
    assert "What we store" in page.text  # the run's language
    assert "deleted 30 days after 12-05-2026" in page.text
    assert f'href="/p/{run.join_code}"' in page.text
    dutch = client.get(f"/privacy?code={run.join_code}&lang=nl")
    assert "we wissen de antwoorden 30 dagen na 12-05-2026" in dutch.text
    unknown = client.get("/privacy?code=99999999&lang=en")
    assert unknown.status_code == 200 and 'id="privacy-run"' not in unknown.text
    kept = make_presentation(db, owner)
    assert (
        "until the organiser deletes them"
        in client.get(f"/privacy?code={kept.join_code}&lang=en").text
    )


def test_unknown_codes_on_the_privacy_page_count_as_guesses(client, db):
    owner = make_user(db)
    run = make_presentation(db, owner)
    limit = client.app.state.services.settings.join_rate_per_minute
    for n in range(limit + 1):
        client.get(f"/privacy?code={10000000 + n}")
    # Past the limit no code is looked up here, so nothing tells a right one from a wrong one.
    assert 'id="privacy-run"' not in client.get(f"/privacy?code={run.join_code}").text


def test_privacy_link_in_both_languages():
    presentation = SimpleNamespace(join_code="12345678")
    nl = render("_privacy_link.html", "nl", {"presentation": presentation})
    en = render("_privacy_link.html", "en", {})
    assert 'href="/privacy?lang=nl&amp;code=12345678"' in nl and "Privacy: wat we bewaren" in nl
    assert 'href="/privacy?lang=en"' in en and "Privacy: what we store" in en


def test_join_and_participant_pages_link_to_the_privacy_page(client, db):
    owner = make_user(db)
    run = make_presentation(db, owner, language="en")
    assert 'href="/privacy?lang=nl"' in client.get("/", headers={"Accept-Language": "nl"}).text
    phone = client.get(f"/p/{run.join_code}")
    assert phone.status_code == 200
    link = f'href="/privacy?lang=en&amp;code={run.join_code}"'
    assert link in phone.text and "Privacy: what we store" in phone.text
