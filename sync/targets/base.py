"""The target-agnostic interface between the sync runner and a calendar server.

A target stores items in one calendar per counsellor. The runner and the reconciler
(core/reconcile.py) only ever see the types below; everything server-specific (iCalendar or
EWS items, hrefs or item ids, ETags or change keys, sync-tokens or SyncFolderItems states)
stays inside the target. The rules a target must keep are in the docstrings of `Target`'s
methods; the smallest complete implementation is `MemTarget` in targets/memory.py. Targets
share the marker codec (marker.py), the retry policy (retry.py) and transport safety
(transport.py); registry.py names the class of each `target.kind`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from kontaktsync.sync.item import ReadContent
from kontaktsync.sync.targets import registry

if TYPE_CHECKING:
    from kontaktsync.sync.config.models import Settings
    from kontaktsync.sync.item import DesiredItem


class TargetError(Exception):
    """A calendar or the server failed as a whole (the runner skips the calendar)."""


class CalendarMissing(TargetError):
    """The calendar does not exist (and was not created)."""


class AuthError(TargetError):
    """The server refused the credentials (message never contains them)."""


@dataclass(frozen=True, slots=True)
class RemoteRef:
    uid: str
    ref: str  # href (CalDAV) or item id (Exchange)
    version: str | None  # ETag or change key


@dataclass(frozen=True, slots=True)
class Listing:
    refs: dict[str, RemoteRef]
    token: str | None = None
    full: bool = True


@dataclass(frozen=True)
class RemoteItem(ReadContent):
    ref: RemoteRef
    item_type: str  # "task" | "marker" | "other"
    fields: dict[str, Any]
    marker: dict[str, str]  # marker.decode layout; empty when not ours (marker.is_ours)
    payload: Any = None  # target-specific: iCalendar bytes, an exchangelib item, ...


@dataclass(frozen=True)
class Write:
    item: DesiredItem
    base: RemoteItem | None = None
    keep: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Result:
    uid: str
    ok: bool
    ref: RemoteRef | None = None
    conflict: bool = False
    gone: bool = False
    unchanged: bool = False
    written_hash: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What `kontaktsync config check` prints for one calendar: `label: ok|FAILED — detail`,
    then `  <address>` when there is one. Never holds credentials."""

    label: str
    ok: bool
    detail: str
    address: str = ""
    exists: bool = True  # False: not there yet (the first sync creates it)


@dataclass(frozen=True, slots=True, order=True)
class Interval:
    """A busy stretch of time, `start < end`, both timezone-aware. `own_uid` is the UID of the
    item when it carries this deployment's marker (our own proposals and markers, which the
    placer treats separately), else None."""

    start: datetime
    end: datetime
    own_uid: str | None = None
    # For our own items: is it the counsellor's now (a proposal a person confirmed, moved,
    # lengthened or shortened: theirs from then on, never moved by the program)?
    confirmed: bool = False


# All-day and floating events are placed in the counsellor's zone after the server chose them by
# its own: busy time is asked for a day more on both sides, then clipped (`Busy.of`).
BUSY_MARGIN = timedelta(days=1)


