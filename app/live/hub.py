"""In-process fan-out: the same encoded frame into every subscriber's bounded outbox."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

from app.metrics import HubStats


class Close(Enum):
    """What a sender does instead of sending a frame."""

    DROPPED = 1013  # fell behind: close with "try again later"; the client reconnects and resyncs
    ENDED = 1000  # the presentation is gone: close normally; the client does not come back


LAST = 2**62  # the version of a frame after which nothing follows
_VERSION = re.compile(r'data-version="\d+"')


class Frame(NamedTuple):
    """Rendered state for one audience, encoded once and shared by every socket."""

    version: int  # versions only grow within a presentation
    text: str
    content: str = ""  # digest of what it shows apart from its version ("" = always send)

    @classmethod
    def deduplicated(cls, version: int, text: str) -> Frame:
        """A frame that a socket showing the same content (at any version) will skip."""
        digest = hashlib.blake2b(_VERSION.sub("", text).encode(), digest_size=12).hexdigest()
        return cls(version, text, digest)


@dataclass(eq=False)
class Subscriber:
    """One socket's outbox of frames, ended by a Close marker.

    `shown` is the version the socket shows and `showing` the digest of its content; its sender
    skips frames that are not newer or show the same thing, so a phone is never sent a copy of
    what it shows (that would only wipe what somebody is typing).
    """

    topic: str
    queue: asyncio.Queue[Frame | Close] = field(repr=False)
    dropped: bool = False
    shown: int = -1
    showing: str = ""


class Hub:
    """Topics to subscribers. Publishing never waits on a socket."""

    def __init__(self, outbox_frames: int = 8) -> None:
        self._topics: dict[str, set[Subscriber]] = {}
        self._outbox_frames = outbox_frames
        self.stats = HubStats()  # read by app.metrics at scrape time

    def subscribe(self, topic: str) -> Subscriber:
        # One extra slot, so a Close marker always fits behind a full outbox.
        sub = Subscriber(topic, asyncio.Queue(maxsize=self._outbox_frames + 1))
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

    def topic_names(self) -> list[str]:
        """Topics with at least one subscriber on this worker."""
        return list(self._topics)

    def publish(self, topic: str, frame: Frame) -> int:
        """Queue `frame` for every subscriber of `topic`; drop the ones whose outbox is full."""
        subs = self._topics.get(topic)
        if not subs:
            return 0
        started = time.perf_counter()
        for sub in list(subs):
            if sub.queue.qsize() >= self._outbox_frames:
                self._end(sub, Close.DROPPED)
            else:
                sub.queue.put_nowait(frame)
        self.stats.fanout.observe(time.perf_counter() - started)
        return len(subs)

    def end_topic(self, topic: str, last_frame: str | None) -> None:
        """Send every subscriber a last frame, then close them for good."""
        for sub in list(self._topics.get(topic, ())):
            if last_frame is not None and sub.queue.qsize() < self._outbox_frames:
                sub.queue.put_nowait(Frame(LAST, last_frame))
            self._end(sub, Close.ENDED)

    def _end(self, sub: Subscriber, how: Close) -> None:
        sub.dropped = how is Close.DROPPED
        if how is Close.DROPPED:
            self.stats.dropped += 1
            while not sub.queue.empty():
                sub.queue.get_nowait()
        sub.queue.put_nowait(how)
        self.unsubscribe(sub)
