"""One sync run: caseload -> plan -> desired items -> reconcile -> writes -> state.

`run_sync` is the entry point shared by the CLI, the service loop and the demo. Per
calendar it lists the server (one request when nothing changed), reads only the items it
must look at, decides (reconcile.py), checks the mass-delete guard for all calendars before
writing anything, then writes item by item and records each outcome in the state database
at once. A failed item is reported and left for the next run; it never stops the others.

Fault hook for tests: with `KS_FAULT_AFTER_WRITES=k` in the environment the
process exits abruptly (os._exit, no clean-up) right after the k-th write reached the
server and before its state is recorded - the worst moment for a crash.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from kontaktsync.rules.model import Plan
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.core import items as items_mod
from kontaktsync.sync.core.items import DesiredItem
from kontaktsync.sync.core.lock import LockHeld, SyncLock
from kontaktsync.sync.core.reconcile import (
    Action,
    CalendarInput,
    MassDeleteRefused,
    PlanView,
    check_mass_delete,
    decide,
    open_items,
    removals,
    to_fetch,
    update_action,
)
from kontaktsync.sync.core.state import ItemRow, StateStore
from kontaktsync.sync.targets.base import (
    CalendarMissing,
    Listing,
    RemoteItem,
    RemoteRef,
    Result,
    Target,
    TargetError,
    Write,
    make_target,
)

__all__ = ["DryRunAction", "LockHeld", "MassDeleteRefused", "SyncReport", "run_sync"]

FAULT_ENV = "KS_FAULT_AFTER_WRITES"  # not KONTAKTSYNC_*: those are settings
FAULT_EXIT_CODE = 75
COUNTERS = ("created", "updated", "completed", "deleted", "failed", "unchanged", "kept_person_edits")


@dataclass(frozen=True)
class DryRunAction:
    calendar: str
    action: str  # create | update | complete | delete | keep
    uid: str
    summary: str
    reason: str = ""

    def __str__(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return f"{self.calendar}: {self.action} {self.summary}{why}"


@dataclass
class SyncReport:
    run_id: str
    started: datetime
    finished: datetime | None = None
    created: int = 0
    updated: int = 0
    completed: int = 0
    deleted: int = 0
    failed: int = 0
    unchanged: int = 0
    kept_person_edits: int = 0
    per_calendar: dict[str, dict[str, int]] = field(default_factory=dict)
    obligations_due: int = 0
    obligations_overdue: int = 0
    errors: list[str] = field(default_factory=list)
    dry_run_actions: list[DryRunAction] = field(default_factory=list)
    requests: int = 0
    dry_run: bool = False
    unreachable: list[str] = field(default_factory=list)
    kept_edits: list[str] = field(default_factory=list)
    held_items: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, calendar: str, what: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + n)
            cal = self.per_calendar.setdefault(calendar, dict.fromkeys(COUNTERS, 0))
            cal[what] += n

    def error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)

    def kept_edit(self, calendar: str, a: Action) -> None:
        """Report a field the plan moved whose person's value was kept."""
        if a.moved:
            with self._lock:
                self.kept_edits.append(
                    f"{calendar}: {a.summary}: kept the counsellor's {', '.join(sorted(a.moved))} "
                    "although the plan changed it"
                )

    @property
    def writes(self) -> int:
        return self.created + self.updated + self.completed + self.deleted

    @property
    def outcome(self) -> str:
        """`failed` when a calendar could not be reached or no item at all could be written or
        confirmed (an outage, refused credentials), `partial` when some items failed, else
        `success`."""
        if self.unreachable or (self.failed and not self.writes and not self.unchanged):
            return "failed"
        return "partial" if self.failed else "success"


@dataclass
class _CalendarWork:
    calendar: str  # the name the target is called with: one counsellor of this address
    address: str
    listing: Listing
    inp: CalendarInput
    actions: list[Action]


