"""Hints between workers: "presentation 7 changed", "question 12 got votes", "3 phones here".

With one process nothing crosses a process boundary and `LocalBus` does nothing. With several
workers or hosts, `RedisBus` publishes each committed change as a small hint on one Redis pub/sub
channel, and every other worker applies it to its own caches and ticker, which then rebuild what
they show from the database. Redis carries nothing that cannot be rebuilt: a lost hint costs a
little latency, never a vote. While Redis is unreachable, every worker re-reads the presentations
its own sockets follow every few seconds, and resynchronises all of them when Redis returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Iterable
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.live import topics
from app.live.messages import Message, PresentationChanged, VotesRecorded
from app.live.presence import Presence

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0  # how often a worker repeats its phone counts (and proves the link)
SILENCE_SECONDS = 3 * HEARTBEAT_SECONDS  # not even our own heartbeat came back: reconnect
DEGRADED_POLL_SECONDS = 2.0  # re-read interval while hints cannot travel
RECONNECT_MAX_SECONDS = 5.0
REDIS_TIMEOUT_SECONDS = 2.0


class Receiver(Protocol):
    """What the bus hands news from other workers to (the app's Services)."""

    def apply(self, messages: list[Message]) -> None:
        """Changes another worker committed."""

    def presence_updated(self, presentation_ids: set[int]) -> None:
        """Phone counts of these presentations changed elsewhere."""

    def resync(self) -> None:
        """News may have been missed: rebuild everything this worker shows."""


class Bus(Protocol):
    worker: str

    @property
    def connected(self) -> bool: ...

    async def start(self, receiver: Receiver) -> None: ...

    async def stop(self) -> None: ...

    def publish(self, messages: Iterable[Message]) -> None: ...

    def presence_changed(self, presentation_id: int) -> None: ...


class LocalBus:
    """One process: every change is already seen by the only worker there is."""

    worker = "local"
    connected = True

    async def start(self, receiver: Receiver) -> None:
        return None

    async def stop(self) -> None:
        return None

    def publish(self, messages: Iterable[Message]) -> None:
        return None

    def presence_changed(self, presentation_id: int) -> None:
        return None


# --- the wire format ---------------------------------------------------------------------


def encode(
    worker: str,
    messages: Iterable[Message] = (),
    presence: dict[int, int] | None = None,
    *,
    full: bool = False,
    bye: bool = False,
) -> str:
    """One hint on the wire: compact JSON, small whatever the vote rate."""
    body: dict[str, Any] = {"w": worker}
    votes: set[tuple[int, int]] = set()
    changed: set[int] = set()
    for message in messages:
        if isinstance(message, VotesRecorded):
            votes.add((message.presentation_id, message.question_id))
        else:
            changed.add(message.presentation_id)
    if votes:
        body["v"] = sorted(votes)
    if changed:
        body["c"] = sorted(changed)
    if presence is not None:
        body["n"] = {str(pid): n for pid, n in sorted(presence.items())}
    if full:
        body["f"] = 1
    if bye:
        body["bye"] = 1
    return json.dumps(body, separators=(",", ":"))


class Hint:
    """A decoded hint (anything malformed raises ValueError)."""

    def __init__(self, raw: str | bytes) -> None:
        body = json.loads(raw)
        if not isinstance(body, dict) or not isinstance(body.get("w"), str):
            raise ValueError("not a hint")
        self.worker: str = body["w"]
        self.messages: list[Message] = [VotesRecorded(int(p), int(q)) for p, q in body.get("v", [])]
        self.messages += [PresentationChanged(int(p)) for p in body.get("c", [])]
        raw_counts = body.get("n")
        self.presence: dict[int, int] | None = (
            {int(k): int(v) for k, v in raw_counts.items()}
            if isinstance(raw_counts, dict)
            else None
        )
        self.full = bool(body.get("f"))
        self.bye = bool(body.get("bye"))


# --- Redis -------------------------------------------------------------------------------


class RedisBus:
    """Hints over one Redis pub/sub channel; reconnects by itself and never blocks a vote."""

    def __init__(self, url: str, prefix: str, presence: Presence) -> None:
        self.worker = uuid.uuid4().hex[:12]
        self.channel = topics.hints(prefix)
        self._url = url
        self._presence = presence
        self._receiver: Receiver | None = None
        self._connected = False
        self._pending: set[Message] = set()
        self._presence_dirty: set[int] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._publisher: Redis | None = None
        self._last_heard = time.monotonic()
        self.stats = {"published": 0, "received": 0, "publish_failures": 0, "reconnects": 0}

    @property
    def connected(self) -> bool:
        """Subscribed and hearing the channel."""
        return self._connected

    def _client(self) -> Redis:
        return Redis.from_url(
            self._url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            # One attempt: our own loops retry, and a vote never waits for Redis.
            retry=Retry(NoBackoff(), 0),
        )

    async def start(self, receiver: Receiver) -> None:
        self._receiver = receiver
        self._publisher = self._client()
        self._tasks = [
            asyncio.create_task(self._listen(), name="bus-listen"),
            asyncio.create_task(self._publish_loop(), name="bus-publish"),
            asyncio.create_task(self._heartbeat(), name="bus-heartbeat"),
            asyncio.create_task(self._poll_while_degraded(), name="bus-degraded"),
        ]

    async def stop(self) -> None:
        """Say goodbye (other workers drop our phone counts at once), then stop."""
        for task in self._tasks:
            task.cancel()
        await asyncio.wait(self._tasks, timeout=2 * REDIS_TIMEOUT_SECONDS)
        if self._publisher is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self._publisher.publish(self.channel, encode(self.worker, bye=True)),
                    REDIS_TIMEOUT_SECONDS,
                )
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._publisher.aclose(), REDIS_TIMEOUT_SECONDS)

    def publish(self, messages: Iterable[Message]) -> None:
        """Queue hints of committed changes; sent as soon as the publisher is free."""
        self._pending.update(messages)
        self._wake.set()

    def presence_changed(self, presentation_id: int) -> None:
        self._presence_dirty.add(presentation_id)
        self._wake.set()

    async def _publish_loop(self) -> None:
        assert self._publisher is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            # Everything that piled up while the last publish was on its way goes in one hint.
            messages, self._pending = self._pending, set()
            dirty, self._presence_dirty = self._presence_dirty, set()
            counts = {pid: self._presence.local(pid) for pid in dirty}
            if not messages and not counts:
                continue
            try:
                await self._publisher.publish(
                    self.channel, encode(self.worker, messages, counts or None)
                )
                self.stats["published"] += 1
            except Exception as exc:  # any Redis or network failure: hints are lost, not votes
                self.stats["publish_failures"] += 1
                log.debug("hint not published: %s", exc)
                await asyncio.sleep(0.1)  # do not spin while Redis is away

    async def _heartbeat(self) -> None:
        """Repeat our phone counts; receiving our own heartbeat proves the channel works."""
        assert self._publisher is not None
        while True:
            with contextlib.suppress(Exception):
                await self._publisher.publish(
                    self.channel,
                    encode(self.worker, presence=self._presence.local_counts(), full=True),
                )
            # A worker that was killed sends no goodbye: its phones leave when its reports age.
            expired = self._presence.expire()
            if expired and self._receiver is not None:
                self._receiver.presence_updated(expired)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _listen(self) -> None:
        delay = 0.2
        while True:
            client = self._client()
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._last_heard = time.monotonic()
                self._set_connected(True)
                delay = 0.2
                while time.monotonic() - self._last_heard < SILENCE_SECONDS:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._handle(message["data"])
                log.warning("no hints heard for %.0f s; reconnecting to Redis", SILENCE_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._connected:
                    log.warning("lost Redis (%s); workers keep in step by polling meanwhile", exc)
            finally:
                self._set_connected(False)
                # Bounded: a close that waits on a connection stuck mid-read must not hang us.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), REDIS_TIMEOUT_SECONDS)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.aclose(), REDIS_TIMEOUT_SECONDS)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    def _set_connected(self, connected: bool) -> None:
        was, self._connected = self._connected, connected
        if connected and not was:
            self.stats["reconnects"] += 1
            log.info("hints flow over Redis channel %s (worker %s)", self.channel, self.worker)
            # Whatever happened while we were away is in the database: rebuild from it, and
            # tell the others our phone counts straight away.
            if self._receiver is not None:
                self._receiver.resync()
            self._presence_dirty.update(self._presence.local_counts())
            self._wake.set()

    def _handle(self, raw: str | bytes) -> None:
        self._last_heard = time.monotonic()
        try:
            hint = Hint(raw)
        except (ValueError, TypeError, AttributeError):
            log.warning("ignored a malformed hint on %s", self.channel)
            return
        if hint.worker == self.worker or self._receiver is None:
            return
        self.stats["received"] += 1
        if hint.messages:
            self._receiver.apply(hint.messages)
        touched: set[int] = set()
        if hint.presence is not None:
            touched |= self._presence.update(hint.worker, hint.presence, full=hint.full)
        if hint.bye:
            touched |= self._presence.forget(hint.worker)
        if touched:
            self._receiver.presence_updated(touched)

    async def _poll_while_degraded(self) -> None:
        """Without hints, screens on this worker would stand still: re-read them on a timer."""
        while True:
            await asyncio.sleep(DEGRADED_POLL_SECONDS)
            if not self._connected and self._receiver is not None:
                self._receiver.resync()
