"""How many items one request may ask for: learned from ErrorExceededFindCountLimit.

Exchange's throttling policy (EWSFindCountLimit) caps the items a FindItem page or a
SyncFolderItems batch may ask for, and says so only by refusing the request. The listing
and the lookup before creating then halve their size until the server accepts it. What
was accepted after a refusal is kept per server and service account for the process, a day
at most (the way caldav/guard.py keeps what a server honours): every later mailbox, call and
run of a daemon starts from it instead of being refused again from the full size, and a
policy changed under a running daemon is learned afresh by the next day.

One lock guards it: calendars may be worked on in several threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass

KEEP_SECONDS = 24 * 3600


@dataclass
class _Learned:
    since: float  # time.monotonic() of the first refusal
    refused: int  # the smallest size refused
    accepted: int | None = None  # the largest size accepted below it


_LEARNED: dict[Hashable, _Learned] = {}
_LOCK = threading.Lock()


def forget_limits() -> None:
    """Drop what was learned (tests; a new process)."""
    with _LOCK:
        _LEARNED.clear()


def _current(key: Hashable) -> _Learned | None:
    known = _LEARNED.get(key)
    if known is not None and time.monotonic() - known.since > KEEP_SECONDS:
        del _LEARNED[key]
        return None
    return known


def size(key: Hashable, wanted: int) -> int:
    """The size to ask for first: `wanted`, or the largest size accepted below a refused one
    (at least half the refused size: a small request that was accepted says little)."""
    with _LOCK:
        known = _current(key)
        if known is None:
            return wanted
        return min(wanted, max(known.accepted or 0, known.refused // 2, 1))


def refused(key: Hashable, asked: int) -> None:
    """The server refused `asked` items in one request (ErrorExceededFindCountLimit)."""
    with _LOCK:
        known = _current(key)
        if known is None:
            _LEARNED[key] = _Learned(time.monotonic(), asked)
            return
        known.refused = min(known.refused, asked)
        if known.accepted is not None and known.accepted >= known.refused:
            known.accepted = None  # the policy was lowered: learn it again


def accepted(key: Hashable, asked: int) -> None:
    """The server answered a request for `asked` items (kept only below a refused size)."""
    with _LOCK:
        known = _current(key)
        if known is not None and asked < known.refused:
            known.accepted = max(known.accepted or 0, asked)
