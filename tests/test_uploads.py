"""Images of content slides: uploaded by their owner only, checked by their bytes, served with
headers that keep them images, and gone with their presentation."""

from __future__ import annotations

import os
import re

import pytest
import sqlalchemy as sa

from app.middleware import SecurityMiddleware
from app.models import Ballot, Presentation, Question, Upload
from app.routes.uploads import IMAGE_PATH, MAX_IMAGE_BODY
from app.services import presentations as svc_p
from app.services import uploads as svc_u
from tests.conftest import (
    browser,
    join,
    login,
    make_presentation,
    make_question,
    make_user,
)
from tests.test_question_content import JPEG, png

ORIGIN = {"Origin": "http://testserver"}
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(1)</script></svg>"
)


def noise_png(width: int, height: int) -> bytes:
    """A real PNG of random pixels: it does not compress, so its size follows its pixels."""
    rows = b"".join(b"\x00" + os.urandom(width * 3) for _ in range(height))
    return png(width, height, pixels=rows)


@pytest.fixture
def slide(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(
        db, owner, presentation, "content", "Save the date", text="12 maart\nBuurthuis"
    )
    csrf = login(client, owner.email)
    return presentation, question, csrf


def _upload(client, question, csrf, data: bytes, name="foto.png", kind="image/png", **extra):
    return client.post(
        f"/manage/questions/{question.id}/image",
        data={"csrf_token": csrf, "action": "upload", **extra},
        files={"image": (name, data, kind)},
        follow_redirects=False,
    )


def _config(db, question) -> dict:
    with db.session() as session:
        return session.get(Question, question.id).config


def _uploads(db) -> list[Upload]:
    with db.session() as session:
        return list(session.exec(sa.select(Upload)).scalars())


def _url(image: dict) -> str:
    return f"/uploads/{image['id']}/{image['digest']}"


# --- uploading ------------------------------------------------------------------------------


def test_owner_uploads_a_png_and_it_is_served_as_one(client, db, slide):
    _, question, csrf = slide
    page = client.get(f"/manage/questions/{question.id}/image")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    data = png(4, 3)
    response = _upload(client, question, csrf, data)
    assert response.status_code == 303
    assert response.headers["location"] == f"/manage/questions/{question.id}"
    image = _config(db, question)["image"]
    assert image == {
        "id": image["id"],
        "digest": svc_u.digest_of(data),
        "type": "image/png",
        "size": len(data),
        "width": 4,
        "height": 3,
        "phone": True,
    }
    served = client.get(_url(image))
    assert served.status_code == 200 and served.content == data
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert served.headers["content-security-policy"] == "default-src 'none'; sandbox"
    # The edit form shows it and links to the upload page.
    edit = client.get(f"/manage/questions/{question.id}")
    assert _url(image) in edit.text and f"/manage/questions/{question.id}/image" in edit.text
    assert (
        client.get(_url(image), headers={"If-None-Match": served.headers["etag"]}).status_code
        == 304
    )


def test_the_bytes_decide_the_type_not_the_name_or_the_browser(client, db, slide):
    _, question, csrf = slide
    assert (
        _upload(client, question, csrf, JPEG, name="notes.txt", kind="text/plain").status_code
        == 303
    )
    image = _config(db, question)["image"]
    assert (image["type"], image["width"], image["height"]) == ("image/jpeg", 40, 30)
    assert client.get(_url(image)).headers["content-type"] == "image/jpeg"


@pytest.mark.parametrize(
    ("data", "name", "kind"),
    [
        (b"Agenda: 1. Welkom 2. Koffie", "agenda.png", "image/png"),  # renamed text
        (SVG, "logo.svg", "image/svg+xml"),
        (SVG, "logo.png", "image/png"),
        (b"<html><script>alert(1)</script></html>", "x.gif", "image/gif"),
    ],
)
def test_anything_but_an_image_is_refused_and_changes_nothing(client, db, slide, data, name, kind):
    _, question, csrf = slide
    before = _config(db, question)
    response = _upload(client, question, csrf, data, name=name, kind=kind)
    assert response.status_code == 422
    assert "Dit bestand is geen PNG-, JPEG-, WebP- of GIF-afbeelding." in response.text
    assert _config(db, question) == before and _uploads(db) == []


def test_an_upload_without_a_file_is_refused(client, db, slide):
    _, question, csrf = slide
    response = client.post(
        f"/manage/questions/{question.id}/image",
        data={"csrf_token": csrf, "action": "upload"},
        follow_redirects=False,
    )
    assert response.status_code == 422 and "Kies eerst een afbeelding." in response.text
    assert _uploads(db) == []


def test_a_body_over_the_limit_is_refused_before_it_is_read(client, db, slide):
    _, question, csrf = slide
    data = png() + b"\x00" * (MAX_IMAGE_BODY + 1)
    response = _upload(client, question, csrf, data)
    assert response.status_code == 413
    assert _uploads(db) == [] and _config(db, question)["image"] is None


def test_the_route_refuses_a_large_body_itself_with_a_page(app, client, db, slide):
    """With the middleware letting upload bodies through (as it must for this path), the route
    answers a declared length over its limit with the upload page, reading none of the body."""
    _allow_upload_bodies(app, extra=1024 * 1024)
    _, question, csrf = slide
    response = _upload(client, question, csrf, png() + b"\x00" * MAX_IMAGE_BODY)
    assert response.status_code == 413
    assert "De afbeelding is te groot: hoogstens 2 MB." in response.text
    assert _uploads(db) == []


def test_a_file_one_byte_over_the_limit_is_refused(app, client, db, slide):
    _allow_upload_bodies(app, extra=1024 * 1024)
    _, question, csrf = slide
    data = png() + b"\x00" * (svc_u.MAX_IMAGE_BYTES + 1 - len(png()))
    assert len(data) == svc_u.MAX_IMAGE_BYTES + 1
    response = _upload(client, question, csrf, data)
    assert response.status_code == 413 and "te groot" in response.text
    assert _uploads(db) == []


def test_a_large_photo_within_the_limit_is_taken_and_kept_off_phones(app, client, db, slide):
    presentation, question, csrf = slide
    data = noise_png(700, 500)  # about 1 MB
    assert svc_u.PHONE_IMAGE_BYTES < len(data) < svc_u.MAX_IMAGE_BYTES
    assert _upload(client, question, csrf, data).status_code == 303
    image = _config(db, question)["image"]
    assert (image["size"], image["phone"]) == (len(data), False)
    assert client.get(_url(image)).content == data
    _present(client, presentation, csrf)
    phone = browser(client)
    join(phone, presentation.join_code)
    page = phone.get(f"/p/{presentation.join_code}")
    assert "Save the date" in page.text and _url(image) not in page.text


def _allow_upload_bodies(app, extra: int) -> None:
    """Let the middleware pass image bodies `extra` bytes over MAX_IMAGE_BODY, to see what the
    route itself does with a larger one."""
    for middleware in app.user_middleware:
        if middleware.cls is SecurityMiddleware:
            middleware.kwargs["large_bodies"] = ((IMAGE_PATH, MAX_IMAGE_BODY + extra),)
    app.middleware_stack = None  # built again, with that limit, on the next request
    assert IMAGE_PATH.fullmatch("/manage/questions/12/image")


def test_replacing_and_removing_leave_no_unused_upload(client, db, slide):
    _, question, csrf = slide
    assert _upload(client, question, csrf, png(2, 2)).status_code == 303
    first = _config(db, question)["image"]
    assert _upload(client, question, csrf, JPEG).status_code == 303
    second = _config(db, question)["image"]
    assert second["id"] != first["id"]
    assert [u.id for u in _uploads(db)] == [second["id"]]
    assert client.get(_url(first)).status_code == 404

    response = client.post(
        f"/manage/questions/{question.id}/image",
        data={"csrf_token": csrf, "action": "remove"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert _config(db, question)["image"] is None and _uploads(db) == []
    assert client.get(_url(second)).status_code == 404


def test_a_duplicated_slide_keeps_the_image_it_shares(client, db, slide):
    _, question, csrf = slide
    assert _upload(client, question, csrf, png()).status_code == 303
    image = _config(db, question)["image"]
    client.post(f"/manage/questions/{question.id}/duplicate", data={"csrf_token": csrf})
    client.post(
        f"/manage/questions/{question.id}/image", data={"csrf_token": csrf, "action": "remove"}
    )
    assert [u.id for u in _uploads(db)] == [image["id"]]
    assert client.get(_url(image)).status_code == 200


def test_saving_the_slide_keeps_its_image(client, db, slide):
    _, question, csrf = slide
    assert _upload(client, question, csrf, png()).status_code == 303
    image = _config(db, question)["image"]
    response = client.post(
        f"/manage/questions/{question.id}",
        data={"csrf_token": csrf, "title": "Nieuwe kop", "text": "Nieuw", "alt": "Logo"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert _config(db, question) == {"text": "Nieuw", "alt": "Logo", "image": image}


# --- who may -------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "not-the-token"])
def test_without_the_csrf_token_nothing_is_stored(client, db, slide, token):
    _, question, _ = slide
    data = {"action": "upload"} if token is None else {"action": "upload", "csrf_token": token}
    response = client.post(
        f"/manage/questions/{question.id}/image",
        data=data,
        files={"image": ("a.png", png(), "image/png")},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert _uploads(db) == [] and _config(db, question)["image"] is None


def test_another_facilitators_slide_is_not_found(client, db, slide):
    _, question, csrf = slide
    assert _upload(client, question, csrf, png()).status_code == 303
    image = _config(db, question)["image"]
    make_user(db, "bert@example.org")
    bert = browser(client)
    bert_csrf = login(bert, "bert@example.org")
    assert bert.get(f"/manage/questions/{question.id}/image").status_code == 404
    for action in ("upload", "remove"):
        response = bert.post(
            f"/manage/questions/{question.id}/image",
            data={"csrf_token": bert_csrf, "action": action},
            files={"image": ("a.png", png(9, 9), "image/png")},
            follow_redirects=False,
        )
        assert response.status_code == 404, action
    assert _config(db, question)["image"] == image and len(_uploads(db)) == 1


def test_only_content_slides_take_an_image(client, db, slide):
    presentation, _, csrf = slide
    with db.session() as session:
        owner_id = session.get(Presentation, presentation.id).owner_id
    from tests.conftest import Facilitator

    other = make_question(db, Facilitator("anna@example.org", owner_id), presentation, "open")
    assert client.get(f"/manage/questions/{other.id}/image").status_code == 404
    assert _upload(client, other, csrf, png()).status_code == 404
    assert _uploads(db) == []


def test_logged_out_the_page_asks_for_a_login(client, db, slide):
    _, question, _ = slide
    stranger = browser(client)
    response = stranger.get(f"/manage/questions/{question.id}/image", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert _upload(stranger, question, "x", png()).status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/uploads/999999/" + "0" * 32,
        "/uploads/abc/" + "0" * 32,
        "/uploads/-1/" + "0" * 32,
        "/uploads/99999999999999999999999/" + "0" * 32,
        "/uploads/1/short",
        "/uploads/1/" + "Z" * 32,
    ],
)
def test_unknown_images_are_not_found(client, path):
    assert client.get(path).status_code == 404


def test_an_image_needs_its_digest(client, db, slide):
    _, question, csrf = slide
    _upload(client, question, csrf, png())
    image = _config(db, question)["image"]
    wrong = "f" * 32 if image["digest"] != "f" * 32 else "e" * 32
    assert client.get(f"/uploads/{image['id']}/{wrong}").status_code == 404
    assert browser(client).get(_url(image)).status_code == 200  # no login needed


# --- the presentation's life ------------------------------------------------------------


def test_deleting_the_presentation_deletes_its_uploads(client, db, slide):
    presentation, question, csrf = slide
    _upload(client, question, csrf, png())
    image = _config(db, question)["image"]
    response = client.post(
        f"/manage/presentations/{presentation.id}/delete", data={"csrf_token": csrf}
    )
    assert response.status_code == 200
    assert _uploads(db) == []
    assert client.get(_url(image)).status_code == 404


def test_a_copied_presentation_gets_its_own_images(client, db, slide):
    presentation, question, csrf = slide
    _upload(client, question, csrf, png())
    image = _config(db, question)["image"]
    with db.write_session() as session:
        owner_id = session.get(Presentation, presentation.id).owner_id
        copy = svc_p.duplicate_presentation(
            session=session, owner_id=owner_id, presentation_id=presentation.id, copy_suffix="(2)"
        )
        copy_id = copy.id  # duplicating copies the images too
    with db.write_session() as session:
        svc_p.delete_presentation(
            session=session, owner_id=owner_id, presentation_id=presentation.id
        )
    with db.session() as session:
        (copied,) = svc_p.questions_of(session=session, presentation_id=copy_id)
    new = copied.config["image"]
    assert new["id"] != image["id"] and new["digest"] == image["digest"]
    assert client.get(_url(new)).content == png()


# --- on the screen and on phones -----------------------------------------------------------


def _present(client, presentation, csrf) -> None:
    response = client.post(
        f"/present/{presentation.id}/move",
        data={"csrf_token": csrf, "to": "first"},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_a_vote_on_a_content_slide_is_refused_and_changes_nothing(client, db, slide):
    presentation, question, csrf = slide
    _present(client, presentation, csrf)
    phone = browser(client)
    join(phone, presentation.join_code)
    page = phone.get(f"/p/{presentation.join_code}", headers={"Accept-Language": "nl"})
    assert "Save the date" in page.text and "12 maart\nBuurthuis" in page.text
    assert "Kijk naar het scherm" in page.text
    response = phone.post(
        f"/p/{presentation.join_code}/vote",
        data={"question_id": str(question.id), "option": "o1", "text": "hallo"},
    )
    assert response.status_code == 422
    assert "Bij deze dia hoef je niets in te vullen. Kijk naar het scherm." in response.text
    with db.session() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Ballot)).scalar_one() == 0


def test_the_projector_frame_shows_the_heading_text_and_image(client, db, slide):
    presentation, question, csrf = slide
    _upload(client, question, csrf, png(16, 9))
    image = _config(db, question)["image"]
    _present(client, presentation, csrf)
    with client.websocket_connect(f"/ws/present/{presentation.id}", headers=ORIGIN) as ws:
        frame = ws.receive_text()
        assert "Save the date" in frame
        assert "<p><bdi>12 maart\nBuurthuis</bdi></p>" in frame
        assert re.search(
            rf'<img class="content-image" src="{_url(image)}" width="16" height="9"', frame
        )
        # A new image reaches the screen by itself.
        _upload(client, question, csrf, JPEG)
        new = _config(db, question)["image"]
        for _ in range(20):
            frame = ws.receive_text()
            if _url(new) in frame:
                break
        else:
            raise AssertionError("the new image did not reach the screen")


def test_only_the_image_page_takes_bodies_larger_than_a_form(client, db, slide):
    _, question, csrf = slide
    big = b"x" * (512 * 1024)
    response = client.post(
        f"/manage/questions/{question.id}", content=big, headers={"content-type": "text/plain"}
    )
    assert response.status_code == 413
    over = png() + b"\x00" * MAX_IMAGE_BODY
    assert _upload(client, question, csrf, over).status_code == 413
    assert _uploads(db) == []
