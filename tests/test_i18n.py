"""The Dutch catalog covers every message in the app, and languages are chosen well.

The messages are extracted from app/ the same way as scripts/update-translations.sh
does (babel.cfg and the same keywords), so a new English string without a Dutch
translation fails here. Run the script, then translate the new entries in
app/locale/nl/LC_MESSAGES/messages.po.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from app import i18n

ROOT = Path(__file__).resolve().parent.parent
BABEL_CFG = ROOT / "babel.cfg"
NL_PO = ROOT / "app" / "locale" / "nl" / "LC_MESSAGES" / "messages.po"

# The keywords of scripts/update-translations.sh, on top of Babel's defaults
# (_, gettext, ngettext, ...): `None` is the first argument, `(2,)` the second.
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "_l": None,
    "AnswerError": None,
    "ConfigError": None,
    "EditError": None,
    "AccountError": None,
    "translate": (2,),
}

# %(name)s, and any other conversion of a named parameter (%(n)d, %(x).1f).
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")


@cache
def extracted() -> dict[str, str]:
    """Every message marked in app/: msgid -> `file:line` of its first use."""
    with BABEL_CFG.open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, filename=str(BABEL_CFG))
    # Name the Jinja extractor directly rather than through its entry point.
    method_map = [
        (pattern, "jinja2.ext:babel_extract" if method == "jinja2" else method)
        for pattern, method in method_map
    ]
    messages: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True
    ):
        msgid = message if isinstance(message, str) else message[0]
        if msgid:
            messages.setdefault(msgid, f"{filename}:{lineno}")
    return messages


@cache
def dutch() -> Catalog:
    """messages.po with any extra .po files of the folder merged in, as the app loads them."""
    with NL_PO.open("rb") as fh:
        catalog = read_po(fh, locale="nl")
    for part in i18n.catalog_parts("nl"):
        with part.open("rb") as fh:
            for message in read_po(fh, locale="nl"):
                if message.id and message.string and not i18n._string(catalog.get(message.id)):
                    catalog[message.id] = message
    return catalog


def translated_forms(message: Message) -> tuple[str, ...]:
    return (message.string,) if isinstance(message.string, str) else tuple(message.string)


def source_forms(message: Message) -> tuple[str, ...]:
    return (message.id,) if isinstance(message.id, str) else tuple(message.id)


def dutch_messages() -> list[Message]:
    return [m for m in dutch() if m.id]


def test_extraction_finds_messages_from_python_and_templates() -> None:
    messages = extracted()
    assert "Your vote has been saved" in messages  # a template
    assert "Word cloud" in messages  # _l() in Python
    assert "Choose one answer." in messages  # AnswerError(...)
    assert "Enter a title." in messages  # EditError(...)
    assert "(copy)" in messages  # translate(language, ...)


def test_every_message_has_a_dutch_translation() -> None:
    catalog = dutch()
    problems = []
    for msgid, where in sorted(extracted().items()):
        entry = catalog.get(msgid)
        if entry is None:
            problems.append(f"not in the catalog: {msgid!r} ({where})")
        elif entry.fuzzy:
            problems.append(f"fuzzy: {msgid!r} ({where})")
        elif not all(form.strip() for form in translated_forms(entry)):
            problems.append(f"not translated: {msgid!r} ({where})")
    assert not problems, (
        f"{len(problems)} message(s) without a Dutch translation; run "
        "scripts/update-translations.sh and translate them in "
        f"{NL_PO.relative_to(ROOT)}:\n" + "\n".join(problems)
    )


def test_catalog_header_and_flags() -> None:
    catalog = dutch()
    assert str(catalog.locale) == "nl"
    assert catalog.plural_forms == "nplurals=2; plural=(n != 1);"
    assert not catalog.fuzzy, "the header of the Dutch catalog is marked fuzzy"
    fuzzy = [m.id for m in dutch_messages() if m.fuzzy]
    assert not fuzzy, f"fuzzy entries in the Dutch catalog: {fuzzy}"


def test_plural_entries_have_every_form() -> None:
    catalog = dutch()
    for message in dutch_messages():
        if message.pluralizable:
            forms = translated_forms(message)
            assert len(forms) == catalog.num_plurals, message.id
            assert all(form.strip() for form in forms), message.id


@pytest.mark.parametrize("message", dutch_messages(), ids=lambda m: source_forms(m)[0][:40])
def test_translation_keeps_the_placeholders(message: Message) -> None:
    expected = set(PLACEHOLDER.findall(source_forms(message)[0]))
    for form in translated_forms(message):
        if not form:
            continue  # reported by test_every_message_has_a_dutch_translation
        assert set(PLACEHOLDER.findall(form)) == expected, (message.id, form)
        # Jinja's newstyle gettext always applies `%`, even without parameters: a stray
        # "%" (instead of "%%") or a broken placeholder would fail when rendering.
        params = {name: "x" for name in expected} | {"num": 1}
        try:
            form % params
        except (KeyError, ValueError, TypeError) as exc:
            pytest.fail(f"{form!r} cannot be filled in ({exc!r}); write a literal % as %%")


def test_translate_gives_dutch_and_english() -> None:
    assert i18n.translate("nl", "Your vote has been saved") == "Je stem is opgeslagen"
    assert i18n.translate("en", "Your vote has been saved") == "Your vote has been saved"


def test_translate_fills_in_parameters() -> None:
    assert i18n.translate("nl", "Question %(n)s of %(total)s", n=2, total=5) == "Vraag 2 van 5"
    assert i18n.translate("en", "Question %(n)s of %(total)s", n=2, total=5) == "Question 2 of 5"


def test_translate_does_not_change_the_current_language() -> None:
    token = i18n.current_language.set("en")
    try:
        assert i18n.translate("nl", "Your vote has been saved") == "Je stem is opgeslagen"
        assert i18n.current_language.get() == "en"
        assert i18n.gettext("Your vote has been saved") == "Your vote has been saved"
    finally:
        i18n.current_language.reset(token)


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("nl-NL,nl;q=0.9,en;q=0.8", "nl"),
        ("en-GB,en;q=0.9", "en"),
        (None, "nl"),
        ("", "nl"),
        ("de-DE", "en"),
        ("nl-BE", "nl"),
    ],
)
def test_negotiate(header: str | None, language: str) -> None:
    assert i18n.negotiate(header) == language
