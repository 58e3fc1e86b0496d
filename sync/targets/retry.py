"""The one retry policy of the targets (tenacity underneath).

What is transient is the target's to say (a predicate on the exception); how often and how
long to wait is said here, once, from the settings:

- `sync.retries` retries after the first attempt (so `retries + 1` attempts in all);
- waits grow exponentially from `sync.retry_backoff_seconds` (1x, 2x, 4x, ...);
- CalDAV waits with jitter (0.5x to 1.5x: calendars are synced in parallel threads, which
  must not retry in step); Exchange waits without (one mailbox at a time);
- Exchange caps each wait at `target.exchange.max_throttle_wait_seconds`, the same bound
  exchangelib's own throttling back-off (ErrorServerBusy) is given.

After the last attempt the last exception is raised as it is; the caller turns it into the
item's `Result.error` or a `TargetError`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import tenacity

if TYPE_CHECKING:
    from kontaktsync.sync.config.models import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
Transient = Callable[[BaseException], bool]

# HTTP statuses worth another attempt: throttled (429, 503), server trouble (5xx), full (507).
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504, 507})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient failure."""

    retries: int
    backoff: float
    cap: float | None = None
    jitter: bool = False
    sleep: Callable[[float], None] = time.sleep
    rand: Callable[[], float] = field(default=random.random, repr=False)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        backoff: float | None = None,
        cap: float | None = None,
        jitter: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RetryPolicy:
        """The policy of `sync.retries` / `sync.retry_backoff_seconds` (`backoff` overrides the
        latter, e.g. for tests)."""
        return cls(
            retries=max(0, settings.sync.retries),
            backoff=settings.sync.retry_backoff_seconds if backoff is None else backoff,
            cap=cap,
            jitter=jitter,
            sleep=sleep,
        )

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def wait(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failed attempt (1-based)."""
        seconds = self.backoff * 2 ** (failures - 1)
        if self.jitter:
            seconds *= 0.5 + self.rand()
        return seconds if self.cap is None else min(seconds, self.cap)

    def retrying(self, transient: Transient, what: str = "request") -> tenacity.Retrying:
        """A tenacity `Retrying` for this policy: use it as a call wrapper or iterate it."""

        def before_sleep(state: tenacity.RetryCallState) -> None:
            # The exception's type only: its text may name a URL, never worth a leak risk.
            exc = state.outcome.exception() if state.outcome else None
            upcoming = state.attempt_number + 1
            log.info("%s failed (%s); attempt %d of %d", what, type(exc).__name__, upcoming, self.attempts)

        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=lambda state: self.wait(state.attempt_number),
            retry=tenacity.retry_if_exception(transient),
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )

    def call(self, fn: Callable[[], T], transient: Transient, what: str = "request") -> T:
        """`fn()`, retried while it raises something `transient`; the last exception raised."""
        return self.retrying(transient, what)(fn)
