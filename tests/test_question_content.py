"""Content slide: heading, text and an image; no vote is ever taken."""

from __future__ import annotations

import base64
import contextlib
import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.db import Database
from app.models import BallotItem, Question
from app.questions import get_type
from app.questions.base import AnswerError, ConfigError
from app.questions.content import MAX_LINES, MAX_TEXT, TYPE, clean_slide_text, paragraphs
from app.services.presentations import EditError
from app.services.uploads import MAX_IMAGE_BYTES, MAX_SIDE, ImageInfo, inspect_image
from app.templating import render
from tests.conftest import make_current, make_presentation, make_question, make_user

IMAGE = {"id": 7, "digest": "0" * 32, "type": "image/png", "size": 90, "width": 4, "height": 3}


def png(width: int = 4, height: int = 3, pixels: bytes | None = None) -> bytes:
    """A real PNG (8-bit RGB), made here from its chunks."""

    def chunk(name: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(name + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + name + body + struct.pack(">I", crc)

    rows = pixels or b"".join(b"\x00" + b"\x0b\x5c\xad" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# A 40x30 JPEG and WebPs (lossy and lossless, extended format) as Chromium's canvas encodes them.
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4"
    "UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2Nj"
    "Y2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAAeACgDASIAAhEBAxEB/8QAGQABAQADAQAAAAAAAAAAAAAAAAUCAwYE/8QA"
    "KRAAAgIBAQUIAwAAAAAAAAAAAAECAwQRFBVBU1QFEhMhIpGS0VFh8P/EABcBAQEBAQAAAAAAAAAAAAAAAAADBQL/xAAf"
    "EQACAgEEAwAAAAAAAAAAAAAAAwEEAgUSIXERMWH/2gAMAwEAAhEDEQA/AJuHiWZlrrrcU1Hvep/35PZuPK5lPu/ow7Es"
    "rqzJysnGC8NrWT04oubZi9TT80S1C7aS7YqOOjmrXSxe7OeeyNuPK5lPu/onW1uq2dctG4ScXp+jqtsxepp+aOYy2pZl"
    "8otNOyTTXHzK6bbsPzyh0evngncQpWMSs0gA2TPAAAAAAAAAP//Z"
)
WEBP_LOSSY_CHUNK = base64.b64decode(
    "VlA4IKgAAABwBQCdASooAB4APtFYokyoJSMiKqwBABoJaACzuQA1trnO8A+AEWAAN4APd6YEMsc7/irwAP7K7/W3mm3k"
    "H+RtZ3FnnApXoxK8JjEOJ4fIr/XnvddQ4Cm7/4p22vdqdCqc0EeVSje2jmPNyzzT39XDyIaCA29t+YUvQhs4w1i5X8/8"
    "LT7nyL4zjPlSwN3JWzZQvo5k5UGUNfHKC6t2qznNG3yziLb4AAA="
)
WEBP_LOSSLESS_CHUNK = base64.b64decode(
    "VlA4TC4AAAAvJ0AHAA9wKq4vvB+rdf6jBWbatnH5kyyTvtMQRPR/HgAAAHTLNwAAAAAAAO5p"
)


def webp(*chunks: bytes) -> bytes:
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_extended(inner: bytes, width: int = 40, height: int = 30) -> bytes:
    vp8x = struct.pack("<4sI", b"VP8X", 10) + bytes([0, 0, 0, 0])
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return webp(vp8x, inner)


def gif(width: int = 5, height: int = 2) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00" + b";"


# --- configuration -------------------------------------------------------------------------


def test_default_config_has_no_text_and_no_image() -> None:
    assert TYPE.default_config("nl") == {"text": "", "alt": "", "image": None}
    assert TYPE.takes_votes is False and get_type("choice").takes_votes is True
    assert get_type("content") is TYPE


def test_parse_config_keeps_lines_and_paragraphs() -> None:
    form = {
        "text": ["  09.30 Welkom \r\n10.00 Jaarcyclus\r\n\r\n\r\n\r\nKoffie  "],
        "alt": [" Logo "],
    }
    config = TYPE.parse_config(form)
    assert config == {
        "text": "09.30 Welkom\n10.00 Jaarcyclus\n\nKoffie",
        "alt": "Logo",
        "image": None,
    }
    assert paragraphs(config["text"]) == ["09.30 Welkom\n10.00 Jaarcyclus", "Koffie"]


def test_parse_config_takes_the_image_from_before_never_from_the_form() -> None:
    previous = {"text": "oud", "alt": "", "image": IMAGE}
    form = {"text": ["nieuw"], "image": ['{"id": 1}'], "image_id": ["1"]}
    assert TYPE.parse_config(form, previous=previous) == {
        "text": "nieuw",
        "alt": "",
        "image": IMAGE,
    }
    assert TYPE.parse_config({"text": ["x"]})["image"] is None


def test_parse_config_drops_invisible_and_bidi_characters() -> None:
    config = TYPE.parse_config({"text": ["\u202eWel\u200bkom\x00"], "alt": ["a\u2066b"]})
    assert (config["text"], config["alt"]) == ("Welkom", "ab")


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"text": ["a" * (MAX_TEXT + 1)]}, "The text can have at most %(n)s characters."),
        ({"text": ["a" * 100_000]}, "The text can have at most %(n)s characters."),
        ({"text": ["regel\n" * (MAX_LINES + 1)]}, "The text can have at most %(n)s lines."),
        (
            {"alt": ["b" * 201]},
            "The description of the image can have at most %(n)s characters.",
        ),
    ],
)
def test_parse_config_rejects(form: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        TYPE.parse_config(form)
    assert error.value.message == message


def test_an_empty_text_is_allowed() -> None:
    assert TYPE.parse_config({})["text"] == ""
    assert TYPE.parse_config({"text": [" \n \n "]})["text"] == ""


@given(st.text(max_size=300))
def test_cleaning_is_idempotent(text: str) -> None:
    once = clean_slide_text(text)
    assert clean_slide_text(once) == once
    assert "\n\n\n" not in once


# --- votes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "form", [{}, {"option": ["o1"]}, {"text": ["hallo"]}, {"word": ["a", "b"]}, {"x": [""]}]
)
def test_every_vote_is_refused(form: dict) -> None:
    with pytest.raises(AnswerError) as error:
        TYPE.parse_answer(TYPE.default_config("nl"), form)
    assert error.value.message == "This slide takes no answers. Look at the screen."
    assert "Kijk naar het scherm" in error.value.text("nl")


