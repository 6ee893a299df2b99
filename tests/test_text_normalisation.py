"""Text normalisation: word-cloud keys and cleaned free text."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.questions.text import MAX_COMBINING, clean_text, word_key

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"

# Letters, digits, marks, format and control characters, spaces, and a few troublemakers
# (fullwidth forms, ligatures, "İ" whose case folding adds a combining mark, Cyrillic).
tricky_text = st.text(
    alphabet=st.one_of(
        st.characters(categories=["Cf", "Cc", "Mn", "Lu", "Ll", "Lt", "Nd", "Zs", "Po"]),
        st.sampled_from(
            "ＦＯＯｆｏｏﬁﬃß\u0130\u0131ǰΐ\u1e9eаеоі ́\u00b4\u2028\n\r\t" + BIDI + ZERO_WIDTH
        ),
    ),
    max_size=30,
)


def mark_runs(text: str) -> list[int]:
    """Lengths of the runs of combining marks (Mn) in a text."""
    runs, run = [], 0
    for ch in text:
        if unicodedata.category(ch) == "Mn":
            run += 1
        else:
            if run:
                runs.append(run)
            run = 0
    return [*runs, run] if run else runs


# --- word_key ------------------------------------------------------------------------------


@given(tricky_text)
@example("\u0130" + "\u0301" * 5)  # "İ" folds to "i" + U+0307: one more mark than it had
@example("e\u200b\u0301")  # the zero-width space kept e and the accent apart
def test_word_key_is_idempotent(text: str) -> None:
    key = word_key(text)
    assert word_key(key) == key


@given(tricky_text)
def test_word_key_has_no_format_or_control_characters(text: str) -> None:
    assert not any(unicodedata.category(ch) in {"Cf", "Cc"} for ch in word_key(text))


@given(tricky_text)
def test_word_key_has_no_outer_or_repeated_whitespace(text: str) -> None:
    key = word_key(text)
    assert key == key.strip()
    assert key == " ".join(key.split())


@given(tricky_text)
@example("\u0130" + "\u0301" * 50)
def test_word_key_caps_combining_marks(text: str) -> None:
    assert all(run <= MAX_COMBINING for run in mark_runs(word_key(text)))


@given(st.text(alphabet=st.characters(categories=["Lu", "Ll", "Lt", "Nd", "Zs"]), max_size=20))
def test_word_key_ignores_case_and_width(text: str) -> None:
    assert word_key(text) == word_key(text.casefold())
    assert word_key(text) == word_key(unicodedata.normalize("NFKC", text))


@pytest.mark.parametrize(
    "variant",
    [
        "ＦＯＯ",
        "foo",
        "f\u200boo",
        " Foo ",
        "FOO\u2066",
        "\u202efoo",
        "fo\u00ado",
        "\ufefffoo",
        "FoO",
    ],
)
def test_word_key_merges_variants(variant: str) -> None:
    assert word_key(variant) == "foo"


def test_word_key_collapses_inner_whitespace() -> None:
    assert word_key("samen\t \u00a0werken\u3000aan") == "samen werken aan"


@pytest.mark.parametrize(("a", "b"), [("één", "een"), ("café", "cafe"), ("rаad", "raad")])
def test_word_key_keeps_different_letters_apart(a: str, b: str) -> None:
    assert word_key(a) != word_key(b)


def test_word_key_composes_accents() -> None:
    assert word_key("E\u0301E\u0301N") == word_key("ÉÉN") == "één"


def test_word_key_caps_fifty_combining_marks() -> None:
    key = word_key("a" + "\u0316" * 50)
    assert key.startswith("a")
    assert len(key) <= 1 + MAX_COMBINING
    assert word_key("\u0130" + "\u0301" * 50) == "i\u0307\u0301"


def test_word_key_of_nothing_visible_is_empty() -> None:
    assert word_key(ZERO_WIDTH + BIDI + " \t\n") == ""


# --- clean_text ----------------------------------------------------------------------------


@pytest.mark.parametrize("invisible", [*BIDI, *ZERO_WIDTH, "\x00", "\x07", "\x1b", "\x7f"])
def test_clean_text_removes_invisible_and_control_characters(invisible: str) -> None:
    assert clean_text(f"a{invisible}b") == "ab"


def test_clean_text_keeps_lines_and_inner_spacing() -> None:
    assert clean_text("  eerste regel\r\ntweede\rderde\n\nvierde  ") == (
        "eerste regel\ntweede\nderde\n\nvierde"
    )
    assert clean_text("a\tb   c") == "a b   c"


def test_clean_text_keeps_case_and_width() -> None:
    assert clean_text("ＦＯＯ Één") == "ＦＯＯ Één"


def test_clean_text_composes_and_caps_combining_marks() -> None:
    assert clean_text("e\u200b\u0301") == "é"
    assert clean_text("a" + "\u0316" * 50) == "a\u0316\u0316"


@given(tricky_text)
@example("e\u200b\u0301")
def test_clean_text_is_idempotent(text: str) -> None:
    cleaned = clean_text(text)
    assert clean_text(cleaned) == cleaned


@given(tricky_text)
def test_clean_text_output_is_safe(text: str) -> None:
    cleaned = clean_text(text)
    assert not any(ch in BIDI or ch in ZERO_WIDTH for ch in cleaned)
    assert all(ch == "\n" or unicodedata.category(ch) not in {"Cc", "Cf"} for ch in cleaned)
    assert cleaned == cleaned.strip()
    assert "\r" not in cleaned
    assert all(run <= MAX_COMBINING for run in mark_runs(cleaned))
    assert unicodedata.is_normalized("NFC", cleaned)
