"""The team leader's numbers, from a plan: density kept, overdue by age, the coming weeks' load.

Aggregated per team (the caseload's `team` column) by default. A breakdown per named counsellor
is a performance record of an employee, which German staff councils must agree to (§ 75 BPersVG,
§ 87 BetrVG): it is computed only when asked for (`per_counsellor=True`), and nothing else here
carries a counsellor's name. Customer numbers never leave this module: only counts do.

What cannot be counted is counted too: rows in error (per file and column), cases left out for
an error in their own row (no team is known for them), cases no rule of the policy covers
(`unmatched`), and cases without a recurring contact obligation, which the density share leaves
out.

Capacity: the documents plan with a number of talks per week and full-time counsellor (25 in
Berlin Lichtenberg). A team's weekly capacity is that number times its counsellors, each counted
by the share of their cases held in the team (a counsellor with cases in two teams counts half in
each when the cases are evenly split). Every obligation counts as one talk; overdue ones count in
the current week, since they are due now.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from kontaktsync.rules.compliance import QUOTA, monday_of
from kontaktsync.rules.model import Obligation, ObligationKind, Plan
from kontaktsync.rules.policy_format import Policy
from kontaktsync.sync.config.models import ItemSettings
from kontaktsync.sync.core.proposals import Outlook, office_for

CAPACITY = 25  # talks per week and full-time counsellor where nothing says (Berlin Lichtenberg)
WEEKS = 4
# Overdue obligations by days past their due date: (label, first day, last day or None).
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("1–7 days", 1, 7),
    ("8–30 days", 8, 30),
    ("31–90 days", 31, 90),
    ("> 90 days", 91, None),
)
ALL = "all teams"


def age_bucket(days: int) -> str:
    """The label of the bucket an obligation `days` past its due date falls in (days >= 1)."""
    for label, low, high in AGE_BUCKETS:
        if days >= low and (high is None or days <= high):
            return label
    return AGE_BUCKETS[0][0]  # not overdue (days < 1) cannot happen: overdue means due < as-of


@dataclass
class Group:
    """The figures of one team, one counsellor, or of all cases."""

    name: str
    cases: int = 0
    with_contact_rule: int = 0
    density_kept: int = 0
    unmatched: int = 0
    overdue_by_age: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_LABELS, 0))
    load: dict[date, int] = field(default_factory=dict)  # Monday -> obligations due that week
    counsellors: float = 0.0  # full-time counsellors, by share of cases
    capacity: float = 0.0  # talks per week

    @property
    def share_kept(self) -> float | None:
        """Share of cases with a recurring contact whose contact is not overdue; None without any."""
        return self.density_kept / self.with_contact_rule if self.with_contact_rule else None

    @property
    def without_contact_rule(self) -> int:
        """Planned cases the density share cannot count (unmatched or no recurring contact)."""
        return self.cases - self.with_contact_rule

    @property
    def overdue(self) -> int:
        return sum(self.overdue_by_age.values())

    def meets_quota(self, quota: float = QUOTA) -> bool | None:
        share = self.share_kept
        return None if share is None else share >= quota

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cases": self.cases,
            "with_contact_rule": self.with_contact_rule,
            "density_kept": self.density_kept,
            "share_kept": None if self.share_kept is None else round(self.share_kept, 4),
            "without_contact_rule": self.without_contact_rule,
            "unmatched": self.unmatched,
            "overdue": self.overdue,
            "overdue_by_age": dict(self.overdue_by_age),
            "counsellors": round(self.counsellors, 2),
            "capacity_per_week": round(self.capacity, 1),
            "load": {monday.isoformat(): n for monday, n in self.load.items()},
        }


_LABELS = [label for label, _, _ in AGE_BUCKETS]


@dataclass
class NotCounted:
    """What the report cannot count, with numbers."""

    rows_in_error: int = 0  # distinct (file, row)
    rows_by_file: dict[str, int] = field(default_factory=dict)
    errors_by_column: dict[tuple[str, str], int] = field(default_factory=dict)  # (file, column) -> n
    cases_held: int = 0  # case rows left out for their own error
    held_unknown: bool = False  # a bad row whose customer number could not be read
    unmatched: int = 0
    without_contact_rule: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "rows_in_error": self.rows_in_error,
            "rows_in_error_by_file": dict(self.rows_by_file),
            "errors_by_column": [
                {"file": f, "column": c, "errors": n} for (f, c), n in self.errors_by_column.items()
            ],
            "cases_left_out_for_errors": self.cases_held,
            "more_cases_left_out_unknown": self.held_unknown,
            "unmatched_cases": self.unmatched,
            "cases_without_contact_rule": self.without_contact_rule,
        }


@dataclass
class Figures:
    as_of: date
    policy: str
    quota: float
    capacity_per_counsellor: int
    weeks: list[date]  # Mondays of the calendar weeks shown
    total: Group
    teams: list[Group]
    not_counted: NotCounted
    counsellors: list[Group] | None = None  # only when asked for
    proposals: Outlook | None = None  # slot mode with a configuration: the calendars were read

    @property
    def cases_in_export(self) -> int:
        """Cases planned plus cases left out for an error in their row (a lower bound when a
        bad row's customer number could not be read)."""
        return self.total.cases + self.not_counted.cases_held

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "as_of": self.as_of.isoformat(),
            "policy": self.policy,
            "quota": self.quota,
            "capacity_per_counsellor_and_week": self.capacity_per_counsellor,
            "weeks": [{"monday": m.isoformat(), "iso_week": m.isocalendar().week} for m in self.weeks],
            "cases_in_export": self.cases_in_export,
            "total": self.total.to_json(),
            "teams": [t.to_json() for t in self.teams],
            "not_counted": self.not_counted.to_json(),
        }
        if self.counsellors is not None:
            out["counsellors"] = [c.to_json() for c in self.counsellors]
        if self.proposals is not None:
            out["proposals"] = self.proposals.to_json()
        return out


