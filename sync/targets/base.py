"""The target-agnostic interface between the sync runner and a calendar server.

A target (CalDAV in caldav_target.py, Exchange in exchange_target.py) stores items in one
calendar per counsellor. The runner and the reconciler (reconcile.py) only ever see the
types below; everything server-specific (iCalendar or EWS items, hrefs or item ids, ETags or
change keys, sync-tokens or SyncFolderItems states) stays inside the target.

How to write a target (for the Exchange helper):

- A *calendar* is named by the counsellor id the plan uses. `address(calendar)` is where it
  lives (a URL, a mailbox + folder); the runner stores change tokens per (calendar, address)
  and drops a token when the address changes.
- Items are identified by `DesiredItem.uid` (deterministic, see items.py). The target must
  be able to find an item by that UID without the state database: CalDAV uses href =
  uid + ".ics"; Exchange can keep the UID in an extended property and filter on it. Items
  carry a marker (X-KONTAKTSYNC / an extended property) whose value is
  `ical.marker_value(item, ns_tag)`; only marked items are ever changed or removed.
- `list_ours(calendar, token, known)` returns every marked item of this deployment in the
  calendar as `uid -> RemoteRef(ref, version)`. With a valid `token` a target may ask the
  server for changes only and apply them to `known` (the runner passes what it recorded);
  it returns the new token in `Listing.token`. An expired or refused token means one full
  listing (`Listing.full = True`), never an error. `CalendarMissing` when the calendar does
  not exist; any other failure raises `TargetError` and the runner skips that calendar.
- `fetch(calendar, refs)` reads items and returns `uid -> RemoteItem`; items that are gone
  are simply missing from the answer; an item that failed maps to a `Result` with `error`.
  `RemoteItem.fields` must hold the managed fields the way `DesiredItem.fields()` does, so
  that `items.hash_fields(fields)` compares with `DesiredItem.managed_hash` (the "content
  hash"). `RemoteItem.marker` is the parsed marker value (`ical.Parsed.marker` layout: keys
  v = 1, ns = namespace tag (an item of another deployment is not ours), h = hash written,
  c = case key, k = kind, y = cycle, t = item type, d = due, w = window start,
  m = measure key); empty when the item is not ours.
- `create`, `update`, `complete`, `delete` take a batch and *yield* one `Result` per item as
  soon as it is known (the runner writes state per result, so a crash loses at most the
  item in flight). One failed item never fails the others. Batching is up to the target
  (CalDAV writes one by one, Exchange may send bulk requests and yield after each).
  * create: must not overwrite: if an item with that UID exists, yield `conflict=True`.
  * update(writes): merge `write.item` into `write.base` keeping what the target keeps
    (client-added properties, reminders) and the facets in `write.keep`
    ("completion": status/completed date; "times": start/end of an appointment); only if
    `write.base.ref.version` still matches, else `conflict=True`. If the merge changes
    nothing, yield `unchanged=True` without a request.
  * complete(bases): mark tasks done (status, completion date, 100 %) with the same
    version check; the hash written is that of the completed fields.
  * delete(refs): only if the version still matches (`conflict=True` otherwise); an item
    that is already gone is success (`gone=True`).
  Item ids that change on update are fine: return the new ref in `Result.ref`.
- Retries with back-off for throttling, 5xx, time-outs and dropped connections belong in
  the target; after the last retry the item's `Result.error` says what happened (never
  credentials).
- `close()` releases connections.
- The smallest complete implementation is `MemTarget` in targets/memory.py.
- `parallel_safe = True` (class attribute) lets the runner sync several calendars at once in
  threads (`sync.workers`); without it the runner goes calendar by calendar.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from kontaktsync.sync.core.items import ReadContent

if TYPE_CHECKING:
    from kontaktsync.sync.config.models import Settings
    from kontaktsync.sync.core.items import DesiredItem


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
    marker: dict[str, str]
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


class Target(Protocol):
    kind: str

    def address(self, calendar: str) -> str: ...

    def list_ours(self, calendar: str, token: str | None, known: Mapping[str, RemoteRef]) -> Listing: ...

    def create_calendar(self, calendar: str) -> None: ...

    def fetch(self, calendar: str, refs: Sequence[RemoteRef]) -> dict[str, RemoteItem | Result]: ...

    def create(self, calendar: str, items: Sequence[DesiredItem]) -> Iterator[Result]: ...

    def update(self, calendar: str, writes: Sequence[Write]) -> Iterator[Result]: ...

    def complete(self, calendar: str, bases: Sequence[RemoteItem]) -> Iterator[Result]: ...

    def delete(self, calendar: str, refs: Sequence[RemoteRef]) -> Iterator[Result]: ...

    def close(self) -> None: ...


def make_target(settings: Settings) -> Target:
    """The configured target; imports its module only when it is used."""
    kind = settings.target.kind
    if kind == "caldav":
        from kontaktsync.sync.targets.caldav.target import CalDAVTarget

        return CalDAVTarget(settings)
    if kind == "exchange":
        from kontaktsync.sync.targets.exchange.target import ExchangeTarget

        return ExchangeTarget(settings)  # type: ignore[return-value]
    raise TargetError(f"unknown target kind {kind!r}")