def test_tally_has_no_responses(db: Database) -> None:
    with db.session() as session:
        results = TYPE.tally(session, 123, TYPE.default_config("nl"))
    assert (results.responses, results.data) == (0, {})


def test_csv_cells_never_fail() -> None:
    item = BallotItem(ballot_id=1, question_id=1, key="k")
    assert TYPE.csv_cells({}, item).answer == "k"


# --- images: recognised by their bytes ------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (png(4, 3), ImageInfo("image/png", 4, 3)),
        (JPEG, ImageInfo("image/jpeg", 40, 30)),
        (webp(WEBP_LOSSY_CHUNK), ImageInfo("image/webp", 40, 30)),
        (webp(WEBP_LOSSLESS_CHUNK), ImageInfo("image/webp", 40, 30)),
        (webp_extended(WEBP_LOSSY_CHUNK), ImageInfo("image/webp", 40, 30)),
        (gif(5, 2), ImageInfo("image/gif", 5, 2)),
    ],
)
def test_images_are_recognised_by_their_bytes(data: bytes, expected: ImageInfo) -> None:
    assert inspect_image(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"Dit is gewoon tekst, met de naam foto.png",
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
        b"<html><body>PNG</body></html>",
        b"\x89PNG\r\n\x1a\n",  # a header and nothing after it
        png()[:20],
        JPEG[:100],  # cut off before the frame header
        b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 20,  # a scan before any frame
        b"RIFF\x00\x00\x00\x00WEBPVP8 ",
        b"RIFF\x00\x00\x00\x00WAVEfmt ",
        b"GIF89",
        b"%PDF-1.7\n",
    ],
)
def test_anything_else_is_refused(data: bytes) -> None:
    with pytest.raises(EditError) as error:
        inspect_image(data)
    assert error.value.message == "This file is not a PNG, JPEG, WebP or GIF image."


