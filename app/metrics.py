"""Prometheus metrics: read from the running objects at scrape time, one registry per app.

The hot paths only add to plain numbers (`Timings`, counters on the hub and the ticker, a
Counter per ballot box); nothing here runs per socket or takes a lock on the event loop.
Whatever can be read from existing state (sockets, ballot box statistics) is read when
Prometheus asks, by `StemlabCollector`.
"""

from __future__ import annotations

import weakref
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from app.live import topics

if TYPE_CHECKING:
    from app.web import Services

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Ticks and fan-out: well under a millisecond for a room, tens of milliseconds for a full hall.
SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
# Every result a vote can get (app.voting.Outcome.result), exported from zero.
VOTE_RESULTS = ("saved", "replayed", "conflict", "invalid", "closed", "rate_limited", "unavailable")


class Timings:
    """A histogram kept as plain numbers: observe() is one bisect and two additions.

    Only the event loop thread observes, so there is no lock; a scrape reads it on the loop too.
    """

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float] = SECONDS_BUCKETS) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative buckets in Prometheus' form, ending with +Inf."""
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
        return out


@dataclass
class HubStats:
    """What the hub counts while it fans frames out."""

    fanout: Timings = field(default_factory=Timings)  # one publish to every subscriber
    dropped: int = 0  # subscribers closed because their outbox was full


@dataclass
class TickerStats:
    """Durations of ticks that had something to push, per audience."""

    presenter: Timings = field(default_factory=Timings)
    phone: Timings = field(default_factory=Timings)


# Votes taken, by result, per ballot box (so per app: tests run many apps in one process).
_votes: weakref.WeakKeyDictionary[object, Counter[str]] = weakref.WeakKeyDictionary()


def count_vote(ballot_box: object, result: str) -> None:
    """Count a vote answered with `result` (saved, replayed, closed, ...) by this ballot box."""
    try:
        _votes[ballot_box][result] += 1
    except KeyError:
        _votes[ballot_box] = Counter({result: 1})


def votes_counted(ballot_box: object) -> Counter[str]:
    return Counter(_votes.get(ballot_box, ()))


def _histogram(
    name: str,
    documentation: str,
    labels: Sequence[str],
    series: Iterable[tuple[list[str], Timings]],
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=labels)
    for values, timings in series:
        family.add_metric(values, timings.buckets(), timings.total)
    return family


def _batch_histogram(sizes: Counter[int]) -> HistogramMetricFamily:
    """Batch sizes as a histogram, from the ballot box's count of batches per size."""
    timings = Timings(BATCH_BUCKETS)
    for size, batches in sizes.items():
        timings.counts[bisect_left(timings.bounds, size)] += batches
        timings.total += size * batches
    return _histogram(
        "stemlab_ballot_box_batch_size",
        "Votes committed per write transaction of the ballot box.",
        [],
        [([], timings)],
    )


