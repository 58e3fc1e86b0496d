"""What a sync run did: counts per calendar, errors, kept edits, the dry run's list."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from kontaktsync.sync.core.proposals import Outlook
from kontaktsync.sync.core.reconcile import Action
from kontaktsync.sync.core.survey import CalendarWork
from kontaktsync.sync.item import changed_fields

COUNTERS = ("created", "updated", "completed", "deleted", "failed", "unchanged", "kept_person_edits")


@dataclass(frozen=True)
class DryRunAction:
    calendar: str
    action: str  # create | update | complete | delete | keep
    uid: str
    summary: str
    reason: str = ""
    item_type: str = "task"  # task | marker

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
    proposals: Outlook | None = None  # slot mode: what the placer made of the run
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


def report_dry(works: list[CalendarWork], report: SyncReport) -> None:
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
                        DryRunAction(w.calendar, "keep", a.uid, a.summary, "kept person edit", _type(a))
                    )
                continue
            counter = {"create": "created", "update": "updated", "complete": "completed"}.get(
                a.kind, "deleted"
            )
            report.count(w.calendar, counter)
            report.dry_run_actions.append(
                DryRunAction(w.calendar, a.kind, a.uid, a.summary, a.reason, _type(a))
            )


def _update_changes(a: Action) -> bool:
    """Would this update write anything (the marker, or a managed field outside the kept ones)?"""
    if a.base is None or a.item is None:
        return True
    return a.base.written_hash != a.item.managed_hash or bool(
        changed_fields(a.base.fields, a.item.fields(), a.keep)
    )


def _type(a: Action) -> str:
    """Task or marker appointment: a dry run lists them apart (they share a summary)."""
    if a.item is not None:
        return a.item.item_type
    if a.base is not None:
        return a.base.item_type
    return a.row.item_type if a.row is not None else "task"
