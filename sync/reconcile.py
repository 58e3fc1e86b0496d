"""Desired items vs state vs server -> actions, for one calendar; target-agnostic.

Two steps, because some decisions need the item's current content and fetching costs a
request: `to_fetch` names the items whose content is needed, `decide` turns everything into
`Action`s. Nothing here does I/O.

Rules (calendar.md):
- desired and missing on the server: create it (if the program never wrote it) or leave it
  missing (a person deleted an item the program wrote: their decision stands);
- desired and present, unchanged since the program wrote it: update if the desired content
  changed, else nothing;
- desired and present, changed by someone else (or unknown to the state): read it; keep what a
  person owns (completion of a task; start/end of a moved appointment), write the rest if it
  differs, else only record it ("adopt");
- no longer desired: a task whose obligation a counting contact fulfilled (a contact after the
  cycle's anchor or inside the window) is completed; otherwise, or when the case left the
  caseload (`sync.on_case_left`), it is deleted; marker appointments are deleted; a task a
  person completed is left alone.
Only items carrying the program's marker are ever written or removed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from kontaktsync.rules.model import CaseFacts
from kontaktsync.sync.items import DesiredItem
from kontaktsync.sync.state import ItemRow
from kontaktsync.sync.target import RemoteItem, RemoteRef, Result

ActionKind = Literal["create", "update", "complete", "delete", "adopt", "keep", "forget", "fail"]
WRITES = frozenset({"create", "update", "complete", "delete"})
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    uid: str
    calendar: str
    item: DesiredItem | None = None
    ref: RemoteRef | None = None
    base: RemoteItem | None = None
    keep: frozenset[str] = frozenset()
    row: ItemRow | None = None
    reason: str = ""
    person_edit: bool = False

    @property
    def summary(self) -> str:
        if self.item is not None:
            return self.item.summary
        if self.base is not None:
            return str(self.base.fields.get("summary", self.uid))
        return self.uid


@dataclass
class CalendarInput:
    calendar: str
    desired: Mapping[str, DesiredItem]
    rows: Mapping[str, ItemRow]
    refs: Mapping[str, RemoteRef]
    fetched: Mapping[str, RemoteItem | Result] = field(default_factory=dict)


def same_version(a: str | None, b: str | None) -> bool:
    def norm(v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip()
        if v.startswith("W/"):
            v = v[2:]
        return v.strip('"')

    return a is not None and norm(a) == norm(b)


def _untouched(row: ItemRow | None, ref: RemoteRef | None) -> bool:
    """The server still holds exactly what the program wrote last."""
    return row is not None and ref is not None and same_version(row.version, ref.version)


def to_fetch(inp: CalendarInput) -> list[RemoteRef]:
    """Items whose current content `decide` needs."""
    need: list[RemoteRef] = []
    for uid, ref in inp.refs.items():
        row = inp.rows.get(uid)
        item = inp.desired.get(uid)
        if not _untouched(row, ref):
            if item is not None or row is None or row.status == "open":
                need.append(ref)
            continue
        assert row is not None
        if item is not None:
            if row.status != "open" or row.hash != item.managed_hash:
                need.append(ref)  # base for the merge
        elif row.status == "open" and row.item_type == "task":
            need.append(ref)  # may be completed
    return need


def _fulfilled(kind: str, cycle: str, window_start: str | None, facts: CaseFacts) -> bool:
    """A counting contact after the cycle's anchor (contact) or from the window's start; for the
    care plan, a care plan recorded in the caseload."""
    lower: date | None = None
    if kind == "care_plan":
        return facts.care_plan_created is not None  # the plan was made: the task is done
    if kind == "contact":
        m = _ISO.search(cycle or "")
        if m:
            anchor = date.fromisoformat(m.group(0))
            return any(c > anchor for c in facts.counting_contacts)
    if window_start:
        lower = date.fromisoformat(window_start)
        return any(c >= lower for c in facts.counting_contacts)
    return False


def _identity(row: ItemRow | None, remote: RemoteItem | None, keys: Mapping[str, str]) -> dict:
    if row is not None:
        return {
            "case_id": row.case_id,
            "kind": row.kind,
            "cycle": row.cycle,
            "item_type": row.item_type,
            "window_start": row.window_start,
            "due": row.due,
        }
    assert remote is not None
    m = remote.marker
    return {
        "case_id": keys.get(m.get("c", ""), ""),
        "kind": m.get("k", ""),
        "cycle": m.get("y", ""),
        "item_type": m.get("t", remote.item_type),
        "window_start": m.get("w") or None,
        "due": m.get("d") or None,
    }


def _keep_for(item: DesiredItem, remote: RemoteItem) -> frozenset[str]:
    """What a person owns in this item now."""
    if not remote.edited_by_person:
        return frozenset()
    keep: set[str] = set()
    if item.item_type == "task" and remote.completed:
        keep.add("completion")
    if item.item_type == "marker" and remote.fields.get("start") != ((item.start or item.due).isoformat()):
        keep.add("times")
    return frozenset(keep)


def _decide_desired(inp: CalendarInput, item: DesiredItem) -> Action:
    uid, cal = item.uid, inp.calendar
    row, ref = inp.rows.get(uid), inp.refs.get(uid)
    if ref is None:
        if row is None:
            return Action("create", uid, cal, item=item)
        if row.status == "kept" and row.version is None:
            return Action("keep", uid, cal, item=item, row=row, reason="removed by a person")
        return Action("keep", uid, cal, item=item, row=row, reason="removed by a person", person_edit=True)
    got = inp.fetched.get(uid)
    if _untouched(row, ref) and row is not None and row.status == "open" and row.hash == item.managed_hash:
        return Action("adopt", uid, cal, item=item, ref=ref, row=row, reason="unchanged")
    if got is None:
        return Action("fail", uid, cal, item=item, ref=ref, reason="could not be read")
    if isinstance(got, Result):
        return Action("fail", uid, cal, item=item, ref=ref, reason=got.error or "read failed")
    if not got.ours:
        # Something at our address without our marker: a person's item; never touch it.
        return Action("keep", uid, cal, item=item, ref=ref, row=row, reason="not ours")
    keep = _keep_for(item, got)
    fresh = not _untouched(row, ref)
    person_edit = bool(keep) and fresh
    return Action(
        "update",
        uid,
        cal,
        item=item,
        ref=ref,
        base=got,
        keep=keep,
        row=row,
        person_edit=person_edit,
        reason="changed" if not keep else "kept person edit",
    )


def _decide_gone(
    inp: CalendarInput,
    uid: str,
    cases: Mapping[str, CaseFacts],
    keys: Mapping[str, str],
    on_case_left: str,
) -> Action | None:
    cal = inp.calendar
    row, ref = inp.rows.get(uid), inp.refs.get(uid)
    if ref is None:
        return Action("forget", uid, cal, row=row) if row is not None else None
    got = inp.fetched.get(uid)
    remote = got if isinstance(got, RemoteItem) else None
    if _untouched(row, ref):
        assert row is not None
        if row.status != "open":
            return None
    elif remote is None:
        if row is not None and row.status != "open":
            return None
        return Action("fail", uid, cal, ref=ref, row=row, reason="could not be read")
    if remote is not None:
        if not remote.ours:
            return None
        if remote.completed:
            # Done already, by a person or by an earlier run: record it, never reopen/delete.
            return Action(
                "keep",
                uid,
                cal,
                ref=ref,
                base=remote,
                row=row,
                reason="completed",
                person_edit=row is not None and row.status == "open",
            )
    ident = _identity(row, remote, keys)
    facts = cases.get(ident["case_id"])
    if facts is None:
        if on_case_left == "keep":
            return None
        verb = "complete" if on_case_left == "complete" and ident["item_type"] == "task" else "delete"
        return Action(verb, uid, cal, ref=ref, base=remote, row=row, reason="case left caseload")
    if ident["item_type"] == "task" and _fulfilled(
        ident["kind"], ident["cycle"], ident["window_start"], facts
    ):
        return Action("complete", uid, cal, ref=ref, base=remote, row=row, reason="fulfilled")
    return Action("delete", uid, cal, ref=ref, base=remote, row=row, reason="obligation vanished")


def decide(
    inp: CalendarInput,
    cases: Mapping[str, CaseFacts],
    case_keys: Mapping[str, str],
    on_case_left: str = "delete",
) -> list[Action]:
    """All actions for one calendar; `adopt` with reason "unchanged" means nothing to do."""
    actions: list[Action] = []
    actions.extend(_decide_desired(inp, item) for item in inp.desired.values())
    for uid in sorted((set(inp.rows) | set(inp.refs)) - set(inp.desired)):
        act = _decide_gone(inp, uid, cases, case_keys, on_case_left)
        if act is not None:
            actions.append(act)
    return actions


class MassDeleteRefused(Exception):
    """A run would remove more than the allowed share of a calendar's items."""

    def __init__(self, offenders: dict[str, tuple[int, int]], share: float) -> None:
        self.offenders = offenders
        parts = [f"{cal}: {n} of {total} items ({n / total:.0%})" for cal, (n, total) in offenders.items()]
        super().__init__(
            f"refusing to delete or complete more than {share:.0%} of a calendar's items ("
            + "; ".join(parts)
            + "). Is the caseload export truncated? Run with --allow-mass-delete if this is intended."
        )


def removals(actions: list[Action]) -> int:
    return sum(1 for a in actions if a.kind in ("delete", "complete"))


def open_items(inp: CalendarInput) -> int:
    """Items of ours currently open in the calendar (the base of the mass-delete share)."""
    uids = set(inp.refs)
    return sum(1 for u in uids if (r := inp.rows.get(u)) is None or r.status == "open")


def check_mass_delete(per_calendar: Mapping[str, tuple[int, int]], share: float, minimum: int) -> None:
    """`per_calendar` maps calendar -> (removals, open items). Raises MassDeleteRefused."""
    offenders = {
        cal: (n, total)
        for cal, (n, total) in per_calendar.items()
        if total and n >= minimum and n > share * total
    }
    if offenders:
        raise MassDeleteRefused(offenders, share)
