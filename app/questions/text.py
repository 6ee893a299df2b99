"""Text normalisation shared by the types that take free text."""

from __future__ import annotations

import unicodedata

# Bidirectional controls: never let them reach a page unisolated.
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)}
MAX_COMBINING = 2


def _cap_combining(text: str) -> str:
    out: list[str] = []
    run = 0
    for ch in text:
        if unicodedata.category(ch) == "Mn":
            run += 1
            if run > MAX_COMBINING:
                continue
        else:
            run = 0
        out.append(ch)
    return "".join(out)


def clean_text(text: str) -> str:
    """Text as typed, made safe: NFC, no control/format characters, capped combining marks.

    Newlines are kept (as \\n); other whitespace runs are kept as typed but trimmed at the ends.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch == "\n" or ch == "\t":
            kept.append(" " if ch == "\t" else ch)
        elif cat in {"Cc", "Cf", "Cs", "Co"} or ch in _BIDI:
            continue
        else:
            kept.append(ch)
    # Normalise after dropping: a removed zero-width character may have kept a letter and its
    # accent apart, and the result must not change when cleaned again.
    text = unicodedata.normalize("NFC", "".join(kept))
    return _cap_combining(text).strip()


def word_key(text: str) -> str:
    """The key under which word-cloud entries merge.

    NFKC folds full-width and compatibility forms, casefold folds letter case, format characters
    (zero-width, bidi) are dropped and whitespace is collapsed; accents stay ("één" != "een").
    """
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in {"Cc", "Cf", "Cs", "Co"})
    # casefold may produce new compatibility forms or combining marks ("İ" -> "i" + U+0307), and
    # dropping format characters may bring a letter and its accent together: normalise again and
    # cap the marks last, so the key is idempotent.
    text = unicodedata.normalize("NFKC", text.casefold())
    text = _cap_combining(text)
    return " ".join(text.split())