class _FaultHook:
    def __init__(self) -> None:
        raw = os.environ.get(FAULT_ENV, "").strip()
        self.after = int(raw) if raw.isdigit() else None
        self.writes = 0
        self._lock = threading.Lock()

    def wrote(self) -> None:
        with self._lock:
            self.writes += 1
            crash = self.after is not None and self.writes >= self.after
        if crash:
            sys.stdout.flush()
            os._exit(FAULT_EXIT_CODE)


def _make_plan(settings: Settings, as_of: date | None) -> Plan:
    from kontaktsync.sync.core.planning import make_plan

    return make_plan(settings, as_of)


def run_sync(
    settings: Settings,
    *,
    dry_run: bool = False,
    allow_mass_delete: bool = False,
    stop: threading.Event | None = None,
    progress: bool = False,
    as_of: date | None = None,
    plan: Plan | None = None,
    target: Target | None = None,
) -> SyncReport:
    """Run one sync (see module doc). `plan`/`target` can be given to bypass make_plan/make_target.

    Raises LockHeld, MassDeleteRefused, and kontaktsync.sync.caseload.SourceError.
    """
    report = SyncReport(run_id=uuid.uuid4().hex[:12], started=datetime.now(UTC), dry_run=dry_run)
    if plan is None:
        plan = _make_plan(settings, as_of)
    report.errors.extend(str(e) for e in plan.errors)
    report.obligations_due = len(plan.obligations)
    report.obligations_overdue = sum(1 for o in plan.obligations if o.overdue)
    if settings.items.appointments == "slot":
        report.errors.append("items.appointments = slot is not implemented yet; wrote markers")
    desired = items_mod.desired_items(plan, settings)

    state_path = settings.sync.state_path
    lock = nullcontext() if dry_run else SyncLock(state_path)
    with lock:
        state = StateStore(state_path if (not dry_run or state_path.exists()) else None)
        own_target = target is None
        tgt = target or make_target(settings)
        try:
            works = _survey(settings, plan, desired, state, tgt, report, dry_run)
            workers = _workers(settings, tgt)
            if not allow_mass_delete:
                check_mass_delete(
                    {w.calendar: (removals(w.actions), open_items(w.inp)) for w in works},
                    settings.sync.mass_delete_share,
                    settings.sync.mass_delete_min,
                )
            if dry_run:
                _report_dry(works, report)
            else:
                _execute_all(works, state, tgt, report, stop, progress, workers)
        finally:
            report.requests = getattr(tgt, "requests", 0)
            if own_target:
                tgt.close()
            state.close()
    report.finished = datetime.now(UTC)
    return report


def _plan_view(plan: Plan, settings: Settings) -> PlanView:
    ids = [*plan.cases, *plan.held]
    # Plain ids too: items written before pseudonymisation was switched on carry them.
    keys = {cid: cid for cid in ids} | items_mod.case_keys(ids, settings)
    return PlanView(
        cases=plan.cases,
        case_keys=keys,
        held=frozenset(plan.held),
        held_unknown=plan.held_unknown,
        on_case_left=settings.sync.on_case_left,
        as_of=plan.as_of,
    )


def _held(row: ItemRow, view: PlanView) -> bool:
    """The item's case row is in error this run, so its items stay as they are."""
    return row.case_id in view.held or (view.held_unknown and row.case_id not in view.cases)


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
            rows[uid] = replace(row, calendar=item.calendar)
            if not dry_run:
                state.drop(uid, row.calendar)
                state.put(rows[uid])
    return rows


