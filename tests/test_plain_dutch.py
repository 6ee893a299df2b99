"""The Dutch that participants read is plain (B1): short sentences, everyday words, "je".

Participants are often older tenants on their own phone. Every message marked for
translation in the files a participant sees (the phone pages, the join and group pages,
the privacy page, the error page, and the answer checks of the question types) must:

- have sentences of at most MAX_WORDS words,
- avoid jargon and English loanwords (BANNED),
- say "je"/"jij"/"jouw", never the formal "u"/"uw",
- use the glossary's word for a thing (SYNONYMS; see docs/language.md).

Facilitator pages use "je" too (checked over the whole catalog). When one of these tests
fails, rewrite the Dutch in the .po part file, following docs/language.md.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Message
from babel.messages.extract import extract_from_file

from tests.test_i18n import KEYWORDS, dutch, dutch_messages, translated_forms

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "app" / "templates"

# The longest sentence a participant reads (B1: aim at 15 words or fewer).
MAX_WORDS = 15

# Templates a participant sees on a phone (relative to app/templates).
PARTICIPANT_TEMPLATES = (
    "participant.html",
    "join.html",
    "privacy.html",
    "_privacy_link.html",
    "_countdown.html",
    "_phone_tools.html",
    "error.html",
    "groups/pick.html",
    "groups/_views.html",
    "questions/*/vote.html",
    "questions/qa/phone.html",
    "questions/quiz/_me.html",
    "questions/quiz/_nickname_field.html",
    "questions/quiz/me_page.html",
)
# Python modules whose marked messages go to phones (routes of the phone pages, and the
# checks of a quiz nickname).
PARTICIPANT_MODULES = (
    "app/routes/participant.py",
    "app/routes/qa.py",
    "app/routes/quiz.py",
    "app/services/quiz.py",
)
PARTICIPANT_KEYWORDS = {**KEYWORDS, "NicknameError": None}

# Jargon and English loanwords with a plain Dutch word (lower case; matched inside words).
BANNED = {
    "participant": "deelnemer",
    "pseudoniem": "bijnaam or naam",
    "moderat": "controleren or goedkeuren",
    "token": "sleutel",
    "sessie": "bijeenkomst",
    "websocket": "verbinding",
    "server": "(leave it out)",
    "http": "(leave it out)",
    "connectie": "verbinding",
    "vote": "stem",
    "voten": "stemmen",
    "submit": "versturen",
    "uploaden": "versturen or opslaan",
    "beamer": "scherm",
    "invoer": "wat je invult",
    "valideren": "controleren",
    "ongeldig": "klopt niet",
    "indienen": "versturen",
    "selecteer": "kies",
    "s.v.p": "(leave it out)",
    "gelieve": "(leave it out)",
}

# Formal address: "u", "uw", "U", "Uw" as whole words.
FORMAL = re.compile(r"\b(?:u|uw)\b", re.IGNORECASE)
# Messages of another area still waiting for their "je" form (msgid -> the file to fix).
# Remove an entry once its translation is fixed.
FORMAL_PENDING = {"Your logo": "branding.po: 'Uw logo' should be 'Je logo'"}

# One word for one thing: the left word is never used (anywhere), the right one is.
# ("beamer" may name the device on a facilitator page; participants only read "scherm".)
SYNONYMS = {
    "sessie": "bijeenkomst",
    "uitkomst": "uitslag",
    "reactie": "antwoord",
    "maximaal": "hoogstens",
}

PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _participant_files() -> list[Path]:
    files: list[Path] = []
    for pattern in PARTICIPANT_TEMPLATES:
        found = sorted(TEMPLATES.glob(pattern))
        assert found, f"no template matches {pattern}; update PARTICIPANT_TEMPLATES"
        files += found
    return files + [ROOT / m for m in PARTICIPANT_MODULES]


@cache
def participant_msgids() -> frozenset[str]:
    """The msgids a participant can read: from their templates and modules, and answer checks."""
    ids: set[str] = set()
    options = {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}
    for path in _participant_files():
        method = "python" if path.suffix == ".py" else "jinja2.ext:babel_extract"
        for _line, message, _comments, _context in extract_from_file(
            method, str(path), keywords=PARTICIPANT_KEYWORDS, options=options
        ):
            ids.update([message] if isinstance(message, str) else [m for m in message if m])
    # The answer checks of every question type (AnswerError) are shown on the phone.
    for path in sorted((ROOT / "app" / "questions").glob("*.py")):
        for _line, message, _comments, _context in extract_from_file(
            "python", str(path), keywords={"AnswerError": None}
        ):
            ids.update([message] if isinstance(message, str) else [m for m in message if m])
    return frozenset(ids)


def participant_messages() -> list[Message]:
    ids = participant_msgids()
    return [m for m in dutch_messages() if (m.id if isinstance(m.id, str) else m.id[0]) in ids]


def sentences(text: str) -> list[str]:
    return [s for s in SENTENCE_END.split(text.strip()) if s.strip()]


def word_count(sentence: str) -> int:
    return len(PLACEHOLDER.sub("X", sentence).split())


def _label(message: Message) -> str:
    return (message.id if isinstance(message.id, str) else message.id[0])[:40]


def test_the_selection_finds_the_participant_messages() -> None:
    ids = participant_msgids()
    assert "Your vote has been saved" in ids  # participant.html
    assert "Enter the code you see on the screen." in ids  # routes/participant.py
    assert "Choose one answer." in ids  # AnswerError in app/questions
    assert "Which group are you in?" in ids  # groups/pick.html
    assert "Privacy: what we store" in ids  # privacy.html
    assert "Enter a name." in ids  # NicknameError of a quiz nickname
    assert "Log in" not in ids  # a facilitator page
    assert len(participant_messages()) > 100


def test_sentence_counting() -> None:
    two = ["Vul de code in.", "Kijk op het scherm!"]
    assert sentences(" ".join(two)) == two
    assert word_count("Kies %(n)s antwoorden.") == 3
    assert sentences("Goed: Amsterdam") == ["Goed: Amsterdam"]
    assert word_count("Dit is een (kleine) zin, met zeven woorden.") == 8


@pytest.mark.parametrize("message", participant_messages(), ids=_label)
def test_participant_sentences_are_short(message: Message) -> None:
    for form in translated_forms(message):
        long = [s for s in sentences(form) if word_count(s) > MAX_WORDS]
        assert not long, f"sentence longer than {MAX_WORDS} words: {long} ({message.id!r})"


@pytest.mark.parametrize("message", participant_messages(), ids=_label)
def test_participant_text_has_no_jargon(message: Message) -> None:
    for form in translated_forms(message):
        lower = form.lower()
        found = {word: plain for word, plain in BANNED.items() if word in lower}
        assert not found, f"{form!r}: use plain words instead of {found}"


def test_every_dutch_text_says_je_not_u() -> None:
    formal = [
        (_label(m), form)
        for m in dutch_messages()
        for form in translated_forms(m)
        if FORMAL.search(PLACEHOLDER.sub("", form)) and m.id not in FORMAL_PENDING
    ]
    assert not formal, "say je/jij/jouw, not u/uw:\n" + "\n".join(map(str, formal))


def test_one_word_for_one_thing() -> None:
    mixed = [
        (_label(m), form, f"{old} -> {new}")
        for m in dutch_messages()
        for form in translated_forms(m)
        for old, new in SYNONYMS.items()
        if old in form.lower()
    ]
    assert not mixed, "use the glossary's word (docs/language.md):\n" + "\n".join(map(str, mixed))


def test_the_catalog_is_the_one_the_app_loads() -> None:
    # The rules above read the merged catalog; make sure it is not empty or stale.
    assert dutch().get("Your vote has been saved") is not None
