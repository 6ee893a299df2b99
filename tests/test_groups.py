"""Groups: the facilitator's settings, and a phone picking its group when it joins."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.models import Ballot, Participant, Presentation
from app.services import NotFound, groups
from tests.conftest import browser, join, login, make_presentation, make_question, make_user

HUURDERS = ["huurder", "huurdersorganisatie", "corporatie", "gemeente", "anders"]
GROUP_BUTTON = re.compile(r'name="group" value="([^"]*)"')


def _saved(db, presentation_id: int) -> Presentation:
    with db.session() as session:
        found = session.get(Presentation, presentation_id)
        assert found is not None
        return found


def _set(db, owner, presentation, names: list[str], threshold: int = 3) -> None:
    with db.write_session() as session:
        groups.set_groups(
            session=session,
            owner_id=owner.user_id,
            presentation_id=presentation.id,
            groups=names,
            threshold=threshold,
        )


def _participants(db) -> list[Participant]:
    with db.session() as session:
        return list(session.execute(sa.select(Participant)).scalars())


@pytest.fixture
def room(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(db, owner, presentation, "choice", "SMART genoeg?", options="Ja\nNee")
    csrf = login(client, owner.email)
    response = client.post(
        f"/present/{presentation.id}/move",
        data={"csrf_token": csrf, "to": "first"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    return owner, presentation, question, csrf


# ---- validation -------------------------------------------------------------------------------


def test_groups_are_parsed_one_per_line():
    raw = "  huurder \n\nhuurders   organisatie\r\ngemeente\n"
    assert groups.parse_groups(raw) == ["huurder", "huurders organisatie", "gemeente"]
    assert groups.parse_groups("") == []


@pytest.mark.parametrize(
    "raw",
    [
        "\n".join(f"groep {n}" for n in range(11)),  # more than ten
        "x" * 41,
        "huurder\nHuurder",  # the same, ignoring case
        "huur\x07der",
        "huur\u202eder",  # a bidi override
    ],
)
def test_bad_groups_are_refused(raw):
    with pytest.raises(groups.GroupError):
        groups.parse_groups(raw)


def test_ten_groups_of_forty_characters_are_fine():
    names = [f"{n:02d}" + "x" * 38 for n in range(10)]
    assert groups.parse_groups("\n".join(names)) == names


@pytest.mark.parametrize("raw", ["0", "51", "-1", "abc", "", "3.5", "1000"])
def test_bad_thresholds_are_refused(raw):
    with pytest.raises(groups.GroupError):
        groups.parse_threshold(raw)


def test_thresholds_in_range():
    assert groups.parse_threshold(" 1 ") == 1
    assert groups.parse_threshold("50") == 50


def test_set_groups_bumps_the_version_and_checks_the_owner(db):
    owner = make_user(db)
    other = make_user(db, "bert@example.org")
    presentation = make_presentation(db, owner)
    before = _saved(db, presentation.id).version
    _set(db, owner, presentation, HUURDERS, threshold=4)
    saved = _saved(db, presentation.id)
    assert saved.groups == HUURDERS and saved.group_threshold == 4
    assert saved.version == before + 1
    with pytest.raises(NotFound), db.write_session() as session:
        groups.set_groups(
            session=session,
            owner_id=other.user_id,
            presentation_id=presentation.id,
            groups=["x"],
            threshold=3,
        )
    with pytest.raises(groups.GroupError), db.write_session() as session:
        groups.set_groups(
            session=session,
            owner_id=owner.user_id,
            presentation_id=presentation.id,
            groups=["a", "A"],
            threshold=3,
        )
    assert _saved(db, presentation.id).groups == HUURDERS


# ---- the settings card ------------------------------------------------------------------------


def test_groups_are_saved_from_the_presentation_page(client, db, room):
    _, presentation, _, csrf = room
    page = client.get(f"/manage/presentations/{presentation.id}").text
    assert 'name="groups"' in page and 'name="threshold"' in page and 'name="suggested"' in page
    before = _saved(db, presentation.id).version
    response = client.post(
        f"/manage/presentations/{presentation.id}/groups",
        data={"csrf_token": csrf, "groups": "huurder\ncorporatie\n", "threshold": "5"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    saved = _saved(db, presentation.id)
    assert saved.groups == ["huurder", "corporatie"] and saved.group_threshold == 5
    assert saved.version > before
    assert (
        "huurder\ncorporatie</textarea>"
        in client.get(f"/manage/presentations/{presentation.id}").text
    )


def test_suggested_groups_in_one_click(client, db, room):
    _, presentation, _, csrf = room
    response = client.post(
        f"/manage/presentations/{presentation.id}/groups",
        data={"csrf_token": csrf, "suggested": "1"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    saved = _saved(db, presentation.id)
    assert saved.groups == HUURDERS and saved.group_threshold == 3


@pytest.mark.parametrize(
    ("typed", "threshold", "message"),
    [
        ("a\nA", "3", "Elke groep moet anders zijn"),
        ("x" * 41, "3", "hoogstens 40 tekens"),
        ("a", "0", "heel getal in van 1 tot en met 50"),
    ],
)
def test_bad_settings_change_nothing(client, db, room, typed, threshold, message):
    owner, presentation, _, csrf = room
    _set(db, owner, presentation, ["huurder"], threshold=3)
    version = _saved(db, presentation.id).version
    response = client.post(
        f"/manage/presentations/{presentation.id}/groups",
        data={"csrf_token": csrf, "groups": typed, "threshold": threshold},
        follow_redirects=False,
    )
    assert response.status_code == 422
    assert message in response.text
    saved = _saved(db, presentation.id)
    assert saved.groups == ["huurder"] and saved.version == version


def test_someone_elses_presentation_is_not_found(client, db, room):
    _, presentation, _, _ = room
    intruder = make_user(db, "bert@example.org")
    other = browser(client)
    other_csrf = login(other, intruder.email)
    response = other.post(
        f"/manage/presentations/{presentation.id}/groups",
        data={"csrf_token": other_csrf, "groups": "x", "threshold": "3"},
        follow_redirects=False,
    )
    assert response.status_code == 404
    assert _saved(db, presentation.id).groups == []


def test_settings_need_the_csrf_token(client, db, room):
    _, presentation, _, _ = room
    response = client.post(
        f"/manage/presentations/{presentation.id}/groups",
        data={"groups": "x", "threshold": "3"},
        follow_redirects=False,
    )
    assert response.status_code in (400, 403)
    assert _saved(db, presentation.id).groups == []


# ---- joining ----------------------------------------------------------------------------------


def test_without_groups_joining_goes_straight_to_the_question(client, db, room):
    _, presentation, _, _ = room
    phone = browser(client)
    page = phone.get(f"/p/{presentation.join_code}").text
    assert "SMART genoeg?" in page
    assert 'name="group"' not in page and f"{presentation.join_code}/group" not in page


def test_joining_with_groups_picks_one_then_votes(client, db, room):
    owner, presentation, question, _ = room
    _set(db, owner, presentation, HUURDERS)
    phone = browser(client)
    first = phone.get(f"/p/{presentation.join_code}")
    assert first.status_code == 200 and "stemlab_p" in phone.cookies
    assert GROUP_BUTTON.findall(first.text) == [*HUURDERS, ""]
    assert "Zeg ik liever niet" in first.text and "SMART genoeg?" not in first.text
    picked = phone.post(
        f"/p/{presentation.join_code}/group", data={"group": "corporatie"}, follow_redirects=False
    )
    assert picked.status_code == 303
    assert picked.headers["location"] == f"/p/{presentation.join_code}"
    page = phone.get(picked.headers["location"]).text
    assert "SMART genoeg?" in page
    assert "corporatie" in page and f'href="/p/{presentation.join_code}/group"' in page
    voted = phone.post(
        f"/p/{presentation.join_code}/vote", data={"question_id": str(question.id), "option": "o1"}
    )
    assert voted.status_code == 200
    (participant,) = _participants(db)
    assert participant.group_name == "corporatie"
    with db.session() as session:
        ballot = session.execute(sa.select(Ballot)).scalars().one()
    assert ballot.participant_id == participant.id
    # Later, from the small link: another group, or none at all.
    again = phone.get(f"/p/{presentation.join_code}/group").text
    assert 'value="corporatie" class="big group-button primary"' in again
    phone.post(f"/p/{presentation.join_code}/group", data={"group": "gemeente"})
    assert _participants(db)[0].group_name == "gemeente"
    phone.post(f"/p/{presentation.join_code}/group", data={"group": ""})
    assert _participants(db)[0].group_name is None
    assert len(_participants(db)) == 1


def test_rather_not_say_leaves_the_group_empty(client, db, room):
    owner, presentation, _, _ = room
    _set(db, owner, presentation, HUURDERS)
    phone = browser(client)
    join(phone, presentation.join_code)
    page = phone.post(f"/p/{presentation.join_code}/group", data={"group": ""})
    assert page.status_code == 200 and "SMART genoeg?" in page.text
    (participant,) = _participants(db)
    assert participant.group_name is None


def test_a_foreign_group_is_refused_and_changes_nothing(client, db, room):
    owner, presentation, _, _ = room
    _set(db, owner, presentation, HUURDERS)
    phone = browser(client)
    join(phone, presentation.join_code)
    phone.post(f"/p/{presentation.join_code}/group", data={"group": "huurder"})
    for foreign in ("bestuur", "Huurder", "x" * 500):
        refused = phone.post(f"/p/{presentation.join_code}/group", data={"group": foreign})
        assert refused.status_code == 422
        assert "Kies een van de groepen" in refused.text
        assert GROUP_BUTTON.findall(refused.text) == [*HUURDERS, ""]
    (participant,) = _participants(db)
    assert participant.group_name == "huurder"


def test_a_phone_that_did_not_join_cannot_pick(client, db, room):
    owner, presentation, _, _ = room
    _set(db, owner, presentation, HUURDERS)
    stranger = browser(client)
    response = stranger.post(
        f"/p/{presentation.join_code}/group", data={"group": "huurder"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert _participants(db) == []


def test_the_qr_link_asks_for_the_group_first(client, db, room):
    owner, presentation, _, _ = room
    _set(db, owner, presentation, HUURDERS)
    phone = browser(client)
    response = phone.get(f"/l/{presentation.link_token}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/p/{presentation.join_code}/group"
    page = phone.get(response.headers["location"]).text
    assert GROUP_BUTTON.findall(page) == [*HUURDERS, ""]


def test_a_group_a_phone_picked_is_not_another_presentations(client, db, room):
    owner, presentation, _, _ = room
    _set(db, owner, presentation, HUURDERS)
    second = make_presentation(db, owner, title="Tweede")
    _set(db, owner, second, ["bewoner"])
    phone = browser(client)
    join(phone, presentation.join_code)
    refused = phone.post(f"/p/{presentation.join_code}/group", data={"group": "bewoner"})
    assert refused.status_code == 422
    # Its token is for the first presentation only: in the second it has not joined.
    other = phone.post(
        f"/p/{second.join_code}/group", data={"group": "bewoner"}, follow_redirects=False
    )
    assert other.status_code == 403
    assert _participants(db) == []  # refused: nothing was written
