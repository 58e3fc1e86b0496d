"""What a team leader asks of a plan: is the contact density kept, and what do the coming
weeks demand against capacity? Pure functions over a Plan.

A case keeps the density when its recurring contact is not overdue. The documents ask for at
least 90 % (Euskirchen 1b/2011, 5. Fachaufsicht). Cases without a contact obligation
(unmatched, or policies without a recurring contact) are not counted.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from kontaktsync.rules.model import ObligationKind, Plan

QUOTA = 0.9


@dataclass
class CounsellorSummary:
    counsellor: str
    cases: int = 0
    with_contact_rule: int = 0
    density_kept: int = 0
    overdue: int = 0
    due_per_week: dict[date, int] = field(default_factory=dict)  # Monday -> obligations due

    @property
    def share_kept(self) -> float | None:
        return self.density_kept / self.with_contact_rule if self.with_contact_rule else None


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def summarize(plan: Plan, weeks: int = 4) -> list[CounsellorSummary]:
    """Per counsellor: density kept, overdue obligations, and what falls due in each of the
    next `weeks` calendar weeks (overdue ones count in the current week: they are due now)."""
    first = monday_of(plan.as_of)
    horizon = [first + timedelta(weeks=i) for i in range(weeks)]
    by: dict[str, CounsellorSummary] = {}

    def get(name: str) -> CounsellorSummary:
        if name not in by:
            by[name] = CounsellorSummary(name, due_per_week=dict.fromkeys(horizon, 0))
        return by[name]

    for facts in plan.cases.values():
        get(facts.counsellor).cases += 1
    overdue_contact: defaultdict[str, set[str]] = defaultdict(set)
    for o in plan.obligations:
        s = get(o.counsellor)
        if o.kind is ObligationKind.CONTACT:
            s.with_contact_rule += 1
            if o.overdue:
                overdue_contact[o.counsellor].add(o.case_id)
        if o.overdue:
            s.overdue += 1
        week = max(monday_of(o.due), first)
        if week in s.due_per_week:
            s.due_per_week[week] += 1
    for name, s in by.items():
        s.density_kept = s.with_contact_rule - len(overdue_contact[name])
    return sorted(by.values(), key=lambda s: s.counsellor)
