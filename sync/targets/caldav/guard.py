"""The writes' safety net on servers that ignore conditional requests (see preconditions.py).

Per server, what it honours is learned at the first write into it (a probe item) and kept for
the process, a day at most: the daemon's runs do not write and remove a probe item in a
counsellor's calendar every time, and a server changed under a running daemon is probed again
by the next day. Where a condition is ignored, `check` reads the batch's current ETags in one
REPORT right before the writes and turns every item that is there already (create), changed or
gone (update, delete) into the Result to report instead of writing it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal
from urllib.parse import urljoin

from kontaktsync.sync.targets.base import RemoteRef, Result, TargetError
from kontaktsync.sync.targets.caldav.preconditions import Preconditions, learn
from kontaktsync.sync.targets.caldav.session import DavSession
from kontaktsync.sync.targets.caldav.webdav import ETAGS_HEAD, multistatus, origin, path
from kontaktsync.sync.targets.learned import Learned

# What each server (scheme://host:port) honours: for the process, a day at most.
_LEARNED: Learned[Preconditions] = Learned()
forget_preconditions = _LEARNED.forget  # tests; a server known to have changed


class WriteGuard:
    def __init__(self, http: DavSession, address: Callable[[str], str], prefix: str) -> None:
        self.http, self.address, self.prefix = http, address, prefix

    def preconditions(self, calendar: str) -> Preconditions:
        """What the calendar's server honours, learned at the first write into it within a day
        (preconditions.py); the calendar must exist."""
        return _LEARNED.get_or_learn(
            origin(self.address(calendar)),
            lambda: learn(self.http, self.address(calendar), self.prefix),
            keep=lambda rules: not rules.note,  # a probe that could not tell is asked again next run
        )

    def current_etags(self, calendar: str, refs: Sequence[RemoteRef]) -> dict[str, str | None]:
        """uid -> the ETag the server has now (None: not there), one REPORT per batch; raises
        TargetError when it cannot be read."""
        url = self.address(calendar)
        by_path = {path(urljoin(url, r.ref)): r.uid for r in refs}
        out: dict[str, str | None] = dict.fromkeys(by_path.values())
        for _, got in self.http.multiget(url, list(by_path), ETAGS_HEAD):
            if isinstance(got, TargetError):
                raise TargetError(f"cannot read the current ETags in {path(url)}: {got}")
            for href, status, props in multistatus(got.raw):
                uid = by_path.get(path(urljoin(url, href)))
                if uid is not None and status < 300:
                    out[uid] = props.get("getetag") or ""
        return out

    def check(
        self, calendar: str, refs: Sequence[RemoteRef], rule: Literal["create", "update", "delete"]
    ) -> Callable[[RemoteRef], Result | None]:
        """For a batch about to be written: a check per item that returns the Result to report
        instead of writing it, or None to write. Where the server honours the condition of
        `rule`, nothing is checked (the condition does it); where it does not, the current
        ETags are read in one request first: a create meets an item that is there, an update
        or delete one that changed or went since it was read. No refs: not even the probe."""
        rules = self.preconditions(calendar) if refs else None
        if rules is None or getattr(rules, rule):
            return lambda ref: None
        try:
            now = self.current_etags(calendar, refs)
        except TargetError as exc:
            why = f"not written: the server ignores conditional writes, and the check before it failed: {exc}"
            return lambda ref: Result(ref.uid, False, ref=ref, error=why)

        def check(ref: RemoteRef) -> Result | None:
            current = now.get(ref.uid)
            if rule == "create":
                return (
                    None
                    if current is None
                    else Result(ref.uid, False, ref=RemoteRef(ref.uid, ref.ref, current), conflict=True)
                )
            if current is None:
                return Result(ref.uid, False, ref=ref, gone=True, error="gone")
            if ref.version and current != ref.version:
                return Result(ref.uid, False, ref=RemoteRef(ref.uid, ref.ref, current), conflict=True)
            return None

        return check
