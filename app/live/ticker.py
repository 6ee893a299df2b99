"""Coalescing: changes mark a presentation dirty; a tick renders each dirty one once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from app.live import topics
from app.live.fragments import Fragments
from app.live.hub import Frame, Hub
from app.live.messages import Message, PresentationChanged, VotesRecorded
from app.metrics import TickerStats

log = logging.getLogger(__name__)


class Ticker:
    """Pushes at most one presenter frame per tick and one phone frame per phone tick."""

    def __init__(
        self, hub: Hub, fragments: Fragments, *, presenter_tick: float, phone_tick: float
    ) -> None:
        self._hub = hub
        self._fragments = fragments
        self._presenter_tick = presenter_tick
        self._phone_tick = phone_tick
        self._presenters_dirty: set[int] = set()
        self._phones_dirty: set[int] = set()
        self._phone_results_dirty: set[int] = set()
        self._versions: dict[int, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._jobs: list[tuple[float, Callable[[], Awaitable[None]]]] = []
        self._wake_presenters = asyncio.Event()
        self._wake_phones = asyncio.Event()
        self.stats = TickerStats()  # read by app.metrics at scrape time

    def notify(self, messages: Iterable[Message]) -> None:
        """Take note of committed changes; nothing is rendered here."""
        for message in messages:
            if isinstance(message, VotesRecorded):
                self._presenters_dirty.add(message.presentation_id)
                self._wake_presenters.set()
                # Phones only care where they show results (checked when the tick comes).
                self._phone_results_dirty.add(message.presentation_id)
            elif isinstance(message, PresentationChanged):
                self._fragments.stage_changed(message.presentation_id)
                self._presenters_dirty.add(message.presentation_id)
                self._phones_dirty.add(message.presentation_id)
                self._wake_presenters.set()
                self._wake_phones.set()

    def presence_changed(self, presentation_id: int) -> None:
        """A phone connected or left: the presenter's participant count changes (no hurry: it
        waits for the tick)."""
        self._presenters_dirty.add(presentation_id)

    def next_version(self, presentation_id: int) -> int:
        """A number that only grows, carried by every frame of a presentation."""
        version = self._versions.get(presentation_id, 0) + 1
        self._versions[presentation_id] = version
        return version

    def every(self, interval: float, job: Callable[[], Awaitable[None]]) -> None:
        """Run `job` every `interval` seconds while the ticker runs (the countdown closer)."""
        self._jobs.append((interval, job))

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(self._presenters_dirty, self._presenter_tick, True)),
            asyncio.create_task(self._loop(self._phones_dirty, self._phone_tick, False)),
            *(asyncio.create_task(self._repeat(interval, job)) for interval, job in self._jobs),
        ]

    async def _repeat(self, interval: float, job: Callable[[], Awaitable[None]]) -> None:
        failing = False
        while True:
            await asyncio.sleep(interval)
            try:
                await job()
            except Exception:
                if not failing:  # once per run of failures (a database that is down)
                    log.exception("periodic job failed; it keeps trying")
                failing = True
            else:
                failing = False

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _loop(self, dirty: set[int], interval: float, presenters: bool) -> None:
        wake = self._wake_presenters if presenters else self._wake_phones
        while True:
            # Wait for a change (or the tick), then push at once; the sleep after a push
            # coalesces whatever comes in meanwhile into the next one.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=interval)
            wake.clear()
            results = set() if presenters else self._phone_results_dirty - dirty
            if not presenters:
                self._phone_results_dirty.clear()
            if not dirty and not results:
                continue
            pending = list(dirty)
            dirty.clear()
            started = time.perf_counter()
            for presentation_id in pending:
                try:
                    await self._push(presentation_id, presenters)
                except Exception:
                    log.exception("could not push frame for presentation %s", presentation_id)
            for presentation_id in results:
                try:
                    await self._push_phone_results(presentation_id)
                except Exception:
                    log.exception("could not push results for presentation %s", presentation_id)
            spent = time.perf_counter() - started
            (self.stats.presenter if presenters else self.stats.phone).observe(spent)
            await asyncio.sleep(interval)

    async def _push(self, presentation_id: int, presenters: bool) -> None:
        topic = topics.presenter(presentation_id) if presenters else topics.phones(presentation_id)
        if not self._hub.count(topic):
            return
        frame: Frame | None
        if presenters:
            version = self.next_version(presentation_id)
            text = await asyncio.to_thread(
                self._fragments.presenter_frame, presentation_id, version
            )
            frame = Frame(version, text) if text is not None else None
        else:
            frame = await asyncio.to_thread(self._fragments.phone_frame, presentation_id)
        if frame is None:  # the presentation was deleted
            self._hub.end_topic(topic, self._fragments.ended_frame())
            return
        self._hub.publish(topic, frame)

    async def _push_phone_results(self, presentation_id: int) -> None:
        """New votes, for phones that show the results: one results frame for all of them."""
        topic = topics.phones(presentation_id)
        if not self._hub.count(topic) or not self._fragments.phones_may_see_results(
            presentation_id
        ):
            return
        frame = await asyncio.to_thread(self._fragments.phone_results_frame, presentation_id)
        if frame is not None:
            self._hub.publish(topic, frame)
