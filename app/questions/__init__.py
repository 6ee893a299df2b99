"""Question types: one module each, found by scanning this package."""

from __future__ import annotations

import importlib
import pkgutil

from app.questions.base import QuestionType


def _load() -> dict[str, QuestionType]:
    found: dict[str, QuestionType] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        qtype = getattr(module, "TYPE", None)
        if isinstance(qtype, QuestionType):
            found[qtype.kind] = qtype
    return found


# Complete before anything can ask: many render threads ask at once when a full room joins a
# fresh process, and a registry filled lazily could be seen half full.
_REGISTRY: dict[str, QuestionType] = _load()


def get_type(kind: str) -> QuestionType:
    """The question type called `kind`; KeyError if there is none."""
    return _REGISTRY[kind]


def all_types() -> list[QuestionType]:
    """Every question type, in the order the facilitator sees them."""
    return sorted(_REGISTRY.values(), key=lambda t: (t.order, t.kind))
