"""What /api/v1 does with presentations, questions and results, on top of the services the
pages use (the same owner checks, the same validation): pages of lists, partial updates, a
question's configuration given as the edit form's fields, and results from the statistics
module (so the anonymity threshold holds here as everywhere)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app import i18n
from app.models import Presentation, Question, utcnow
from app.questions import get_type
from app.questions.text import clean_text
from app.services import NotFound, control, groups, runs, stats
from app.services import presentations as svc_p

# Settings a presentation's PATCH may carry, by the service that checks them.
SETTINGS = ("title", "language", "pace", "results_hidden_default", "results_on_phones")
GROUP_SETTINGS = ("groups", "group_threshold")
RUN_DETAILS = ("run_date", "place", "retention_days")
# A question's configuration value as JSON: a field of the edit form. A list is a textarea
# with one entry per line; true/false is a checkbox; a number is a number field.
ConfigValue = str | int | bool | list[str]


def page_of_presentations(
    *, session: Session, owner_id: int, limit: int, offset: int
) -> tuple[list[Presentation], int]:
    """One page of the owner's presentations, oldest first (stable while pages are read)."""
    total = session.execute(
        sa.select(sa.func.count())
        .select_from(Presentation)
        .where(col(Presentation.owner_id) == owner_id)
    ).scalar_one()
    stmt = (
        select(Presentation)
        .where(Presentation.owner_id == owner_id)
        .order_by(col(Presentation.id))
        .limit(limit)
        .offset(offset)
    )
    return list(session.exec(stmt).all()), int(total)


def apply_settings(
    *, session: Session, owner_id: int, presentation_id: int, changes: Mapping[str, Any]
) -> Presentation:
    """Change the given settings only (a key left out keeps its value), each through the
    service the pages use; anything refused raises and the caller's transaction is not
    committed, so nothing changes."""
    presentation = svc_p.get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id, lock=True
    )
    if any(key in changes for key in SETTINGS):
        svc_p.update_presentation(
            session=session,
            owner_id=owner_id,
            presentation_id=presentation_id,
            title=changes.get("title", presentation.title),
            language=changes.get("language", presentation.language),
            results_hidden_default=changes.get("results_hidden_default"),
            results_on_phones=changes.get("results_on_phones"),
            pace=changes.get("pace"),
        )
    if any(key in changes for key in GROUP_SETTINGS):
        groups.set_groups(
            session=session,
            owner_id=owner_id,
            presentation_id=presentation_id,
            groups=list(changes.get("groups", presentation.groups)),
            threshold=changes.get("group_threshold", presentation.group_threshold),
        )
    if any(key in changes for key in RUN_DETAILS):
        # The run service checks the date's range and cleans the place, as for the form.
        runs.set_run_details(
            session=session,
            owner_id=owner_id,
            presentation_id=presentation_id,
            run_date=changes.get("run_date", presentation.run_date),
            place=changes.get("place", presentation.place),
            retention_days=changes.get("retention_days", presentation.retention_days),
        )
    session.flush()
    return presentation


def create(*, session: Session, owner_id: int, settings: Mapping[str, Any]) -> Presentation:
    presentation = svc_p.create_presentation(
        session=session,
        owner_id=owner_id,
        title=settings.get("title", ""),
        language=settings.get("language", "nl"),
    )
    rest = {k: v for k, v in settings.items() if k not in ("title", "language")}
    if rest:
        apply_settings(
            session=session,
            owner_id=owner_id,
            presentation_id=presentation.id or 0,
            changes=rest,
        )
    return presentation


# --- questions ---------------------------------------------------------------------------


def config_form(config: Mapping[str, ConfigValue]) -> dict[str, list[str]]:
    """The JSON configuration as the edit form would send it."""
    form: dict[str, list[str]] = {}
    for name, value in config.items():
        if isinstance(value, bool):
            if value:
                form[name] = ["1"]
        elif isinstance(value, int):
            form[name] = [str(value)]
        elif isinstance(value, str):
            form[name] = [value]
        else:
            form[name] = ["\n".join(value)]
    return form


def _countdown_field(countdown: int | None) -> list[str]:
    return [str(countdown)] if countdown is not None else [""]


def add_question(
    *,
    session: Session,
    owner_id: int,
    presentation_id: int,
    kind: str,
    title: str | None,
    config: Mapping[str, ConfigValue] | None,
    countdown_seconds: int | None,
) -> Question:
    presentation = svc_p.get_presentation(
        session=session, owner_id=owner_id, presentation_id=presentation_id
    )
    if not (title or "").strip():
        try:
            title = i18n.translate(presentation.language, get_type(kind).label)
        except KeyError:
            title = ""
    question = svc_p.add_question(
        session=session,
        owner_id=owner_id,
        presentation_id=presentation_id,
        kind=kind,
        title=title or "",
    )
    if config is not None:
        form = config_form(config)
        form["countdown_seconds"] = _countdown_field(countdown_seconds)
        question = svc_p.update_question(
            session=session,
            owner_id=owner_id,
            question_id=question.id or 0,
            title=question.title,
            form=form,
        )
    elif countdown_seconds is not None:
        question = _retitle(session, question, question.title, countdown_seconds)
    session.flush()
    return question


