"""One sync run: caseload -> plan -> desired items -> reconcile -> writes -> state.

`run_sync` is the entry point shared by the CLI, the service loop and the demo. Per calendar
address it lists the server (one request when nothing changed), reads only the items it must
look at and decides (survey.py, reconcile.py), checks the mass-delete guard for all calendars
before writing anything, then writes item by item and records each outcome in the state
database at once (execute.py). A failed item is reported and left for the next run; it never
stops the others.
"""

from __future__ import annotations

import gc
import threading
import uuid
from contextlib import nullcontext
from datetime import UTC, date, datetime

from kontaktsync.rules import heap
from kontaktsync.rules.model import Plan
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.core import items as items_mod
from kontaktsync.sync.core.execute import FAULT_ENV, FAULT_EXIT_CODE, execute_all
from kontaktsync.sync.core.lock import LockHeld, SyncLock
from kontaktsync.sync.core.planning import make_plan, policy_for
from kontaktsync.sync.core.proposals import Outlook, proposals
from kontaktsync.sync.core.reconcile import MassDeleteRefused, check_mass_delete, open_items, removals
from kontaktsync.sync.core.report import DryRunAction, SyncReport, report_dry
from kontaktsync.sync.core.state import StateStore
from kontaktsync.sync.core.survey import survey, workers
from kontaktsync.sync.targets.base import Target, make_target

__all__ = [
    "FAULT_ENV",
    "FAULT_EXIT_CODE",
    "DryRunAction",
    "LockHeld",
    "MassDeleteRefused",
    "SyncReport",
    "run_sync",
]


class _RunObjects:
    """Keeps the cyclic garbage collector off what a run builds before it writes.

    Desired items, state rows, listings and decisions (~10 objects per item) live until the run
    ends and hold no reference cycles, yet every collection would walk them again: a quarter of
    an unchanged cycle at 100k items. The collector is paused while they are built; `done()`
    freezes them and resumes it for the writes, whose short-lived objects it may have to collect
    (rules/heap.py); the end of the run thaws them."""

    def __enter__(self) -> _RunObjects:
        self.was_enabled = heap.pause()
        self.frozen = False
        return self

    def done(self) -> None:
        heap.freeze(self.was_enabled)
        self.frozen = True

    def __exit__(self, *exc: object) -> None:
        if self.frozen:
            gc.unfreeze()
        else:
            heap.resume(self.was_enabled)


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
        plan = make_plan(settings, as_of)
    report.errors.extend(str(e) for e in plan.errors)
    report.obligations_due = len(plan.obligations)
    report.obligations_overdue = sum(1 for o in plan.obligations if o.overdue)
    with _RunObjects() as built:
        return _run(settings, plan, report, built, dry_run, allow_mass_delete, stop, progress, target)


def _run(
    settings: Settings,
    plan: Plan,
    report: SyncReport,
    built: _RunObjects,
    dry_run: bool,
    allow_mass_delete: bool,
    stop: threading.Event | None,
    progress: bool,
    target: Target | None,
) -> SyncReport:
    desired = items_mod.desired_items(plan, settings)
    state_path = settings.sync.state_path
    lock = nullcontext() if dry_run else SyncLock(state_path)
    with lock:
        state = StateStore(state_path if (not dry_run or state_path.exists()) else None)
        own_target = target is None
        tgt = target or make_target(settings)
        try:
            if settings.items.appointments == "slot":
                report.proposals = Outlook()
                policy = policy_for(plan, settings)
                for cal, items in proposals(
                    plan, settings, policy, desired, tgt, report.proposals, report.errors
                ).items():
                    desired.setdefault(cal, {}).update(items)
            works = survey(settings, plan, desired, state, tgt, report, dry_run)
            built.done()
            n_workers = workers(settings, tgt)
            if not allow_mass_delete:
                check_mass_delete(
                    {w.calendar: (removals(w.actions), open_items(w.inp)) for w in works},
                    settings.sync.mass_delete_share,
                    settings.sync.mass_delete_min,
                )
            if dry_run:
                report_dry(works, report)
            else:
                execute_all(works, state, tgt, report, stop, progress, n_workers)
        finally:
            report.requests = getattr(tgt, "requests", 0)
            if own_target:
                tgt.close()
            state.close()
    report.finished = datetime.now(UTC)
    return report
