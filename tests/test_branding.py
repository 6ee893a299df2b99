"""The projector's look per presentation: a logo checked by its bytes, a main colour that keeps
text readable, a high-contrast theme; the owner only, with CSRF; open projectors follow."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.models import Presentation, Upload
from app.routes.branding import LOGO_PATH, MAX_LOGO_BODY, chosen_color
from app.services import branding as svc_b
from app.services import uploads as svc_u
from app.services.presentations import EditError
from tests.conftest import browser, login, make_presentation, make_question, make_user
from tests.test_question_content import JPEG, png
from tests.test_uploads import SVG, noise_png


@pytest.fixture
def owned(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    csrf = login(client, owner.email)
    return owner, presentation, csrf


def _logo(client, presentation, csrf, data: bytes, name="logo.png", kind="image/png"):
    return client.post(
        f"/manage/presentations/{presentation.id}/logo",
        data={"csrf_token": csrf, "action": "upload"},
        files={"logo": (name, data, kind)},
        follow_redirects=False,
    )


def _look(client, presentation, csrf, **form: str):
    return client.post(
        f"/manage/presentations/{presentation.id}/look",
        data={"csrf_token": csrf, **form},
        follow_redirects=False,
    )


def _fresh(db, presentation) -> Presentation:
    with db.session() as session:
        found = session.get(Presentation, presentation.id)
        assert found is not None
        return found


def _uploads(db) -> list[Upload]:
    with db.session() as session:
        return list(session.exec(sa.select(Upload)).scalars())


def _frame(client, presentation) -> str:
    frame = client.app.state.services.fragments.presenter_frame(presentation.id, 1)
    assert frame is not None
    return frame


# --- the logo -----------------------------------------------------------------------------


def test_owner_uploads_a_logo_and_the_projector_shows_it(client, db, owned):
    _, presentation, csrf = owned
    before = _fresh(db, presentation).version
    data = png(40, 12)
    response = _logo(client, presentation, csrf, data)
    assert response.status_code == 303
    assert response.headers["location"] == f"/manage/presentations/{presentation.id}#branding"
    saved = _fresh(db, presentation)
    assert saved.version == before + 1  # open projectors redraw
    [upload] = _uploads(db)
    assert saved.logo_upload_id == upload.id and upload.presentation_id == presentation.id
    assert upload.data == data and upload.content_type == "image/png"

    address = f"/uploads/{upload.id}/{svc_u.digest_of(data)}"
    screen = client.get(f"/present/{presentation.id}")
    assert f'src="{address}"' in screen.text
    redirect = f"/present/{presentation.id}/logo/{upload.id}"
    assert f'data-logo="{redirect}"' in screen.text
    # The frame every projector gets names the logo too (by its redirect).
    assert f'data-logo="{redirect}"' in _frame(client, presentation)
    hop = client.get(redirect, follow_redirects=False)
    assert hop.status_code == 302 and hop.headers["location"] == address
    image = client.get(address)
    assert image.status_code == 200 and image.content == data
    # The settings card shows it.
    card = client.get(f"/manage/presentations/{presentation.id}")
    assert 'id="branding"' in card.text and redirect in card.text


def test_a_new_logo_replaces_the_old_one_and_remove_deletes_it(client, db, owned):
    _, presentation, csrf = owned
    assert _logo(client, presentation, csrf, png(4, 3)).status_code == 303
    assert _logo(client, presentation, csrf, JPEG, "logo.jpg", "image/jpeg").status_code == 303
    [upload] = _uploads(db)
    assert upload.content_type == "image/jpeg"
    assert _fresh(db, presentation).logo_upload_id == upload.id
    version = _fresh(db, presentation).version
    removed = client.post(
        f"/manage/presentations/{presentation.id}/logo",
        data={"csrf_token": csrf, "action": "remove"},
        follow_redirects=False,
    )
    assert removed.status_code == 303
    assert _uploads(db) == []
    saved = _fresh(db, presentation)
    assert saved.logo_upload_id is None and saved.version == version + 1
    assert 'data-logo=""' in _frame(client, presentation)
    assert client.get(f"/present/{presentation.id}/logo/{upload.id}").status_code == 404


@pytest.mark.parametrize(
    ("data", "name", "kind"),
    [
        (SVG, "logo.svg", "image/svg+xml"),
        (b"GIF89 but not really", "logo.gif", "image/gif"),
        (b"%PDF-1.4 a document", "logo.png", "image/png"),
        (b"", "logo.png", "image/png"),
    ],
)
def test_anything_but_a_raster_image_is_refused(client, db, owned, data, name, kind):
    _, presentation, csrf = owned
    version = _fresh(db, presentation).version
    response = _logo(client, presentation, csrf, data, name, kind)
    assert response.status_code == 422
    assert 'id="branding-error"' in response.text
    assert _uploads(db) == []
    saved = _fresh(db, presentation)
    assert saved.logo_upload_id is None and saved.version == version


def test_a_logo_over_two_megabytes_is_refused(client, db, owned):
    _, presentation, csrf = owned
    big = noise_png(840, 834)  # just over 2 MiB of random pixels
    assert len(big) > svc_u.MAX_IMAGE_BYTES
    assert len(big) < MAX_LOGO_BODY  # the middleware lets it through; the service refuses
    response = _logo(client, presentation, csrf, big)
    assert response.status_code == 413
    assert "2 MB" in response.text
    assert _uploads(db) == [] and _fresh(db, presentation).logo_upload_id is None


def test_a_declared_body_over_the_limit_is_refused_unread(client, db, owned):
    _, presentation, _csrf = owned
    assert LOGO_PATH.fullmatch(f"/manage/presentations/{presentation.id}/logo")
    response = client.post(
        f"/manage/presentations/{presentation.id}/logo",
        content=b"x" * (MAX_LOGO_BODY + 1),
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 413
    assert _uploads(db) == []


def test_the_logo_needs_the_csrf_token(client, db, owned):
    _, presentation, _ = owned
    response = _logo(client, presentation, "wrong-token", png(4, 3))
    assert response.status_code == 403
    assert _uploads(db) == [] and _fresh(db, presentation).logo_upload_id is None


def test_others_get_404_for_every_branding_route(client, db, owned):
    _, presentation, csrf = owned
    assert _logo(client, presentation, csrf, png(4, 3)).status_code == 303
    [upload] = _uploads(db)
    other = make_user(db, "bert@example.org")
    csrf_other = login(client, other.email)  # the client is now someone else
    base = f"/manage/presentations/{presentation.id}"
    assert client.get(f"{base}/branding").status_code == 404
    assert _logo(client, presentation, csrf_other, png(5, 5)).status_code == 404
    assert (
        _look(client, presentation, csrf_other, color_text="#123456", current="").status_code == 404
    )
    assert client.get(f"/present/{presentation.id}/logo/{upload.id}").status_code == 404
    saved = _fresh(db, presentation)
    assert saved.logo_upload_id == upload.id and saved.brand_color is None
    assert len(_uploads(db)) == 1


def test_the_logo_redirect_serves_this_presentations_logo_only(client, db, owned):
    owner, presentation, csrf = owned
    second = make_presentation(db, owner, title="Tweede")
    assert _logo(client, presentation, csrf, png(4, 3)).status_code == 303
    [upload] = _uploads(db)
    # A content slide image of the same presentation is not its logo.
    slide = make_question(db, owner, presentation, "content", "Dia", text="x")
    with db.write_session() as session:
        svc_u.set_image(session=session, owner_id=owner.user_id, question_id=slide.id, data=JPEG)
    images = [u for u in _uploads(db) if u.id != upload.id]
    assert images
    assert client.get(f"/present/{presentation.id}/logo/{images[0].id}").status_code == 404
    assert client.get(f"/present/{second.id}/logo/{upload.id}").status_code == 404


def test_phones_and_visitors_never_reach_the_settings(client, db, owned):
    _, presentation, csrf = owned
    assert _logo(client, presentation, csrf, png(4, 3)).status_code == 303
    [upload] = _uploads(db)
    base = f"/manage/presentations/{presentation.id}"
    with browser(client) as phone:
        phone.follow_redirects = False
        assert phone.get(f"{base}/branding").status_code == 303  # to the login page
        assert phone.post(f"{base}/look", data={"color_text": "#123456"}).status_code in (
            401,
            403,
        )
        assert phone.post(
            f"{base}/logo", files={"logo": ("a.png", png(), "image/png")}
        ).status_code in (
            401,
            403,
        )
        assert phone.get(f"/present/{presentation.id}/logo/{upload.id}").status_code == 303
        # The phone page names no setting route.
        joined = phone.get(f"/j/{_fresh(db, presentation).join_code}", follow_redirects=True)
        assert joined.status_code == 200
        assert "/manage/" not in joined.text and "/logo/" not in joined.text
    saved = _fresh(db, presentation)
    assert saved.brand_color is None and saved.logo_upload_id == upload.id


# --- the colour and the contrast rule -------------------------------------------------------


def test_contrast_is_computed_as_wcag_says():
    assert svc_b.contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert svc_b.contrast("#ffffff", "#ffffff") == pytest.approx(1.0)
    # Known values: the default blue, and a mid grey just under AA.
    assert svc_b.contrast("#0b5cad", "#ffffff") == pytest.approx(6.67, abs=0.01)
    assert svc_b.contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert svc_b.text_on("#0b5cad") == "#ffffff"
    assert svc_b.text_on("#ffe600") == svc_b.INK


@pytest.mark.parametrize("raw", ["#0B5CAD", "0b5cad", " #0b5cad "])
def test_a_dark_colour_is_accepted_in_any_spelling(raw):
    assert svc_b.parse_color(raw) == "#0b5cad"


@pytest.mark.parametrize("raw", ["#fff", "#12345g", "blue", "#1234567", "rgb(0,0,0)", "#"])
def test_what_is_not_a_colour_is_refused(raw):
    with pytest.raises(EditError) as refused:
        svc_b.parse_color(raw)
    assert "six characters" in refused.value.message


@pytest.mark.parametrize("raw", ["#777777", "#ffe600", "#ffffff", "#7fb3ff"])
def test_a_colour_too_light_for_text_is_refused(raw):
    with pytest.raises(EditError) as refused:
        svc_b.parse_color(raw)
    assert "too light" in refused.value.message
    assert "Kies een donkerdere kleur" in refused.value.text("nl")


def test_empty_means_the_standard_blue():
    assert svc_b.parse_color("") is None


def test_the_form_chooses_the_typed_or_the_picked_colour():
    assert chosen_color({"current": ["#0b5cad"], "color_text": ["#123456"]}) == "#123456"
    assert (
        chosen_color({"current": ["#0b5cad"], "color_text": ["#0b5cad"], "color": ["#654321"]})
        == "#654321"
    )
    assert chosen_color({"current": ["#0b5cad"], "color_text": [""], "color": ["#0b5cad"]}) == ""
    assert chosen_color({"current": ["#0b5cad"], "action": ["default"]}) == ""


def test_owner_sets_colour_and_high_contrast_and_projectors_follow(client, db, owned):
    _, presentation, csrf = owned
    version = _fresh(db, presentation).version
    response = _look(
        client, presentation, csrf, current="", color_text="#6A1B9A", high_contrast="1"
    )
    assert response.status_code == 303
    saved = _fresh(db, presentation)
    assert saved.brand_color == "#6a1b9a" and saved.high_contrast is True
    assert saved.version == version + 1
    screen = client.get(f"/present/{presentation.id}")
    assert re.search(r'<body class="projector high-contrast', screen.text)
    assert 'href="/present/theme/6a1b9a.css"' in screen.text
    frame = _frame(client, presentation)
    assert 'data-theme="/present/theme/6a1b9a.css"' in frame and 'data-contrast="high"' in frame
    theme = client.get("/present/theme/6a1b9a.css")
    assert theme.status_code == 200 and theme.headers["content-type"].startswith("text/css")
    assert "--brand: #6a1b9a" in theme.text and "--brand-ink: #ffffff" in theme.text
    assert 'style="' not in screen.text  # the CSP allows no inline styles
    # Off again, and the standard colour.
    assert _look(client, presentation, csrf, current="#6a1b9a", action="default").status_code == 303
    saved = _fresh(db, presentation)
    assert saved.brand_color is None and saved.high_contrast is False
    frame = _frame(client, presentation)
    assert 'data-theme=""' in frame and 'data-contrast="normal"' in frame
    assert "/present/theme/" not in client.get(f"/present/{presentation.id}").text


def test_a_light_colour_is_refused_with_a_message_and_nothing_changes(client, db, owned):
    _, presentation, csrf = owned
    version = _fresh(db, presentation).version
    response = _look(
        client, presentation, csrf, current="", color_text="#ffe600", high_contrast="1"
    )
    assert response.status_code == 422
    assert "too light" in response.text or "te licht" in response.text
    assert 'value="#ffe600"' in response.text  # what was typed stays in the field
    saved = _fresh(db, presentation)
    assert saved.brand_color is None and saved.high_contrast is False and saved.version == version


def test_the_look_needs_the_csrf_token(client, db, owned):
    _, presentation, _ = owned
    response = _look(client, presentation, "wrong", current="", color_text="#123456")
    assert response.status_code == 403
    assert _fresh(db, presentation).brand_color is None


@pytest.mark.parametrize(
    "path", ["/present/theme/ffffff.css", "/present/theme/zzzzzz.css", "/present/theme/12345.css"]
)
def test_the_theme_stylesheet_takes_readable_colours_only(client, path):
    assert client.get(path).status_code == 404


def test_copy_look_gives_a_copy_its_own_logo(client, db, owned):
    owner, presentation, csrf = owned
    assert _logo(client, presentation, csrf, png(6, 2)).status_code == 303
    assert _look(client, presentation, csrf, current="", color_text="#123456").status_code == 303
    copy = make_presentation(db, owner, title="Kopie")
    with db.write_session() as session:
        source = session.get(Presentation, presentation.id)
        target = session.get(Presentation, copy.id)
        svc_b.copy_look(session=session, source=source, copy=target)
    saved = _fresh(db, copy)
    assert saved.brand_color == "#123456" and saved.high_contrast is False
    original = _fresh(db, presentation).logo_upload_id
    assert saved.logo_upload_id is not None and saved.logo_upload_id != original
    with db.session() as session:
        upload = session.get(Upload, saved.logo_upload_id)
        assert upload is not None and upload.presentation_id == copy.id
        assert upload.data == png(6, 2)
    hop = client.get(f"/present/{copy.id}/logo/{saved.logo_upload_id}", follow_redirects=False)
    assert hop.status_code == 302


def test_a_duplicate_and_a_new_run_keep_the_look(client, db, owned):
    owner, presentation, csrf = owned
    assert _logo(client, presentation, csrf, png(6, 2)).status_code == 303
    assert _look(client, presentation, csrf, current="", color_text="#123456").status_code == 303
    from app.services import presentations as svc_presentations
    from app.services import runs as svc_runs

    with db.write_session() as session:
        duplicate = svc_presentations.duplicate_presentation(
            session=session,
            owner_id=owner.user_id,
            presentation_id=presentation.id or 0,
            copy_suffix="(kopie)",
        )
        run = svc_runs.new_run(
            session=session,
            owner_id=owner.user_id,
            presentation_id=presentation.id or 0,
            run_date=None,
            place=None,
        )
        made = [duplicate.id, run.id]
    original_logo = _fresh(db, presentation).logo_upload_id
    for made_id in made:
        with db.session() as session:
            copy = session.get(Presentation, made_id)
            assert copy.brand_color == "#123456"
            assert copy.logo_upload_id not in (None, original_logo)
            assert session.get(Upload, copy.logo_upload_id).presentation_id == made_id
