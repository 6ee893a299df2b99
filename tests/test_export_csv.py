"""CSV export: formula neutralising, a lossless round trip, and every vote of a presentation."""

from __future__ import annotations

import contextvars
import csv
import io
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import example, given
from hypothesis import strategies as st

from app.db import Database
from app.models import BallotItem, Participant, Presentation, Question
from app.questions import get_type
from app.services.export import csv_chunks, export_rows, neutralise
from app.services.votes import VoteCommand, record_votes
from tests.conftest import (
    Facilitator,
    cast,
    make_current,
    make_presentation,
    make_question,
    make_user,
)

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
HEADER_EN = [
    "Presentation",
    "Question number",
    "Round",
    "Question",
    "Question type",
    "Participant",
    "Answer",
    "Value",
    "Submitted (UTC)",
    "Moderation",
    "Group",
    "Source",
]
HEADER_NL = [
    "Presentatie",
    "Vraagnummer",
    "Ronde",
    "Vraag",
    "Soort vraag",
    "Deelnemer",
    "Antwoord",
    "Waarde",
    "Verstuurd (UTC)",
    "Controle",
    "Groep",
    "Bron",
]


def parse(text: str, *, excel: bool) -> list[list[str]]:
    """The rows of an export, read the way a careful CSV reader does."""
    if excel:
        assert text.startswith("\ufeff")
        text = text[1:]
    else:
        assert not text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";" if excel else ","))


def export_text(rows: list[tuple[str, ...]], *, excel: bool, language: str = "en") -> str:
    return "".join(csv_chunks(iter(rows), language=language, excel=excel))


# --- neutralise ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=SUM(A1:A9)", "'=SUM(A1:A9)"),
        ("+31 6 12345678", "'+31 6 12345678"),
        ("-1", "-1"),  # a plain number (a guess below zero) stays a number
        ("-3,5", "-3,5"),
        ("-3.25", "-3.25"),
        ("-1+1", "'-1+1"),
        ("-1)", "'-1)"),
        ("-", "'-"),
        ("--1", "'--1"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("\x00=1+1", "'=1+1"),
        ("a\x00b", "ab"),
        ("\x00", ""),
        ("Meer koffie", "Meer koffie"),
        ("a=b", "a=b"),
        (" =1", " =1"),
        ("'=1", "'=1"),
        ("", ""),
    ],
)
def test_neutralise(cell: str, expected: str) -> None:
    assert neutralise(cell) == expected


@given(st.text())
def test_neutralise_never_leaves_a_formula_or_nul(cell: str) -> None:
    result = neutralise(cell)
    assert "\x00" not in result
    visible = cell.replace("\x00", "")
    number = re.fullmatch(r"-?[0-9]+(?:[.,][0-9]+)?", visible, flags=re.ASCII) is not None
    assert number or not result.startswith(TRIGGERS)
    # Either untouched, or one quote in front when the text would start a formula.
    quoted = visible.startswith(TRIGGERS) and not number
    assert result == ("'" + visible if quoted else visible)


# --- round trip ----------------------------------------------------------------------------

cells = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from("\"',;\r\n\x00=+-@\t a\ufeff")),
    st.tuples(st.sampled_from([*TRIGGERS, "\x00="]), st.text()).map("".join),
)
tables = st.integers(1, 8).flatmap(lambda width: st.lists(st.tuples(*[cells] * width), max_size=12))


@given(rows=tables, excel=st.booleans())
@example(rows=[("",)], excel=False)
@example(rows=[('a "quoted", value', "line\r\nbreak", "bare\rreturn", "semi;colon")], excel=True)
@example(rows=[("=1+1", "\x00", "-", "@\n")], excel=False)
def test_csv_round_trip(rows: list[tuple[str, ...]], excel: bool) -> None:
    parsed = parse(export_text(rows, excel=excel), excel=excel)
    assert parsed[0] == HEADER_EN
    assert parsed[1:] == [[neutralise(cell) for cell in row] for row in rows]


def test_csv_variants_use_their_delimiter() -> None:
    rows = [("a", "b")]
    assert export_text(rows, excel=False).splitlines()[1] == "a,b"
    excel = export_text(rows, excel=True)
    assert excel.startswith("\ufeff")
    assert excel.splitlines()[1] == "a;b"
    assert excel.endswith("\r\n")


