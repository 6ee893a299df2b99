"""In-process sliding-window rate limits, O(1) per check.

Hand-written on purpose: the `limits` package's in-memory storage starts a timer thread on
about every other hit (or, in its asyncio flavour, a thread hop per key per expiry pass), which
measured as the largest cost on the vote path. This keeps two counters per key instead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """At most `limit` events per `period` seconds."""

    limit: int
    period: float


class RateLimiter:
    """Sliding-window counter per key: this window's count plus a weighted share of the last."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 200_000):
        self._clock = clock
        self._max_keys = max_keys
        # key -> (window index, count in that window, count in the window before)
        self._windows: dict[tuple[str, ...], tuple[int, int, int]] = {}

    def _state(self, rate: Rate, key: tuple[str, ...]) -> tuple[int, int, int, float]:
        now = self._clock()
        index = math.floor(now / rate.period)
        window, current, previous = self._windows.get(key, (index, 0, 0))
        if window != index:
            previous = current if window == index - 1 else 0
            current = 0
        elapsed = (now / rate.period) - index
        return index, current, previous, current + previous * (1.0 - elapsed)

    def allowed(self, rate: Rate, *key: str) -> bool:
        """Whether one more event would stay within the rate (counts nothing)."""
        return self._state(rate, key)[3] < rate.limit

    def hit(self, rate: Rate, *key: str) -> bool:
        """Count one event; False (and nothing counted) when the rate is already reached."""
        index, current, previous, used = self._state(rate, key)
        if used >= rate.limit:
            return False
        if len(self._windows) >= self._max_keys:
            self._prune(index, rate)
        self._windows[key] = (index, current + 1, previous)
        return True

    def retry_after(self, rate: Rate, *key: str) -> int:
        """Seconds until one more event is allowed (at least 1)."""
        now = self._clock()
        return max(1, math.ceil(rate.period - (now % rate.period)))

    def _prune(self, index: int, rate: Rate) -> None:
        stale = [k for k, (w, _, _) in self._windows.items() if w < index - 1]
        for k in stale:
            del self._windows[k]
        if len(self._windows) >= self._max_keys:
            self._windows.clear()
