"""Moderating participants' text: approve or hide entries, pre-moderation, removing a
participant, and the facilitator's word lists.

Every change locks its presentation first (as every facilitator change does, see
services/presentations.py) and bumps its version; the route tells the live layer after the
commit, and the results (computed by the database, see app/moderation.visible_clause) follow.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app import moderation
from app.models import (
    Ballot,
    BallotItem,
    BallotKey,
    Language,
    Moderation,
    Participant,
    Presentation,
    QaEntry,
    QaVote,
    Question,
    WordList,
    utcnow,
)
from app.services import NotFound
from app.services.presentations import get_presentation, questions_of

# Question types whose answers are participants' own text.
TEXT_KINDS = frozenset({"open", "wordcloud"})
# Question types whose text the word lists check (a Q&A keeps its entries in qa_entry and is
# moderated on its own page, app/routes/qa.py).
FILTERED_KINDS = TEXT_KINDS | {"qa"}
QUEUE_LIMIT = 500


@dataclass(frozen=True)
class Entry:
    """One participant's text in the moderation queue."""

    item_id: int
    text: str
    participant_id: int
    pseudonym: str
    state: str | None  # None: not moderated; Moderation.APPROVED / HIDDEN
    at: datetime
    filtered: bool  # the word filter caught it

    def shown(self, premoderated: bool) -> bool:
        """Whether the projector shows it (the rule of app/moderation.visible_clause)."""
        if premoderated:
            return self.state == Moderation.APPROVED
        return self.state != Moderation.HIDDEN


def text_questions(
    *, session: Session, presentation_id: int, kinds: Collection[str] = TEXT_KINDS
) -> list[Question]:
    """The questions of a presentation whose entries can be moderated (of `kinds`: the
    moderation page's by default, a Q&A's for its queue), in order."""
    return [
        q for q in questions_of(session=session, presentation_id=presentation_id) if q.kind in kinds
    ]


def chosen_question(
    *,
    session: Session,
    owner_id: int,
    presentation_id: int,
    question_id: int | None,
    kinds: Collection[str] = TEXT_KINDS,
) -> Question | None:
    """The question a queue shows: the one asked for, else the current one if it is of
    `kinds`, else the first that is (None when the presentation has none)."""
    presentation = get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id
    )
    questions = text_questions(session=session, presentation_id=presentation_id, kinds=kinds)
    if question_id is not None:
        found = next((q for q in questions if q.id == question_id), None)
        if found is None:
            raise NotFound("question")
        return found
    current = next((q for q in questions if q.id == presentation.current_question_id), None)
    return current or (questions[0] if questions else None)


def queue(*, session: Session, question: Question, limit: int = QUEUE_LIMIT) -> list[Entry]:
    """A question's entries, newest first (the caller checked the question is the owner's)."""
    stmt = (
        sa.select(
            col(BallotItem.id),
            col(BallotItem.text),
            col(BallotItem.key),
            col(BallotItem.moderation),
            col(Participant.id),
            col(Participant.pseudonym),
            col(Ballot.updated_at),
        )
        .join(Ballot, col(Ballot.id) == col(BallotItem.ballot_id))
        .join(Participant, col(Participant.id) == col(Ballot.participant_id))
        .where(col(BallotItem.question_id) == question.id)
        .order_by(col(Ballot.updated_at).desc(), col(BallotItem.id).desc())
        .limit(limit)
    )
    words = moderation.blocked_words(question.config)
    return [
        Entry(
            item_id=item_id,
            text=text or key,
            participant_id=participant_id,
            pseudonym=pseudonym,
            state=state,
            at=at,
            # Only a decided entry can have been caught (a new one starts hidden).
            filtered=state is not None and moderation.matches(text or key, words),
        )
        for item_id, text, key, state, participant_id, pseudonym, at in session.execute(stmt)
    ]


def _bump(presentation: Presentation, session: Session) -> None:
    presentation.version += 1
    session.add(presentation)