def test_csv_header_in_the_presentation_language() -> None:
    assert parse(export_text([], excel=False, language="nl"), excel=False) == [HEADER_NL]
    assert parse(export_text([], excel=True, language="en"), excel=True) == [HEADER_EN]


def test_csv_streams_in_chunks_without_losing_rows() -> None:
    rows = [(str(n), f"regel\n{n}") for n in range(1201)]
    chunks = list(csv_chunks(iter(rows), language="en", excel=True))
    assert len(chunks) == 3  # after 500 and 1000 rows, then the rest
    assert chunks[0].startswith("\ufeff")
    assert not any(chunk.startswith("\ufeff") for chunk in chunks[1:])
    parsed = parse("".join(chunks), excel=True)
    assert parsed[1:] == [list(row) for row in rows]


# --- every vote of a presentation ----------------------------------------------------------


def vote(db: Database, question: Question, participant: str, form: dict) -> None:
    cast(db, question, participant, form)


def ids(question: Question, field: str) -> dict[str, str]:
    """Label -> id of a question's options or statements."""
    return {entry["label"]: entry["id"] for entry in question.config[field]}


def exported(db: Database, presentation: Presentation) -> list[tuple[str, ...]]:
    with db.session() as session:
        fresh = session.get(Presentation, presentation.id)
        assert fresh is not None
        return list(export_rows(session, fresh))


