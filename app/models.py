"""SQLModel tables and their constraints."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, SQLModel


def utcnow() -> datetime:
    """Current time, timezone-aware in UTC (stored as UTC everywhere)."""
    return datetime.now(UTC)


def new_key() -> str:
    """A random identifier that copies share (a run's series, a question's lineage)."""
    return uuid.uuid4().hex


def new_link_token() -> str:
    """The unguessable part of a presentation's QR link (it keeps working when the code expires)."""
    return secrets.token_urlsafe(16)


# Ids that phones, tokens and caches carry are never given out twice, also on SQLite (where a
# deleted last row's id would otherwise be reused by the next insert).
NEVER_REUSE_IDS: dict[str, Any] = {"sqlite_autoincrement": True}


class Moderation(StrEnum):
    """A facilitator's decision on a participant's text (None: not moderated yet)."""

    APPROVED = "approved"
    HIDDEN = "hidden"


class QuestionState(StrEnum):
    """Whether a question accepts votes."""

    OPEN = "open"
    CLOSED = "closed"


class Pace(StrEnum):
    """Who moves through the questions: the facilitator for everyone, or each phone itself."""

    FACILITATOR = "facilitator"
    AUDIENCE = "audience"


class Language(StrEnum):
    """Languages a presentation can be given in."""

    NL = "nl"
    EN = "en"


