"""Taking a vote, whatever carried it (a form post or a socket message); no rendering here."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.ballot_box import BallotBox, BallotBoxClosed
from app.errors import Refused
from app.i18n import _l
from app.models import QuestionState
from app.questions import get_type
from app.questions.base import AnswerError
from app.services.accounts import token_hash
from app.services.votes import VoteCommand, VoteStatus
from app.stages import CurrentStage
from app.web import Limits

MAX_KEY = 64


def participant_key(presentation_id: int, token: str) -> str:
    """What identifies a phone in one presentation: a hash of its participant token (which the
    server issued for this presentation only, app/participants.py) and the presentation, so
    the database never holds a token and the same phone cannot be linked across presentations
    in it."""
    return token_hash(f"{presentation_id}:{token}")


@dataclass(frozen=True)
class Outcome:
    """How a vote went: an HTTP-like status, and what to tell the participant."""

    status_code: int
    saved: bool = False
    refused: Refused | None = None  # what to tell the participant
    answer: Mapping[str, Any] | None = None
    replayed: bool = False  # saved earlier: the same submission arrived again

    @property
    def changed_question(self) -> bool:
        """The phone shows a question that is no longer current."""
        return self.status_code == 409

    @property
    def result(self) -> str:
        """How the vote went in one word, as counted by app.metrics."""
        if self.saved:
            return "replayed" if self.replayed else "saved"
        if self.status_code == 422:
            return "invalid" if isinstance(self.refused, AnswerError) else "conflict"
        codes = {403: "removed", 409: "closed", 429: "rate_limited"}
        return codes.get(self.status_code, "unavailable")


def _refuse(status_code: int, message: str) -> Outcome:
    return Outcome(status_code, refused=Refused(message))


async def take_vote(
    *,
    stage: CurrentStage,
    token: str,
    values: Mapping[str, Sequence[str]],
    ballot_box: BallotBox,
    limits: Limits,
) -> Outcome:
    """Validate a vote against the current question and wait until it is committed."""
    submitted = (values.get("question_id") or [""])[0]
    if stage.question_id is None or submitted != str(stage.question_id):
        return _refuse(409, _l("This question is no longer open. Here is the current one."))
    if stage.state != QuestionState.OPEN:
        return _refuse(409, _l("Voting on this question is closed."))
    if not limits.hit(limits.vote, "vote", token):
        return _refuse(429, _l("You are sending very fast. Wait a moment and try again."))
    client_key = (values.get("client_key") or [""])[0][:MAX_KEY] or secrets.token_urlsafe(16)
    assert stage.kind is not None and stage.config is not None
    try:
        parsed = get_type(stage.kind).parse_answer(stage.config, values)
    except AnswerError as exc:
        return Outcome(422, refused=exc)
    command = VoteCommand(
        presentation_id=stage.presentation_id,
        question_id=stage.question_id,
        token_hash=participant_key(stage.presentation_id, token),
        client_key=client_key,
        answer=parsed,
    )
    try:
        result = await ballot_box.submit(command)
    except BallotBoxClosed:
        return _refuse(503, _l("Your vote could not be saved. Please try again."))
    if result in (VoteStatus.SAVED, VoteStatus.REPLAYED):
        return Outcome(
            200, saved=True, answer=parsed.answer, replayed=result == VoteStatus.REPLAYED
        )
    if result == VoteStatus.CONFLICT:
        return _refuse(
            422, _l("Something went wrong while sending. Please send your answer again.")
        )
    if result == VoteStatus.REMOVED:
        return _refuse(403, _l("The facilitator has removed you from this presentation."))
    return _refuse(409, _l("Voting on this question is closed."))
