"""The projector's keyboard shortcuts, join screen and full-screen button, and the
facilitator's phone as a remote posting to the same control routes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.i18n import translate
from app.models import Presentation, Question, QuestionState
from tests.conftest import browser, login, make_presentation, make_question, make_user

STATIC_JS = Path(__file__).resolve().parent.parent / "app" / "static" / "js" / "stemlab.js"


@pytest.fixture
def room(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    first = make_question(db, owner, presentation, "choice", "Een", options="Ja\nNee")
    second = make_question(db, owner, presentation, "choice", "Twee", options="Ja\nNee")
    csrf = login(client, owner.email)
    client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "first"})
    return presentation, first, second, csrf


def test_every_listed_shortcut_has_a_control(client, room):
    presentation, *_ = room
    page = client.get(f"/present/{presentation.id}").text
    listed = set(re.findall(r"<dt><kbd>(\w)</kbd></dt>", page))
    assert listed == {"o", "t", "r", "j", "f"}
    for key in listed:
        assert f'data-shortcut="{key}"' in page, key
    # Next and previous keep their keys; the overlay is a dialog that Esc closes.
    assert 'data-key="key-next"' in page and 'data-key="key-previous"' in page
    assert '<dialog id="shortcuts"' in page and "<kbd>Esc</kbd>" in page
    # The script knows every action the page asks for.
    script = STATIC_JS.read_text(encoding="utf-8")
    for action in set(re.findall(r'data-action="([\w-]+)"', page)):
        assert f'"{action}"' in script or f"{action}:" in script, action
    assert "requestFullscreen" in script and "showModal" in script


def test_the_projector_links_to_moderation_when_it_is_served(client, app, room):
    presentation, *_ = room
    served = any(
        getattr(route, "path", None) == "/present/{presentation_id}/moderate"
        for route in app.routes
    )
    link = f'href="/present/{presentation.id}/moderate"'
    assert (link in client.get(f"/present/{presentation.id}").text) == served


def test_the_join_screen_works_without_javascript(client, room):
    presentation, *_ = room
    plain = client.get(f"/present/{presentation.id}").text
    assert 'class="projector"' in plain
    shown = client.get(f"/present/{presentation.id}?join=1").text
    assert 'class="projector show-join"' in shown
    assert f'href="/present/{presentation.id}"' in shown  # the toggle leads back
    code = presentation.join_code
    assert f'<p class="join-screen-code when-code-active">{code[:4]} {code[4:]}</p>' in shown
    assert f'src="/qr/l/{presentation.link_token}.svg"' in shown


def test_the_remote_steers_through_the_same_routes(client, db, room):
    presentation, _, second, csrf = room
    remote = client.get(f"/present/{presentation.id}/remote")
    assert remote.status_code == 200 and "Een" in remote.text
    for action in ("move", "voting", "results", "timer"):
        assert f'action="/present/{presentation.id}/{action}"' in remote.text
    assert remote.text.count('name="back" value="remote"') >= 5

    def press(action: str, **data: str) -> None:
        response = client.post(
            f"/present/{presentation.id}/{action}",
            data={"csrf_token": csrf, "back": "remote", **data},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/present/{presentation.id}/remote"

    press("move", to="next")
    press("voting", value="close")
    press("results", value="hide")
    with db.session() as session:
        assert session.get(Presentation, presentation.id).current_question_id == second.id
        question = session.get(Question, second.id)
        assert question.state == QuestionState.CLOSED and not question.results_visible
    page = client.get(f"/present/{presentation.id}/remote").text
    assert "Twee" in page and translate("nl", "Open voting") in page
    press("timer", value="start")
    assert "data-closes-at" in client.get(f"/present/{presentation.id}/remote").text


def test_the_remote_needs_a_login_and_a_csrf_token(client, db, room):
    presentation, *_ = room
    stranger = browser(client)
    assert stranger.get(f"/present/{presentation.id}/remote").url.path == "/login"
    response = client.post(
        f"/present/{presentation.id}/move", data={"to": "next", "back": "remote"}
    )
    assert response.status_code == 403


def test_the_remote_splits_by_group_and_compares_rounds(client, db, room):
    presentation, first, _, csrf = room
    remote = client.get(f"/present/{presentation.id}/remote").text
    assert f'action="/present/{presentation.id}/split"' not in remote  # no groups yet
    assert f'action="/present/{presentation.id}/compare"' not in remote  # no earlier round
    with db.write_session() as session:
        row = session.get(Presentation, presentation.id)
        row.groups = ["huurder", "corporatie"]
        session.add(row)
    client.post(
        f"/present/{presentation.id}/reset",
        data={"csrf_token": csrf, "question_id": str(first.id)},
    )
    remote = client.get(f"/present/{presentation.id}/remote").text
    split_on = translate("nl", "Split by group")
    compare_on = translate("nl", "Compare rounds")
    assert split_on in remote and compare_on in remote
    for action in ("split", "compare"):
        response = client.post(
            f"/present/{presentation.id}/{action}",
            data={"csrf_token": csrf, "back": "remote", "value": "on"},
            follow_redirects=False,
        )
        assert response.headers["location"] == f"/present/{presentation.id}/remote"
    with db.session() as session:
        question = session.get(Question, first.id)
        assert question.split_groups and question.compare_rounds
    remote = client.get(f"/present/{presentation.id}/remote").text
    assert translate("nl", "Hide groups") in remote
    assert translate("nl", "Hide round comparison") in remote
