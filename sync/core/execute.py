"""Carrying out a run's decisions: write item by item, record each outcome in the state at once.

The state is written in a batch (state.StateStore.batch): an outcome that changed the server is
committed as soon as it is recorded, the rest (kept, unchanged, forgotten items, which the next
run decides again without writing) with the next such commit or the calendar's token.

Fault hook for tests: with `KS_FAULT_AFTER_WRITES=k` in the environment the process exits
abruptly (os._exit, no clean-up) right after the k-th write reached the server and before its
state is recorded - the worst moment for a crash.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from kontaktsync.sync.core.reconcile import WRITES, Action, update_action
from kontaktsync.sync.core.report import SyncReport
from kontaktsync.sync.core.state import ItemRow, StateStore
from kontaktsync.sync.core.survey import CalendarWork, map_calendars
from kontaktsync.sync.item import DesiredItem
from kontaktsync.sync.targets.base import RemoteItem, RemoteRef, Result, Target, TargetError, Write

FAULT_ENV = "KS_FAULT_AFTER_WRITES"  # not KONTAKTSYNC_*: those are settings
FAULT_EXIT_CODE = 75


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
        case_id=a.case_id or m.get("c", ""),
        kind=m.get("k", ""),
        item_type=m.get("t", base.item_type if base else "task"),
        cycle=m.get("y", ""),
        window_start=m.get("w") or None,
        due=m.get("d") or None,
        status=status,
    )


def _replace_row(row: ItemRow, ref: RemoteRef | None, hash_: str | None, status: str) -> ItemRow:
    return row._replace(
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

    def _record(self, wrote: bool, change: Callable[..., None], *args: Any) -> None:
        """Record one outcome in the state. When it wrote to the server: the fault hook's moment
        (written, not yet recorded), then the record committed at once."""
        if wrote:
            self.fault.wrote()
        change(*args)
        if wrote:
            self.state.commit()

    def _each(self, results: Iterator[Result]) -> Iterator[Result]:
        for res in results:
            self.tick(1)
            yield res
            if self.stopped():
                return

    def run(self, w: CalendarWork) -> None:
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
                self._record(True, self.state.put, _row(item, res.ref, res.written_hash, "open"))
                self.report.count(cal, "created")
            elif res.conflict:
                conflicts.append(res)
            else:
                self._fail(cal, item.summary, res.error)
        return conflicts

    def _retake(self, w: CalendarWork, conflicts: list[Result]) -> list[Action]:
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
                row = _row(a.item, res.ref, a.item.managed_hash, "open")
                self._record(not res.unchanged, self.state.put, row)
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
                row = _row_for_gone(a, res.ref, res.written_hash, "completed")
                self._record(not res.unchanged, self.state.put, row)
                self.report.count(cal, "unchanged" if res.unchanged else "completed")
            else:
                self._fail(cal, a.summary, res.error or "changed on the server meanwhile")

    def _deletes(self, cal: str, actions: list[Action]) -> None:
        by_uid = {a.uid: a for a in actions}
        refs = [a.ref for a in actions if a.ref is not None]
        for res in self._each(self.tgt.delete(cal, refs)):
            a = by_uid[res.uid]
            if res.ok or res.gone:  # already gone is as good as deleted
                self._record(not res.gone, self.state.drop, res.uid, a.calendar)
                self.report.count(cal, "deleted")
            else:
                self._fail(cal, a.summary, res.error or "changed on the server meanwhile")


def execute_all(
    works: list[CalendarWork],
    state: StateStore,
    tgt: Target,
    report: SyncReport,
    stop: threading.Event | None,
    progress: bool,
    workers: int = 1,
) -> None:
    total = sum(1 for w in works for a in w.actions if a.kind in WRITES)
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

    def one(w: CalendarWork) -> None:
        if ex.stopped():
            return
        ex.run(w)
        if not ex.stopped():
            state.set_token(w.calendar, w.address, w.listing.token, full=w.listing.full)
        state.commit()  # the calendar's token with the rows it stands for

    try:
        with state.batch():
            map_calendars(one, works, workers)
        if ex.stopped():
            report.error("stopped before all calendars were done")
    finally:
        if bar is not None:
            bar.stop()
