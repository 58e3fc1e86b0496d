"""DesiredItem <-> iCalendar (VTODO for tasks, VEVENT for marker appointments).

Three operations, all on bytes so the CalDAV target can PUT what it gets:

- `render` builds a new object for an item;
- `merge` writes an item's managed properties into an existing object (read from the server),
  keeping every property and VALARM a client added, and returns None when nothing changed, so
  SEQUENCE, DTSTAMP and LAST-MODIFIED are never bumped for a no-op;
- `complete` marks a task done (STATUS, COMPLETED and PERCENT-COMPLETE:100 together).

Every object the program writes carries `X-KONTAKTSYNC`, whose value is the marker
(targets/marker.py: namespace tag, hashes as written, identity of the obligation).
`parse` reads it back, so a lost state database can be
rebuilt from the server and a person's edit shows up as "managed hash now != hash written".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache
from typing import Any

import icalendar
from icalendar.timezone import tzp
from kontaktsync.sync.item import DesiredItem, ReadContent, completed_marker, completion_keeps, marker_end
from kontaktsync.sync.targets import marker as marker_codec
from kontaktsync.sync.targets.base import RemoteItem, RemoteRef
from kontaktsync.sync.targets.caldav import folding

folding.install()  # the same folded lines, faster (folding.py)

MARKER = "X-KONTAKTSYNC"
PRODID = "-//kontaktsync//kontaktsync 0.1//DE"
# Properties the program owns; everything else in a component belongs to whoever added it.
MANAGED = (
    "SUMMARY",
    "DESCRIPTION",
    "CATEGORIES",
    "PRIORITY",
    "CLASS",
    "DUE",
    "DTSTART",
    "DTEND",
    "DURATION",
    "TRANSP",
    "STATUS",
    "COMPLETED",
    "PERCENT-COMPLETE",
)
COMPLETION = ("STATUS", "COMPLETED", "PERCENT-COMPLETE")
TIMES = ("DTSTART", "DTEND", "DURATION")
# Managed field (items.EDITABLE) -> the properties that carry it.
_FIELD_PROPS = {
    "summary": ("SUMMARY",),
    "description": ("DESCRIPTION",),
    "categories": ("CATEGORIES",),
    "priority": ("PRIORITY",),
    "private": ("CLASS",),
    "status": COMPLETION,
}


def props_of(fields: frozenset[str] | set[str], item_type: str) -> set[str]:
    """The properties that carry these managed fields in a task or a marker appointment."""
    props: set[str] = set()
    for name in fields:
        if name in ("due", "start"):
            props.update(({"due": ("DUE",), "start": ("DTSTART",)}[name]) if item_type == "task" else TIMES)
        else:
            props.update(_FIELD_PROPS.get(name, ()))
    return props


@dataclass(frozen=True)
class Parsed(ReadContent):
    """One calendar object as read from a server."""

    uid: str
    item_type: str  # "task" | "marker" | "other"
    fields: dict[str, Any]
    marker: dict[str, str]  # empty when the object is not ours


def _component(cal: icalendar.Calendar) -> icalendar.cal.Component | None:
    for comp in cal.subcomponents:
        if comp.name in ("VTODO", "VEVENT") and "RECURRENCE-ID" not in comp:
            return comp
    return None


# Typed values built once and shared by every object rendered (icalendar serialises them
# without changing them): `Component.add` infers a property's type from the Python value on
# every call, which was most of the time `render` took apart from serialising. Dates and
# date-times are set as `vDate`/`vDatetime`, which `vDDDTypes` (what `add` makes) would build
# again on every serialisation.
_PRODID = icalendar.vText(PRODID)
_VERSION = icalendar.vText("2.0")
_SEQUENCE_0 = icalendar.vInt(0)
_PERCENT_100 = icalendar.vInt(100)
_CLASS = {True: icalendar.vText("PRIVATE"), False: icalendar.vText("PUBLIC")}
_WORDS = {
    word: icalendar.vText(word)
    for word in ("NEEDS-ACTION", "COMPLETED", "OPAQUE", "TRANSPARENT", "TENTATIVE", "CONFIRMED")
}


@lru_cache(maxsize=4096)
def _day_value(day: date) -> icalendar.vDate:
    """A DATE value, with `VALUE=DATE` as `vDDDTypes` writes it; a run has a few hundred
    distinct days."""
    return icalendar.vDate(day, {"VALUE": "DATE"})


@lru_cache(maxsize=256)
def _categories_value(categories: tuple[str, ...]) -> icalendar.vCategory:
    return icalendar.vCategory(list(categories))


@lru_cache(maxsize=16)
def _priority_value(priority: int) -> icalendar.vInt:
    return icalendar.vInt(priority)


@lru_cache(maxsize=8)
def _stamp_values(now: datetime, zone: tzinfo | None) -> tuple[icalendar.vDatetime, icalendar.vDatetime]:
    """DTSTAMP/CREATED/LAST-MODIFIED (in UTC, as `Component.add` converts them) and COMPLETED
    (as given) for one second of a run. `zone` is part of the key: equal instants in two zones
    are equal datetimes, but COMPLETED is written in the zone given."""
    return icalendar.vDatetime(tzp.localize_utc(now)), icalendar.vDatetime(now)


def _word(text: str) -> icalendar.vText:
    return _WORDS.get(text) or icalendar.vText(text)


def _managed(item: DesiredItem) -> dict[str, Any]:
    """The managed properties of an item as typed icalendar values (and RELATED-TO, the task
    of a proposal's obligation)."""
    props: dict[str, Any] = {
        "SUMMARY": icalendar.vText(item.summary),
        "DESCRIPTION": icalendar.vText(item.description),
        "CATEGORIES": _categories_value(item.categories),
        "CLASS": _CLASS[bool(item.private)],
    }
    if item.priority:
        props["PRIORITY"] = _priority_value(item.priority)
    if item.item_type == "task":
        props["DUE"] = _day_value(item.due)
        if item.start:
            props["DTSTART"] = _day_value(item.start)
        if item.status == "completed":
            props["STATUS"] = _WORDS["COMPLETED"]
            props["PERCENT-COMPLETE"] = _PERCENT_100
        else:
            props["STATUS"] = _WORDS["NEEDS-ACTION"]
    elif item.item_type == "proposal":
        # A proposed talk: timed, tentative, busy, private; a person may confirm or move it.
        props["DTSTART"] = icalendar.vDatetime(item.start)
        props["DTEND"] = icalendar.vDatetime(item.end)
        props["STATUS"] = _word(item.status.upper())
        props["TRANSP"] = _WORDS["OPAQUE"]
    else:
        props["DTSTART"] = _day_value(item.start or item.due)
        props["DTEND"] = _day_value(marker_end(item))
        props["TRANSP"] = _WORDS["TRANSPARENT"]
    if item.related:
        props["RELATED-TO"] = icalendar.vText(item.related)  # the obligation's task
    return props


def _set_managed(comp: icalendar.cal.Component, item: DesiredItem, keep: set[str]) -> None:
    """Replace the managed properties of `comp` by the item's, except the kept ones."""
    for name in MANAGED:
        if name not in keep:
            comp.pop(name, None)
    add = _managed(item)
    if "RELATED-TO" in comp:  # not managed: written with the object, never replaced
        add.pop("RELATED-TO", None)
    for name, value in add.items():
        if name not in keep:
            comp.add(name, value)


def _new_calendar() -> icalendar.Calendar:
    return icalendar.Calendar({"PRODID": _PRODID, "VERSION": _VERSION})


@lru_cache(maxsize=8)
def _timezone(tzid: str) -> icalendar.Timezone | None:
    """The VTIMEZONE `Calendar.add_missing_timezones` makes for a TZID (icalendar asks its
    callers to cache it: building one takes milliseconds); None for an unknown TZID."""
    try:
        return icalendar.Timezone.from_tzid(tzid)
    except ValueError:
        return None


def _add_missing_timezones(cal: icalendar.Calendar) -> None:
    """`cal.add_missing_timezones()` with the VTIMEZONEs built once per TZID (RFC 5545 3.2.19)."""
    at = len(cal.timezones)
    for tzid in cal.get_missing_tzids():
        timezone = _timezone(tzid)
        if timezone is not None:
            cal.subcomponents.insert(at, timezone)
            at += 1


def render(item: DesiredItem, ns_tag: str, now: datetime | None = None) -> bytes:
    """A new object for an item, with every property set as a typed value (see `_managed`)."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    stamp, completed = _stamp_values(now, now.tzinfo)
    props: dict[str, Any] = {
        "UID": icalendar.vText(item.uid),
        "DTSTAMP": stamp,
        "CREATED": stamp,
        "LAST-MODIFIED": stamp,
        "SEQUENCE": _SEQUENCE_0,
        **_managed(item),
    }
    if item.status == "completed":
        props["COMPLETED"] = completed
    props[MARKER] = icalendar.vUnknown(marker_codec.encode(item, ns_tag))
    cal = _new_calendar()
    cal.add_component((icalendar.Todo if item.item_type == "task" else icalendar.Event)(props))
    if item.item_type == "proposal":
        _add_missing_timezones(cal)
    return cal.to_ical()


def probe(uid: str) -> str:
    """The short-lived task the CalDAV target writes and removes to learn the server's
    preconditions (targets/caldav/preconditions.py). No marker: never taken for an item."""
    cal = _new_calendar()
    comp = icalendar.Todo()
    comp.add("UID", uid)
    comp.add("DTSTAMP", datetime.now(UTC).replace(microsecond=0))
    comp.add("SUMMARY", "kontaktsync: Prüfung des Servers (wird sofort wieder gelöscht)")
    comp.add("CLASS", "PRIVATE")
    cal.add_component(comp)
    return cal.to_ical().decode("utf-8")


def with_uid(body: bytes, uid: str) -> bytes:
    """The same object under another UID (see CalDAVTarget.create: a UID the account holds
    in another calendar)."""
    cal = icalendar.Calendar.from_ical(body)
    for comp in cal.subcomponents:
        if comp.name in ("VTODO", "VEVENT"):
            comp["UID"] = icalendar.vText(uid)
    return cal.to_ical()


def parse(body: bytes | str) -> Parsed | None:
    """Read one object; None when it holds no VTODO/VEVENT."""
    try:
        cal = icalendar.Calendar.from_ical(body)
    except ValueError:
        return None
    comp = _component(cal)
    if comp is None:
        return None
    marker = marker_of(comp)
    return Parsed(
        uid=str(comp.get("UID", "")),
        item_type=_type_of(comp, marker),
        fields=fields_of(comp, marker),
        marker=marker,
    )


def remote_item(ref: RemoteRef, body: bytes | str, ns_tag: str) -> RemoteItem | None:
    """An object read from a calendar as the runner sees it: its marker only when it is this
    deployment's (marker.ours); None when it holds no VTODO/VEVENT."""
    parsed = parse(body)
    if parsed is None:
        return None
    marker = marker_codec.ours(parsed.marker, ns_tag)
    return RemoteItem(ref, parsed.item_type, parsed.fields, marker, body)


def marker_of(comp: icalendar.cal.Component) -> dict[str, str]:
    raw = comp.get(MARKER)
    if raw is None:
        return {}
    if isinstance(raw, list):
        raw = raw[0]
    return marker_codec.decode(str(raw))


def _type_of(comp: icalendar.cal.Component, marker: dict[str, str] | None = None) -> str:
    """task, proposal or marker; `marker` is the component's, when the caller has read it."""
    if comp.name == "VTODO":
        return "task"
    if marker is None:
        marker = marker_of(comp)
    return "proposal" if marker.get("t") == "proposal" else "marker"


def _moment(value: Any) -> str | None:
    """A proposal's DTSTART/DTEND as `DesiredItem.fields` writes it (ISO with offset)."""
    if value is None:
        return None
    dt = value.dt
    return dt.isoformat() if isinstance(dt, datetime) else dt.isoformat() if isinstance(dt, date) else None


def _day(value: Any) -> str | None:
    if value is None:
        return None
    dt = value.dt
    if isinstance(dt, datetime):
        dt = dt.date()
    return dt.isoformat() if isinstance(dt, date) else None


def _categories(comp: icalendar.cal.Component) -> list[str]:
    raw = comp.get("CATEGORIES")
    if raw is None:
        return []
    props = raw if isinstance(raw, list) else [raw]
    out: list[str] = []
    for prop in props:
        out.extend(str(c) for c in getattr(prop, "cats", [prop]))
    return out


def fields_of(comp: icalendar.cal.Component, marker: dict[str, str] | None = None) -> dict[str, Any]:
    """The managed fields as `DesiredItem.fields` has them, read from a component (whose
    marker the caller may pass, when it has read it: it tells a proposal from a marker)."""
    kind = _type_of(comp, marker)
    is_task = kind == "task"
    priority = comp.get("PRIORITY")
    status = str(comp.get("STATUS", "")).upper()
    done = status in ("COMPLETED", "CANCELLED") or (is_task and "COMPLETED" in comp)
    start = _day(comp.get("DTSTART"))
    out = {
        "type": kind,
        "summary": str(comp.get("SUMMARY", "")),
        "description": str(comp.get("DESCRIPTION", "")),
        "categories": _categories(comp),
        "priority": int(priority) if priority not in (None, "", 0, "0") else None,
        "private": str(comp.get("CLASS", "")).upper() == "PRIVATE",
        "due": _day(comp.get("DUE")) if is_task else start,
        "start": start,
        "status": "completed" if (is_task and done) else "open",
    }
    if kind == "proposal":
        out["start"] = _moment(comp.get("DTSTART"))
        end = comp.get("DTEND")
        if end is None and comp.get("DTSTART") is not None and comp.get("DURATION") is not None:
            out["end"] = (comp["DTSTART"].dt + comp["DURATION"].dt).isoformat()
        else:
            out["end"] = _moment(end)
        out["status"] = status.lower() or "tentative"
    return out


def merge(
    existing: bytes | str,
    item: DesiredItem,
    ns_tag: str,
    *,
    keep: set[str] | frozenset[str] = frozenset(),
    now: datetime | None = None,
) -> bytes | None:
    """Write `item` into an existing object; None when the result would equal `existing`.

    `keep` names the managed fields a person owns now (`items.three_way`): their properties
    stay as they are. Client-added properties and VALARMs are untouched. SEQUENCE and DTSTAMP
    move only on a real change.
    """
    cal = icalendar.Calendar.from_ical(existing)
    comp = _component(cal)
    if comp is None:
        return None
    before_marker = marker_of(comp)
    before = fields_of(comp, before_marker)
    kept_fields = set(keep)
    keep = props_of(kept_fields, item.item_type)
    _set_managed(comp, item, keep)
    if item.item_type == "task" and item.status == "completed" and "status" not in kept_fields:
        completed_at = (now or datetime.now(UTC)).replace(microsecond=0)
        comp.add("COMPLETED", completed_at)
    after = fields_of(comp, before_marker)  # the marker is replaced below, its type kept
    # The hash written is what the program would write; kept person fields make the current
    # hash differ from it, which is how the next run knows to keep keeping them.
    new_marker = marker_codec.encode(item, ns_tag)
    if after == before and marker_codec.decode(new_marker) == before_marker:
        return None
    comp.pop(MARKER, None)
    comp.add(MARKER, new_marker)
    _bump(comp, now)
    return cal.to_ical()


def completion(existing: bytes | str, now: datetime | None = None) -> tuple[bytes, str] | None:
    """Mark a task done because its obligation was fulfilled: the new object and the managed
    hash its marker now records (what `parse` would read back, without parsing it again);
    None if it already is done.

    Sets STATUS, COMPLETED and PERCENT-COMPLETE:100 together, drops the overdue PRIORITY (unless
    a person set it) and records the completed fields' hashes in the marker (identity pairs stay
    as they were).
    """
    cal = icalendar.Calendar.from_ical(existing)
    comp = _component(cal)
    if comp is None or comp.name != "VTODO":
        return None
    if fields_of(comp)["status"] == "completed":
        return None
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    marker = marker_of(comp)
    for name in COMPLETION:
        comp.pop(name, None)
    if "priority" not in completion_keeps(fields_of(comp), marker):
        comp.pop("PRIORITY", None)
    comp.add("STATUS", "COMPLETED")
    comp.add("COMPLETED", now)
    comp.add("PERCENT-COMPLETE", 100)
    marker = completed_marker(marker, fields_of(comp))
    comp.pop(MARKER, None)
    comp.add(MARKER, marker_codec.encode_pairs(marker))
    _bump(comp, now)
    return cal.to_ical(), marker["h"]


def _bump(comp: icalendar.cal.Component, now: datetime | None) -> None:
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    seq = int(comp.get("SEQUENCE", 0) or 0)
    for name in ("SEQUENCE", "DTSTAMP", "LAST-MODIFIED"):
        comp.pop(name, None)
    comp.add("SEQUENCE", seq + 1)
    comp.add("DTSTAMP", now)
    comp.add("LAST-MODIFIED", now)
