"""The word filter: does a participant's text contain a blocked word, however it is disguised?

Text and blocked words go through the same normalisation (`tokens`): NFKC, case folding,
accents and invisible characters dropped, a few look-alike letters and leetspeak digits mapped
to letters, punctuation treated as a space (an apostrophe as nothing: "that's" is one word).
A word then matches a blocked entry when it has the same letters in the same order, each
letter repeated at least as often as in the entry ("kuuut" is "kut", "as" is not "ass").

Only whole words match, so "hoera" is not "hoer" and "catering" is not "tering" (the
Scunthorpe problem). An entry may start or end with `*` to match the start or end of longer
words ("kut*" catches "kutidee"). Words split by spaces are joined again when a piece is a
single letter ("k u t", "ku t") or the entry has five letters or more ("kan ker"); a short
word split in two is left alone, because "Ho, er is koffie" is ordinary Dutch.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from app.errors import Refused
from app.i18n import _l
from app.models import BallotItem, Language, Moderation

FormLike = Mapping[str, Sequence[str]]
# Keys in the configuration of the question types that take text.
CONFIG_PREMODERATE = "premoderate"
CONFIG_WORDS = "blocked"

# Leetspeak inside a word: digits and symbols standing in for letters ("k4nker", "sh!t").
LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
# At the start of a word these stand for a letter ("$hit"); at its end they are punctuation.
LEADING_LEET = {"$", "@"}
# Letters from other scripts that look like Latin ones (NFKC leaves them alone).
LOOKALIKE = {
    **dict(zip("асеокрхуіјѕԁո", "aceokpxyijsdn", strict=True)),  # Cyrillic, Armenian
    **dict(zip("αεικνοτυχ", "aeiknotux", strict=True)),  # Greek
}
# Characters that show nothing but are letters or symbols, so NFKC and category Cf miss them.
INVISIBLE = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800", "\u034f", "\u180e"}
APOSTROPHES = {"'", "\u2019", "\u2018", "`", "\u00b4"}
MAX_ENTRY = 40
MAX_ENTRIES = 500
# Short entries split in two are not joined again (see the module docstring).
JOIN_ANY_SPLIT = 5

# The lists a facilitator starts with; they edit their own copy on /manage/words.
DEFAULT_WORDS: dict[str, tuple[str, ...]] = {
    Language.NL: (
        "kut*",
        "kanker",
        "kankerlijer",
        "kankerzooi",
        "kankerhoer",
        "tering*",
        "tyfus*",
        "klote*",
        "klootzak",
        "godver*",
        "lul",
        "hoer",
        "hoeren",
        "slet",
        "sletten",
        "teef",
        "flikker",
        "flikkers",
        "mongool",
        "neger",
        "nikker",
    ),
    Language.EN: (
        "fuck*",
        "*fucker",
        "shit",
        "shitty",
        "bullshit",
        "cunt",
        "bitch",
        "bitches",
        "asshole",
        "ass",
        "bastard",
        "dick",
        "twat",
        "wanker",
        "slut",
        "whore",
        "nigger",
        "faggot",
        "retard",
    ),
}


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    """One character of NFKD text as the filter sees it."""
    cat = unicodedata.category(ch)
    if cat in {"Mn", "Me", "Cf", "Co", "Cs", "Cn"} or ch in INVISIBLE:
        return ""
    if cat in {"Cc", "Zs", "Zl", "Zp"}:
        return " "
    return LOOKALIKE.get(ch, ch)


def _fold(text: str) -> str:
    """NFKC, case folded, accents and invisible characters gone, look-alikes made Latin."""
    if text.isascii() and text.isprintable():
        return text.lower()  # the common case: nothing to fold but capitals
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    return "".join(map(_fold_char, text))


def _word(chunk: str) -> str:
    """One whitespace-separated chunk as letters: leetspeak inside letters, no punctuation."""
    if chunk.isalpha():
        return chunk  # the common case
    chunk = "".join(ch for ch in chunk if ch not in APOSTROPHES)
    if not any(ch.isalpha() for ch in chunk):
        # A number or a smiley stays what it is: "4" is not "a" on its own.
        return " ".join("".join(ch if ch.isalnum() else " " for ch in chunk).split())
    # Punctuation around a word is punctuation ("kut!"); inside it may stand for a letter.
    start, end = 0, len(chunk)
    while start < end and not (chunk[start].isalnum() or chunk[start] in LEADING_LEET):
        start += 1
    while end > start and not chunk[end - 1].isalnum():
        end -= 1
    inner = "".join(LEET.get(ch, ch) for ch in chunk[start:end])
    return "".join(ch if ch.isalnum() else " " for ch in inner)


def tokens(text: str) -> list[str]:
    """The words of a text as the filter compares them."""
    out: list[str] = []
    for chunk in _fold(text).split():
        out.extend(_word(chunk).split())
    return out


def _runs(word: str) -> tuple[str, tuple[int, ...]]:
    """A word as its letters with repeats squeezed, and how often each letter was repeated."""
    letters: list[str] = []
    counts: list[int] = []
    for ch in word:
        if letters and letters[-1] == ch:
            counts[-1] += 1
        else:
            letters.append(ch)
            counts.append(1)
    return "".join(letters), tuple(counts)


@dataclass(frozen=True)
class Entry:
    """A blocked word, squeezed, with its repeats and where it may be part of a longer word."""

    letters: str
    counts: tuple[int, ...]
    prefix: bool  # "kut*": also the start of a longer word
    suffix: bool  # "*fucker": also the end of a longer word

    def matches(self, letters: str, counts: tuple[int, ...]) -> bool:
        n = len(self.letters)
        if self.prefix and self.suffix:
            starts = range(len(letters) - n + 1)
        elif self.prefix:
            starts = range(0, 1)
        elif self.suffix:
            starts = range(len(letters) - n, len(letters) - n + 1)
        else:
            starts = range(0, 1) if len(letters) == n else range(0)
        for s in starts:
            if s < 0 or letters[s : s + n] != self.letters:
                continue
            if all(c >= need for c, need in zip(counts[s : s + n], self.counts, strict=True)):
                return True
        return False


def parse_entry(raw: str) -> Entry | None:
    """A line of a word list as an Entry (None when nothing of it is left to match)."""
    raw = raw.strip()
    prefix, suffix = raw.endswith("*"), raw.startswith("*")
    word = "".join(tokens(raw.strip("*")))
    if not word:
        return None
    letters, counts = _runs(word)
    return Entry(letters, counts, prefix, suffix)


def clean_entry(raw: str) -> str:
    """How a line of a word list is stored: its normalised letters, with its stars."""
    raw = raw.strip()
    word = "".join(tokens(raw.strip("*")))
    if not word:
        return ""
    return ("*" if raw.startswith("*") else "") + word + ("*" if raw.endswith("*") else "")


class Matcher:
    """A compiled word list."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self.exact: dict[str, list[Entry]] = {}
        self.partial: list[Entry] = []
        self.prefixes: set[str] = set()
        for entry in entries:
            if entry.prefix or entry.suffix:
                self.partial.append(entry)
            else:
                self.exact.setdefault(entry.letters, []).append(entry)
            for i in range(1, len(entry.letters) + 1):
                self.prefixes.add(entry.letters[:i])

    def _hit(self, letters: str, counts: tuple[int, ...]) -> Entry | None:
        for entry in self.exact.get(letters, ()):
            if entry.matches(letters, counts):
                return entry
        for entry in self.partial:
            if entry.letters in letters and entry.matches(letters, counts):
                return entry
        return None

    def search(self, text: str) -> bool:
        """Whether the text holds a blocked word (see the module docstring)."""
        words = tokens(text)
        runs = [_runs(word) for word in words]
        for i, (letters, counts) in enumerate(runs):
            if self._hit(letters, counts):
                return True
            if letters not in self.prefixes:
                continue  # no blocked word starts here, however it goes on
            # Pieces of a split word: join while the joined letters can still become an entry.
            joined, repeats, single = letters, list(counts), len(words[i]) == 1
            for j in range(i + 1, len(words)):
                more, more_counts = runs[j]
                single = single or len(words[j]) == 1
                if joined[-1] == more[0]:
                    repeats[-1] += more_counts[0]
                    joined, repeats = joined + more[1:], repeats + list(more_counts[1:])
                else:
                    joined, repeats = joined + more, repeats + list(more_counts)
                if joined not in self.prefixes:
                    break
                entry = self._hit(joined, tuple(repeats))
                if entry is not None and (single or len(entry.letters) >= JOIN_ANY_SPLIT):
                    return True
        return False


