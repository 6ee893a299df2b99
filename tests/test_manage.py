"""Facilitators build presentations through forms."""

from __future__ import annotations

import re

from app.models import Presentation, Question
from app.services.presentations import questions_of
from tests.conftest import login, make_presentation, make_question, make_user


def _titles(db, presentation_id):
    with db.session() as session:
        return [q.title for q in questions_of(session=session, presentation_id=presentation_id)]


def test_create_presentation_and_questions_through_forms(client, db):
    owner = make_user(db)
    csrf = login(client, owner.email)
    response = client.post(
        "/manage/presentations",
        data={"csrf_token": csrf, "title": "Participatielab mei", "language": "nl"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    presentation_id = int(response.headers["location"].rsplit("/", 1)[1])
    for kind, title in (("scale", "Samenwerking"), ("choice", "SMART?"), ("open", "Tips")):
        r = client.post(
            f"/manage/presentations/{presentation_id}/questions",
            data={"csrf_token": csrf, "kind": kind, "title": title},
            follow_redirects=False,
        )
        assert r.status_code == 303
    assert _titles(db, presentation_id) == ["Samenwerking", "SMART?", "Tips"]
    page = client.get(f"/manage/presentations/{presentation_id}")
    assert "Samenwerking" in page.text and "Tips" in page.text
    code = re.search(r'class="mono">(\d{4} \d{4})<', page.text)
    assert code, "join code shown"


def test_edit_choice_question_keeps_option_ids(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(db, owner, presentation, "choice", "SMART?", options="Ja\nNee")
    csrf = login(client, owner.email)
    response = client.post(
        f"/manage/questions/{question.id}",
        data={
            "csrf_token": csrf,
            "title": "Zijn de afspraken SMART?",
            "options": "Nee\nJa\nDeels",
            "multiple": "1",
            "max_choices": "2",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    with db.session() as session:
        saved = session.get(Question, question.id)
        assert saved is not None
        assert saved.title == "Zijn de afspraken SMART?"
        assert saved.config["options"] == [
            {"id": "o2", "label": "Nee"},
            {"id": "o1", "label": "Ja"},
            {"id": "o3", "label": "Deels"},
        ]
        assert saved.config["multiple"] is True and saved.config["max_choices"] == 2


def test_invalid_question_edit_shows_error_and_changes_nothing(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(db, owner, presentation, "choice", "SMART?", options="Ja\nNee")
    csrf = login(client, owner.email)
    response = client.post(
        f"/manage/questions/{question.id}",
        data={"csrf_token": csrf, "title": "Nieuw", "options": "Alleen één"},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 422
    assert "Give between 2 and 12 options" in response.text
    assert "Alleen één" in response.text  # what was typed is kept
    with db.session() as session:
        saved = session.get(Question, question.id)
        assert saved is not None and saved.title == "SMART?"


def test_reorder_duplicate_and_delete_questions(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    first = make_question(db, owner, presentation, "open", "Een")
    second = make_question(db, owner, presentation, "open", "Twee")
    csrf = login(client, owner.email)
    client.post(f"/manage/questions/{second.id}/move", data={"csrf_token": csrf, "direction": "up"})
    assert _titles(db, presentation.id) == ["Twee", "Een"]
    client.post(f"/manage/questions/{second.id}/duplicate", data={"csrf_token": csrf})
    assert _titles(db, presentation.id) == ["Twee", "Twee", "Een"]
    client.post(f"/manage/questions/{first.id}/delete", data={"csrf_token": csrf})
    assert _titles(db, presentation.id) == ["Twee", "Twee"]
    with db.session() as session:
        positions = [
            q.position for q in questions_of(session=session, presentation_id=presentation.id)
        ]
    assert positions == [1, 2]


def test_duplicate_and_delete_presentation(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    make_question(db, owner, presentation, "wordcloud", "In één woord")
    csrf = login(client, owner.email)
    response = client.post(
        f"/manage/presentations/{presentation.id}/duplicate",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    copy_id = int(response.headers["location"].rsplit("/", 1)[1])
    assert copy_id != presentation.id
    assert _titles(db, copy_id) == ["In één woord"]
    with db.session() as session:
        copy = session.get(Presentation, copy_id)
        assert copy is not None and copy.join_code != presentation.join_code
    confirm = client.get(f"/manage/presentations/{presentation.id}/delete")
    assert confirm.status_code == 200
    client.post(f"/manage/presentations/{presentation.id}/delete", data={"csrf_token": csrf})
    with db.session() as session:
        assert session.get(Presentation, presentation.id) is None
        assert session.get(Presentation, copy_id) is not None


def test_presenting_controls_move_open_close_and_hide(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    one = make_question(db, owner, presentation, "open", "Een")
    two = make_question(db, owner, presentation, "open", "Twee")
    csrf = login(client, owner.email)

    def post(action, **data):
        r = client.post(
            f"/present/{presentation.id}/{action}",
            data={"csrf_token": csrf, **data},
            headers={"HX-Request": "true"},
        )
        assert r.status_code == 204

    def state():
        with db.session() as session:
            p = session.get(Presentation, presentation.id)
            assert p is not None
            q = session.get(Question, p.current_question_id) if p.current_question_id else None
            return p.current_question_id, q.state if q else None, q.results_visible if q else None

    post("move", to="first")
    assert state() == (one.id, "open", True)
    post("move", to="next")
    assert state() == (two.id, "open", True)
    post("move", to="next")  # past the end stays on the last question
    assert state()[0] == two.id
    post("voting", value="close")
    assert state() == (two.id, "closed", True)
    post("results", value="hide")
    assert state() == (two.id, "closed", False)
    post("move", to="previous")
    assert state()[0] == one.id
    page = client.get(f"/present/{presentation.id}")
    assert "Een" in page.text and presentation.join_code[:4] in page.text
    # The QR code carries the presentation's link, which keeps working when the code expires.
    assert f'src="/qr/l/{presentation.link_token}.svg"' in page.text


def test_qr_code_is_an_svg_of_the_join_link(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    response = client.get(f"/qr/{presentation.join_code}.svg")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.text.lstrip().startswith("<svg")


def test_a_new_option_never_inherits_the_votes_of_a_removed_one(client, db):
    from tests.conftest import browser, join

    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(db, owner, presentation, "choice", "Thema", options="A\nB\nC")
    csrf = login(client, owner.email)
    client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "first"})
    phone = browser(client)
    join(phone, presentation.join_code)
    c_id = next(o["id"] for o in question.config["options"] if o["label"] == "C")
    vote = phone.post(
        f"/p/{presentation.join_code}/vote",
        data={"question_id": str(question.id), "option": c_id},
    )
    assert vote.status_code == 200
    for options in ("A\nB", "A\nB\nX"):
        client.post(
            f"/manage/questions/{question.id}",
            data={"csrf_token": csrf, "title": "Thema", "options": options},
        )
    with db.session() as session:
        saved = session.get(Question, question.id)
        assert saved is not None
        ids = {o["label"]: o["id"] for o in saved.config["options"]}
    assert ids["X"] != c_id
    frame = client.get(f"/present/{presentation.id}").text
    assert re.findall(r'bar-count"><strong>(\d+)', frame) == ["0", "0", "0"]


def test_titles_lose_control_and_bidi_characters(client, db):
    owner = make_user(db)
    csrf = login(client, owner.email)
    response = client.post(
        "/manage/presentations",
        data={
            "csrf_token": csrf,
            "title": "Par\u202eticipatie\u200blab\x00  2026",
            "language": "nl",
        },
        follow_redirects=False,
    )
    presentation_id = int(response.headers["location"].rsplit("/", 1)[1])
    with db.session() as session:
        saved = session.get(Presentation, presentation_id)
        assert saved is not None and saved.title == "Participatielab 2026"


def test_join_address_and_qr_follow_the_projector_address_without_public_url(settings, db):
    from fastapi.testclient import TestClient

    from app.main import create_app

    owner = make_user(db)
    presentation = make_presentation(db, owner)
    app = create_app(settings.model_copy(update={"public_url": ""}))
    with TestClient(app, base_url="http://192.168.1.20:8000") as client:
        login(client, owner.email)
        page = client.get(f"/present/{presentation.id}").text
        assert '<strong class="join-url">192.168.1.20:8000</strong>' in page
        qr = client.get(f"/qr/{presentation.join_code}.svg")
    from app.routes.presenter import _qr_svg

    # The QR code encodes the join link on the address phones can reach.
    assert qr.content == _qr_svg(f"http://192.168.1.20:8000/j/{presentation.join_code}")
    assert qr.content != _qr_svg(f"http://127.0.0.1:8000/j/{presentation.join_code}")