def set_state(
    *,
    session: Session,
    owner_id: int,
    presentation_id: int,
    item_id: int,
    state: Moderation | None,
) -> BallotItem:
    """Approve (APPROVED), hide (HIDDEN) or restore (None: as if never moderated) an entry."""
    presentation = get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id, lock=True
    )
    item = session.get(BallotItem, item_id, with_for_update=True, populate_existing=True)
    if item is None:
        raise NotFound("entry")
    question = session.get(Question, item.question_id)
    if question is None or question.presentation_id != presentation.id:
        raise NotFound("entry")
    if question.kind not in TEXT_KINDS:
        raise NotFound("entry")
    value = state.value if state is not None else None
    if item.moderation != value:
        item.moderation = value
        session.add(item)
        _bump(presentation, session)
    return item


def approve_waiting(
    *, session: Session, owner_id: int, presentation_id: int, question_id: int, upto: int
) -> int:
    """Approve the entries of a question nobody decided on yet, up to the entry id `upto`
    (the newest the facilitator saw: one that came in after is not approved unseen); hidden
    ones stay hidden. Returns how many."""
    presentation = get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id, lock=True
    )
    question = session.get(Question, question_id)
    if question is None or question.presentation_id != presentation.id:
        raise NotFound("question")
    if question.kind not in TEXT_KINDS:
        raise NotFound("question")
    result = session.execute(
        sa.update(BallotItem)
        .where(
            col(BallotItem.question_id) == question_id,
            col(BallotItem.moderation).is_(None),
            col(BallotItem.id) <= upto,
        )
        .values(moderation=Moderation.APPROVED.value)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        _bump(presentation, session)
    return count


def set_premoderation(
    *,
    session: Session,
    owner_id: int,
    presentation_id: int,
    question_id: int,
    on: bool,
    kinds: Collection[str] = TEXT_KINDS,
) -> Question:
    """Turn pre-moderation of a question of `kinds` on (nothing shows until approved) or off.

    The version is bumped on a change: the vote path's cached configuration must go."""
    presentation = get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id, lock=True
    )
    question = session.get(Question, question_id, with_for_update=True, populate_existing=True)
    if question is None or question.presentation_id != presentation.id:
        raise NotFound("question")
    if question.kind not in kinds:
        raise NotFound("question")
    if moderation.is_premoderated(question.config) != on:
        question.config = {**question.config, moderation.CONFIG_PREMODERATE: on}
        session.add(question)
        _bump(presentation, session)
    return question


def remove_participant(
    *, session: Session, owner_id: int, presentation_id: int, participant_id: int
) -> Participant:
    """Remove a participant from a presentation: every vote of theirs leaves every tally, and
    they stay removed (the vote writer refuses their votes from now on)."""
    presentation = get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id, lock=True
    )
    participant = session.get(
        Participant, participant_id, with_for_update=True, populate_existing=True
    )
    if participant is None or participant.presentation_id != presentation.id:
        raise NotFound("participant")
    if participant.removed_at is None:
        participant.removed_at = utcnow()
        session.add(participant)
    ballots = sa.select(col(Ballot.id)).where(col(Ballot.participant_id) == participant_id)
    session.execute(sa.delete(BallotItem).where(col(BallotItem.ballot_id).in_(ballots)))
    session.execute(sa.delete(BallotKey).where(col(BallotKey.ballot_id).in_(ballots)))
    session.execute(sa.delete(Ballot).where(col(Ballot.participant_id) == participant_id))
    # Their Q&A questions and upvotes too (the participant row stays, so no cascade fires).
    own = sa.select(col(QaEntry.id)).where(col(QaEntry.participant_id) == participant_id)
    session.execute(sa.delete(QaVote).where(col(QaVote.entry_id).in_(own)))
    session.execute(sa.delete(QaVote).where(col(QaVote.participant_id) == participant_id))
    session.execute(sa.delete(QaEntry).where(col(QaEntry.participant_id) == participant_id))
    _bump(presentation, session)
    session.flush()
    return participant