def update_question(
    *,
    session: Session,
    owner_id: int,
    question_id: int,
    changes: Mapping[str, Any],
) -> Question:
    """Change a question's title, configuration and/or timer (left out: kept). A new
    configuration replaces the old one as saving the edit form does."""
    question = svc_p.get_question(
        session=session, owner_id=owner_id, question_id=question_id, lock=True
    )
    title = changes.get("title") or question.title
    countdown = changes.get("countdown_seconds", question.countdown_seconds)
    config = changes.get("config")
    if config is not None:
        form = config_form(config)
    elif "title" in changes or "countdown_seconds" in changes:
        # Only the title or the timer: every other setting is kept as it is. The content of
        # a text slide and other non-entry settings come back through their own fields.
        return _retitle(session, question, title, countdown)
    else:
        return question
    form["countdown_seconds"] = _countdown_field(countdown)
    return svc_p.update_question(
        session=session, owner_id=owner_id, question_id=question_id, title=title, form=form
    )


def _retitle(session: Session, question: Question, title: str, countdown: int | None) -> Question:
    cleaned = " ".join(clean_text(title).split())
    if not cleaned:
        raise svc_p.EditError("Enter a title.")
    if len(cleaned) > 300:
        raise svc_p.EditError("The title can have at most %(n)s characters.", n=300)
    question.title = cleaned
    question.countdown_seconds = svc_p.parse_countdown(
        str(countdown) if countdown is not None else ""
    )
    session.add(question)
    presentation = session.get(Presentation, question.presentation_id)
    if presentation is not None:  # locked by get_question(lock=True)
        presentation.updated_at = utcnow()
        presentation.version += 1
        session.add(presentation)
    session.flush()
    return question


def page_of_questions(
    *, session: Session, owner_id: int, presentation_id: int, limit: int, offset: int
) -> tuple[list[Question], int]:
    svc_p.get_presentation(session=session, owner_id=owner_id, presentation_id=presentation_id)
    questions = svc_p.questions_of(session=session, presentation_id=presentation_id)
    return questions[offset : offset + limit], len(questions)


# --- results -----------------------------------------------------------------------------


@dataclass
class KeyNumbers:
    key: str
    label: str
    count: int
    share: float | None
    rated: int
    mean: float | None
    spread: float | None


@dataclass
class GroupNumbers:
    group: str | None  # None: participants who picked no group
    responses: int
    keys: list[KeyNumbers]


@dataclass
class Results:
    question: Question
    round: int
    rounds: list[int]
    responses: int
    keys: list[KeyNumbers]
    threshold: int | None = None
    groups: list[GroupNumbers] | None = None
    too_few: list[str | None] = field(default_factory=list)


def labels_of(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, label) of every entry a question defines (options, statements, items), in order."""
    found: list[tuple[str, str]] = []
    for value in config.values():
        if isinstance(value, list):
            for entry in value:
                if isinstance(entry, dict) and "id" in entry and "label" in entry:
                    found.append((str(entry["id"]), str(entry["label"])))
    return found


def _keys(
    labels: Sequence[tuple[str, str]], numbers: Mapping[str, stats.KeyStat], responses: int
) -> list[KeyNumbers]:
    known = dict(labels)
    order = [key for key, _ in labels] + sorted(
        (key for key in numbers if key not in known), key=lambda k: (-numbers[k].count, k)
    )
    result = []
    for key in order:
        stat = numbers.get(key, stats.KeyStat(0))
        result.append(
            KeyNumbers(
                key=key,
                label=known.get(key, key),
                count=stat.count,
                share=stat.count / responses if responses else None,
                rated=stat.rated,
                mean=stat.mean,
                spread=stat.spread,
            )
        )
    return result


def results(
    *,
    session: Session,
    owner_id: int,
    question_id: int,
    by_group: bool,
    round_number: int | None,
) -> Results:
    """A question's numbers for everyone, and per group (groups under the presentation's
    threshold only named in too_few); `round_number`: an earlier round (NotFound if none)."""
    question = svc_p.get_question(session=session, owner_id=owner_id, question_id=question_id)
    presentation = svc_p.get_presentation(
        session=session, owner_id=owner_id, presentation_id=question.presentation_id
    )
    earlier = control.rounds_of(session=session, question_id=question_id)
    rounds = sorted({q.round for q in earlier} | {question.round})
    target = question
    if round_number is not None and round_number != question.round:
        target = next((q for q in earlier if q.round == round_number), None)  # type: ignore[assignment]
        if target is None:
            raise NotFound("round")
    threshold = presentation.group_threshold
    numbers = stats.question_stats(
        session, [target.id or 0], by_group=by_group, threshold=threshold if by_group else 0
    )[target.id or 0]
    labels = labels_of(target.config)
    total = numbers.responses.get(stats.ALL, 0)
    found = Results(
        question=question,
        round=target.round,
        rounds=rounds,
        responses=total,
        keys=_keys(labels, numbers.of(), total),
    )
    if by_group:
        named = list(presentation.groups)
        present = [g for g in numbers.responses if g != stats.ALL]
        order = [g for g in named if g in present] + sorted(
            g for g in present if g not in named and g != stats.NO_GROUP
        )
        if stats.NO_GROUP in present:
            order.append(stats.NO_GROUP)
        found.threshold = threshold
        found.groups = [
            GroupNumbers(
                group=g or None,
                responses=numbers.responses[g],
                keys=_keys(labels, numbers.of(g), numbers.responses[g]),
            )
            for g in order
        ]
        found.too_few = [g or None for g in numbers.too_few]
    return found
