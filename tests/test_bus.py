"""Hints between workers over a real Redis: what crosses, what does not, and Redis going away."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

import pytest
import redis.asyncio

from app.live import bus as bus_module
from app.live import presence as presence_module
from app.live import topics
from app.live.bus import Hint, RedisBus, encode
from app.live.hub import Hub
from app.live.messages import Message, PresentationChanged, VotesRecorded
from app.live.presence import Presence
from tests.redis_server import SYSTEM_REDIS, redis_server


class Recorder:
    """Stands in for the app's Services: records what the bus hands over."""

    def __init__(self) -> None:
        self.applied: list[Message] = []
        self.presence: list[set[int]] = []
        self.resyncs = 0

    def apply(self, messages: list[Message]) -> None:
        self.applied.extend(messages)

    def presence_updated(self, presentation_ids: set[int]) -> None:
        self.presence.append(presentation_ids)

    def resync(self) -> None:
        self.resyncs += 1


class Worker:
    def __init__(self, url: str, prefix: str) -> None:
        self.hub = Hub()
        self.presence = Presence(self.hub)
        self.bus = RedisBus(url, prefix, self.presence)
        self.seen = Recorder()

    async def start(self) -> Worker:
        await self.bus.start(self.seen)
        return self

    def phone_joins(self, presentation_id: int) -> None:
        self.hub.subscribe(topics.phones(presentation_id))
        self.bus.presence_changed(presentation_id)


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


@pytest.fixture
def prefix() -> str:
    return "stemlab-test-" + secrets.token_hex(4)


async def test_hints_reach_the_other_workers_and_not_the_sender(prefix):
    a = await Worker(SYSTEM_REDIS, prefix).start()
    b = await Worker(SYSTEM_REDIS, prefix).start()
    other = await Worker(SYSTEM_REDIS, prefix + "-other").start()
    try:
        await until(lambda: a.bus.connected and b.bus.connected and other.bus.connected)
        a.bus.publish([VotesRecorded(7, 12), PresentationChanged(7), VotesRecorded(7, 12)])
        await until(lambda: len(b.seen.applied) >= 2)
        assert sorted(map(repr, b.seen.applied)) == sorted(
            map(repr, [VotesRecorded(7, 12), PresentationChanged(7)])
        )
        b.bus.publish([PresentationChanged(8)])
        await until(lambda: a.seen.applied == [PresentationChanged(8)])
        await asyncio.sleep(0.3)
        assert b.seen.applied.count(PresentationChanged(8)) == 0  # not its own hint
        assert other.seen.applied == []  # another deployment's prefix hears nothing
    finally:
        for worker in (a, b, other):
            await worker.bus.stop()


async def test_phone_counts_add_up_over_workers_and_leave_with_a_stopped_worker(prefix):
    a = await Worker(SYSTEM_REDIS, prefix).start()
    b = await Worker(SYSTEM_REDIS, prefix).start()
    try:
        await until(lambda: a.bus.connected and b.bus.connected)
        a.phone_joins(3)
        a.phone_joins(3)
        b.phone_joins(3)
        await until(lambda: a.presence.count(3) == 3 and b.presence.count(3) == 3)
        assert {3} in b.seen.presence  # so b re-renders its projector's count
        await a.bus.stop()
        await until(lambda: b.presence.count(3) == 1)
    finally:
        await b.bus.stop()


async def test_a_worker_that_joins_later_learns_the_counts_from_the_heartbeat(prefix, monkeypatch):
    monkeypatch.setattr(bus_module, "HEARTBEAT_SECONDS", 0.3)
    a = await Worker(SYSTEM_REDIS, prefix).start()
    try:
        await until(lambda: a.bus.connected)
        a.phone_joins(5)
        b = await Worker(SYSTEM_REDIS, prefix).start()
        try:
            await until(lambda: b.presence.count(5) == 1)
        finally:
            await b.bus.stop()
    finally:
        await a.bus.stop()


