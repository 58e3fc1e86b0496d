"""The calendar item as the sync sees it, shared by the sync core and every target.

A `DesiredItem` holds exactly the fields the program manages, already rendered as text and
dates; targets map it to a VTODO/VEVENT (CalDAV) or an Outlook task/appointment (Exchange).
`managed_hash` over those fields is the "normalized content hash": a target computes the same
hash from what it reads back (`hash_fields`), so a change by a person is visible without
comparing serialized bodies. Per field, short hashes of what the program last wrote travel in
the item's marker; `three_way` merges the plan with what a person changed, field by field.

Identity: UIDs are derived from the namespace, the case, the obligation kind, the measure and
the cycle (`make_uid`); with `privacy.pseudonymize` the case shows as a keyed HMAC pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

import orjson
from kontaktsync.sync.config.models import Settings

ItemType = Literal["task", "marker", "proposal"]


UID_PREFIX = "ks"


@dataclass(frozen=True, slots=True)
class DesiredItem:
    """One item the plan wants in one calendar.

    `calendar` is the counsellor id (targets map it to a URL or mailbox). The managed fields
    are summary..status; the rest is bookkeeping for state and reconcile.
    """

    uid: str
    calendar: str
    item_type: ItemType
    case_id: str
    case_key: str
    kind: str
    cycle: str
    measure_key: str | None
    summary: str
    description: str
    categories: tuple[str, ...]
    priority: int | None
    private: bool
    due: date
    start: date | None
    window_start: date | None
    overdue: bool
    status: str = "open"  # "open" | "completed"; a proposal: "tentative" (a person may confirm it)
    extra: Mapping[str, str] = field(default_factory=dict)
    # A proposal (slot mode) is a timed appointment: `start` is then an aware datetime (in the
    # counsellors' zone) and `end` its end; `related` the UID of its obligation's task.
    end: datetime | None = None
    related: str | None = None
    # Hashes computed once per item, on first use (a run reads them several times per item:
    # reconcile, marker, state). Not part of equality; `completed()` makes a fresh item.
    _hash: str | None = field(default=None, init=False, repr=False, compare=False)
    _field_text: str | None = field(default=None, init=False, repr=False, compare=False)

    def fields(self) -> dict[str, Any]:
        """The managed fields, as `hash_fields` expects them (a new dict each call). A proposal
        adds `end`; the others have no such key, so their hashes stay as they were."""
        out = {
            "type": self.item_type,
            "summary": self.summary,
            "description": self.description,
            "categories": list(self.categories),
            "priority": self.priority,
            "private": self.private,
            "due": self.day.isoformat(),
            "start": self.start.isoformat() if self.start else None,
            "status": self.status,
        }
        if self.item_type == "proposal":
            out["end"] = self.end.isoformat() if self.end else None
        return out

    @property
    def day(self) -> date:
        """The due day a client shows: for a marker appointment its start (an overdue contact's
        appointment sits on the run's day, where people look), for a task its due date."""
        if self.item_type == "proposal" and self.start is not None:
            return self.start.date() if isinstance(self.start, datetime) else self.start
        return (self.start or self.due) if self.item_type == "marker" else self.due

    @property
    def managed_hash(self) -> str:
        """`hash_fields(self.fields())`, computed once."""
        if self._hash is None:
            object.__setattr__(self, "_hash", hash_fields(self.fields()))
        return self._hash  # type: ignore[return-value]

    @property
    def field_hash_text(self) -> str:
        """The marker's `f`: `encode_field_hashes(field_hashes(self.fields()))`, computed once
        (kept as text: a dict per item would hold ~80 MB more at 100k items)."""
        if self._field_text is None:
            object.__setattr__(self, "_field_text", encode_field_hashes(field_hashes(self.fields())))
        return self._field_text  # type: ignore[return-value]

    def completed(self) -> DesiredItem:
        """The same item as the program writes it when the obligation was fulfilled."""
        return replace(self, status="completed", priority=None)


def _normalised(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Whitespace at line ends and category order do not count as a change."""
    norm = dict(fields)
    if isinstance(norm.get("description"), str):
        norm["description"] = "\n".join(
            [line.rstrip() for line in norm["description"].replace("\r\n", "\n").strip().split("\n")]
        )
    if isinstance(norm.get("summary"), str):
        norm["summary"] = norm["summary"].strip()
    norm["categories"] = sorted(norm.get("categories") or [])
    return norm


# What the hashes hash: `json.dumps(value, sort_keys=True, ensure_ascii=False,
# separators=(",", ":"))` as UTF-8. orjson writes the very same bytes for what fields hold
# (str, int, bool, None, lists and str-keyed dicts of them: every code point escaped alike,
# tests/test_item_hash_bytes.py), ten times faster; whatever it refuses or would write its own
# way (dates, dataclasses, big ints, lone surrogates) goes to the json module as it always did,
# so a stored hash never changes. Fields hold no floats (orjson writes some differently).
_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
_ORJSON = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def hashed_bytes(value: Any) -> bytes:
    """The bytes `_digest` hashes (see above)."""
    try:
        return orjson.dumps(value, option=_ORJSON)
    except TypeError:  # orjson.JSONEncodeError: the json module decides, as before
        return _JSON.encode(value).encode()


def _digest(value: Any, size: int) -> str:
    return hashlib.sha256(hashed_bytes(value)).hexdigest()[:size]


def hash_fields(fields: Mapping[str, Any]) -> str:
    """Stable hash of managed fields (see `_normalised` for what does not count)."""
    return _digest(_normalised(fields), 32)


# The fields a person can change one by one; the three-way merge works per field. The marker of
# every item records, per field, a short hash of the value the program last wrote, so the base
# of the merge survives a lost state database and is the same for every target.
EDITABLE = ("summary", "description", "categories", "priority", "private", "due", "start", "status")


FIELD_HASH_SIZE = 8


LEGACY_KEEP = ("description", "due", "start", "status")


# Fields whose values repeat across a run's items (a few category sets, priorities, days): their
# short hashes are remembered by value. Summary and description differ from case to case.
_REPEATING = frozenset(("categories", "priority", "private", "due", "start", "status"))


@lru_cache(maxsize=4096)
def _repeating_hash(kind: type, value: Any) -> str:
    """`_digest` of a hashable value; `kind` keeps apart values that compare equal (1, True)."""
    return _digest(list(value) if kind is list else value, FIELD_HASH_SIZE)


def _field_hash(name: str, value: Any) -> str:
    if name in _REPEATING:
        try:
            return _repeating_hash(type(value), tuple(value) if isinstance(value, list) else value)
        except TypeError:  # unhashable (a value read from a server may be anything)
            pass
    return _digest(value, FIELD_HASH_SIZE)


def field_hashes(fields: Mapping[str, Any]) -> dict[str, str]:
    """Per-field short hashes of managed field values. An appointment with an end (a proposal)
    has its times as one field: `start` hashes its start and its end, so that a person who only
    lengthens it owns its times as one who moves it does (they are kept and written together)."""
    norm = _normalised(fields)
    out = {name: _field_hash(name, norm.get(name)) for name in EDITABLE}
    if "end" in norm:
        out["start"] = _digest([norm.get("start"), norm.get("end")], FIELD_HASH_SIZE)
    return out


def made_theirs(
    marker: Mapping[str, str], tentative: bool, times: Callable[[], tuple[str | None, str | None]]
) -> bool:
    """Is an item of ours the counsellor's now? A proposal they confirmed (it is no longer
    `tentative`) or whose times they changed (`times`: its start and end as fields have them,
    asked only then). Busy time reads it so (targets' `busy`): the placer leaves it alone."""
    if not tentative:
        return True
    return marker.get("t") == "proposal" and times_changed(*times(), marker)


def times_changed(start: str | None, end: str | None, marker: Mapping[str, str]) -> bool:
    """Did a person move, lengthen or shorten a proposal since the program wrote it? `start`
    and `end` as its fields have them (ISO); False where the marker holds no field hashes.
    A marker written before the end counted (slot mode's first release) hashes the start
    alone: an unchanged start is unchanged times then."""
    base = decode_field_hashes(marker.get("f"))
    if base is None:
        return False
    times = {"start": start, "end": end}
    return not _as_written("start", _digest([start, end], FIELD_HASH_SIZE), times, base)


def _as_written(name: str, hashed: str, fields: Mapping[str, Any], base: Mapping[str, str]) -> bool:
    """Is field `name` of `fields` (`hashed`: its hash) what `base` says the program wrote? A
    proposal written before its end was hashed with its start (slot mode's first release) has
    the start alone in `base`: a start equal to that is as written (its end unknown)."""
    if hashed == base[name]:
        return True
    return name == "start" and "end" in fields and _field_hash("start", fields["start"]) == base["start"]


def _changed_since(have: Mapping[str, Any], base: Mapping[str, str]) -> frozenset[str]:
    """The managed fields of `have` (read from a server) that differ from `base` (the hashes of
    what the program last wrote)."""
    now = field_hashes(have)
    return frozenset(n for n in EDITABLE if not _as_written(n, now[n], have, base))


def changed_fields(
    have: Mapping[str, Any], want: Mapping[str, Any], keep: frozenset[str] = frozenset()
) -> frozenset[str]:
    """The managed fields whose values differ (as the hashes see them), outside `keep`: the one
    answer to "would writing `want` over `have` change anything a person sees?"."""
    a, b = field_hashes(have), field_hashes(want)
    return frozenset(n for n in EDITABLE if n not in keep and a[n] != b[n])


def encode_field_hashes(hashes: Mapping[str, str]) -> str:
    """Marker form: the hashes in `EDITABLE` order, joined by dots."""
    return ".".join(hashes.get(name, "") for name in EDITABLE)


def decode_field_hashes(raw: str | None) -> dict[str, str] | None:
    """Inverse of `encode_field_hashes`; None when absent or malformed (an item written before
    per-field hashes existed)."""
    if not raw:
        return None
    parts = raw.split(".")
    if len(parts) != len(EDITABLE):
        return None
    return dict(zip(EDITABLE, parts, strict=True))


@dataclass(frozen=True, slots=True)
class Merge:
    """The three-way merge of one item: base = what the program last wrote (the marker's field
    hashes), ours = the plan now, theirs = the item on the server now.

    `keep`: fields a person changed since the program last wrote them; they keep the person's
    value. `moved`: those of them whose plan value moved as well (a conflict the run reports)."""

    keep: frozenset[str] = frozenset()
    moved: frozenset[str] = frozenset()


def three_way(want: Mapping[str, Any], have: Mapping[str, Any], marker: Mapping[str, str]) -> Merge:
    """Which fields of `have` (read from the server) a person owns, against `want` (the plan)."""
    base = decode_field_hashes(marker.get("f"))
    now = field_hashes(have)
    plan = field_hashes(want)
    if base is None:
        # Written by an older version: only the whole-item hash is known. If the item is as the
        # program wrote it, nobody touched it; otherwise the fields a person most likely owns
        # (completion, dates, notes in the description) are kept where they differ from the
        # plan, and the rest follows the plan. From this write on, the marker has field hashes.
        if marker.get("h") == hash_fields(have):
            return Merge()
        return Merge(frozenset(n for n in LEGACY_KEEP if now[n] != plan[n]), frozenset())
    keep = _changed_since(have, base)
    moved = frozenset(n for n in keep if not _as_written(n, plan[n], want, base) and plan[n] != now[n])
    return Merge(keep, moved)


def completion_keeps(have: Mapping[str, Any], marker: Mapping[str, str]) -> frozenset[str]:
    """Fields a person changed in a task the program is about to complete (it leaves them)."""
    base = decode_field_hashes(marker.get("f"))
    if base is None:
        return frozenset()
    return _changed_since(have, base)


def completed_marker(marker: Mapping[str, str], fields: Mapping[str, Any]) -> dict[str, str]:
    """The marker of a task the program just completed: status and priority as now written."""
    out = dict(marker)
    out["h"] = hash_fields(fields)
    base = decode_field_hashes(marker.get("f"))
    if base is not None:
        now = field_hashes(fields)
        base["status"] = now["status"]
        base["priority"] = now["priority"]
        out["f"] = encode_field_hashes(base)
    return out


def changed_by_person(have: Mapping[str, Any], marker: Mapping[str, str]) -> bool:
    """Did anybody change a managed field since the program last wrote this item?"""
    base = decode_field_hashes(marker.get("f"))
    if base is None:
        return marker.get("h") != hash_fields(have)
    return bool(_changed_since(have, base))


def _secret(settings: Settings) -> bytes | None:
    key = settings.privacy.pseudonym_key
    if settings.privacy.pseudonymize and key is not None:
        return key.get_secret_value().encode()
    return None


def case_keyer(settings: Settings) -> Callable[[str], str]:
    """`case_key` with the settings read once, for a run's many cases."""
    secret = _secret(settings)
    if not settings.privacy.pseudonymize:
        return str
    if secret is None:
        raise ValueError("privacy.pseudonymize needs privacy.pseudonym_key")

    def key(case_id: str) -> str:
        return "P" + hmac.new(secret, case_id.encode(), hashlib.sha256).hexdigest()[:10].upper()

    return key


def case_key(case_id: str, settings: Settings) -> str:
    """What an item shows for the case: the customer number, or its keyed pseudonym."""
    return case_keyer(settings)(case_id)


def namespace_tag(namespace: str) -> str:
    """Eight hex digits that keep two deployments' UIDs (and href prefixes) apart."""
    return hashlib.sha256(namespace.encode()).hexdigest()[:8]


def uid_prefix(settings: Settings) -> str:
    return f"{UID_PREFIX}-{namespace_tag(settings.sync.namespace)}-"


UidMaker = Callable[[str, str, "str | None", str, ItemType], str]


def uid_maker(settings: Settings) -> UidMaker:
    """`make_uid` with the settings read once, for a run's many items."""
    namespace, prefix, secret = settings.sync.namespace, uid_prefix(settings), _secret(settings)

    def uid(case_id: str, kind: str, measure_key: str | None, cycle: str, item_type: ItemType) -> str:
        material = "\x1f".join([namespace, case_id, kind, measure_key or "", cycle, item_type]).encode()
        if secret is not None:
            digest = hmac.new(secret, material, hashlib.sha256).hexdigest()
        else:
            digest = hashlib.sha256(material).hexdigest()
        return prefix + digest[:32]

    return uid


def make_uid(
    settings: Settings,
    case_id: str,
    kind: str,
    measure_key: str | None,
    cycle: str,
    item_type: ItemType,
) -> str:
    """Deterministic, href-safe UID per (namespace, case, kind, measure, cycle, item type).

    Keyed with the pseudonym key when pseudonymizing, so a UID cannot be traced back to a
    customer number by trying all numbers.
    """
    return uid_maker(settings)(case_id, kind, measure_key, cycle, item_type)


def marker_end(item: DesiredItem) -> date:
    """All-day marker events end (exclusive) the day after they start."""
    return (item.start or item.due) + timedelta(days=1)


def case_keys(case_ids: Iterable[str], settings: Settings) -> dict[str, str]:
    """case key -> case id, to map a key read from an item back to its case."""
    key = case_keyer(settings)
    return {key(cid): cid for cid in case_ids}


class ReadContent:
    """What an item read back from a server says about itself. Mixed into the dataclasses that
    carry `fields` (normalised content) and `marker` (the program's marker, empty if not ours)."""

    fields: dict[str, Any]
    marker: dict[str, str]

    @property
    def ours(self) -> bool:
        return bool(self.marker)

    @property
    def current_hash(self) -> str:
        return hash_fields(self.fields)

    @property
    def written_hash(self) -> str | None:
        return self.marker.get("h")

    @property
    def edited_by_person(self) -> bool:
        return self.ours and changed_by_person(self.fields, self.marker)

    @property
    def completed(self) -> bool:
        return self.fields.get("status") == "completed"