def _survey(
    settings: Settings,
    plan: Plan,
    desired: dict[str, dict[str, DesiredItem]],
    state: StateStore,
    tgt: Target,
    report: SyncReport,
    dry_run: bool,
) -> list[_CalendarWork]:
    """List, read and decide for every calendar address; no writes (except creating calendars)."""
    view = _plan_view(plan, settings)
    names = sorted(set(desired) | state.calendars_with_items())
    groups = _by_address(names, tgt, desired, report)
    create_ok = settings.target.caldav.create_calendars if settings.target.caldav else True

    def survey(address: str) -> _CalendarWork | None:
        members = groups[address]
        cal = members[0]
        want = {uid: item for name in members for uid, item in desired.get(name, {}).items()}
        rows = _rows_of(state, members, want, dry_run)
        known = {u: RemoteRef(u, r.ref, r.version) for u, r in rows.items() if r.version}
        try:
            try:
                listing = tgt.list_ours(cal, state.token(cal, address), known)
            except CalendarMissing:
                if want and not dry_run:
                    if not create_ok:
                        raise
                    tgt.create_calendar(cal)
                listing = Listing({}, None, full=True)
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
        held = sum(1 for uid, row in rows.items() if uid not in want and _held(row, view))
        if held:
            with report._lock:
                report.held_items += held
        return _CalendarWork(cal, address, listing, inp, actions)

    works = _map(survey, sorted(groups), _workers(settings, tgt))
    return [w for w in works if w is not None]


def _workers(settings: Settings, tgt: Target) -> int:
    return settings.sync.workers if getattr(tgt, "parallel_safe", False) else 1


def _map(fn: Callable[[Any], Any], args: list[Any], workers: int) -> list[Any]:
    """`map` in up to `workers` threads, results in order; the first exception propagates."""
    if workers <= 1 or len(args) <= 1:
        return [fn(a) for a in args]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync") as pool:
        return list(pool.map(fn, args))


def _report_dry(works: list[_CalendarWork], report: SyncReport) -> None:
    for w in works:
        for a in w.actions:
            if a.kind == "adopt":
                report.count(w.calendar, "unchanged")
                continue
            if a.kind == "fail":
                report.count(w.calendar, "failed")
                report.errors.append(f"{w.calendar}: {a.summary}: {a.reason}")
                continue
            if a.kind == "forget":
                continue
            if a.person_edit:
                report.count(w.calendar, "kept_person_edits")
            if a.kind == "keep" or (a.kind == "update" and not _update_changes(a)):
                if a.kind == "update":
                    report.count(w.calendar, "unchanged")
                if a.person_edit:
                    report.dry_run_actions.append(
                        DryRunAction(w.calendar, "keep", a.uid, a.summary, "kept person edit")
                    )
                continue
            counter = {"create": "created", "update": "updated", "complete": "completed"}.get(
                a.kind, "deleted"
            )
            report.count(w.calendar, counter)
            report.dry_run_actions.append(DryRunAction(w.calendar, a.kind, a.uid, a.summary, a.reason))


def _update_changes(a: Action) -> bool:
    """Would this update write anything? Compares the managed fields outside the kept ones."""
    if a.base is None or a.item is None:
        return True
    if a.base.written_hash != a.item.managed_hash:
        return True
    have, want = dict(a.base.fields), a.item.fields()
    for name in a.keep:
        have.pop(name, None)
        want.pop(name, None)
    return have != want


# --- execution --------------------------------------------------------------------------


def _row(item: DesiredItem, ref: RemoteRef | None, hash_: str | None, status: str) -> ItemRow:
    return ItemRow(
        uid=item.uid,
        calendar=item.calendar,
        ref=ref.ref if ref else "",
        version=ref.version if ref else None,
        hash=hash_ or item.managed_hash,
        case_id=item.case_id,
        kind=item.kind,
        item_type=item.item_type,
        cycle=item.cycle,
        window_start=item.window_start.isoformat() if item.window_start else None,
        due=item.due.isoformat(),
        status=status,
    )


def _row_for_gone(a: Action, ref: RemoteRef | None, hash_: str | None, status: str) -> ItemRow:
    """State row for an item no longer desired (from the old row, else from its marker)."""
    if a.row is not None:
        return _replace_row(a.row, ref, hash_, status)
    base = a.base
    m = base.marker if base else {}
    return ItemRow(
        uid=a.uid,
        calendar=a.calendar,
        ref=ref.ref if ref else (a.ref.ref if a.ref else ""),
        version=ref.version if ref else None,
        hash=hash_ or (base.written_hash if base else "") or "",
        case_id=m.get("c", ""),
        kind=m.get("k", ""),
        item_type=m.get("t", base.item_type if base else "task"),
        cycle=m.get("y", ""),
        window_start=m.get("w") or None,
        due=m.get("d") or None,
        status=status,
    )