class StemlabCollector(Collector):
    """Reads the app's running objects each time Prometheus scrapes."""

    def __init__(self, services: Callable[[], Services | None]) -> None:
        self._services = services  # None before startup

    def describe(self) -> list[Metric]:
        return []  # the families depend on what is running; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        svc: Services | None = self._services()
        if svc is None:
            return
        yield from self._sockets(svc)
        yield from self._votes(svc)
        yield from self._ballot_box(svc)
        yield from self._live(svc)

    def _sockets(self, svc: Services) -> Iterator[Metric]:
        counts = {"presenter": 0, "phone": 0}
        hub = svc.hub
        for topic in hub.topic_names():
            audience = "phone" if topics.phones_presentation(topic) is not None else "presenter"
            counts[audience] += hub.count(topic)
        sockets = GaugeMetricFamily(
            "stemlab_sockets", "Open websockets on this process, by audience.", labels=["audience"]
        )
        for audience, count in counts.items():
            sockets.add_metric([audience], count)
        yield sockets

    def _votes(self, svc: Services) -> Iterator[Metric]:
        votes = CounterMetricFamily(
            "stemlab_votes",
            "Votes answered, by result: saved, replayed (the same submission again), conflict, "
            "invalid, closed (question not open or not current), rate_limited, unavailable "
            "(shutting down or overloaded: the phone is told to try again).",
            labels=["result"],
        )
        counted = votes_counted(svc.ballot_box)
        for result in sorted(set(VOTE_RESULTS) | set(counted)):
            votes.add_metric([result], counted[result])
        yield votes

    def _ballot_box(self, svc: Services) -> Iterator[Metric]:
        box = svc.ballot_box
        stats = box.stats
        yield CounterMetricFamily(
            "stemlab_ballot_box_batches",
            "Write transactions the ballot box committed.",
            value=stats.batches,
        )
        yield CounterMetricFamily(
            "stemlab_ballot_box_written_votes",
            "Votes written by the ballot box (saved, replayed or refused inside the transaction).",
            value=stats.votes,
        )
        yield CounterMetricFamily(
            "stemlab_ballot_box_commit_seconds",
            "Time spent writing and committing batches.",
            value=stats.commit_seconds,
        )
        sizes = getattr(stats, "batch_sizes", None)
        if sizes is not None:
            yield _batch_histogram(Counter(dict(sizes)))
        retries = getattr(stats, "retries", None)
        if retries is not None:
            yield CounterMetricFamily(
                "stemlab_ballot_box_retries",
                "Transactions run again because a concurrent writer got in the way.",
                value=retries,
            )
        queue = getattr(box, "_queue", None)
        if queue is not None:
            yield GaugeMetricFamily(
                "stemlab_ballot_box_queued",
                "Votes waiting for the next write transaction.",
                value=queue.qsize(),
            )

    def _live(self, svc: Services) -> Iterator[Metric]:
        ticker_stats: TickerStats = svc.ticker.stats
        yield _histogram(
            "stemlab_tick_seconds",
            "Duration of a tick that pushed frames (render and fan-out of every changed "
            "presentation), by audience.",
            ["audience"],
            [(["presenter"], ticker_stats.presenter), (["phone"], ticker_stats.phone)],
        )
        hub_stats: HubStats = svc.hub.stats
        yield _histogram(
            "stemlab_fanout_seconds",
            "Time to queue one frame for every subscriber of a topic.",
            [],
            [([], hub_stats.fanout)],
        )
        yield CounterMetricFamily(
            "stemlab_dropped_sockets",
            "Sockets closed because they fell behind (1013; the client reconnects and resyncs).",
            value=hub_stats.dropped,
        )
        if svc.settings.redis_url:
            yield GaugeMetricFamily(
                "stemlab_redis_connected",
                "1 while the Redis connection that carries hints between workers is up.",
                value=1 if svc.bus.connected else 0,
            )
            stats = getattr(svc.bus, "stats", {})
            hints = CounterMetricFamily(
                "stemlab_hints",
                "Hints between workers over Redis: published, received from other workers, "
                "and lost because Redis could not be reached (screens then catch up by polling).",
                labels=["event"],
            )
            for event, key in (
                ("published", "published"),
                ("received", "received"),
                ("failed", "publish_failures"),
            ):
                hints.add_metric([event], stats.get(key, 0))
            yield hints
            yield CounterMetricFamily(
                "stemlab_redis_subscriptions",
                "Times the hint channel was subscribed (1 + reconnections after Redis was lost).",
                value=stats.get("reconnects", 0),
            )


class Metrics:
    """The registry of one app: Stemlab's own collector and the process collectors."""

    def __init__(
        self, services: Callable[[], Services | None], draining: Callable[[], bool]
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StemlabCollector(services))
        self.registry.register(_Draining(draining))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Draining(Collector):
    def __init__(self, draining: Callable[[], bool]) -> None:
        self._draining = draining

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "stemlab_draining",
            "1 once shutdown has started: readiness fails and new votes are refused.",
            value=1 if self._draining() else 0,
        )
