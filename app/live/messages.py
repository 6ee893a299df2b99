"""Small past-tense messages that tell the live layer something changed (after commit)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VotesRecorded:
    """Ballots of a question were committed."""

    presentation_id: int
    question_id: int


@dataclass(frozen=True)
class PresentationChanged:
    """The current question, its voting state, its results visibility or its content changed."""

    presentation_id: int


Message = VotesRecorded | PresentationChanged