@pytest.fixture
def local_time_far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run with a server clock in UTC+9, so local-time slips show up in the export."""
    monkeypatch.setenv("TZ", "JST-9")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def owner(db: Database) -> Facilitator:
    return make_user(db)


def build_session(db: Database, owner: Facilitator) -> tuple[Presentation, list[Question]]:
    """One question of each type, answered by ans and bert."""
    presentation = make_presentation(db, owner, language="en", title="Participatielab 2026")
    choice = make_question(
        db,
        owner,
        presentation,
        "choice",
        "Welk thema eerst?",
        options="Jaarcyclus\nDuurzaamheid\nFinanciën",
        multiple="1",
        max_choices="2",
    )
    scale = make_question(
        db,
        owner,
        presentation,
        "scale",
        "Samenwerking",
        statements="Huurders\nGemeente",
        dont_know="1",
    )
    cloud = make_question(db, owner, presentation, "wordcloud", "In één woord")
    open_ = make_question(db, owner, presentation, "open", "Tips?")

    options, statements = ids(choice, "options"), ids(scale, "statements")
    make_current(db, choice)
    vote(db, choice, "ans", {"option": [options["Jaarcyclus"], options["Financiën"]]})
    vote(db, choice, "bert", {"option": [options["Duurzaamheid"]]})
    make_current(db, scale)
    vote(
        db,
        scale,
        "ans",
        {f"s-{statements['Huurders']}": ["4"], f"s-{statements['Gemeente']}": ["dk"]},
    )
    vote(db, scale, "bert", {f"s-{statements['Gemeente']}": ["2"]})
    make_current(db, cloud)
    vote(db, cloud, "ans", {"word": ["Samen", "Vertrouwen"]})
    vote(db, cloud, "bert", {"word": ["ＳＡＭＥＮ"]})
    make_current(db, open_)
    vote(db, open_, "ans", {"text": ["Meer koffie"]})
    vote(db, open_, "bert", {"text": ['=HYPERLINK("http://evil.example", "klik")']})
    return presentation, [choice, scale, cloud, open_]


def test_export_rows_one_row_per_ballot_item(
    db: Database, owner: Facilitator, local_time_far_from_utc: None
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    presentation, _ = build_session(db, owner)
    after = datetime.now(UTC)
    rows = exported(db, presentation)

    with db.session() as session:
        items = session.execute(sa.select(sa.func.count()).select_from(BallotItem)).scalar_one()
        pseudonyms = dict(
            session.execute(sa.select(Participant.token_hash, Participant.pseudonym)).all()
        )
    assert len(rows) == items == 11
    ans, bert = pseudonyms["token-ans"], pseudonyms["token-bert"]
    assert ans != bert
    assert all(re.fullmatch(r"P[A-Z0-9]{4,}", p) for p in (ans, bert))

    title = "Participatielab 2026"
    assert [row[:8] for row in rows] == [
        (title, "1", "1", "Welk thema eerst?", "choice", ans, "Jaarcyclus", ""),
        (title, "1", "1", "Welk thema eerst?", "choice", ans, "Financiën", ""),
        (title, "1", "1", "Welk thema eerst?", "choice", bert, "Duurzaamheid", ""),
        (title, "2", "1", "Samenwerking", "scale", ans, "Huurders", "4"),
        (title, "2", "1", "Samenwerking", "scale", ans, "Gemeente", "don't know"),
        (title, "2", "1", "Samenwerking", "scale", bert, "Gemeente", "2"),
        (title, "3", "1", "In één woord", "wordcloud", ans, "Samen", "samen"),
        (title, "3", "1", "In één woord", "wordcloud", ans, "Vertrouwen", "vertrouwen"),
        (title, "3", "1", "In één woord", "wordcloud", bert, "ＳＡＭＥＮ", "samen"),
        (title, "4", "1", "Tips?", "open", ans, "Meer koffie", ""),
        (title, "4", "1", "Tips?", "open", bert, '=HYPERLINK("http://evil.example", "klik")', ""),
    ]
    for row in rows:
        assert len(row) == 12
        assert row[10:] == ("", "phone")  # no group picked, answered on a phone
        assert row[5] not in pseudonyms  # a pseudonym, never the token hash
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[8])
        moment = datetime.strptime(row[8], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert before <= moment <= after + timedelta(seconds=1), "submission time is not UTC"


def test_export_csv_of_a_presentation_round_trips(db: Database, owner: Facilitator) -> None:
    presentation, _ = build_session(db, owner)
    rows = exported(db, presentation)
    for excel in (False, True):
        with db.session() as session:
            text = "".join(
                csv_chunks(export_rows(session, presentation), language="en", excel=excel)
            )
        parsed = parse(text, excel=excel)
        assert parsed[0] == HEADER_EN
        assert len(parsed) == len(rows) + 1
        assert all(len(row) == 12 for row in parsed)
        assert parsed[-1][6] == '\'=HYPERLINK("http://evil.example", "klik")'


def test_export_shows_the_changed_answer_only(db: Database, owner: Facilitator) -> None:
    presentation = make_presentation(db, owner, language="en")
    question = make_question(db, owner, presentation, "open", "Tips?")
    make_current(db, question)
    vote(db, question, "ans", {"text": ["eerste"]})
    vote(db, question, "ans", {"text": ["tweede"]})
    assert [row[6] for row in exported(db, presentation)] == ["tweede"]


def test_export_leaves_out_other_presentations(db: Database, owner: Facilitator) -> None:
    presentation, _ = build_session(db, owner)
    other = make_presentation(db, owner, title="Andere sessie")
    question = make_question(db, owner, other, "open", "Tips?")
    make_current(db, question)
    vote(db, question, "ans", {"text": ["elders"]})

    assert len(exported(db, presentation)) == 11
    assert [row[:1] + row[6:7] for row in exported(db, other)] == [("Andere sessie", "elders")]


def test_export_language_holds_across_chunks(db: Database, owner: Facilitator) -> None:
    """A streaming response pulls each chunk in a fresh copy of the context (worker thread)."""
    presentation = make_presentation(db, owner, language="en")
    question = make_question(
        db, owner, presentation, "scale", "Stelling", statements="Eén", dont_know="1"
    )
    make_current(db, question)
    statement = question.config["statements"][0]["id"]
    answer = get_type("scale").parse_answer(question.config, {f"s-{statement}": ["dk"]})
    commands = [
        VoteCommand(
            presentation_id=presentation.id or 0,
            question_id=question.id or 0,
            token_hash=f"token-{n}",
            client_key=f"key-{n}",
            answer=answer,
        )
        for n in range(1001)
    ]
    with db.write_session() as session:
        record_votes(session, commands)

    with db.session() as session:
        chunks = csv_chunks(export_rows(session, presentation), language="en", excel=False)
        text = ""
        while (chunk := contextvars.copy_context().run(next, chunks, None)) is not None:
            text += chunk
    values = [row[7] for row in parse(text, excel=False)[1:]]
    assert len(values) == 1001
    assert set(values) == {"don't know"}


def test_export_says_which_texts_were_approved_or_hidden(db: Database, owner: Facilitator) -> None:
    presentation = make_presentation(db, owner, language="nl")
    question = make_question(db, owner, presentation, "open", "Tips?")
    make_current(db, question)
    for who in ("ans", "bert", "carla"):
        vote(db, question, who, {"text": [f"tip van {who}"]})
    decisions = {"tip van ans": "approved", "tip van bert": "hidden"}
    with db.write_session() as session:
        for text, decision in decisions.items():
            session.execute(
                sa.update(BallotItem).where(BallotItem.text == text).values(moderation=decision)
            )
    rows = {row[6]: row[9] for row in exported(db, presentation)}
    assert rows == {"tip van ans": "goedgekeurd", "tip van bert": "verborgen", "tip van carla": ""}


def test_export_has_a_row_per_q_and_a_entry_in_every_round(
    db: Database, owner: Facilitator
) -> None:
    from app.services import control
    from app.services import qa as svc_qa

    presentation = make_presentation(db, owner, language="nl")
    question = make_question(db, owner, presentation, "qa", "Vragen?")
    make_current(db, question)

    def ask(who: str, text: str) -> None:
        with db.write_session() as session:
            status = svc_qa.ask(
                session=session,
                presentation_id=presentation.id or 0,
                question_id=question.id or 0,
                token_hash=f"token-{who}",
                text=text,
                name=None,
                state="approved",
            )
        assert status == svc_qa.QaStatus.SAVED

    with db.write_session() as session:  # a phone that joined (Q&A entries are no ballots)
        session.add(
            Participant(
                presentation_id=presentation.id or 0, token_hash="token-ans", pseudonym="PANS"
            )
        )
    ask("ans", "Wanneer komt de nieuwe huurverhoging?")
    with db.write_session() as session:
        control.reset_results(
            session=session, owner_id=owner.user_id, presentation_id=presentation.id or 0
        )
    ask("ans", "En de renovatie?")
    rows = exported(db, presentation)
    assert [(r[1], r[2], r[6], r[9]) for r in rows] == [
        ("1", "1", "Wanneer komt de nieuwe huurverhoging?", "goedgekeurd"),
        ("1", "2", "En de renovatie?", "goedgekeurd"),
    ]
    assert all(len(r) == 12 and r[4] == "qa" for r in rows)
    assert all(r[10:] == ("", "telefoon") for r in rows)


def test_export_says_group_and_source(db: Database, owner: Facilitator) -> None:
    """Each row carries the participant's group and whether it was counted on paper."""
    from app.services import paper as svc_paper

    presentation = make_presentation(db, owner, language="nl")
    question = make_question(db, owner, presentation, "choice", "Vraag", options="Ja\nNee")
    options = ids(question, "options")
    with db.write_session() as session:
        row = session.get(Presentation, presentation.id)
        assert row is not None
        row.groups = ["huurder", "corporatie"]
        session.add(row)
    make_current(db, question)
    vote(db, question, "ans", {"option": [options["Ja"]]})
    with db.write_session() as session:
        session.execute(
            sa.update(Participant)
            .where(Participant.token_hash == "token-ans")
            .values(group_name="=corporatie")
        )
        svc_paper.add_batch(
            session=session,
            owner_id=owner.user_id,
            question_id=question.id or 0,
            form={f"n-{options['Nee']}": ["2"], "group": ["huurder"]},
        )
    rows = exported(db, presentation)
    assert sorted((r[6], r[10], r[11]) for r in rows) == [
        ("Ja", "=corporatie", "telefoon"),
        ("Nee", "huurder", "papier"),
        ("Nee", "huurder", "papier"),
    ]
    with db.session() as session:
        text = "".join(csv_chunks(export_rows(session, presentation), language="nl", excel=False))
    parsed = parse(text, excel=False)
    assert parsed[0][10:] == ["Groep", "Bron"]
    assert ["'=corporatie", "telefoon"] in [r[10:] for r in parsed[1:]]
