"""Dutch and English: gettext catalogs, the current language, Accept-Language negotiation."""

from __future__ import annotations

import gettext as _gettext
from contextvars import ContextVar
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"
# A language chosen by hand in this browser (the facilitator's menu, the phone's switch).
LANGUAGE_COOKIE = "stemlab_lang"
# "large": the participant turned on larger text on their phone.
TEXT_COOKIE = "stemlab_text"


def chosen(value: str | None) -> str | None:
    """A language cookie's value when it is one of ours (anything else is ignored)."""
    return value if value in LANGUAGES else None


def _l(message: str) -> str:
    """Mark a message for translation where it is defined; it is translated where shown."""
    return message


current_language: ContextVar[str] = ContextVar("current_language", default=DEFAULT_LANGUAGE)


def _string(message: Any) -> Any:
    """The translation of a catalog entry, or None when there is no entry."""
    return None if message is None else message.string


def catalog_parts(language: str) -> list[Path]:
    """Extra .po files beside messages.po (work in progress on one area), merged into it."""
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    return sorted(p for p in folder.glob("*.po") if p.name != "messages.po")


@cache
def translations(language: str) -> _gettext.NullTranslations:
    """The catalog of a language, compiled from its .po file in memory (English is the source)."""
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    main = folder / "messages.po"
    if language == "en" or not main.exists():
        return _gettext.NullTranslations()
    with main.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    for part in catalog_parts(language):
        with part.open("rb") as fh:
            for message in read_po(fh, locale=language):
                if message.id and message.string and not _string(catalog.get(message.id)):
                    catalog[message.id] = message
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def gettext(message: str, **params: Any) -> str:
    """`message` in the current language, with %(name)s parameters filled in."""
    text = translations(current_language.get()).gettext(message)
    return text % params if params else text


def translate(language: str, message: str, **params: Any) -> str:
    """`message` in `language`, whatever the current language is."""
    token = current_language.set(language)
    try:
        return gettext(message, **params)
    finally:
        current_language.reset(token)


def negotiate(accept_language: str | None) -> str:
    """The best of our languages for an Accept-Language header (Dutch when nothing matches)."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    preferred = []
    for part in accept_language.split(",")[:20]:
        tag = part.split(";")[0].strip().replace("-", "_")
        if tag and tag != "*":
            preferred.append(tag)
    chosen = negotiate_locale(preferred, list(LANGUAGES), sep="_")
    if chosen:
        return chosen
    for tag in preferred:
        base = tag.split("_")[0].lower()
        if base in LANGUAGES:
            return base
    return "en" if preferred else DEFAULT_LANGUAGE
