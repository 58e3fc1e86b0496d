"""How many items one request may ask for: learned from ErrorExceededFindCountLimit.

Exchange's throttling policy (EWSFindCountLimit) caps the items a FindItem page or a
SyncFolderItems batch may ask for, and says so only by refusing the request. The listing
and the lookup before creating then halve their size until the server accepts it. What
was accepted after a refusal is kept per server and service account for the process, a day
at most (targets/learned.py, as caldav/guard.py keeps what a server honours): every later
mailbox, call and run of a daemon starts from it instead of being refused again from the full
size, and a policy changed under a running daemon is learned afresh by the next day.

The store's lock guards each read and change: calendars may be worked on in several threads.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from kontaktsync.sync.targets.learned import Learned


@dataclass
class _Limit:
    refused: int  # the smallest size refused
    accepted: int | None = None  # the largest size accepted below it


_LEARNED: Learned[_Limit] = Learned()  # by server and service account, a day at most
forget_limits = _LEARNED.forget  # tests; a new process


def size(key: Hashable, wanted: int) -> int:
    """The size to ask for first: `wanted`, or the largest size accepted below a refused one
    (at least half the refused size: a small request that was accepted says little)."""
    with _LEARNED.lock:
        known = _LEARNED.get(key)
        if known is None:
            return wanted
        return min(wanted, max(known.accepted or 0, known.refused // 2, 1))


def refused(key: Hashable, asked: int) -> None:
    """The server refused `asked` items in one request (ErrorExceededFindCountLimit)."""
    with _LEARNED.lock:
        known = _LEARNED.get(key)
        if known is None:
            _LEARNED.put(key, _Limit(asked))
            return
        known.refused = min(known.refused, asked)
        if known.accepted is not None and known.accepted >= known.refused:
            known.accepted = None  # the policy was lowered: learn it again


def accepted(key: Hashable, asked: int) -> None:
    """The server answered a request for `asked` items (kept only below a refused size)."""
    with _LEARNED.lock:
        known = _LEARNED.get(key)
        if known is not None and asked < known.refused:
            known.accepted = max(known.accepted or 0, asked)
