"""The projector's look per presentation: the organisation's logo, its main colour, and a
high-contrast theme.

The logo is an image upload of the presentation itself, checked by its bytes exactly as the
images of content slides are (services/uploads.py: PNG, JPEG, WebP or GIF, never SVG, at most
2 MB). The main colour replaces the blue of the projector's bars, buttons and join bar. Text
is set on it (the join bar is white text on the colour) and it is set on the projector's white
background (the buttons' text and outlines), so it must be readable both ways: a colour with a
WCAG contrast below 4.5:1 against white is refused with a message, never silently changed. On
a white background the two contrasts are the same number, so one check covers both; the text
colour on the colour is still picked as the more readable of white and near-black.

Every change bumps the presentation's version, so open projectors redraw with the new look.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlmodel import Session

from app.models import Presentation, Upload, utcnow
from app.services import NotFound
from app.services import uploads as svc_u
from app.services.presentations import EditError, get_presentation

COLOR = re.compile(r"#[0-9a-f]{6}")
# WCAG 2.1 AA for normal text (1.4.3): text on the colour, and the colour as text on white.
MIN_CONTRAST = 4.5
WHITE = "#ffffff"
INK = "#1b1f24"  # the projector's text colour (stemlab.css --ink)
PROJECTOR_BACKGROUND = WHITE


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(color: str) -> float:
    """The relative luminance of a #rrggbb colour (WCAG 2.1)."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(a: str, b: str) -> float:
    """The WCAG contrast ratio of two #rrggbb colours, from 1 to 21."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_on(color: str) -> str:
    """The more readable text colour on `color`: white or the projector's near-black."""
    return WHITE if contrast(WHITE, color) >= contrast(INK, color) else INK


def parse_color(raw: str) -> str | None:
    """A main colour as typed or picked: '#rrggbb' (lower case), or None for the default blue.

    EditError when it is not a colour or would make text hard to read on the projector."""
    value = raw.strip().lower()
    if not value:
        return None
    if not value.startswith("#"):
        value = "#" + value
    if not COLOR.fullmatch(value):
        raise EditError("Write the colour as # and six characters 0-9 or a-f, such as #0b5cad.")
    if contrast(value, PROJECTOR_BACKGROUND) < MIN_CONTRAST:
        raise EditError(
            "This colour is too light: text in it is hard to read on the white screen"
            " (contrast %(ratio)s, at least 4.5 is needed). Choose a darker colour.",
            ratio=f"{contrast(value, PROJECTOR_BACKGROUND):.1f}",
        )
    if contrast(WHITE, value) < MIN_CONTRAST and contrast(INK, value) < MIN_CONTRAST:
        raise EditError("Text on this colour is hard to read. Choose a darker colour.")
    return value


@dataclass(frozen=True)
class Look:
    """What the projector needs to draw a presentation's look."""

    logo_upload_id: int | None
    color: str | None
    color_text: str
    high_contrast: bool


def look_of(presentation: Presentation) -> Look:
    color = presentation.brand_color
    return Look(
        logo_upload_id=presentation.logo_upload_id,
        color=color,
        color_text=text_on(color) if color else WHITE,
        high_contrast=presentation.high_contrast,
    )


def _changed(presentation: Presentation, session: Session) -> None:
    # Phones and screens compare versions to know what they show is outdated; the presentation
    # is locked (get_presentation(lock=True)), so this increment is not lost to another.
    presentation.version += 1
    presentation.updated_at = utcnow()
    session.add(presentation)
    session.flush()


def _drop_logo(session: Session, presentation: Presentation) -> None:
    old = presentation.logo_upload_id
    presentation.logo_upload_id = None
    if old is None:
        return
    upload = session.get(Upload, old)
    if upload is not None and upload.presentation_id == presentation.id:
        session.delete(upload)


def set_logo(*, session: Session, owner_id: int, presentation_id: int, data: bytes) -> Upload:
    """Give the presentation this logo (replacing its earlier one); EditError if not an image."""
    presentation = get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id, lock=True
    )
    info = svc_u.inspect_image(data)
    upload = Upload(
        presentation_id=presentation_id, content_type=info.content_type, size=len(data), data=data
    )
    session.add(upload)
    session.flush()
    _drop_logo(session, presentation)
    presentation.logo_upload_id = upload.id
    _changed(presentation, session)
    return upload


def remove_logo(*, session: Session, owner_id: int, presentation_id: int) -> Presentation:
    """Take the logo off (nothing happens when there is none)."""
    presentation = get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id, lock=True
    )
    if presentation.logo_upload_id is not None:
        _drop_logo(session, presentation)
        _changed(presentation, session)
    return presentation


def set_look(
    *,
    session: Session,
    owner_id: int,
    presentation_id: int,
    color: str | None,
    high_contrast: bool,
) -> Presentation:
    """Set the main colour (None: the default blue; parse it with parse_color first) and the
    high-contrast theme."""
    if color is not None and parse_color(color) != color:
        raise EditError("Write the colour as # and six characters 0-9 or a-f, such as #0b5cad.")
    presentation = get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id, lock=True
    )
    if presentation.brand_color != color or presentation.high_contrast != high_contrast:
        presentation.brand_color = color
        presentation.high_contrast = high_contrast
        _changed(presentation, session)
    return presentation


def logo_of(*, session: Session, presentation: Presentation) -> Upload | None:
    """The presentation's logo upload, if it has one and it is its own."""
    if presentation.logo_upload_id is None:
        return None
    upload = session.get(Upload, presentation.logo_upload_id)
    if upload is None or upload.presentation_id != presentation.id:
        return None
    return upload


def logo_address(*, session: Session, owner_id: int, presentation_id: int, upload_id: int) -> str:
    """The /uploads address of the presentation's current logo; NotFound for anything else."""
    presentation = get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id
    )
    upload = logo_of(session=session, presentation=presentation)
    if upload is None or upload.id != upload_id:
        raise NotFound("logo")
    return f"/uploads/{upload.id}/{svc_u.digest_of(upload.data)}"


def copy_look(*, session: Session, source: Presentation, copy: Presentation) -> None:
    """Give a duplicated presentation or a new run the look of its source, with its own copy
    of the logo (so deleting the source leaves the copy whole). To be called by whoever makes
    the copy, before its session ends."""
    copy.brand_color = source.brand_color
    copy.high_contrast = source.high_contrast
    logo = logo_of(session=session, presentation=source)
    if logo is not None:
        own = Upload(
            presentation_id=copy.id or 0,
            content_type=logo.content_type,
            size=logo.size,
            data=logo.data,
        )
        session.add(own)
        session.flush()
        copy.logo_upload_id = own.id
    session.add(copy)
    session.flush()
