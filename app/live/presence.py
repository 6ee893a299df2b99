"""Phones per presentation over every worker: this worker's sockets plus what others report."""

from __future__ import annotations

import threading
import time

from app.live import topics
from app.live.hub import Hub

# A worker not heard of for this long has no phones (its heartbeat comes every 5 seconds).
PRESENCE_TTL = 15.0


class Presence:
    """How many phones follow each presentation, over every worker.

    Read from render threads, written on the event loop: a lock keeps both sides consistent.
    """

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._lock = threading.Lock()
        # worker -> presentation -> (phones, expires at)
        self._remote: dict[str, dict[int, tuple[int, float]]] = {}

    def local(self, presentation_id: int) -> int:
        """Phones connected to this worker."""
        return self._hub.count(topics.phones(presentation_id))

    def local_counts(self) -> dict[int, int]:
        """Every presentation followed by phones on this worker, with their number."""
        counts: dict[int, int] = {}
        for topic in self._hub.topic_names():
            pid = topics.phones_presentation(topic)
            if pid is not None:
                counts[pid] = self._hub.count(topic)
        return counts

    def count(self, presentation_id: int) -> int:
        """Phones on this worker plus those other workers reported recently."""
        now = time.monotonic()
        remote = 0
        with self._lock:
            for counts in self._remote.values():
                entry = counts.get(presentation_id)
                if entry is not None and entry[1] > now:
                    remote += entry[0]
        return self.local(presentation_id) + remote

    def update(self, worker: str, counts: dict[int, int], *, full: bool) -> set[int]:
        """Take a worker's report; returns the presentations whose total changed.

        A full report (a heartbeat) replaces everything known of that worker; one that says
        what was known already changes nothing (and redraws nothing).
        """
        expires = time.monotonic() + PRESENCE_TTL
        with self._lock:
            known = self._remote.setdefault(worker, {})
            before = {pid: phones for pid, (phones, _) in known.items()}
            if full:
                known.clear()
            for pid, phones in counts.items():
                if phones > 0:
                    known[pid] = (phones, expires)
                else:
                    known.pop(pid, None)
            if not known:
                del self._remote[worker]
            after = {pid: phones for pid, (phones, _) in known.items()}
        return {pid for pid in before.keys() | after.keys() if before.get(pid) != after.get(pid)}

    def expire(self) -> set[int]:
        """Drop reports that were not renewed in time; returns the presentations they were of."""
        now = time.monotonic()
        expired: set[int] = set()
        with self._lock:
            for worker, counts in list(self._remote.items()):
                for pid, (_, expires) in list(counts.items()):
                    if expires <= now:
                        del counts[pid]
                        expired.add(pid)
                if not counts:
                    del self._remote[worker]
        return expired

    def forget(self, worker: str) -> set[int]:
        """A worker stopped: its phones are gone (they reconnect to another one)."""
        with self._lock:
            return set(self._remote.pop(worker, {}))