def test_counts_of_a_worker_that_went_silent_expire(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(presence_module.time, "monotonic", lambda: now[0])
    presence = Presence(Hub())
    assert presence.update("w1", {4: 10, 5: 2}, full=True) == {4, 5}
    assert presence.update("w2", {4: 1}, full=False) == {4}
    assert presence.count(4) == 11
    # A heartbeat replaces what was known of that worker.
    assert presence.update("w1", {4: 9}, full=True) == {4, 5}
    assert (presence.count(4), presence.count(5)) == (10, 0)
    assert presence.update("w1", {4: 9}, full=True) == set()  # nothing new: nothing to redraw
    now[0] += presence_module.PRESENCE_TTL + 1  # killed: no goodbye, no heartbeat
    assert presence.count(4) == 0
    assert presence.expire() == {4}  # so the projector is redrawn without them
    assert presence.expire() == set()


def test_the_wire_format_round_trips_and_refuses_garbage():
    raw = encode("w1", [VotesRecorded(1, 2), PresentationChanged(1)], {1: 3}, full=True)
    hint = Hint(raw)
    assert hint.worker == "w1" and hint.full and not hint.bye
    assert hint.messages == [VotesRecorded(1, 2), PresentationChanged(1)]
    assert hint.presence == {1: 3}
    for garbage in ("", "[]", '{"v": []}', '{"w": "x", "v": [["a", 1]]}', '{"w": 1}'):
        with pytest.raises((ValueError, TypeError)):
            Hint(garbage)


async def test_a_malformed_hint_is_ignored_and_the_next_one_applied(prefix):
    b = await Worker(SYSTEM_REDIS, prefix).start()
    client = redis.asyncio.Redis.from_url(SYSTEM_REDIS)
    try:
        await until(lambda: b.bus.connected)
        channel = topics.hints(prefix)
        for garbage in ("not json", '{"w": "x", "v": [[1]]}', '{"w": "x", "n": {"a": 1}}'):
            await client.publish(channel, garbage)
        await client.publish(channel, encode("x", [PresentationChanged(9)]))
        await until(lambda: b.seen.applied == [PresentationChanged(9)])
        assert b.bus.connected
    finally:
        await client.aclose()
        await b.bus.stop()


async def test_without_redis_workers_poll_and_resync_when_it_returns(prefix, monkeypatch):
    monkeypatch.setattr(bus_module, "DEGRADED_POLL_SECONDS", 0.1)
    monkeypatch.setattr(bus_module, "RECONNECT_MAX_SECONDS", 0.3)
    with redis_server() as server:
        a = await Worker(server.url, prefix).start()
        b = await Worker(server.url, prefix).start()
        try:
            await until(lambda: a.bus.connected and b.bus.connected)
            connected_resyncs = a.seen.resyncs
            assert connected_resyncs == 1  # on connecting: whatever came before is in the DB

            server.stop()
            await until(lambda: not a.bus.connected)
            # Hints cannot travel: the worker re-reads what its screens show, on a timer.
            before = a.seen.resyncs
            await until(lambda: a.seen.resyncs >= before + 3)
            b.bus.publish([PresentationChanged(1)])  # lost, and nothing breaks

            server.start()
            await until(lambda: a.bus.connected and b.bus.connected)
            resyncs = a.seen.resyncs
            await asyncio.sleep(0.5)
            assert a.seen.resyncs == resyncs  # connected again: no more polling
            b.bus.publish([PresentationChanged(2)])
            await until(lambda: PresentationChanged(2) in a.seen.applied)
        finally:
            await a.bus.stop()
            await b.bus.stop()


async def test_a_worker_starts_and_stops_while_redis_is_unreachable(prefix):
    """Publishing only queues (it is not even a coroutine): an unreachable Redis costs hints."""
    with redis_server() as server:
        url = server.url
    a = await Worker(url, prefix).start()  # nothing listens on that port any more
    try:
        for _ in range(1000):
            a.bus.publish([VotesRecorded(1, 1)])
        await until(lambda: a.bus.stats["publish_failures"] >= 1)
        assert not a.bus.connected
    finally:
        await a.bus.stop()