def get_participant(
    *, session: Session, owner_id: int, presentation_id: int, participant_id: int
) -> tuple[Participant, int]:
    """A participant of the owner's presentation, with how many answers they gave."""
    get_presentation(session=session, owner_id=owner_id, presentation_id=presentation_id)
    participant = session.get(Participant, participant_id)
    if participant is None or participant.presentation_id != presentation_id:
        raise NotFound("participant")
    answers = session.execute(
        sa.select(sa.func.count())
        .select_from(Ballot)
        .where(col(Ballot.participant_id) == participant_id)
    ).scalar_one()
    return participant, int(answers)


# --- word lists ----------------------------------------------------------------------------

LANGUAGES = (Language.NL.value, Language.EN.value)


def word_lists(*, session: Session, owner_id: int) -> dict[str, list[str]]:
    """The facilitator's lists per language (the built-in list where they saved none)."""
    saved = {
        row.language: row.words
        for row in session.exec(select(WordList).where(WordList.owner_id == owner_id)).all()
    }
    return {
        language: (
            [w for w in saved[language].split("\n") if w]
            if language in saved
            else list(moderation.merge_lists([moderation.DEFAULT_WORDS[Language(language)]]))
        )
        for language in LANGUAGES
    }


def save_word_lists(*, session: Session, owner_id: int, lists: Mapping[str, str]) -> list[int]:
    """Save the facilitator's lists (textarea text per language; WordListError on bad input)
    and copy them into each of their text questions, which the vote path reads without a
    query. Returns the presentations whose questions changed, for the live layer."""
    parsed = {language: moderation.parse_list(lists.get(language, "")) for language in LANGUAGES}
    existing = {
        row.language: row
        for row in session.exec(select(WordList).where(WordList.owner_id == owner_id)).all()
    }
    for language, words in parsed.items():
        row = existing.get(language) or WordList(owner_id=owner_id, language=language)
        row.words = "\n".join(words)
        row.updated_at = utcnow()
        session.add(row)
    combined = moderation.merge_lists(parsed[language] for language in LANGUAGES)
    touched: list[int] = []
    owned = session.exec(
        select(Presentation.id)
        .where(Presentation.owner_id == owner_id)
        .order_by(col(Presentation.id))
    ).all()
    for presentation_id in owned:
        if presentation_id is None:
            continue
        if _copy_words(session, owner_id, presentation_id, combined):
            touched.append(presentation_id)
    session.flush()
    return touched


def _copy_words(session: Session, owner_id: int, presentation_id: int, words: list[str]) -> bool:
    questions = [
        q
        for q in questions_of(session=session, presentation_id=presentation_id)
        if q.kind in FILTERED_KINDS
    ]
    if not questions:
        return False
    get_presentation(session=session, owner_id=owner_id, presentation_id=presentation_id, lock=True)
    changed = False
    for question in questions:
        locked = session.get(Question, question.id, with_for_update=True, populate_existing=True)
        if locked is None or locked.config.get(moderation.CONFIG_WORDS) == words:
            continue
        locked.config = {**locked.config, moderation.CONFIG_WORDS: list(words)}
        session.add(locked)
        changed = True
    return changed


def apply_word_lists(*, session: Session, owner_id: int, question: Question) -> None:
    """Give a new text question its owner's word lists (call it when a question is added or
    copied; until then the question uses the built-in lists)."""
    if question.kind not in FILTERED_KINDS:
        return
    rows = session.exec(select(WordList).where(WordList.owner_id == owner_id)).all()
    if not rows:
        return
    lists = word_lists(session=session, owner_id=owner_id)
    combined = moderation.merge_lists(lists[language] for language in LANGUAGES)
    question.config = {**question.config, moderation.CONFIG_WORDS: combined}
    session.add(question)
