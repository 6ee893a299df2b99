"""The projector's results split by group, who answered per group, the anonymity threshold,
phones, and round 1 beside round 2 with the shift."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.models import Participant, Presentation, Question
from app.services import groups
from tests.conftest import (
    BASE,
    browser,
    cast,
    join,
    login,
    make_presentation,
    make_question,
    make_user,
)

ORIGIN = {"Origin": BASE}
GROUPS = ["huurder", "corporatie", "gemeente"]
TOO_FEW = "te weinig stemmen"
# (participant, group, option): huurder 3 (2 Ja), corporatie 3 (0 Ja), gemeente 2, one without.
VOTES = [
    ("h1", "huurder", "o1"),
    ("h2", "huurder", "o1"),
    ("h3", "huurder", "o2"),
    ("c1", "corporatie", "o2"),
    ("c2", "corporatie", "o2"),
    ("c3", "corporatie", "o2"),
    ("g1", "gemeente", "o1"),
    ("g2", "gemeente", "o1"),
    ("n1", None, "o1"),
]


def _post(client, presentation, csrf, action, **data) -> None:
    response = client.post(
        f"/present/{presentation.id}/{action}",
        data={"csrf_token": csrf, **data},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def _place(db, names: dict[str, str | None]) -> None:
    """Put participants (made by `cast`, token-<name>) in their groups."""
    with db.write_session() as session:
        for name, group in names.items():
            session.execute(
                sa.update(Participant)
                .where(Participant.token_hash == f"token-{name}")
                .values(group_name=group)
            )


def _frame(client, presentation) -> str:
    """The frame every presenter socket gets (rendered once per tick)."""
    fragments = client.app.state.services.fragments
    frame = fragments.presenter_frame(presentation.id, 1)
    assert frame is not None
    return frame


COLUMN = r'(data-everyone|data-group="[^"]*")'


def _column(attribute: str) -> str:
    return "*" if attribute == "data-everyone" else attribute[len('data-group="') : -1]


def _rows(html: str) -> dict[str, dict]:
    """The split by group ("*": everyone): responses and values, or too few."""
    if 'class="group-split"' not in html:
        return {}
    section = html.split('class="group-split"', 1)[1].split("</section>", 1)[0]
    rows: dict[str, dict] = {}
    for attribute in re.findall(r'<th scope="col"(?: class="everyone")? ' + COLUMN, section):
        rows[_column(attribute)] = {"responses": None, "values": [], "too_few": False}
    for attribute, n in re.findall(r'class="group-responses[^"]*" ' + COLUMN + r">(\d+)<", section):
        rows[_column(attribute)]["responses"] = int(n)
    cells = r'class="split-cell[^"]*" ' + COLUMN + r'>.*?class="split-value">([^<]*)<'
    for attribute, value in re.findall(cells, section, re.S):
        rows[_column(attribute)]["values"].append(value)
    for name, text in re.findall(r'<li class="too-few" data-group="([^"]*)">(.*?)</li>', section):
        rows[name] = {"responses": None, "values": [], "too_few": True, "text": text}
    return rows


def _values(row: dict) -> list[str]:
    return row["values"]


def _responses(row: dict) -> int | None:
    return row["responses"]


def _answered(html: str) -> dict[str, int]:
    return {
        g: int(n)
        for g, n in re.findall(
            r'<li data-group="([^"]*)">.*?class="answered-count">(\d+)<', html, re.S
        )
    }


@pytest.fixture
def room(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    with db.write_session() as session:
        groups.set_groups(
            session=session,
            owner_id=owner.user_id,
            presentation_id=presentation.id,
            groups=GROUPS,
            threshold=3,
        )
    question = make_question(db, owner, presentation, "choice", "SMART?", options="Ja\nNee")
    csrf = login(client, owner.email)
    _post(client, presentation, csrf, "move", to="first")
    return owner, presentation, question, csrf


def _cast_all(db, question, votes=VOTES) -> None:
    for name, _, option in votes:
        cast(db, question, name, {"option": [option]})
    _place(db, {name: group for name, group, _ in votes})


def test_the_split_shows_each_groups_share_and_hides_small_groups(client, db, room):
    _, presentation, question, csrf = room
    _cast_all(db, question)
    plain = _frame(client, presentation)
    assert "group-split" not in plain and "group-answered" not in plain
    assert 'data-split="off"' in plain
    _post(client, presentation, csrf, "split", value="on")
    frame = _frame(client, presentation)
    assert 'data-split="on"' in frame
    rows = _rows(frame)
    assert list(rows) == ["*", "huurder", "corporatie", "gemeente", ""]
    # Everyone: 5 of 9 said Ja, 4 of 9 Nee; huurder 2 of 3 and 1 of 3; corporatie 0 and 3.
    assert _responses(rows["*"]) == 9 and _values(rows["*"]) == ["56%", "44%"]
    assert _responses(rows["huurder"]) == 3 and _values(rows["huurder"]) == ["67%", "33%"]
    assert _responses(rows["corporatie"]) == 3 and _values(rows["corporatie"]) == ["0%", "100%"]
    # Two from the municipality and one without a group: below the threshold of 3, no numbers.
    for small in ("gemeente", ""):
        assert rows[small]["too_few"] and TOO_FEW in rows[small]["text"]
        assert not re.search(r"\d", re.sub(r"<[^>]+>", "", rows[small]["text"])), rows[small]
    # Voting is open: who answered, per group (a count of people, not of answers).
    assert _answered(frame) == {"huurder": 3, "corporatie": 3, "gemeente": 2, "": 1}
    # The page the projector loads shows the same, and the control to turn it off.
    page = client.get(f"/present/{presentation.id}").text
    assert _rows(page).keys() == rows.keys() and 'data-shortcut="g"' in page
    _post(client, presentation, csrf, "voting", value="close")
    closed = _frame(client, presentation)
    assert "group-answered" not in closed and _values(_rows(closed)["huurder"]) == ["67%", "33%"]
    _post(client, presentation, csrf, "split", value="off")
    assert "group-split" not in _frame(client, presentation)


def test_a_lower_threshold_shows_the_small_group(client, db, room):
    owner, presentation, question, csrf = room
    _cast_all(db, question)
    with db.write_session() as session:
        groups.set_groups(
            session=session,
            owner_id=owner.user_id,
            presentation_id=presentation.id,
            groups=GROUPS,
            threshold=2,
        )
    _post(client, presentation, csrf, "split", value="on")
    rows = _rows(_frame(client, presentation))
    assert _responses(rows["gemeente"]) == 2 and _values(rows["gemeente"]) == ["100%", "0%"]
    assert rows[""]["too_few"]


def test_hidden_results_show_only_who_answered(client, db, room):
    _, presentation, question, csrf = room
    _cast_all(db, question)
    _post(client, presentation, csrf, "split", value="on")
    _post(client, presentation, csrf, "results", value="hide")
    frame = _frame(client, presentation)
    assert "group-split" not in frame and "split-value" not in frame
    assert _answered(frame) == {"huurder": 3, "corporatie": 3, "gemeente": 2, "": 1}


def test_the_split_follows_new_votes_live(client, db, room):
    _, presentation, question, csrf = room
    _post(client, presentation, csrf, "split", value="on")
    _cast_all(db, question, VOTES[:3])
    with client.websocket_connect(f"/ws/present/{presentation.id}", headers=ORIGIN) as ws:
        first = ws.receive_text()
        assert _values(_rows(first)["huurder"]) == ["67%", "33%"]
        cast(db, question, "h4", {"option": ["o1"]})
        _place(db, {"h4": "huurder"})
        client.app.state.services.changed(presentation.id)
        for _ in range(40):
            frame = ws.receive_text()
            if _rows(frame).get("huurder", {}).get("values") == ["75%", "25%"]:
                break
        else:
            raise AssertionError("the split did not follow the vote")
        assert _answered(frame)["huurder"] == 4


def test_phones_see_the_split_only_with_results_on_phones(client, db, room):
    _, presentation, question, csrf = room
    _cast_all(db, question)
    _post(client, presentation, csrf, "split", value="on")
    fragments = client.app.state.services.fragments
    phone = browser(client)
    join(phone, presentation.join_code)
    phone.post(f"/p/{presentation.join_code}/group", data={"group": "huurder"})
    for text in (
        phone.get(f"/p/{presentation.join_code}").text,
        fragments.phone_frame(presentation.id).text,
    ):
        assert "group-split" not in text and TOO_FEW not in text and "group-answered" not in text
    response = client.post(
        f"/manage/presentations/{presentation.id}",
        data={
            "csrf_token": csrf,
            "title": presentation.title,
            "language": "nl",
            "results_on_phones": "1",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    for text in (
        phone.get(f"/p/{presentation.join_code}").text,
        fragments.phone_frame(presentation.id).text,
    ):
        rows = _rows(text)
        assert _values(rows["huurder"]) == ["67%", "33%"]
        assert rows["gemeente"]["too_few"] and _values(rows["gemeente"]) == []
        assert TOO_FEW in text
        assert "group-answered" not in text  # who answered is for the projector only
    # Hidden again: nothing of it on phones.
    _post(client, presentation, csrf, "results", value="hide")
    assert "group-split" not in fragments.phone_frame(presentation.id).text


def test_split_and_compare_need_the_owner(client, db, room):
    _, presentation, _, _ = room
    intruder = make_user(db, "bert@example.org")
    other = browser(client)
    other_csrf = login(other, intruder.email)
    for action in ("split", "compare"):
        response = other.post(
            f"/present/{presentation.id}/{action}",
            data={"csrf_token": other_csrf, "value": "on"},
            follow_redirects=False,
        )
        assert response.status_code == 404
    with db.session() as session:
        question = session.execute(sa.select(Question)).scalars().one()
        assert not question.split_groups and not question.compare_rounds


def _round_lines(html: str) -> dict[str, tuple[str, str, str]]:
    section = html.split('class="round-compare"', 1)[1]
    return {
        key: (before.strip(), after.strip(), re.sub(r"\s+", " ", shift).strip())
        for key, before, after, shift in re.findall(
            r'<tr data-key="([^"]+)">.*?class="round-before">([^<]*)<.*?'
            r'class="round-after">([^<]*)<.*?class="shift-text">([^<]*)<',
            section,
            re.S,
        )
    }


def test_rounds_side_by_side_with_the_shift(client, db, room):
    _, presentation, question, csrf = room
    for i, option in enumerate(["o1", "o2", "o2", "o2"]):  # round 1: 25% Ja
        cast(db, question, f"p{i}", {"option": [option]})
    page = client.get(f"/present/{presentation.id}").text
    assert 'data-shortcut="v"' not in page  # no earlier round yet
    _post(client, presentation, csrf, "reset", question_id=str(question.id))
    for i, option in enumerate(["o1", "o1", "o2", "o1"]):  # round 2: 75% Ja
        cast(db, question, f"p{i}", {"option": [option]})
    page = client.get(f"/present/{presentation.id}").text
    assert 'data-shortcut="v"' in page and 'data-compare="off"' in page
    assert "round-compare" not in _frame(client, presentation)
    _post(client, presentation, csrf, "compare", value="on")
    frame = _frame(client, presentation)
    assert 'data-compare="on"' in frame
    lines = _round_lines(frame)
    assert lines == {"o1": ("25%", "75%", "+50 pp"), "o2": ("75%", "25%", "-50 pp")}
    assert 'data-direction="up"' in frame and 'data-direction="down"' in frame
    assert "omhoog" in frame and "omlaag" in frame  # the direction in words, not colour only
    assert "Ronde 2 vergeleken met ronde 1" in frame
    _post(client, presentation, csrf, "compare", value="off")
    assert "round-compare" not in _frame(client, presentation)


def test_rounds_of_a_scale_compare_the_mean(client, db, room):
    owner, presentation, _, csrf = room
    scale = make_question(
        db, owner, presentation, "scale", "Samenwerking", statements="Huurders\nGemeente"
    )
    _post(client, presentation, csrf, "move", to=str(scale.id))
    with db.session() as session:
        sids = [s["id"] for s in session.get(Question, scale.id).config["statements"]]
    for i, (a, b) in enumerate([(2, 4), (2, 4), (2, 4)]):
        cast(db, scale, f"s{i}", {f"s-{sids[0]}": [str(a)], f"s-{sids[1]}": [str(b)]})
    _post(client, presentation, csrf, "reset", question_id=str(scale.id))
    for i, (a, b) in enumerate([(4, 3), (5, 3), (3, 3)]):
        cast(db, scale, f"s{i}", {f"s-{sids[0]}": [str(a)], f"s-{sids[1]}": [str(b)]})
    _post(client, presentation, csrf, "compare", value="on")
    lines = _round_lines(_frame(client, presentation))
    assert lines == {sids[0]: ("2,0", "4,0", "+2,0"), sids[1]: ("4,0", "3,0", "-1,0")}


def test_split_of_a_scale_shows_the_mean_per_group(client, db, room):
    owner, presentation, _, csrf = room
    scale = make_question(db, owner, presentation, "scale", "Samenwerking", statements="Eén")
    _post(client, presentation, csrf, "move", to=str(scale.id))
    with db.session() as session:
        sid = session.get(Question, scale.id).config["statements"][0]["id"]
    ratings = {"h1": 5, "h2": 4, "h3": 3, "c1": 1, "c2": 2, "c3": 2, "g1": 5}
    for name, value in ratings.items():
        cast(db, scale, name, {f"s-{sid}": [str(value)]})
    _place(db, {n: {"h": "huurder", "c": "corporatie", "g": "gemeente"}[n[0]] for n in ratings})
    _post(client, presentation, csrf, "split", value="on")
    rows = _rows(_frame(client, presentation))
    assert _values(rows["huurder"]) == ["4,0"] and _values(rows["corporatie"]) == ["1,7"]
    assert _values(rows["*"]) == ["3,1"]  # 22 / 7
    assert rows["gemeente"]["too_few"]


def test_version_is_bumped_by_the_toggles(client, db, room):
    _, presentation, _, csrf = room

    def version() -> int:
        with db.session() as session:
            return session.get(Presentation, presentation.id).version

    before = version()
    _post(client, presentation, csrf, "split", value="on")
    assert version() == before + 1
    _post(client, presentation, csrf, "split", value="on")  # already on: nothing changes
    assert version() == before + 1