@lru_cache(maxsize=64)
def _compiled(words: tuple[str, ...]) -> Matcher:
    return Matcher(e for e in (parse_entry(w) for w in words) if e is not None)


def matches(text: str, words: Sequence[str]) -> bool:
    """Whether `text` contains one of `words` (a word list's lines), however disguised."""
    return _compiled(tuple(words)).search(text)


@lru_cache(maxsize=1)
def default_words() -> tuple[str, ...]:
    """The built-in lists of every language together, as stored."""
    return tuple(merge_lists(DEFAULT_WORDS.values()))


def blocked_words(config: Mapping[str, Any]) -> Sequence[str]:
    """The words a question's text is checked against: the owner's lists, copied into the
    question's configuration when they were saved, else the built-in ones."""
    words = config.get(CONFIG_WORDS)
    if isinstance(words, list):
        return [w for w in words if isinstance(w, str)]
    return default_words()


def is_premoderated(config: Mapping[str, Any]) -> bool:
    """Whether nothing of a question shows before a facilitator approves it."""
    return bool(config.get(CONFIG_PREMODERATE, False))


def moderation_config(form: FormLike, previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """The moderation part of a text question's configuration, from its edit form: the
    pre-moderation checkbox; the word list is kept (the facilitator edits it elsewhere)."""
    on = any(v in {"1", "on", "true"} for v in form.get(CONFIG_PREMODERATE, ()))
    config: dict[str, Any] = {CONFIG_PREMODERATE: on}
    if previous is not None and isinstance(previous.get(CONFIG_WORDS), list):
        config[CONFIG_WORDS] = list(previous[CONFIG_WORDS])
    return config


def visible_clause(config: Mapping[str, Any]) -> Any:
    """SQL condition for the items of a question that its results may show."""
    state = col(BallotItem.moderation)
    if is_premoderated(config):
        return state == Moderation.APPROVED.value
    return sa.or_(state.is_(None), state == Moderation.APPROVED.value)


def held_back(text: str, config: Mapping[str, Any]) -> str | None:
    """The moderation state a new text starts in: hidden when the filter catches it."""
    return Moderation.HIDDEN.value if matches(text, blocked_words(config)) else None


def merge_lists(lists: Iterable[Iterable[str]]) -> list[str]:
    """Several word lists as one, cleaned, without repeats, in a stable order."""
    seen: dict[str, None] = {}
    for words in lists:
        for word in words:
            cleaned = clean_entry(word)
            if cleaned:
                seen.setdefault(cleaned, None)
    return list(seen)


class WordListError(Refused):
    """A word list the facilitator must fix."""


def parse_list(raw: str) -> list[str]:
    """A textarea of words (one per line, or separated by commas) as a cleaned list."""
    lines = [part.strip() for line in raw.splitlines() for part in line.split(",")]
    lines = [line for line in lines if line]
    if len(lines) > MAX_ENTRIES:
        raise WordListError(_l("A list can have at most %(n)s words."), n=MAX_ENTRIES)
    out: dict[str, None] = {}
    for line in lines:
        if len(line) > MAX_ENTRY:
            raise WordListError(_l("Each word can have at most %(n)s characters."), n=MAX_ENTRY)
        if line.strip("*") and "*" in line.strip("*"):
            raise WordListError(_l("A * can only stand at the start or end of a word."))
        cleaned = clean_entry(line)
        if not cleaned.strip("*"):
            raise WordListError(_l("Each line needs at least one letter."))
        out.setdefault(cleaned, None)
    return list(out)
