"""Images of content slides: checked by their bytes, kept in the database, one per slide.

An image is accepted when its first bytes say PNG, JPEG, WebP or GIF and its width and height
can be read from its header; the file name and the browser's content type are never trusted
(SVG is refused: it can carry scripts). The question's config holds the upload's id and a
digest of its bytes; the image address carries both, so the ids, which count up, cannot be
used to fetch the images of other people's presentations.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from app.models import Presentation, Question, Upload, utcnow
from app.services import NotFound
from app.services.presentations import EditError, get_question, questions_of

MAX_IMAGE_BYTES = 2 * 1024 * 1024
# A phone shows the image only when it is at most this large (venue wifi is often poor).
PHONE_IMAGE_BYTES = 100 * 1024
MAX_SIDE = 8000  # pixels; larger images cost phones and projectors too much memory to decode
CONTENT_KIND = "content"
DIGEST_CHARS = 32


@dataclass(frozen=True)
class ImageInfo:
    """What the header of an accepted image says."""

    content_type: str
    width: int
    height: int


def digest_of(data: bytes) -> str:
    """The part of an image's address that only someone who saw the image (or its slide) knows."""
    return hashlib.sha256(data).hexdigest()[:DIGEST_CHARS]


def inspect_image(data: bytes) -> ImageInfo:
    """The type and size of an image, read from its bytes; EditError when it is not one we take."""
    if not data:
        raise EditError("Choose an image file first.")
    if len(data) > MAX_IMAGE_BYTES:
        raise EditError("The image is too large: at most %(n)s MB.", n=MAX_IMAGE_BYTES // 2**20)
    info = _sniff(data)
    if info is None:
        raise EditError("This file is not a PNG, JPEG, WebP or GIF image.")
    if not (1 <= info.width <= MAX_SIDE and 1 <= info.height <= MAX_SIDE):
        raise EditError("The image is too large: at most %(n)s by %(n)s pixels.", n=MAX_SIDE)
    return info


def _sniff(data: bytes) -> ImageInfo | None:
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            return _png(data)
        if data.startswith(b"\xff\xd8\xff"):
            return _jpeg(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp(data)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            width, height = struct.unpack("<HH", data[6:10])
            return ImageInfo("image/gif", width, height)
    except (struct.error, IndexError):
        return None
    return None


def _png(data: bytes) -> ImageInfo | None:
    length, name = struct.unpack(">I4s", data[8:16])
    if name != b"IHDR" or length != 13:
        return None
    width, height = struct.unpack(">II", data[16:24])
    return ImageInfo("image/png", width, height)


# Start-of-frame markers (baseline, progressive, lossless, arithmetic): they hold the size.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(data: bytes) -> ImageInfo | None:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or the scan started before any frame
            return None
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            return None
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return ImageInfo("image/jpeg", width, height)
        pos += 2 + length
    return None


def _webp(data: bytes) -> ImageInfo | None:
    chunk = data[12:16]
    if chunk == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        width, height = struct.unpack("<HH", data[26:30])
        return ImageInfo("image/webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L":
        if data[20] != 0x2F:
            return None
        (bits,) = struct.unpack("<I", data[21:25])
        return ImageInfo("image/webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        if len(data) < 30:
            return None
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return ImageInfo("image/webp", width, height)
    return None


# --- the image of a content slide ----------------------------------------------------------


def content_slide(
    *, session: Session, owner_id: int, question_id: int, lock: bool = False
) -> Question:
    """A content slide of `owner_id`; NotFound for any other question, or someone else's."""
    question = get_question(session=session, owner_id=owner_id, question_id=question_id, lock=lock)
    if question.kind != CONTENT_KIND:
        raise NotFound("question")
    return question


def set_image(*, session: Session, owner_id: int, question_id: int, data: bytes) -> Question:
    """Give a content slide this image (replacing its earlier one); EditError if not an image."""
    question = content_slide(session=session, owner_id=owner_id, question_id=question_id, lock=True)
    info = inspect_image(data)
    upload = Upload(
        presentation_id=question.presentation_id,
        content_type=info.content_type,
        size=len(data),
        data=data,
    )
    session.add(upload)
    session.flush()
    image = {
        "id": upload.id,
        "digest": digest_of(data),
        "type": info.content_type,
        "size": len(data),
        "width": info.width,
        "height": info.height,
        "phone": len(data) <= PHONE_IMAGE_BYTES,
    }
    _replace(session, question, image)
    return question


def remove_image(*, session: Session, owner_id: int, question_id: int) -> Question:
    """Take the image off a content slide (nothing happens when it has none)."""
    question = content_slide(session=session, owner_id=owner_id, question_id=question_id, lock=True)
    if question.config.get("image"):
        _replace(session, question, None)
    return question


def _replace(session: Session, question: Question, image: dict[str, Any] | None) -> None:
    old = question.config.get("image")
    # A new dict: the JSON column only notices a change when it is given another object.
    question.config = {**question.config, "image": image}
    session.add(question)
    session.flush()
    if old:
        _drop_unused(session, question.presentation_id, int(old["id"]))
    # Phones and screens compare versions to know what they show is outdated. The presentation
    # was locked by content_slide(lock=True), so this increment is not lost to another.
    presentation = session.get(Presentation, question.presentation_id)
    if presentation is not None:
        presentation.version += 1
        presentation.updated_at = utcnow()
        session.add(presentation)


def _image_ids(questions: list[Question]) -> set[int]:
    return {
        int(q.config["image"]["id"])
        for q in questions
        if q.kind == CONTENT_KIND and q.config.get("image")
    }


def _drop_unused(session: Session, presentation_id: int, upload_id: int) -> None:
    """Delete an upload no slide of its presentation shows any more (a duplicated slide shares
    its image with the original)."""
    if upload_id in _image_ids(questions_of(session=session, presentation_id=presentation_id)):
        return
    upload = session.get(Upload, upload_id)
    if upload is not None and upload.presentation_id == presentation_id:
        session.delete(upload)
        session.flush()


def copy_images(*, session: Session, presentation_id: int) -> None:
    """After a presentation was duplicated: give the copy its own copies of the images its
    slides show, so deleting the original (and its uploads) leaves the copy whole."""
    copied: dict[int, int] = {}
    for question in questions_of(session=session, presentation_id=presentation_id):
        image = question.config.get("image") if question.kind == CONTENT_KIND else None
        if not image:
            continue
        source_id = int(image["id"])
        if source_id not in copied:
            source = session.get(Upload, source_id)
            if source is None:
                continue
            if source.presentation_id == presentation_id:
                copied[source_id] = source_id
            else:
                copy = Upload(
                    presentation_id=presentation_id,
                    content_type=source.content_type,
                    size=source.size,
                    data=source.data,
                )
                session.add(copy)
                session.flush()
                copied[source_id] = copy.id or 0
        question.config = {**question.config, "image": {**image, "id": copied[source_id]}}
        session.add(question)
    session.flush()


def get_image(*, session: Session, upload_id: int, digest: str) -> Upload:
    """An upload whose address is right (id and digest); NotFound otherwise."""
    if len(digest) != DIGEST_CHARS or not all(c in "0123456789abcdef" for c in digest):
        raise NotFound("upload")
    upload = session.get(Upload, upload_id)
    if upload is None or not hmac.compare_digest(digest_of(upload.data), digest):
        raise NotFound("upload")
    return upload


def uploads_of(*, session: Session, presentation_id: int) -> list[Upload]:
    """Every upload of a presentation (for tests and housekeeping)."""
    return list(session.exec(select(Upload).where(Upload.presentation_id == presentation_id)))