def weekly_capacity(policy: Policy, items: ItemSettings) -> int:
    """Talks per week and full-time counsellor: `items.talks_per_week`, else the policy's
    office value, else CAPACITY (the same office data slot mode places proposals with)."""
    try:
        return office_for(policy, items).talks_per_week or CAPACITY
    except ValueError:  # unusable office data: slot mode and `config check` say why
        return CAPACITY


def build_figures(
    plan: Plan,
    capacity: int = CAPACITY,
    weeks: int = WEEKS,
    per_counsellor: bool = False,
    quota: float = QUOTA,
) -> Figures:
    """Every number of the report, from one plan (its `as_of` is the report's day)."""
    first = monday_of(plan.as_of)
    horizon = [first + timedelta(weeks=i) for i in range(weeks)]
    team_of = {cid: str(facts.team) for cid, facts in plan.cases.items()}
    counsellor_of = {cid: facts.counsellor for cid, facts in plan.cases.items()}
    unmatched_ids = {u.case_id for u in plan.unmatched}

    teams = _groups(team_of, plan, unmatched_ids, horizon)
    everyone = _groups(dict.fromkeys(plan.cases, ALL), plan, unmatched_ids, horizon)
    total = everyone[0] if everyone else Group(ALL, load=dict.fromkeys(horizon, 0))
    _set_capacity(teams, team_of, counsellor_of, capacity)
    total.counsellors = float(len(set(counsellor_of.values())))
    total.capacity = total.counsellors * capacity
    people = None
    if per_counsellor:
        people = _groups(counsellor_of, plan, unmatched_ids, horizon)
        for g in people:
            g.counsellors, g.capacity = 1.0, float(capacity)
    return Figures(
        as_of=plan.as_of,
        policy=plan.policy,
        quota=quota,
        capacity_per_counsellor=capacity,
        weeks=horizon,
        total=total,
        teams=teams,
        not_counted=_not_counted(plan, total),
        counsellors=people,
    )


def _groups(key_of: dict[str, str], plan: Plan, unmatched: set[str], horizon: list[date]) -> list[Group]:
    """One Group per distinct value of `key_of` (case id -> team or counsellor), sorted by name."""
    by: dict[str, Group] = {}
    for name in sorted(set(key_of.values())):
        by[name] = Group(name, load=dict.fromkeys(horizon, 0))
    for cid, name in key_of.items():
        by[name].cases += 1
        by[name].unmatched += cid in unmatched
    contact: defaultdict[str, set[str]] = defaultdict(set)
    late_contact: defaultdict[str, set[str]] = defaultdict(set)
    for o in plan.obligations:
        name = key_of.get(o.case_id)
        if name is None:  # not a planned case: cannot happen, the engine plans every case it keeps
            continue
        _count(by[name], o, plan.as_of, horizon)
        if o.kind is ObligationKind.CONTACT:
            contact[name].add(o.case_id)
            if o.overdue:
                late_contact[name].add(o.case_id)
    for name, g in by.items():
        g.with_contact_rule = len(contact[name])
        g.density_kept = g.with_contact_rule - len(late_contact[name])
    return list(by.values())


def _count(g: Group, o: Obligation, as_of: date, horizon: list[date]) -> None:
    if o.overdue:
        g.overdue_by_age[age_bucket((as_of - o.due).days)] += 1
    week = max(monday_of(o.due), horizon[0]) if horizon else None
    if week in g.load:
        g.load[week] += 1


def _set_capacity(
    teams: Iterable[Group], team_of: dict[str, str], counsellor_of: dict[str, str], capacity: int
) -> None:
    """Each counsellor counts in a team by the share of their cases held there."""
    per_counsellor = Counter(counsellor_of.values())
    share: defaultdict[str, float] = defaultdict(float)
    for cid, team in team_of.items():
        share[team] += 1 / per_counsellor[counsellor_of[cid]]
    for g in teams:
        g.counsellors = share[g.name]
        g.capacity = g.counsellors * capacity


def _not_counted(plan: Plan, total: Group) -> NotCounted:
    rows = {(e.file, e.row) for e in plan.errors}
    return NotCounted(
        rows_in_error=len(rows),
        rows_by_file=dict(sorted(Counter(f for f, _ in rows).items())),
        errors_by_column=dict(sorted(Counter((e.file, e.column) for e in plan.errors).items())),
        cases_held=len(plan.held),
        held_unknown=plan.held_unknown,
        unmatched=total.unmatched,
        without_contact_rule=total.without_contact_rule,
    )