class User(SQLModel, table=True):
    """A facilitator account."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, sa_column_kwargs={"unique": True})
    password_hash: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow)


class AuthSession(SQLModel, table=True):
    """A server-side facilitator login; deleting the row ends it."""

    __tablename__ = "auth_session"

    id: str = Field(primary_key=True, max_length=64, description="sha256 of the cookie token")
    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class ServerKey(SQLModel, table=True):
    """A secret the server made for itself once; every worker and host reads the same row."""

    __tablename__ = "server_key"

    name: str = Field(primary_key=True, max_length=32)
    value: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow)


class Presentation(SQLModel, table=True):
    """A facilitator's set of questions, joined by one code."""

    __table_args__ = NEVER_REUSE_IDS

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="user.id", ondelete="CASCADE", index=True)
    title: str = Field(max_length=200)
    language: str = Field(default=Language.NL, max_length=5)
    join_code: str = Field(max_length=16, sa_column_kwargs={"unique": True})
    current_question_id: int | None = Field(default=None)
    version: int = Field(default=0, description="bumped by every presenting action")
    link_token: str = Field(
        default_factory=new_link_token, max_length=32, sa_column_kwargs={"unique": True}
    )
    active_at: datetime = Field(
        default_factory=utcnow, description="last facilitator activity; the code expires after"
    )
    results_hidden_default: bool = Field(default=False, description="new questions hide results")
    results_on_phones: bool = Field(default=False, description="phones see revealed results")
    pace: str = Field(default=Pace.FACILITATOR, max_length=12, description="who moves on")
    # Runs: the same presentation given on several dates. Each run is a presentation of its own
    # (own code, own votes); the runs of one series share `series_key`, and their questions
    # are matched across runs by Question.lineage.
    series_key: str = Field(default_factory=new_key, max_length=32, index=True)
    run_date: date | None = Field(default=None, description="the day this run is given")
    place: str | None = Field(default=None, max_length=200, description="where it is given")
    # Groups a participant picks when joining (e.g. huurder, corporatie, gemeente); a group
    # with fewer answers than group_threshold is never shown apart ("te weinig stemmen").
    groups: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    group_threshold: int = Field(default=3)
    retention_days: int | None = Field(
        default=None, description="votes are deleted this many days after the run; None: kept"
    )
    # The projector's look: the organisation's logo (an Upload of this presentation) and main
    # colour, and a high-contrast theme for bright halls and poor eyesight.
    logo_upload_id: int | None = Field(default=None, description="Upload id of the logo")
    brand_color: str | None = Field(default=None, max_length=7, description="#rrggbb")
    high_contrast: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Question(SQLModel, table=True):
    """One question of a presentation; its type module interprets `config`."""

    __table_args__ = (
        sa.Index("ix_question_presentation_position", "presentation_id", "position"),
        NEVER_REUSE_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    presentation_id: int = Field(foreign_key="presentation.id", ondelete="CASCADE")
    position: int
    kind: str = Field(max_length=32)
    title: str = Field(max_length=300)
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: str = Field(default=QuestionState.OPEN, max_length=10)
    results_visible: bool = Field(default=True)
    countdown_seconds: int | None = Field(default=None, description="length of the timer")
    closes_at: datetime | None = Field(default=None, description="when a running timer ends")
    opened_at: datetime | None = Field(default=None, description="when voting last opened")
    # A reset keeps the earlier round as a question of its own: its ballots move to an
    # archived copy (parent_id = this question, round = its number) that lists leave out.
    parent_id: int | None = Field(
        default=None, foreign_key="question.id", ondelete="CASCADE", index=True
    )
    round: int = Field(default=1, description="the round this question's ballots belong to")
    # What the projector shows beside the results: split by group, earlier round beside this one.
    split_groups: bool = Field(default=False)
    compare_rounds: bool = Field(default=False)
    # Shared by a question and its copies in other runs of the series (for comparisons).
    lineage: str = Field(default_factory=new_key, max_length=32, index=True)
    created_at: datetime = Field(default_factory=utcnow)


class Participant(SQLModel, table=True):
    """A phone taking part in one presentation, known by a hashed cookie token."""

    __table_args__ = (
        sa.UniqueConstraint("presentation_id", "token_hash"),
        sa.UniqueConstraint("presentation_id", "pseudonym"),
        NEVER_REUSE_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    presentation_id: int = Field(foreign_key="presentation.id", ondelete="CASCADE")
    token_hash: str = Field(max_length=64)
    pseudonym: str = Field(max_length=16)
    nickname: str | None = Field(default=None, max_length=40, description="chosen for a quiz")
    removed_at: datetime | None = Field(default=None, description="removed by the facilitator")
    group_name: str | None = Field(default=None, max_length=40, description="picked when joining")
    paper: bool = Field(default=False, description="a paper or hand count the facilitator entered")
    created_at: datetime = Field(default_factory=utcnow)


class Ballot(SQLModel, table=True):
    """A participant's answer to one question; at most one per participant per question."""

    __table_args__ = (sa.UniqueConstraint("question_id", "participant_id"),)

    id: int | None = Field(default=None, primary_key=True)
    question_id: int = Field(foreign_key="question.id", ondelete="CASCADE")
    participant_id: int = Field(foreign_key="participant.id", ondelete="CASCADE", index=True)
    client_key: str = Field(max_length=64)
    answer: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class BallotItem(SQLModel, table=True):
    """One counted element of a ballot: an option, a statement's value, a word or a text."""

    __tablename__ = "ballot_item"
    __table_args__ = (
        sa.UniqueConstraint("ballot_id", "key"),
        sa.Index("ix_ballot_item_question_key", "question_id", "key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ballot_id: int = Field(foreign_key="ballot.id", ondelete="CASCADE")
    question_id: int = Field(foreign_key="question.id", ondelete="CASCADE")
    key: str = Field(max_length=200)
    value: int | None = Field(default=None)
    text: str | None = Field(default=None, max_length=2000)
    position: int = Field(default=0)
    moderation: str | None = Field(default=None, max_length=10)


class BallotKey(SQLModel, table=True):
    """An earlier client key of a ballot and the answer it carried: a late retry of an older
    submission is recognised as such and never replaces a newer answer."""

    __tablename__ = "ballot_key"
    __table_args__ = (sa.UniqueConstraint("ballot_id", "client_key"),)

    id: int | None = Field(default=None, primary_key=True)
    ballot_id: int = Field(foreign_key="ballot.id", ondelete="CASCADE")
    client_key: str = Field(max_length=64)
    answer: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class WordList(SQLModel, table=True):
    """A facilitator's list of words that hold back participants' text, per language."""

    __tablename__ = "word_list"
    __table_args__ = (sa.UniqueConstraint("owner_id", "language"),)

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="user.id", ondelete="CASCADE")
    language: str = Field(max_length=5)
    words: str = Field(default="", sa_column=Column(sa.Text, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


class Upload(SQLModel, table=True):
    """An image a facilitator uploaded for a content slide (kept in the database, so every
    worker and host serves it)."""

    id: int | None = Field(default=None, primary_key=True)
    presentation_id: int = Field(foreign_key="presentation.id", ondelete="CASCADE", index=True)
    content_type: str = Field(max_length=32)
    size: int
    data: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class QaEntry(SQLModel, table=True):
    """A question a participant asked in a Q&A, with the facilitator's decisions on it."""

    __tablename__ = "qa_entry"
    __table_args__ = (sa.Index("ix_qa_entry_question_state", "question_id", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    question_id: int = Field(foreign_key="question.id", ondelete="CASCADE")
    participant_id: int = Field(foreign_key="participant.id", ondelete="CASCADE", index=True)
    text: str = Field(max_length=1000)
    name: str | None = Field(default=None, max_length=40, description="only when given")
    state: str = Field(default="pending", max_length=10, description="pending/approved/hidden")
    answered: bool = Field(default=False)
    pinned: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow)


class QaVote(SQLModel, table=True):
    """One participant's upvote of a Q&A entry (at most one each)."""

    __tablename__ = "qa_vote"
    __table_args__ = (sa.UniqueConstraint("entry_id", "participant_id"),)

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="qa_entry.id", ondelete="CASCADE")
    participant_id: int = Field(foreign_key="participant.id", ondelete="CASCADE", index=True)
    created_at: datetime = Field(default_factory=utcnow)


class ApiToken(SQLModel, table=True):
    """A facilitator's personal token for /api/v1, stored as a sha256 of the token."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="user.id", ondelete="CASCADE", index=True)
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    prefix: str = Field(max_length=12, description="the first characters, to recognise it")
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = Field(default=None)
    revoked_at: datetime | None = Field(default=None)
