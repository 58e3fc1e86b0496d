"""The in-memory target: the smallest complete implementation of the Target protocol.

It stores iCalendar bytes exactly as the CalDAV target would PUT them, with a version counter
for ETags, so the runner and the reconciler can be exercised (and benchmarked) without a
server, including races a real server rarely shows. Used by tests and benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime

from kontaktsync.sync.item import DesiredItem, namespace_tag
from kontaktsync.sync.targets.base import (
    Busy,
    CalendarMissing,
    Listing,
    ProbeResult,
    RemoteItem,
    RemoteRef,
    Result,
    Write,
    window_error,
)
from kontaktsync.sync.targets.caldav import ical
from kontaktsync.sync.targets.caldav.busy_ical import event_intervals


class MemTarget:
    """Calendars as dicts of uid -> (version, iCalendar bytes); `before_update` lets a test act
    as a person between the runner's read and its write. Busy time is read from the events of
    the calendar itself (a test puts a person's events there with `put`); a calendar named in
    `unreadable` fails to read, with that reason."""

    kind = "memory"
    title, probing = "memory", "read-only"  # for `config check`
    parallel_safe = False

    def __init__(self, namespace: str = "kontaktsync") -> None:
        self.ns_tag = namespace_tag(namespace)
        self.cals: dict[str, dict[str, tuple[int, bytes]]] = {}
        self.unreadable: dict[str, str] = {}
        self.before_update: Callable[[str, str], None] | None = None
        self.writes = 0

    def address(self, calendar: str) -> str:
        return f"mem://{calendar}/"

    def list_ours(self, calendar: str, token: str | None, known: Mapping[str, RemoteRef]) -> Listing:
        if calendar not in self.cals:
            raise CalendarMissing(calendar)
        refs = {u: RemoteRef(u, u, str(v)) for u, (v, _) in self.cals[calendar].items()}
        return Listing(refs, None, full=True)

    def create_calendar(self, calendar: str) -> None:
        self.cals[calendar] = {}

    def fetch(self, calendar: str, refs: Sequence[RemoteRef]) -> dict[str, RemoteItem | Result]:
        out: dict[str, RemoteItem | Result] = {}
        for r in refs:
            if r.uid in self.cals[calendar]:
                v, body = self.cals[calendar][r.uid]
                item = ical.remote_item(RemoteRef(r.uid, r.uid, str(v)), body, self.ns_tag)
                if item is not None:
                    out[r.uid] = item
        return out

    def _store(self, calendar: str, uid: str, body: bytes, written: str | None) -> Result:
        """Store `body`; `written` is the managed hash its marker carries (as the CalDAV target
        reports it: from the item written, without parsing the body again)."""
        v = self.cals[calendar].get(uid, (0, b""))[0] + 1
        self.cals[calendar][uid] = (v, body)
        self.writes += 1
        return Result(uid, True, ref=RemoteRef(uid, uid, str(v)), written_hash=written)

    def create(self, calendar: str, items: Sequence[DesiredItem]) -> Iterator[Result]:
        for item in items:
            if item.uid in self.cals[calendar]:
                yield Result(item.uid, False, ref=RemoteRef(item.uid, item.uid, None), conflict=True)
            else:
                yield self._store(calendar, item.uid, ical.render(item, self.ns_tag), item.managed_hash)

    def update(self, calendar: str, writes: Sequence[Write]) -> Iterator[Result]:
        for w in writes:
            assert w.base is not None
            if self.before_update:
                self.before_update(calendar, w.item.uid)
            if str(self.cals[calendar][w.item.uid][0]) != w.base.ref.version:
                yield Result(w.item.uid, False, ref=w.base.ref, conflict=True)
                continue
            body = ical.merge(w.base.payload, w.item, self.ns_tag, keep=w.keep)
            if body is None:
                yield Result(w.item.uid, True, ref=w.base.ref, unchanged=True)
            else:
                yield self._store(calendar, w.item.uid, body, w.item.managed_hash)

    def complete(self, calendar: str, bases: Sequence[RemoteItem]) -> Iterator[Result]:
        for b in bases:
            done = ical.completion(b.payload)
            if done is None:
                yield Result(b.ref.uid, True, ref=b.ref, unchanged=True)
            else:
                yield self._store(calendar, b.ref.uid, *done)

    def delete(self, calendar: str, refs: Sequence[RemoteRef]) -> Iterator[Result]:
        for r in refs:
            gone = self.cals[calendar].pop(r.uid, None) is None
            yield Result(r.uid, True, ref=r, gone=gone)

    def write_rules(self, calendar: str) -> str | None:
        return None  # versions are compared in memory, always

    def put(self, calendar: str, uid: str, body: bytes) -> None:
        """A person's client stores an object (creating the calendar if need be)."""
        cal = self.cals.setdefault(calendar, {})
        cal[uid] = (cal.get(uid, (0, b""))[0] + 1, body)

    def busy(self, calendar: str, start: datetime, end: datetime) -> Busy:
        source = [f"{self.address(calendar)} (events)"]
        if why := window_error(start, end):
            return Busy.failed(why)
        if calendar in self.unreadable:
            return Busy.failed(self.unreadable[calendar], source)
        if calendar not in self.cals:  # not there yet, as the CalDAV target's own calendar
            return Busy.of([], start, end, source)
        try:
            intervals = [
                i
                for _, body in self.cals[calendar].values()
                for i in event_intervals(body, start, end, self.ns_tag)
            ]
        except ValueError as exc:  # Unusable included: fail closed
            return Busy.failed(f"{calendar}: {exc}", source)
        return Busy.of(intervals, start, end, source)

    def probe(self, calendar: str | None) -> ProbeResult:
        if calendar is None:
            return ProbeResult("(server)", True, f"{len(self.cals)} calendars in memory")
        there = calendar in self.cals
        return ProbeResult(
            calendar, there, "calendar" if there else "no such calendar", self.address(calendar)
        )

    def close(self) -> None:
        pass
