"""Item mapping of the Exchange target: DesiredItem fields <-> EWS item fields.

- Identity: two named extended properties (patches.KontaktsyncUid, patches.KontaktsyncMarker)
  in the PublicStrings property set hold `DesiredItem.uid` (the same deterministic UID the
  CalDAV target uses) and the marker (targets/marker.py). Only items carrying our UID
  (with this deployment's namespace prefix) are listed, and only items whose marker is ours
  (marker.is_ours) count as ours when read.
- A ref is "<folder>:<item id>", folder `TASKS` or `MARKERS` (the calendar folder: all-day
  markers and, in slot mode, proposals).
- A proposal is a timed CalendarItem without attendees (never an invitation), shown as
  Tentative; a person accepts it by setting it to Busy (`FREE_BUSY`). Its start and end are
  read back in the configured zone, so an untouched proposal hashes as it was written.
- Dates: exchangelib sends a task date as midnight UTC; the mailbox time zone goes with every
  request (`TimeZoneContext`), in which Exchange takes the date. For the zones this targets
  (Europe/Berlin, Europe/Vienna: UTC+1/+2) midnight UTC falls on the intended local day.
  Reading back, a task date in UTC form is taken in the mailbox zone (patches.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from exchangelib import EWSDateTime, EWSTimeZone
from exchangelib.ewsdatetime import EWSDate
from exchangelib.items import CalendarItem, Task
from exchangelib.properties import Body
from kontaktsync.sync.item import DesiredItem, hash_fields
from kontaktsync.sync.targets import marker as marker_codec
from kontaktsync.sync.targets.base import RemoteItem, RemoteRef
from kontaktsync.sync.targets.exchange.patches import MARKER_FIELD, UID_FIELD

CHUNK = 100  # items per CreateItem/UpdateItem/DeleteItem/GetItem/FindItem request
SYNC_PAGE = 512  # changes per SyncFolderItems request (the EWS maximum)
REMINDER_TIME = dt.time(8, 0)  # "the morning of the due date", mailbox local time
TASKS, MARKERS = "t", "c"  # ref prefixes: which folder an item id lives in
# A proposal's status <-> its LegacyFreeBusyStatus (any other free/busy: its lower-case name).
FREE_BUSY = {"tentative": "Tentative", "confirmed": "Busy"}
STATUS_OF = {v: k for k, v in FREE_BUSY.items()}

TASK_FIELDS = [
    "subject",
    "body",
    "text_body",
    "categories",
    "importance",
    "sensitivity",
    "due_date",
    "start_date",
    "status",
    "percent_complete",
    "reminder_is_set",
    "reminder_due_by",
    UID_FIELD,
    MARKER_FIELD,
]
LIST_FIELDS = [UID_FIELD]
T = TypeVar("T")


def split_ref(ref: str) -> tuple[str, str]:
    """(folder, item id) of a ref."""
    folder, _, item_id = ref.partition(":")
    return folder, item_id


def chunks(seq: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def by_folder(items: Sequence[DesiredItem]) -> list[tuple[str, list[DesiredItem]]]:
    tasks = [i for i in items if i.item_type == "task"]
    markers = [i for i in items if i.item_type != "task"]
    return [(w, lst) for w, lst in ((TASKS, tasks), (MARKERS, markers)) if lst]


def remote(item: Any, which: str, ns_tag: str, tz: EWSTimeZone) -> RemoteItem:
    """An EWS item as the runner sees it (marker empty unless ours)."""
    uid = getattr(item, UID_FIELD, None) or ""
    written = marker_codec.decode(getattr(item, MARKER_FIELD, None))
    return RemoteItem(
        ref=RemoteRef(uid, f"{which}:{item.id}", item.changekey),
        item_type=type_of(item, written),
        fields=fields_of(item, tz, written),
        marker=marker_codec.ours(written, ns_tag),
        payload=item,
    )


def type_of(item: Any, marker: Mapping[str, str]) -> str:
    """The item type read back: a task, a proposal (a calendar item whose marker says so) or
    a marker."""
    if isinstance(item, Task):
        return "task"
    return "proposal" if marker.get("t") == "proposal" else "marker"


def moment_text(value: Any, tz: EWSTimeZone) -> str | None:
    """A proposal's start or end as `DesiredItem.fields` writes it: ISO with the offset of
    the configured zone (Exchange answers in UTC)."""
    return value.astimezone(tz).isoformat() if isinstance(value, dt.datetime) else None


def fields_of(item: Any, tz: EWSTimeZone, marker: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The managed fields as `DesiredItem.fields()` has them, read from an EWS item
    (`marker`, decoded, tells a proposal from a marker)."""
    text = getattr(item, "text_body", None)
    if text is None:
        text = str(item.body) if item.body is not None else ""
    base = {
        "summary": item.subject or "",
        "description": str(text),
        "categories": list(item.categories or []),
        "priority": 1 if item.importance == "High" else None,
        "private": item.sensitivity == "Private",
    }
    if isinstance(item, Task):
        return {
            "type": "task",
            **base,
            "due": item.due_date.isoformat() if item.due_date else None,
            "start": item.start_date.isoformat() if item.start_date else None,
            "status": "completed" if item.status == Task.COMPLETED else "open",
        }
    if type_of(item, marker or {}) == "proposal":
        start = moment_text(item.start, tz)
        busy = item.legacy_free_busy_status
        return {
            "type": "proposal",
            **base,
            "due": start[:10] if start else None,
            "start": start,
            "status": STATUS_OF.get(busy, (busy or "").lower()),
            "end": moment_text(item.end, tz),
        }
    start = item.start
    if isinstance(start, dt.datetime):
        start = start.astimezone(tz).date()
    day = start.isoformat() if start else None
    return {"type": "marker", **base, "due": day, "start": day, "status": "open"}