@dataclass(frozen=True)
class Busy:
    """A counsellor's busy time in a window, as `Target.busy` reads it.

    `intervals`: sorted by start; those of other people's items (`own_uid` None) merged where
    they overlap or touch, our own items one interval each. `sources`: what was read (paths
    and how, never credentials). `error`: why busy time could not be read; then `intervals` is
    empty and means nothing (fail closed: never take an unreadable calendar for free time).
    """

    intervals: tuple[Interval, ...] = ()
    sources: tuple[str, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def others(self) -> tuple[Interval, ...]:
        """Busy time from items this deployment did not write."""
        return tuple(i for i in self.intervals if i.own_uid is None)

    @property
    def own(self) -> tuple[Interval, ...]:
        """Items carrying this deployment's marker, one interval each."""
        return tuple(i for i in self.intervals if i.own_uid is not None)

    @classmethod
    def failed(cls, error: str, sources: Iterable[str] = ()) -> Busy:
        return cls((), tuple(sources), error)

    @classmethod
    def of(
        cls, intervals: Iterable[Interval], start: datetime, end: datetime, sources: Iterable[str]
    ) -> Busy:
        """Intervals clipped to [start, end), empty ones dropped, other people's merged."""
        clipped = [
            Interval(max(i.start, start), min(i.end, end), i.own_uid, i.confirmed)
            for i in intervals
            if i.start < end and i.end > start
        ]
        merged: list[Interval] = []
        for i in sorted(x for x in clipped if x.own_uid is None):
            if merged and i.start <= merged[-1].end:
                last = merged[-1]
                merged[-1] = Interval(last.start, max(last.end, i.end))
            else:
                merged.append(i)
        own = {(i.start, i.end, i.own_uid): i for i in clipped if i.own_uid is not None}
        return cls(tuple(sorted([*merged, *own.values()], key=_order)), tuple(sources))


def window_error(start: datetime, end: datetime) -> str | None:
    """Why [start, end) is not a window `Target.busy` can read, or None."""
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        return "busy time needs a window of timezone-aware start < end"
    return None


def _order(i: Interval) -> tuple[datetime, datetime, str]:
    return (i.start, i.end, i.own_uid or "")


class Target(Protocol):
    """A calendar server. `parallel_safe = True` (class attribute) lets the runner sync
    several calendars at once in threads (`sync.workers`); without it the runner goes
    calendar by calendar.

    Shared rules: retries with back-off for throttling, 5xx, time-outs and dropped
    connections belong in the target (retry.RetryPolicy); after the last retry the item's
    `Result.error` says what happened, never with credentials. Only items whose marker is
    ours (marker.is_ours) are ever changed or removed."""

    kind: str
    title: str  # the kind as people write it ("CalDAV"), for `config check`
    probing: str  # what `probe` does ("read-only PROPFIND"), for `config check`

    def address(self, calendar: str) -> str:
        """Where the calendar (named by the counsellor id the plan uses) lives: a URL, a
        mailbox + folder. The runner stores change tokens per (calendar, address) and drops
        a token when the address changes."""
        ...

    def list_ours(self, calendar: str, token: str | None, known: Mapping[str, RemoteRef]) -> Listing:
        """Every item of this deployment in the calendar as `uid -> RemoteRef(ref, version)`.

        Items are identified by `DesiredItem.uid` (deterministic, see core/items.py) and
        must be found by it without the state database (CalDAV: href = uid + ".ics";
        Exchange: the UID in an extended property). With a valid `token` the target may ask
        for changes only and apply them to `known` (what the runner recorded); the new token
        goes into `Listing.token`. An expired or refused token means one full listing
        (`Listing.full = True`), never an error. `CalendarMissing` when the calendar does
        not exist; any other failure raises `TargetError` and the runner skips the calendar.
        """
        ...

    def create_calendar(self, calendar: str) -> None:
        """Make the calendar (or check that it can be reached, where it exists by itself)."""
        ...

    def fetch(self, calendar: str, refs: Sequence[RemoteRef]) -> dict[str, RemoteItem | Result]:
        """Read items: `uid -> RemoteItem`; items that are gone are missing from the answer,
        an item that failed maps to a `Result` with `error`. `RemoteItem.fields` holds the
        managed fields as `DesiredItem.fields()` does, so that `items.hash_fields(fields)`
        compares with `DesiredItem.managed_hash`; `RemoteItem.marker` is the decoded marker
        (marker.py), empty when the item is not ours."""
        ...

    def create(self, calendar: str, items: Sequence[DesiredItem]) -> Iterator[Result]:
        """Create items, never overwriting: an item with that UID exists -> `conflict=True`.

        Like update, complete and delete: takes a batch and *yields* one `Result` per item as
        soon as it is known (the runner writes state per result, so a crash loses at most
        the item in flight); one failed item never fails the others; batching is up to the
        target (CalDAV writes one by one, Exchange sends bulk requests and yields after
        each). Item ids that change on a write are fine: the new ref goes in `Result.ref`.
        """
        ...

    def update(self, calendar: str, writes: Sequence[Write]) -> Iterator[Result]:
        """Merge `write.item` into `write.base`, keeping what the target keeps (client-added
        properties, reminders) and the facets in `write.keep` ("completion": status and
        completed date; "times": start/end of an appointment); only if
        `write.base.ref.version` still matches, else `conflict=True`. A merge that changes
        nothing yields `unchanged=True` without a request."""
        ...

    def complete(self, calendar: str, bases: Sequence[RemoteItem]) -> Iterator[Result]:
        """Mark tasks done (status, completion date, 100 %) with the same version check as
        update; the hash written is that of the completed fields."""
        ...

    def delete(self, calendar: str, refs: Sequence[RemoteRef]) -> Iterator[Result]:
        """Delete only if the version still matches (`conflict=True` otherwise); an item
        that is already gone is success (`gone=True`)."""
        ...

    def probe(self, calendar: str | None) -> ProbeResult:
        """Read-only check for `config check`: can the calendar be reached, and is it fit?
        `None`: no counsellor is known, check the server itself. Quick: short waits only,
        never a write."""
        ...

    def write_rules(self, calendar: str) -> str | None:
        """For `config check`: which conditional writes the server honours, where the target
        depends on the server for that (CalDAV: learned by writing and removing one probe item
        in the existing `calendar`); None where the target needs no such check."""
        ...

    def busy(self, calendar: str, start: datetime, end: datetime) -> Busy:
        """The counsellor's busy time in [start, end) (aware datetimes): from the calendars the
        configuration names for their busy time and from the program's own calendar (items
        with our marker come back with `own_uid`). All-day and floating events are busy from
        midnight to midnight in the zone of `start` (the caller's: the policy's time zone).
        Never raises: any failure of any source gives `Busy.failed(...)` (fail closed), with the
        reason and no credentials. Not busy: transparent ("free") and cancelled items."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def make_target(settings: Settings) -> Target:
    """The configured target (registry.py); imports its module only when it is used."""
    kind = settings.target.kind
    try:
        cls = registry.target_class(kind)
    except KeyError:
        raise TargetError(f"unknown target kind {kind!r} (known: {', '.join(registry.kinds())})") from None
    target: Target = cls(settings)
    return target
