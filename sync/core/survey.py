"""The survey of a run: group counsellors by calendar address, list each calendar, read what
must be read, and decide (reconcile). No writes, except creating a missing calendar."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kontaktsync.rules.model import Plan
from kontaktsync.sync import item as item_mod
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.core.reconcile import Action, CalendarInput, PlanView, decide, to_fetch
from kontaktsync.sync.core.state import ItemRow, StateStore
from kontaktsync.sync.item import DesiredItem
from kontaktsync.sync.targets.base import CalendarMissing, Listing, RemoteRef, Target, TargetError

if TYPE_CHECKING:
    from kontaktsync.sync.core.report import SyncReport


@dataclass
class CalendarWork:
    calendar: str  # the name the target is called with: one counsellor of this address
    address: str
    listing: Listing
    inp: CalendarInput
    actions: list[Action]


def _plan_view(plan: Plan, settings: Settings) -> PlanView:
    ids = [*plan.cases, *plan.held]
    # Plain ids too: items written before pseudonymisation was switched on carry them.
    keys = {cid: cid for cid in ids} | item_mod.case_keys(ids, settings)
    return PlanView(
        cases=plan.cases,
        case_keys=keys,
        held=frozenset(plan.held),
        held_unknown=plan.held_unknown,
        on_case_left=settings.sync.on_case_left,
        as_of=plan.as_of,
    )


def _by_address(
    names: list[str], tgt: Target, desired: dict[str, dict[str, DesiredItem]], report: SyncReport
) -> dict[str, list[str]]:
    """Group counsellors by the calendar address they map to (a team calendar holds several).

    A counsellor whose address the target refuses (it would leave the configured base) fails
    alone, before any request."""
    groups: dict[str, list[str]] = {}
    for name in names:
        try:
            address = tgt.address(name)
        except TargetError as exc:
            report.error(f"{name}: {exc}")
            report.count(name, "failed", len(desired.get(name, {})))
            continue
        groups.setdefault(address, []).append(name)
    return groups


def _rows_of(
    state: StateStore, members: list[str], want: dict[str, DesiredItem], dry_run: bool
) -> dict[str, ItemRow]:
    """The state rows of every counsellor sharing one calendar, one per UID.

    A case that moved between two counsellors of one team calendar is the same item at the same
    address: its row passes to the counsellor who holds the case now."""
    rows: dict[str, ItemRow] = {}
    for name in members:
        for uid, row in state.items(name).items():
            rows.setdefault(uid, row)
    for uid, row in list(rows.items()):
        item = want.get(uid)
        if item is not None and row.calendar != item.calendar:
            rows[uid] = row._replace(calendar=item.calendar)
            if not dry_run:
                state.drop(uid, row.calendar)
                state.put(rows[uid])
    return rows


def survey(
    settings: Settings,
    plan: Plan,
    desired: dict[str, dict[str, DesiredItem]],
    state: StateStore,
    tgt: Target,
    report: SyncReport,
    dry_run: bool,
) -> list[CalendarWork]:
    """List, read and decide for every calendar address; no writes (except creating calendars)."""
    view = _plan_view(plan, settings)
    names = sorted(set(desired) | state.calendars_with_items())
    groups = _by_address(names, tgt, desired, report)

    def one(address: str) -> CalendarWork | None:
        members = groups[address]
        cal = members[0]
        want = {uid: item for name in members for uid, item in desired.get(name, {}).items()}
        rows = _rows_of(state, members, want, dry_run)
        known = {u: RemoteRef(u, r.ref, r.version) for u, r in rows.items() if r.version}
        try:
            try:
                token = state.token(cal, address, settings.sync.full_listing_hours)
                listing = tgt.list_ours(cal, token, known)
            except CalendarMissing:
                listing = Listing({}, None, full=True)
                if want and not dry_run:
                    tgt.create_calendar(cal)  # the target says if it may not
                    listing = tgt.list_ours(cal, None, {})  # the new calendar's first token
                # A calendar that vanished took its items along; what the state remembers of
                # them is void (else they would count as removed by a person, never rewritten).
                rows = {}
            inp = CalendarInput(cal, want, rows, listing.refs)
            need = to_fetch(inp)
            inp.fetched = tgt.fetch(cal, need) if need else {}
        except TargetError as exc:
            report.error(f"{', '.join(members)}: {exc}")
            report.count(cal, "failed", len(want))
            with report._lock:
                report.unreachable.append(cal)
            return None
        actions = decide(inp, view)
        held = sum(1 for uid, row in rows.items() if uid not in want and view.holds(row.case_id))
        if held:
            with report._lock:
                report.held_items += held
        return CalendarWork(cal, address, listing, inp, actions)

    works = map_calendars(one, sorted(groups), workers(settings, tgt))
    return [w for w in works if w is not None]


def workers(settings: Settings, tgt: Target) -> int:
    return settings.sync.workers if getattr(tgt, "parallel_safe", False) else 1


def map_calendars(fn: Callable[[Any], Any], args: list[Any], workers: int) -> list[Any]:
    """`map` in up to `workers` threads, results in order; the first exception propagates."""
    if workers <= 1 or len(args) <= 1:
        return [fn(a) for a in args]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync") as pool:
        return list(pool.map(fn, args))