def test_empty_huge_and_giant_images_are_refused() -> None:
    with pytest.raises(EditError) as error:
        inspect_image(b"")
    assert error.value.message == "Choose an image file first."
    with pytest.raises(EditError) as error:
        inspect_image(png() + b"\x00" * MAX_IMAGE_BYTES)
    assert error.value.params == {"n": 2}
    for data in (png(MAX_SIDE + 1, 1), gif(1, MAX_SIDE + 1), png(0, 5), gif(0, 0)):
        with pytest.raises(EditError) as error:
            inspect_image(data)
        assert error.value.message == "The image is too large: at most %(n)s by %(n)s pixels."
    assert inspect_image(png(MAX_SIDE, 1)).width == MAX_SIDE


@given(st.binary(max_size=64))
def test_any_bytes_are_an_image_or_refused_with_a_message(data: bytes) -> None:
    try:
        info = inspect_image(data)
    except EditError:
        return
    assert info.content_type in {"image/png", "image/jpeg", "image/webp", "image/gif"}


@given(st.binary(max_size=48), st.sampled_from([png(), JPEG, webp(WEBP_LOSSY_CHUNK), gif()]))
def test_broken_images_never_crash_the_check(tail: bytes, image: bytes) -> None:
    for data in (image[: len(tail)] + tail, image[:12] + tail):
        with contextlib.suppress(EditError):
            inspect_image(data)


# --- templates -----------------------------------------------------------------------------


@pytest.fixture
def slide(db: Database) -> Question:
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(
        db,
        owner,
        presentation,
        "content",
        "Programma",
        text="09.30 <b>Welkom</b>\n10.00 Jaarcyclus\n\nKoffie & thee",
        alt="Logo",
    )
    make_current(db, question)
    return question


def test_projector_shows_the_text_escaped_with_its_lines(slide: Question) -> None:
    slide.config = {**slide.config, "image": {**IMAGE, "phone": False}}
    html = render("questions/content/results.html", "nl", {"question": slide})
    assert "<p><bdi>09.30 &lt;b&gt;Welkom&lt;/b&gt;\n10.00 Jaarcyclus</bdi></p>" in html
    assert "<p><bdi>Koffie &amp; thee</bdi></p>" in html
    assert '<img class="content-image" src="/uploads/7/' + "0" * 32 + '"' in html
    assert 'alt="Logo"' in html and "<b>" not in html
    assert 'width="4" height="3"' in html


def test_projector_without_text_or_image(slide: Question) -> None:
    slide.config = {"text": "", "alt": "", "image": None}
    html = render("questions/content/results.html", "en", {"question": slide})
    assert "<img" not in html and "<p>" not in html


def test_phones_get_the_text_and_only_a_small_image(slide: Question) -> None:
    context = {"question": slide, "answer": None}
    big = {**slide.config, "image": {**IMAGE, "phone": False}}
    small = {**slide.config, "image": {**IMAGE, "phone": True}}
    slide.config = big
    html = render("questions/content/vote.html", "nl", context)
    assert "Koffie &amp; thee" in html and "Kijk naar het scherm" in html
    assert "<img" not in html and "<form" not in html and "<input" not in html
    slide.config = small
    assert 'src="/uploads/7/' in render("questions/content/vote.html", "en", context)
    assert "Look at the screen" in render("questions/content/vote.html", "en", context)