def values(
    item: DesiredItem, ns_tag: str, tz: EWSTimeZone, keep: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Field name -> value for an EWS item; `keep` (managed fields a person owns, see
    `items.three_way`) leaves those fields out."""
    values: dict[str, Any] = {
        UID_FIELD: item.uid,
        MARKER_FIELD: marker_codec.encode(item, ns_tag),
    }
    plain = {
        "summary": ("subject", item.summary),
        "description": ("body", Body(item.description)),
        "categories": ("categories", list(item.categories) or None),
        "priority": ("importance", "High" if item.priority else "Normal"),
        "private": ("sensitivity", "Private" if item.private else "Normal"),
    }
    for key, (name, value) in plain.items():
        if key not in keep:
            values[name] = value
    if item.item_type == "task":
        done = item.status == "completed"
        if "due" not in keep:
            values["due_date"] = EWSDate.from_date(item.due)
            values["reminder_due_by"] = EWSDateTime.combine(item.due, REMINDER_TIME).replace(tzinfo=tz)
        if "start" not in keep:
            values["start_date"] = EWSDate.from_date(item.start) if item.start else None
        if "status" not in keep:
            values["status"] = Task.COMPLETED if done else Task.NOT_STARTED
            values["percent_complete"] = Decimal(100) if done else Decimal(0)
            values["reminder_is_set"] = not done
    elif item.item_type == "proposal":
        if not keep & {"start", "due"}:
            values["start"] = EWSDateTime.from_datetime(item.start).astimezone(tz)
            values["end"] = EWSDateTime.from_datetime(item.end).astimezone(tz)
            values["is_all_day"] = False
        if "status" not in keep:
            values["legacy_free_busy_status"] = FREE_BUSY[item.status]
        values["reminder_is_set"] = False
    else:
        day = item.start or item.due
        if not keep & {"start", "due"}:
            values["start"] = EWSDate.from_date(day)
            values["end"] = EWSDate.from_date(day)  # all day: exchangelib adds the day
            values["is_all_day"] = True
        values["legacy_free_busy_status"] = "Free"
        values["reminder_is_set"] = False
    return values


def new_item(acc: Any, folder: Any, item: DesiredItem, ns_tag: str, tz: EWSTimeZone) -> Any:
    cls = Task if item.item_type == "task" else CalendarItem
    return cls(account=acc, folder=folder, **values(item, ns_tag, tz))


def changed(
    base: RemoteItem, item: DesiredItem, values: Mapping[str, Any], keep: frozenset[str]
) -> list[str]:
    """Field names whose value on the server differs from what we would write."""
    mine = item.fields()
    theirs = base.fields
    changed: list[str] = []

    def differs(key: str) -> bool:
        a, b = mine.get(key), theirs.get(key)
        if key == "categories":
            return sorted(a or []) != sorted(b or [])
        if key == "description":
            return hash_fields({"description": a}) != hash_fields({"description": b})
        if key == "summary":
            return (a or "").strip() != (b or "").strip()
        return a != b

    pairs = {
        "subject": "summary",
        "body": "description",
        "categories": "categories",
        "importance": "priority",
        "sensitivity": "private",
    }
    for name, key in pairs.items():
        if key not in keep and differs(key):
            changed.append(name)
    payload = base.payload
    if item.item_type == "task":
        if "due" not in keep and differs("due"):
            changed += ["due_date", "reminder_due_by"]
        if "start" not in keep and differs("start"):
            changed.append("start_date")
        if "status" not in keep and differs("status"):
            changed += ["status", "percent_complete", "reminder_is_set"]
    elif not keep & {"start", "due"} and (differs("start") or differs("end")):
        changed += ["start", "end", "is_all_day"]
    if item.item_type == "proposal" and "status" not in keep and differs("status"):
        changed.append("legacy_free_busy_status")
    if getattr(payload, MARKER_FIELD, None) != values[MARKER_FIELD]:
        changed.append(MARKER_FIELD)
    if getattr(payload, UID_FIELD, None) != values[UID_FIELD]:
        changed.append(UID_FIELD)
    if changed and item.item_type == "marker" and "legacy_free_busy_status" not in changed:
        changed.append("legacy_free_busy_status")
    return list(dict.fromkeys(changed))


def shell(base: RemoteItem, values: Mapping[str, Any], fields: list[str], tz: EWSTimeZone) -> Any:
    """An item object carrying the base's id and change key and only the new values."""
    payload = base.payload
    cls = type(payload)
    _, item_id = split_ref(base.ref.ref)
    shell = cls(account=payload.account, id=item_id, changekey=base.ref.version)
    if isinstance(payload, CalendarItem):
        # exchangelib needs the time zones to write all-day start/end.
        shell._start_timezone = payload._start_timezone or tz
        shell._end_timezone = payload._end_timezone or tz
        shell.is_all_day = payload.is_all_day
        shell.start, shell.end = payload.start, payload.end
    for name in fields:
        setattr(shell, name, values.get(name))
    return shell
