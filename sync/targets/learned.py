"""What a target learns about a server by asking it, kept for the process a day at most.

A server's habits (which conditional requests it honours, how many items one request may ask
for) are learned at the first request that needs them, often with a refused or a probe request.
The daemon's runs should not pay for that every time, and a server changed under a running
daemon should be learned afresh by the next day: a `Learned` keeps each fact with the time it
was learned and forgets it after `keep_seconds`. Calendars are worked on in several threads:
`lock` is held by whoever reads, learns and writes a fact in one go (get and put take it too).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")

DAY = 24 * 3600.0


class Learned(Generic[V]):
    """Facts by server (any hashable key: an origin, a server and service account)."""

    def __init__(self, keep_seconds: float = DAY) -> None:
        self.keep_seconds = keep_seconds
        self.lock = threading.RLock()
        self._facts: dict[Hashable, tuple[float, V]] = {}

    def get(self, key: Hashable) -> V | None:
        """The fact learned for `key` within `keep_seconds`, else None (an older one is dropped)."""
        with self.lock:
            known = self._facts.get(key)
            if known is None:
                return None
            if time.monotonic() - known[0] > self.keep_seconds:
                del self._facts[key]
                return None
            return known[1]

    def put(self, key: Hashable, value: V) -> V:
        """Keep `value` for `key`, learned now."""
        with self.lock:
            self._facts[key] = (time.monotonic(), value)
        return value

    def get_or_learn(self, key: Hashable, learn: Callable[[], V], keep: Callable[[V], bool]) -> V:
        """The fact for `key`, learned by `learn` where none is kept; kept only where `keep` says
        it may be (a probe that failed by chance is not a fact for a day). One thread learns,
        the others wait for what it learned."""
        with self.lock:
            known = self.get(key)
            if known is None:
                known = learn()
                if keep(known):
                    self.put(key, known)
            return known

    def forget(self) -> None:
        """Drop everything learned (tests; a server known to have changed)."""
        with self.lock:
            self._facts.clear()
