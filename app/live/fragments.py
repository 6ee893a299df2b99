"""Render once: the frame for all presenters and the frame for all phones of a presentation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.db import Database
from app.live.hub import LAST, Frame
from app.live.presence import Presence
from app.models import Presentation, utcnow
from app.questions import get_type
from app.services.control import Stage, stage
from app.services.presentations import code_expired
from app.stages import PHONE_VERSION_STEP, phone_version
from app.templating import render_block

# Participants are Dutch organisations: clock times on screens are Dutch time.
TIME_ZONE = "Europe/Amsterdam"


@cache
def _zone() -> tzinfo:
    try:
        return ZoneInfo(TIME_ZONE)
    except ZoneInfoNotFoundError:  # no time zone data installed: say UTC
        return UTC


def iso(moment: datetime) -> str:
    """A moment as ISO 8601 in UTC with milliseconds (what every browser's Date.parse reads)."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def clock(moment: datetime) -> str:
    """A moment as a clock time people read (Dutch time, or UTC without time zone data)."""
    zone = _zone()
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    text = moment.astimezone(zone).strftime("%H:%M:%S")
    return text if zone is not UTC else text + " UTC"


def stage_context(st: Stage, presence: Presence, now: datetime) -> dict[str, Any]:
    """Template context shared by full pages and live frames (`now`: the server's clock)."""
    question = st.question
    return {
        "presentation": st.presentation,
        "question": question,
        "qtype": get_type(question.kind) if question else None,
        "index": st.index,
        "total": st.total,
        "results": st.results,
        "audience": st.audience_paced,
        "progress": st.progress,
        "previous_id": st.previous_id,
        "next_id": st.next_id,
        "groups": st.groups,
        "paper": st.paper,
        "connected": presence.count(st.presentation.id or 0),
        "now": now,
        "countdown_now": now,
        "code_expired": False,
        "iso": iso,
        "clock": clock,
    }


class Fragments:
    """Builds frames from the database; called from a worker thread by the ticker."""

    def __init__(self, database: Database, presence: Presence) -> None:
        self._db = database
        self._presence = presence
        # The latest stage frame and results frame per presentation and language: phones
        # follow the presentation's language unless a participant chose another one on
        # their phone, so a frame is rendered once per language in use, not per phone.
        self._phone_frames: dict[tuple[int, str], Frame] = {}
        self._results_frames: dict[tuple[int, str], Frame] = {}
        # Per presentation: how many phone sockets on this worker chose each language.
        self._chosen: dict[int, dict[str, int]] = {}
        # Per presentation: whether its phones were last seen showing results (so votes only
        # cost a phone render where they do), and the serial of its last results frame.
        self._phones_see_results: dict[int, bool] = {}
        self._result_serials: dict[int, tuple[int, int]] = {}
        # Set by Services from the settings (STEMLAB_JOIN_CODE_IDLE_HOURS) and its clock.
        self.idle_hours: float = 72.0
        self.clock: Callable[[], datetime] = utcnow

    def code_expired(self, presentation: Presentation) -> bool:
        """Whether the typed join code of a presentation has expired (the QR link works)."""
        return code_expired(presentation.active_at, idle_hours=self.idle_hours, now=self.clock())

    def presenter_frame(self, presentation_id: int, version: int) -> str | None:
        with self._db.session() as session:
            st = stage(session=session, presentation_id=presentation_id, with_results=True)
        if st is None:
            return None
        ctx = stage_context(st, self._presence, self.clock())
        ctx["version"] = version
        ctx["code_expired"] = self.code_expired(st.presentation)
        return render_block("present.html", "live", st.presentation.language, ctx)

    async def phone_frame_cached(
        self, presentation_id: int, version: int, language: str
    ) -> Frame | None:
        """The phone frame of a version in a language, rendered once however many phones of
        that language (re)connect."""
        cached = self._phone_frames.get((presentation_id, language))
        if cached is not None and cached[0] >= version:
            return cached
        rendered = await asyncio.to_thread(self._phone_frames_of, presentation_id, language)
        return None if rendered is None else rendered.get(language)

    def phone_chose(self, presentation_id: int, language: str) -> None:
        """A phone socket in a language of its own choosing opened: frames are rendered in
        that language too from now on."""
        counts = self._chosen.setdefault(presentation_id, {})
        counts[language] = counts.get(language, 0) + 1

    def phone_left(self, presentation_id: int, language: str) -> None:
        counts = self._chosen.get(presentation_id, {})
        counts[language] = counts.get(language, 1) - 1
        if counts[language] <= 0:
            counts.pop(language, None)
        if not counts:
            self._chosen.pop(presentation_id, None)

    async def phone_frame_in(self, presentation_id: int, frame: Frame, language: str) -> Frame:
        """`frame`, published to every phone in the presentation's language, as a phone in
        `language` shows it: the copy rendered beside it (at worst rendered now, once)."""
        if frame.version >= LAST:  # the last frame says goodbye in both languages
            return frame
        results = frame.version % PHONE_VERSION_STEP != 0
        store = self._results_frames if results else self._phone_frames
        cached = store.get((presentation_id, language))
        if cached is not None and cached.version >= frame.version:
            return cached
        # Rare: published before this phone's language was in use on this worker.
        if results:
            found = await asyncio.to_thread(
                self._results_in, presentation_id, language, frame.version
            )
        else:
            rendered = await asyncio.to_thread(self._phone_frames_of, presentation_id, language)
            found = None if rendered is None else rendered.get(language)
        return found if found is not None and found.version >= frame.version else frame

    def _languages(self, presentation_id: int, own: str, extra: str | None = None) -> list[str]:
        """The presentation's language first, then the ones its phones chose."""
        chosen = set(self._chosen.get(presentation_id, {}))
        if extra is not None:
            chosen.add(extra)
        return [own, *sorted(chosen - {own})]

    def ended_frame(self) -> str:
        """What phones and screens show when their presentation was deleted (in both languages,
        as the presentation and its language are gone)."""
        messages = "".join(
            render_block("participant.html", "ended", language, {}) for language in ("nl", "en")
        )
        return '<section id="stage" data-state="ended">' + messages + "</section>"

    def phone_frame(self, presentation_id: int) -> Frame | None:
        """The stage every phone shows, with the presentation's version, in the presentation's
        language (copies in the languages phones chose wait in the cache, see phone_frame_in)."""
        rendered = self._phone_frames_of(presentation_id)
        if rendered is None:
            return None
        return next(iter(rendered.values()))

    def stage_changed(self, presentation_id: int) -> None:
        """Whether phones show results may have changed: find out at the next votes."""
        self._phones_see_results.pop(presentation_id, None)

    def phones_may_see_results(self, presentation_id: int) -> bool:
        """False when the phones of a presentation were last seen without results (votes then
        need no phone frame); True when they show them or this worker does not know yet."""
        return self._phones_see_results.get(presentation_id, True)

    def phone_results_frame(self, presentation_id: int) -> Frame | None:
        """New votes on a question whose results phones show: a frame that swaps only the
        results (what somebody is choosing or typing on the form stays as it is). None when
        phones do not show results (hidden results never leave the server)."""
        with self._db.session() as session:
            st = stage(session=session, presentation_id=presentation_id, with_results=None)
        if st is None or st.question is None or st.results is None:
            self._phones_see_results[presentation_id] = False
            return None
        base = phone_version(st.presentation.version)
        shown, serial = self._result_serials.get(presentation_id, (base, 0))
        serial = serial + 1 if shown == base else 1
        if serial >= PHONE_VERSION_STEP:
            return None
        self._result_serials[presentation_id] = (base, serial)
        ctx = self._phone_context(st)
        published: Frame | None = None
        for language in self._languages(presentation_id, st.presentation.language):
            # Phones that connect from now on get the stage with these results.
            stage_text = render_block("participant.html", "live", language, ctx)
            self._phone_frames[presentation_id, language] = Frame.deduplicated(base, stage_text)
            text = render_block("participant.html", "phone_results", language, ctx)
            frame = Frame(base + serial, text)
            self._results_frames[presentation_id, language] = frame
            published = published or frame
        return published

    def _results_in(self, presentation_id: int, language: str, version: int) -> Frame | None:
        """The results of a results frame in another language (rendered late: see
        phone_frame_in)."""
        with self._db.session() as session:
            st = stage(session=session, presentation_id=presentation_id, with_results=None)
        if st is None or st.question is None or st.results is None:
            return None
        ctx = self._phone_context(st)
        frame = Frame(version, render_block("participant.html", "phone_results", language, ctx))
        self._results_frames[presentation_id, language] = frame
        return frame

    def _phone_context(self, st: Stage) -> dict[str, Any]:
        ctx = stage_context(st, self._presence, self.clock())
        ctx.update(
            version=phone_version(st.presentation.version),
            answer=None,
            status=None,
            error=None,
            client_key="",
            # The same frame for every phone, whenever it is sent: no clock in it (the page
            # that opened the socket carries the server's clock).
            countdown_now=None,
        )
        return ctx

    def _phone_frames_of(
        self, presentation_id: int, extra: str | None = None
    ) -> dict[str, Frame] | None:
        """The stage frame in the presentation's language (first) and in every language its
        phones chose (and `extra`), all from one read of the database; cached."""
        with self._db.session() as session:
            st = stage(session=session, presentation_id=presentation_id, with_results=None)
        if st is None:
            return None
        self._phones_see_results[presentation_id] = st.results is not None
        version = phone_version(st.presentation.version)
        frames: dict[str, Frame] = {}
        ctx = None if st.audience_paced else self._phone_context(st)
        for language in self._languages(presentation_id, st.presentation.language, extra):
            if ctx is None:
                # Each phone shows a question of its own choosing: the same frame for all of
                # them can only say that the presentation changed; each phone then fetches its
                # own question afresh (stemlab.js; it sees the change at its next page without
                # JS).
                text = render_block(
                    "participant.html", "pace_refresh", language, {"version": version}
                )
                frames[language] = Frame(version, text)
            else:
                text = render_block("participant.html", "live", language, ctx)
                frames[language] = Frame.deduplicated(version, text)
            self._phone_frames[presentation_id, language] = frames[language]
        return frames
