"""Question types: one module each, found by scanning this package."""

from __future__ import annotations

import importlib
import pkgutil

from app.questions.base import QuestionType

_REGISTRY: dict[str, QuestionType] = {}


def _load() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        qtype = getattr(module, "TYPE", None)
        if isinstance(qtype, QuestionType):
            _REGISTRY[qtype.kind] = qtype


def get_type(kind: str) -> QuestionType:
    """The question type called `kind`; KeyError if there is none."""
    if not _REGISTRY:
        _load()
    return _REGISTRY[kind]


def all_types() -> list[QuestionType]:
    """Every question type, in the order the facilitator sees them."""
    if not _REGISTRY:
        _load()
    return sorted(_REGISTRY.values(), key=lambda t: (t.order, t.kind))