def _replace_row(row: ItemRow, ref: RemoteRef | None, hash_: str | None, status: str) -> ItemRow:
    return replace(
        row,
        ref=ref.ref if ref else row.ref,
        version=ref.version if ref else None,
        hash=hash_ or row.hash,
        status=status,
    )


class _Executor:
    def __init__(
        self,
        state: StateStore,
        tgt: Target,
        report: SyncReport,
        stop: threading.Event | None,
        tick: Callable[[int], None],
    ) -> None:
        self.state, self.tgt, self.report, self.stop, self.tick = state, tgt, report, stop, tick
        self.fault = _FaultHook()

    def stopped(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def _fail(self, cal: str, what: str, why: str | None) -> None:
        self.report.count(cal, "failed")
        self.report.error(f"{cal}: {what}: {why or 'failed'}")

    def _each(self, results: Iterator[Result]) -> Iterator[Result]:
        for res in results:
            self.tick(1)
            yield res
            if self.stopped():
                return

    def run(self, w: _CalendarWork) -> None:
        cal = w.calendar
        by_kind: dict[str, list[Action]] = {}
        for a in w.actions:
            by_kind.setdefault(a.kind, []).append(a)
        self.report.count(cal, "unchanged", len(by_kind.get("adopt", [])))
        for a in by_kind.get("fail", []):
            self._fail(cal, a.summary, a.reason)
        for a in by_kind.get("forget", []):
            self.state.drop(a.uid, a.calendar)
        for a in by_kind.get("keep", []):
            self._keep(a)
        retake = self._creates(cal, [a.item for a in by_kind.get("create", []) if a.item])
        if self.stopped():
            return
        updates = by_kind.get("update", []) + self._retake(w, retake)
        self._updates(cal, updates, second_chance=True)
        if self.stopped():
            return
        self._completes(cal, by_kind.get("complete", []))
        if self.stopped():
            return
        self._deletes(cal, by_kind.get("delete", []))

    def _keep(self, a: Action) -> None:
        ref = a.ref
        if a.item is not None:
            status = "kept" if ref is None else "open"
            self.state.put(_row(a.item, ref, a.row.hash if a.row else None, status))
        else:
            self.state.put(_row_for_gone(a, ref, None, "completed"))
        if a.person_edit:
            self.report.count(a.calendar, "kept_person_edits")

    def _creates(self, cal: str, todo: list[DesiredItem]) -> list[Result]:
        by_uid = {i.uid: i for i in todo}
        conflicts = []
        for res in self._each(self.tgt.create(cal, todo)):
            item = by_uid[res.uid]
            if res.ok:
                self.fault.wrote()
                self.state.put(_row(item, res.ref, res.written_hash, "open"))
                self.report.count(cal, "created")
            elif res.conflict:
                conflicts.append(res)
            else:
                self._fail(cal, item.summary, res.error)
        return conflicts

    def _retake(self, w: _CalendarWork, conflicts: list[Result]) -> list[Action]:
        """A create met an existing item (an earlier run crashed after writing it): take over."""
        if not conflicts:
            return []
        refs = [c.ref or RemoteRef(c.uid, "", None) for c in conflicts]
        try:
            got = self.tgt.fetch(w.calendar, refs)
        except TargetError as exc:
            got = {r.uid: Result(r.uid, False, error=str(exc)) for r in refs}
        actions = []
        for ref in refs:
            item = w.inp.desired[ref.uid]
            remote = got.get(ref.uid)
            if not isinstance(remote, RemoteItem) or not remote.ours:
                why = remote.error if isinstance(remote, Result) else "exists, not ours"
                self._fail(w.calendar, item.summary, f"exists but cannot be taken over: {why}")
                continue
            actions.append(update_action(item, remote, fresh=True, reason="taken over"))
        return actions

    def _updates(self, cal: str, actions: list[Action], *, second_chance: bool) -> None:
        by_uid = {a.uid: a for a in actions}
        writes = [Write(a.item, a.base, a.keep) for a in actions if a.item and a.base]
        conflicts: list[Action] = []
        for res in self._each(self.tgt.update(cal, writes)):
            a = by_uid[res.uid]
            assert a.item is not None
            if res.ok:
                if not res.unchanged:
                    self.fault.wrote()
                self.state.put(_row(a.item, res.ref, a.item.managed_hash, "open"))
                self.report.count(cal, "unchanged" if res.unchanged else "updated")
                if a.person_edit:
                    self.report.count(cal, "kept_person_edits")
                self.report.kept_edit(cal, a)
            elif res.conflict and second_chance:
                conflicts.append(a)
            else:
                self._fail(cal, a.item.summary, res.error or "changed on the server meanwhile")
        if conflicts:
            # Someone changed the item between our read and our write: read again and
            # re-decide once, keeping what they changed.
            refs = [RemoteRef(a.uid, a.base.ref.ref if a.base else "", None) for a in conflicts]
            got = self.tgt.fetch(cal, refs)
            again = []
            for a in conflicts:
                remote = got.get(a.uid)
                assert a.item is not None
                if isinstance(remote, RemoteItem) and remote.ours:
                    again.append(update_action(a.item, remote, fresh=True, reason="taken over"))
                else:
                    self._fail(cal, a.item.summary, "changed on the server meanwhile")
            self._updates(cal, again, second_chance=False)

    def _completes(self, cal: str, actions: list[Action]) -> None:
        need = [a.ref for a in actions if a.base is None and a.ref is not None]
        got = self.tgt.fetch(cal, need) if need else {}
        bases: list[RemoteItem] = []
        by_uid = {}
        for a in actions:
            base = a.base or got.get(a.uid)
            if isinstance(base, RemoteItem):
                bases.append(base)
                by_uid[a.uid] = a
            else:
                self._fail(cal, a.summary, "could not be read to complete it")
        for res in self._each(self.tgt.complete(cal, bases)):
            a = by_uid[res.uid]
            if res.ok:
                if not res.unchanged:
                    self.fault.wrote()
                self.state.put(_row_for_gone(a, res.ref, res.written_hash, "completed"))
                self.report.count(cal, "unchanged" if res.unchanged else "completed")
            else:
                self._fail(cal, a.summary, res.error or "changed on the server meanwhile")

    def _deletes(self, cal: str, actions: list[Action]) -> None:
        by_uid = {a.uid: a for a in actions}
        refs = [a.ref for a in actions if a.ref is not None]
        for res in self._each(self.tgt.delete(cal, refs)):
            a = by_uid[res.uid]
            if res.ok or res.gone:  # already gone is as good as deleted
                if not res.gone:
                    self.fault.wrote()
                self.state.drop(res.uid, a.calendar)
                self.report.count(cal, "deleted")
            else:
                self._fail(cal, a.summary, res.error or "changed on the server meanwhile")


def _execute_all(
    works: list[_CalendarWork],
    state: StateStore,
    tgt: Target,
    report: SyncReport,
    stop: threading.Event | None,
    progress: bool,
    workers: int = 1,
) -> None:
    total = sum(1 for w in works for a in w.actions if a.kind in ("create", "update", "complete", "delete"))
    bar: Any = None
    if progress and total and sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import Progress

        bar = Progress(console=Console(stderr=True), transient=True)
        bar.start()
        task = bar.add_task("sync", total=total)

        def tick(n: int) -> None:
            bar.advance(task, n)
    else:

        def tick(n: int) -> None:
            return None

    ex = _Executor(state, tgt, report, stop, tick)

    def one(w: _CalendarWork) -> None:
        if ex.stopped():
            return
        ex.run(w)
        if not ex.stopped():
            state.set_token(w.calendar, w.address, w.listing.token)

    try:
        _map(one, works, workers)
        if ex.stopped():
            report.error("stopped before all calendars were done")
    finally:
        if bar is not None:
            bar.stop()
