"""Runs: the same presentation on several dates, each with its own code and votes."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
import sqlalchemy as sa

from app.models import Ballot, Participant, Presentation, Question
from app.questions import get_type
from app.services import NotFound, runs, stats
from app.services.export import export_rows
from app.services.presentations import EditError, duplicate_presentation
from tests.conftest import browser, login, make_presentation, make_question, make_user
from tests.runs_support import choices, new_run, questions


def _series(db):
    owner = make_user(db)
    first = make_presentation(db, owner, title="Prestatieafspraken")
    make_question(db, owner, first, "choice", "SMART?", options="Ja\nNee\nDeels")
    make_question(db, owner, first, "scale", "Samenwerking", statements="Huurders\nGemeente")
    with db.write_session() as session:
        p = session.get(Presentation, first.id)
        p.groups = ["huurder", "corporatie"]
        p.group_threshold = 4
        p.retention_days = 30
        p.pace = "audience"
        p.results_on_phones = True
        session.add(p)
    with db.session() as session:
        first = session.get(Presentation, first.id)
    return owner, first


def test_new_run_copies_questions_lineage_and_settings_with_a_new_code_and_no_votes(db):
    owner, first = _series(db)
    q1 = questions(db, first)
    choices(db, q1[0], ["o1", "o2"])
    second = new_run(db, owner, first, date(2026, 5, 12), "Buurthuis De Linde")
    assert second.id != first.id
    assert second.join_code != first.join_code and second.link_token != first.link_token
    assert second.series_key == first.series_key
    assert second.title == first.title
    assert (second.run_date, second.place) == (date(2026, 5, 12), "Buurthuis De Linde")
    for name in ("groups", "group_threshold", "retention_days", "pace", "results_on_phones"):
        assert getattr(second, name) == getattr(first, name), name
    q2 = questions(db, second)
    assert [q.lineage for q in q2] == [q.lineage for q in q1]
    assert [(q.kind, q.title, q.config) for q in q2] == [(q.kind, q.title, q.config) for q in q1]
    assert {q.id for q in q2}.isdisjoint({q.id for q in q1})
    with db.session() as session:
        ballots = session.execute(
            sa.select(sa.func.count())
            .select_from(Ballot)
            .where(Ballot.question_id.in_([q.id for q in q2]))
        ).scalar_one()
        participants = session.execute(
            sa.select(sa.func.count())
            .select_from(Participant)
            .where(Participant.presentation_id == second.id)
        ).scalar_one()
    assert ballots == 0 and participants == 0


def test_a_plain_duplicate_starts_its_own_series_with_new_lineages(db):
    owner, first = _series(db)
    with db.write_session() as session:
        copy = duplicate_presentation(
            session=session, owner_id=owner.user_id, presentation_id=first.id, copy_suffix="(kopie)"
        )
    assert copy.series_key != first.series_key
    assert copy.groups == first.groups and copy.retention_days == first.retention_days
    lineages = {q.lineage for q in questions(db, first)}
    assert lineages.isdisjoint({q.lineage for q in questions(db, copy)})


def test_runs_of_orders_by_date_with_undated_last_and_only_the_owners(db):
    owner, first = _series(db)
    late = new_run(db, owner, first, date(2027, 1, 1))
    undated = new_run(db, owner, first)
    early = new_run(db, owner, first, date(2025, 3, 1))
    # Another facilitator's presentation in the same series (it cannot happen through the
    # app; the filter on the owner holds even so).
    other = make_user(db, "bert@example.org")
    stranger = make_presentation(db, other)
    with db.write_session() as session:
        s = session.get(Presentation, stranger.id)
        s.series_key = first.series_key
        session.add(s)
    with db.session() as session:
        found = runs.runs_of(session=session, owner_id=owner.user_id, presentation_id=late.id)
        with pytest.raises(NotFound):
            runs.runs_of(session=session, owner_id=other.user_id, presentation_id=first.id)
    # first has no date: undated runs come last, in the order they were made.
    assert [r.id for r in found] == [early.id, late.id, first.id, undated.id]


def test_votes_in_one_run_never_appear_in_another_runs_results_export_or_stats(db):
    owner, first = _series(db)
    second = new_run(db, owner, first, date(2026, 6, 1))
    q1, q2 = questions(db, first)[0], questions(db, second)[0]
    choices(db, q1, ["o1", "o1", "o2"], prefix="a")
    choices(db, q2, ["o3", "o3", "o3", "o3", "o2"], prefix="b")
    with db.session() as session:
        numbers = stats.question_stats(session, [q1.id, q2.id])
        first_p = session.get(Presentation, first.id)
        second_p = session.get(Presentation, second.id)
        rows1 = list(export_rows(session, first_p))
        rows2 = list(export_rows(session, second_p))
        results1 = get_type("choice").tally(session, q1.id, q1.config)
    assert numbers[q1.id].responses[stats.ALL] == 3
    assert {k: s.count for k, s in numbers[q1.id].of().items()} == {"o1": 2, "o2": 1}
    assert numbers[q2.id].responses[stats.ALL] == 5
    assert "o3" not in numbers[q1.id].of()
    assert results1.responses == 3
    # The raw export of each run holds its own ballots only (one row per vote).
    assert len(rows1) == 3 and len(rows2) == 5
    flat1 = " ".join(" ".join(r) for r in rows1)
    assert "Deels" not in flat1  # o3 was only chosen in the second run


def test_export_route_of_a_run_has_its_own_votes_only(client, db):
    owner, first = _series(db)
    second = new_run(db, owner, first, date(2026, 6, 1))
    choices(db, questions(db, first)[0], ["o1"], prefix="a")
    choices(db, questions(db, second)[0], ["o2", "o2"], prefix="b")
    login(client, owner.email)
    for run, expected in ((first, 1), (second, 2)):
        response = client.get(f"/manage/presentations/{run.id}/export.csv")
        assert response.status_code == 200
        rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
        assert len(rows) - 1 == expected


def test_new_run_and_details_through_the_forms(client, db):
    owner, first = _series(db)
    csrf = login(client, owner.email)
    page = client.get(f"/manage/presentations/{first.id}")
    assert f'action="/manage/presentations/{first.id}/runs"' in page.text
    response = client.post(
        f"/manage/presentations/{first.id}/runs",
        data={"csrf_token": csrf, "run_date": "2026-09-15", "place": "Stadhuis", "which": "new"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    run_id = int(response.headers["location"].rsplit("/", 1)[1])
    with db.session() as session:
        run = session.get(Presentation, run_id)
        assert run.series_key == first.series_key
        assert (run.run_date, run.place) == (date(2026, 9, 15), "Stadhuis")
    response = client.post(
        f"/manage/presentations/{run_id}/run",
        data={
            "csrf_token": csrf,
            "run_date": "2026-09-16",
            "place": " De  Linde ",
            "retention_days": "90",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    with db.session() as session:
        run = session.get(Presentation, run_id)
        assert (run.run_date, run.place, run.retention_days) == (date(2026, 9, 16), "De Linde", 90)
    listing = client.get(f"/manage/presentations/{run_id}/runs")
    assert listing.status_code == 200
    assert "16-09-2026" in listing.text and "De Linde" in listing.text
    assert f"/manage/presentations/{run_id}/compare" in listing.text
    fragment = client.get(f"/manage/presentations/{first.id}/runs", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "16-09-2026" in fragment.text
    assert f"/manage/presentations/{first.id}/compare" in fragment.text


@pytest.mark.parametrize(
    "field, value",
    [
        ("run_date", "1899-01-01"),
        ("run_date", "2999-01-01"),
        ("run_date", "15-09-2026"),
        ("run_date", "2026-02-30"),
        ("place", "x" * 201),
        ("retention_days", "0"),
        ("retention_days", "-5"),
        ("retention_days", "abc"),
        ("retention_days", "99999"),
    ],
)
def test_bad_run_details_change_nothing(client, db, field, value):
    owner, first = _series(db)
    csrf = login(client, owner.email)
    data = {
        "csrf_token": csrf,
        "run_date": "2026-09-16",
        "place": "Stadhuis",
        "retention_days": "30",
    }
    data[field] = value
    before = _state(db)
    response = client.post(f"/manage/presentations/{first.id}/run", data=data)
    assert response.status_code == 422
    assert 'role="alert"' in response.text
    response = client.post(
        f"/manage/presentations/{first.id}/runs",
        data={**data, "which": "new"},
        follow_redirects=False,
    )
    assert response.status_code == (422 if field != "retention_days" else 303)
    if field != "retention_days":
        assert _state(db) == before


def _state(db):
    with db.session() as session:
        presentations = session.execute(
            sa.select(
                Presentation.id,
                Presentation.run_date,
                Presentation.place,
                Presentation.retention_days,
            ).order_by(Presentation.id)
        ).all()
        n_questions = session.execute(sa.select(sa.func.count()).select_from(Question)).scalar_one()
    return presentations, n_questions


def test_service_validation_refuses_absurd_values():
    today = date(2026, 11, 28)
    assert runs.parse_run_date("", today=today) is None
    assert runs.parse_run_date("2026-05-12", today=today) == date(2026, 5, 12)
    for bad in ("1999-12-31", "2037-01-01", "2026-13-01", "tomorrow", "2026-5-1"):
        with pytest.raises(EditError):
            runs.parse_run_date(bad, today=today)
    assert runs.parse_place("  ") is None
    with pytest.raises(EditError):
        runs.parse_place("a" * 201)
    assert runs.parse_retention("") is None and runs.parse_retention("365") == 365
    for bad in ("0", "3651", "1.5", "٣"):
        with pytest.raises(EditError):
            runs.parse_retention(bad)


def test_every_route_is_the_owners_only(client, db):
    owner, first = _series(db)
    login(client, owner.email)
    intruder = make_user(db, "bert@example.org")
    other = browser(client)
    csrf = _login_other(other, intruder.email)
    pid = first.id
    for url in (f"/manage/presentations/{pid}/runs", f"/manage/presentations/{pid}/compare"):
        assert other.get(url).status_code == 404, url
        assert client.get(url).status_code == 200, url
    before = _state(db)
    for url, data in (
        (f"/manage/presentations/{pid}/runs", {"run_date": "2026-01-01", "place": "x"}),
        (f"/manage/presentations/{pid}/run", {"run_date": "2026-01-01", "place": "x"}),
    ):
        assert other.post(url, data={"csrf_token": csrf, **data}).status_code == 404, url
    assert _state(db) == before
    # Missing presentations are 404 as well, and without a login there is no page at all.
    assert client.get("/manage/presentations/999999/compare").status_code == 404
    anonymous = browser(client)
    anonymous.cookies.clear()
    response = anonymous.get(f"/manage/presentations/{pid}/compare", follow_redirects=False)
    assert response.status_code in (303, 307) and "/login" in response.headers["location"]


def _login_other(other, email):
    from tests.conftest import PASSWORD
    from tests.runs_support import csrf_of

    response = other.post("/login", data={"email": email, "password": PASSWORD, "next": "/manage"})
    assert response.status_code == 200
    return csrf_of(other.get("/manage").text)


def test_posts_without_csrf_are_refused(client, db):
    owner, first = _series(db)
    login(client, owner.email)
    before = _state(db)
    for url in (f"/manage/presentations/{first.id}/runs", f"/manage/presentations/{first.id}/run"):
        response = client.post(url, data={"csrf_token": "wrong", "run_date": "2026-01-01"})
        assert response.status_code == 403
    assert _state(db) == before


def test_deleting_one_run_leaves_the_others_and_their_votes(client, db):
    owner, first = _series(db)
    second = new_run(db, owner, first, date(2026, 6, 1))
    third = new_run(db, owner, first, date(2026, 7, 1))
    choices(db, questions(db, first)[0], ["o1", "o2"], prefix="a")
    choices(db, questions(db, second)[0], ["o2"], prefix="b")
    choices(db, questions(db, third)[0], ["o3", "o3", "o3"], prefix="c")
    csrf = login(client, owner.email)
    card = client.get(f"/manage/presentations/{second.id}").text
    # The runs card says how to delete one run: the presentation's own delete.
    assert 'id="runs"' in card and f"/manage/presentations/{second.id}/delete" in card
    response = client.post(
        f"/manage/presentations/{second.id}/delete",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303
    with db.session() as session:
        left = runs.runs_of(session=session, owner_id=owner.user_id, presentation_id=first.id)
        numbers = stats.question_stats(
            session, [questions(db, first)[0].id, questions(db, third)[0].id]
        )
    assert [r.id for r in left] == [third.id, first.id]  # the first run has no date
    assert numbers[questions(db, first)[0].id].responses[stats.ALL] == 2
    assert numbers[questions(db, third)[0].id].responses[stats.ALL] == 3
    assert client.get(f"/manage/presentations/{second.id}/runs").status_code == 404
    assert client.get(f"/manage/presentations/{first.id}/compare").status_code == 200


def test_the_services_check_dates_and_places_themselves(db):
    """Callers other than the forms (the API) get the same checks."""
    owner, first = _series(db)
    before = _state(db)
    for run_date, place in ((date(1900, 1, 1), None), (date(2026, 1, 1), "x" * 201)):
        with pytest.raises(EditError), db.write_session() as session:
            runs.set_run_details(
                session=session,
                owner_id=owner.user_id,
                presentation_id=first.id,
                run_date=run_date,
                place=place,
                retention_days=None,
            )
        with pytest.raises(EditError), db.write_session() as session:
            runs.new_run(
                session=session,
                owner_id=owner.user_id,
                presentation_id=first.id,
                run_date=run_date,
                place=place,
            )
    with pytest.raises(EditError), db.write_session() as session:
        runs.set_run_details(
            session=session,
            owner_id=owner.user_id,
            presentation_id=first.id,
            run_date=None,
            place=None,
            retention_days=0,
        )
    assert _state(db) == before
    with db.write_session() as session:
        saved = runs.set_run_details(
            session=session,
            owner_id=owner.user_id,
            presentation_id=first.id,
            run_date=date(2026, 4, 1),
            place="  Wijkcentrum \u200b Noord ",
            retention_days=365,
        )
    assert (saved.run_date, saved.place, saved.retention_days) == (
        date(2026, 4, 1),
        "Wijkcentrum Noord",
        365,
    )
