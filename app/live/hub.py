"""In-process fan-out: the same encoded frame into every subscriber's bounded outbox."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass(eq=False)
class Subscriber:
    """One socket's outbox; `None` in the queue tells its sender to close (it fell behind)."""

    topic: str
    queue: asyncio.Queue[str | None] = field(repr=False)
    dropped: bool = False


class Hub:
    """Topics to subscribers. Publishing never waits on a socket."""

    def __init__(self, outbox_frames: int = 8) -> None:
        self._topics: dict[str, set[Subscriber]] = {}
        self._outbox_frames = outbox_frames
        self.dropped_total = 0

    def subscribe(self, topic: str) -> Subscriber:
        sub = Subscriber(topic, asyncio.Queue(maxsize=self._outbox_frames))
        self._topics.setdefault(topic, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self._topics.get(sub.topic)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._topics[sub.topic]

    def count(self, topic: str) -> int:
        return len(self._topics.get(topic, ()))

    def publish(self, topic: str, frame: str) -> int:
        """Queue `frame` for every subscriber of `topic`; drop the ones whose outbox is full."""
        subs = self._topics.get(topic)
        if not subs:
            return 0
        for sub in list(subs):
            try:
                sub.queue.put_nowait(frame)
            except asyncio.QueueFull:
                self._drop(sub)
        return len(subs)

    def _drop(self, sub: Subscriber) -> None:
        sub.dropped = True
        self.dropped_total += 1
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(None)
        self.unsubscribe(sub)
