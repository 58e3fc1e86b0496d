"""The engine: a policy applied to validated cases gives obligations. Pure, no I/O.

`plan()` and `explain()` share one code path (`Engine.plan_case`); explain merely passes a
trace list that every decision writes a line to, so what `explain` shows is exactly what
`plan` did.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from operator import attrgetter
from typing import Any

from kontaktsync.rules.dates import Calendar, parse_duration, parse_offset
from kontaktsync.rules.model import (
    NO_MEASURES,
    Case,
    CaseFacts,
    Caseload,
    Duration,
    Measure,
    Obligation,
    ObligationKind,
    Outcome,
    Plan,
    RowError,
    Unmatched,
)
from kontaktsync.rules.policy import (
    MEASURE_BASES,
    CaseCondition,
    CaseRule,
    Condition,
    ContactRule,
    DateSpec,
    MeasureRule,
    Policy,
)

Trace = list[str] | None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run a block without the cyclic garbage collector.

    Reading and planning a caseload allocate millions of small objects that live on; each
    allocation burst makes the collector walk the whole young heap again, which cost about a
    third of the run time. The data holds no reference cycles, so nothing is lost by
    collecting only afterwards. The previous state is restored (a caller may have disabled it).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(slots=True)
class CaseView:
    """Facts derived once per case on the as-of date."""

    case: Case
    age: int | None
    last_counting: date | None
    counting_contacts: tuple[date, ...]
    active_measure: bool
    status: str
    profile: str
    team: str
    contact_rule: str | None = None  # id of the contact rule that matched, set by the engine


_offset = cache(parse_offset)
_ONE_DAY = timedelta(days=1)


def _label(m: Measure) -> str:
    """How a trace names a measure (only formatted for explain)."""
    return f"measure {m.key}" + (f" ({m.kind})" if m.kind else "")


_duration = cache(parse_duration)

Pred = Callable[[CaseView], bool]
Why = Callable[[CaseView], str]


@dataclass(frozen=True, slots=True)
class Test:
    """A compiled condition: `holds` is the fast path `plan` takes; `why_not` words the first
    failing part for `explain` (it is only called there, so the plan never formats strings)."""

    parts: tuple[tuple[Pred, Why], ...]
    holds: Pred = field(init=False)

    def __post_init__(self) -> None:
        preds = [p for p, _ in self.parts]
        # one closure per rule: the engine's hot loop makes a single call per rule tried
        if not preds:
            combined: Pred = lambda v: True  # noqa: E731
        elif len(preds) == 1:
            combined = preds[0]
        elif len(preds) == 2:
            a, b = preds
            combined = lambda v: a(v) and b(v)  # noqa: E731
        elif len(preds) == 3:
            a, b, c = preds
            combined = lambda v: a(v) and b(v) and c(v)  # noqa: E731
        else:
            combined = lambda v: all(p(v) for p in preds)  # noqa: E731
        object.__setattr__(self, "holds", combined)

    def why_not(self, v: CaseView) -> str | None:
        for pred, why in self.parts:
            if not pred(v):
                return why(v)
        return None


def _fmt(values: list) -> str:
    return ", ".join(str(v) for v in values)


def _compile(cond: Condition, groups: dict[str, list]) -> Test:
    parts: list[tuple[Pred, Why]] = []
    if cond.age is not None:
        lo = cond.age.min if cond.age.min is not None else -1
        hi = cond.age.max if cond.age.max is not None else 10_000

        def age_why(v: CaseView) -> str:
            if v.age is None:
                return "needs the age, but birth_date is empty"
            return f"age {v.age} is below {lo}" if v.age < lo else f"age {v.age} is above {hi}"

        parts.append((lambda v: v.age is not None and lo <= v.age <= hi, age_why))
    if cond.status is not None:
        statuses, s_text = frozenset(cond.status), _fmt(cond.status)
        parts.append((lambda v: v.status in statuses, lambda v: f"status {v.case.status} is not {s_text}"))
    if cond.profile is not None:
        profiles, p_text = frozenset(cond.profile), _fmt(cond.profile)
        parts.append((lambda v: v.profile in profiles, lambda v: f"profile {v.case.profile} is not {p_text}"))
    if cond.profile_group is not None:
        members = frozenset(p for g in cond.profile_group for p in groups[g])
        g_text = _fmt(cond.profile_group)
        parts.append(
            (
                lambda v: v.profile in members,
                lambda v: f"profile {v.case.profile} is not in group {g_text}",
            )
        )
    if cond.team is not None:
        teams, t_text = frozenset(cond.team), _fmt(cond.team)
        parts.append((lambda v: v.team in teams, lambda v: f"team {v.case.team} is not {t_text}"))
    for flag in ("buergerarbeit", "umschueler", "needs_interpreter"):
        want = getattr(cond, flag)
        if want is not None:
            parts.append(
                (
                    lambda v, flag=flag, want=want: getattr(v.case, flag) == want,
                    lambda v, flag=flag, want=want: f"{flag} is {'not ' if want else ''}set",
                )
            )
    if cond.active_measure is not None:
        want_active = cond.active_measure
        parts.append(
            (
                lambda v: v.active_measure == want_active,
                lambda v: "no measure is active on the as-of date" if want_active else "a measure is active",
            )
        )
    for name in cond.known or ():
        parts.append((lambda v, n=name: getattr(v.case, n) is not None, lambda v, n=name: f"{n} is empty"))
    for name in cond.unknown or ():
        parts.append((lambda v, n=name: getattr(v.case, n) is None, lambda v, n=name: f"{n} is filled"))
    if cond.any_of:
        alternatives = [_compile(c, groups) for c in cond.any_of]
        parts.append(
            (
                lambda v: any(alt.holds(v) for alt in alternatives),
                lambda v: "none of: " + "; ".join(str(alt.why_not(v)) for alt in alternatives),
            )
        )
    return Test(tuple(parts))


def _compile_case(cond: CaseCondition, groups: dict[str, list]) -> Test:
    """A case rule's condition: the contact rule that matched is tested first."""
    base = _compile(cond, groups)
    if cond.contact_rule is None:
        return base
    names, n_text = frozenset(cond.contact_rule), _fmt(cond.contact_rule)

    def why(v: CaseView) -> str:
        got = f"contact rule {v.contact_rule} matched" if v.contact_rule else "no contact rule matched"
        return f"{got}, not {n_text}"

    return Test(((lambda v: v.contact_rule in names, why), *base.parts))


def describe_date(spec: DateSpec) -> str:
    """A date rule in words, for explain: `profile_since + 6M`, `1st working day after ...`."""
    if spec.latest_of is not None or spec.earliest_of is not None:
        which = "latest" if spec.latest_of is not None else "earliest"
        return f"the {which} of " + " and ".join(describe_date(s) for s in spec.latest_of or spec.earliest_of)
    text = str(spec.from_)
    if spec.from_ == "next_start":
        text = f"the next measure's start (within {spec.next_measure_within} after the end, else the end)"
    if spec.plus:
        n, unit = _offset(spec.plus)
        text += f" {'-' if n < 0 else '+'} {abs(n)}{unit}"
    if spec.working_days_after:
        text = f"working day {spec.working_days_after} after {text}"
    return text


def _empty_fields(spec: DateSpec, case: Case) -> list[str]:
    """The case fields a date rule reads that are empty in `case` (for explain)."""
    return sorted(b for b in spec.bases() if b not in _MEASURE_BASES and getattr(case, b) is None)


def next_measure(case: Case, m: Measure, last: date) -> Measure | None:
    """The case's measure that starts first after `m`'s effective end, up to `last`."""
    E = m.effective_end
    found = [n for n in case.measures if E < n.start <= last]
    return min(found, key=attrgetter("start")) if found else None


def _facts_read(cond: Condition) -> set[str]:
    """The CaseView attributes (dotted for case fields) that `_compile(cond)` tests read:
    two cases that agree on them meet the same conditions. Keep in step with `_compile`."""
    names: set[str] = set()
    for part, attr in (("age", "age"), ("status", "status"), ("profile", "profile"), ("team", "team")):
        if getattr(cond, part) is not None:
            names.add(attr)
    if cond.profile_group is not None:
        names.add("profile")
    for flag in ("buergerarbeit", "umschueler", "needs_interpreter"):
        if getattr(cond, flag) is not None:
            names.add(f"case.{flag}")
    if cond.active_measure is not None:
        names.add("active_measure")
    names.update(f"case.{n}" for n in [*(cond.known or ()), *(cond.unknown or ())])
    for sub in cond.any_of or ():
        names |= _facts_read(sub)
    return names


def _uses_age(cond: Condition) -> bool:
    return cond.age is not None or any(_uses_age(c) for c in cond.any_of or ())


DateFn = Callable[[Case, "Measure | None"], "date | None"]

_MEASURE_BASES = MEASURE_BASES


def _measure_base(name: str) -> Callable[[Measure], date]:
    if name == "start":
        return attrgetter("start")
    if name == "end":
        return attrgetter("effective_end")
    if name == "completion":

        def completion(m: Measure) -> date:
            E = m.effective_end
            cd = m.completion_date
            return cd if cd is not None and cd > E else E

        return completion

    def last_third(m: Measure) -> date:
        E = m.effective_end
        length = (E - m.start).days + 1
        return m.start + timedelta(days=(2 * length) // 3)

    return last_third


@dataclass
class _CompiledContact:
    rule: ContactRule
    test: Test
    interval: Duration | None
    name: str  # policy/rule, as obligations name it
    add_interval: Callable[[date], date] | None  # anchor -> anchor + interval
    no_later_than: DateFn | None
    tag: str | None  # with a fixed interval: the obligation's tag and interval text
    interval_text: str | None


@dataclass
class _CompiledMeasureRule:
    rule: MeasureRule
    name: str
    kind: ObligationKind
    guidance: tuple[str, ...]
    due: DateFn
    window_start: DateFn | None


@dataclass
class _CompiledCaseRule:
    rule: CaseRule
    test: Test
    name: str
    kind: ObligationKind
    guidance: tuple[str, ...]
    due: DateFn
    window_start: DateFn | None


@dataclass
class Engine:
    """A policy compiled for one as-of date."""

    policy: Policy
    as_of: date
    calendar: Calendar = field(init=False)
    files: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        p = self.policy
        self.calendar = Calendar(p.region.country, p.region.subdivision)
        self._counting = frozenset(p.counting_channels)
        groups = p.profile_groups
        self._dates: dict[int, tuple[DateSpec, DateFn]] = {}
        self._contact = [self._compile_contact(r) for r in p.contact_rules]
        facts = sorted(set().union(*(_facts_read(r.when) for r in p.contact_rules)))
        self._contact_facts: Callable[[CaseView], object] = attrgetter(*facts) if facts else lambda v: ()
        self._first_match: dict[object, list[_CompiledContact]] = {}
        self._measure_rules = [
            _CompiledMeasureRule(
                r,
                f"{p.id}/{r.id}",
                ObligationKind(r.kind),
                tuple(r.guidance),
                self.date_fn(r.due),
                self.date_fn(r.window_start) if r.window_start else None,
            )
            for r in p.measure_rules
        ]
        self._case_rules = [
            _CompiledCaseRule(
                r,
                _compile_case(r.when, groups),
                f"{p.id}/{r.id}",
                ObligationKind(r.kind),
                tuple(r.guidance),
                self.date_fn(r.due),
                self.date_fn(r.window_start) if r.window_start else None,
            )
            for r in p.case_rules
        ]
        self._age_rules = any(_uses_age(r.when) for r in p.contact_rules)
        h = parse_duration(p.measure_horizon)
        self._horizon = self.calendar.add(self.as_of, -h.n, h.unit)

    def _compile_contact(self, r: ContactRule) -> _CompiledContact:
        interval = parse_duration(r.interval) if r.interval else None
        return _CompiledContact(
            r,
            _compile(r.when, self.policy.profile_groups),
            interval,
            f"{self.policy.id}/{r.id}",
            self.calendar.adder(interval.n, interval.unit) if interval else None,
            self.date_fn(r.no_later_than) if r.no_later_than is not None else None,
            (r.tag or interval.tag) if interval else None,
            str(interval) if interval else None,
        )

    # -- facts -------------------------------------------------------------------------------

    def view(self, case: Case, errors: list[RowError], trace: Trace = None) -> CaseView:
        T = self.as_of
        b = case.birth_date
        age = None if b is None else T.year - b.year - ((T.month, T.day) < (b.month, b.day))
        active = False
        for m in case.measures:
            if m.start <= T <= (m.actual_end or m.end):
                active = True
                break
        lc = case.last_contact  # never after T: plan_case leaves such a case out
        if not case.contacts:
            only = () if lc is None else (lc,)
            return CaseView(case, age, lc, only, active, case.status, case.profile, case.team)
        counting: list[date] = [] if lc is None else [lc]
        counting_channels, attended = self._counting, Outcome.ERSCHIENEN
        for c in case.contacts:
            if c.date > T:
                errors.append(
                    RowError(
                        self.files.get("contacts", "contacts"),
                        c.row,
                        "date",
                        f"contact on {c.date:%Y-%m-%d} lies after the as-of date {T:%Y-%m-%d}; "
                        "it is left out",
                    )
                )
                continue
            counts = c.channel in counting_channels and c.outcome is attended
            if trace is not None:
                how = (
                    "counts"
                    if counts
                    else (
                        f"does not count (channel {c.channel})"
                        if c.channel not in self._counting
                        else f"does not count (outcome {c.outcome})"
                    )
                )
                trace.append(f"contact {c.date} {c.channel}/{c.outcome}: {how}")
            if counts:
                counting.append(c.date)
        if len(counting) > 1:
            counting.sort()
        last = counting[-1] if counting else None
        return CaseView(case, age, last, tuple(counting), active, case.status, case.profile, case.team)

    # -- dates -------------------------------------------------------------------------------

    def eval_date(self, spec: DateSpec, case: Case, measure: Measure | None = None) -> date | None:
        return self.date_fn(spec)(case, measure)

    def date_fn(self, spec: DateSpec) -> DateFn:
        """`spec` compiled into a function of (case, measure): the policy is read once, not
        once per case (memoised per spec object)."""
        known = self._dates.get(id(spec))
        if known is None:
            # the spec is kept with its function so that its id stays unique
            known = self._dates[id(spec)] = (spec, self._compile_date(spec))
        return known[1]

    def _compile_date(self, spec: DateSpec) -> DateFn:
        if spec.latest_of is not None or spec.earliest_of is not None:
            parts = [self.date_fn(s) for s in (spec.latest_of or spec.earliest_of)]
            pick = max if spec.latest_of is not None else min

            def extreme(case: Case, m: Measure | None) -> date | None:
                known = [d for d in (f(case, m) for f in parts) if d is not None]
                return pick(known) if known else None

            return extreme
        if spec.from_ == "next_start":
            base = self._next_start_fn(spec.next_measure_within or "14D")
        else:
            base = self._base_fn(spec.from_)
        steps: list[Callable[[date], date]] = []
        if spec.plus:
            steps.append(self.calendar.adder(*_offset(spec.plus)))
        if spec.working_days_after:
            n_days, cal = spec.working_days_after, self.calendar
            steps.append(lambda d: cal.working_days_after(d, n_days))
        if not steps:
            return base
        if len(steps) == 1:
            step = steps[0]

            def shifted(case: Case, m: Measure | None) -> date | None:
                d = base(case, m)
                return None if d is None else step(d)

            return shifted

        def stepped(case: Case, m: Measure | None) -> date | None:
            d = base(case, m)
            if d is None:
                return None
            for step in steps:
                d = step(d)
            return d

        return stepped

    @staticmethod
    def _base_fn(name: str | None) -> DateFn:
        if not name:
            return lambda case, m: None
        of_case = attrgetter(name)
        if name not in _MEASURE_BASES:
            return lambda case, m: of_case(case)
        of_measure = _measure_base(name)
        return lambda case, m: of_case(case) if m is None else of_measure(m)

    def _next_start_fn(self, within: str) -> DateFn:
        """`from: next_start`: the next measure's start when it begins within `within` after
        the end, else the end (policies.md, hamburg: follow_up_start)."""
        add_within = self.calendar.adder(*_offset(within))

        def next_start(case: Case, m: Measure | None) -> date | None:
            if m is None:
                return None
            n = next_measure(case, m, add_within(m.effective_end))
            return m.effective_end if n is None else n.start

        return next_start

    def _trace_next_start(self, v: CaseView, m: Measure, rule: MeasureRule, trace: list[str]) -> None:
        """For explain: which start a `from: next_start` due counts from."""
        within = rule.due.next_measure_within
        if rule.due.from_ != "next_start" or within is None:
            return
        E = m.effective_end
        n = next_measure(v.case, m, self.calendar.add(E, *_offset(within)))
        if n is None:
            trace.append(f"{_label(m)}, rule {rule.id}: no measure starts within {within} after the end {E}")
        else:
            trace.append(
                f"{_label(m)}, rule {rule.id}: next {_label(n)} starts {n.start}, "
                f"within {within} after the end {E}"
            )

    def shift_due(self, d: date, trace: Trace, what: str = "due") -> date:
        shifted = self.calendar.previous_working_day(d)
        if trace is not None and shifted != d:
            trace.append(
                f"{what} {d} is no working day ({self._why_not_working(d)}): moved back to {shifted}"
            )
        return shifted

    def shift_start(self, d: date, trace: Trace) -> date:
        shifted = self.calendar.next_working_day(d)
        if trace is not None and shifted != d:
            trace.append(
                f"window start {d} is no working day ({self._why_not_working(d)}): moved on to {shifted}"
            )
        return shifted

    def _why_not_working(self, d: date) -> str:
        name = self.calendar.holiday_name(d)
        return name if name else d.strftime("%A")

    # -- planning ----------------------------------------------------------------------------

    def plan_case(
        self, case: Case, errors: list[RowError], trace: Trace = None
    ) -> tuple[list[Obligation], list[str], CaseView | None]:
        """Obligations and unmatched reasons of one case. A case whose row is invalid under
        this policy (an extension beyond the maximum, a last contact after the as-of date) gets
        an error and nothing else, and no view (None): the case is held."""
        p = self.policy
        if case.last_contact is not None and case.last_contact > self.as_of:
            errors.append(
                RowError(
                    self.files.get("cases", "cases"),
                    case.row,
                    "last_contact",
                    f"last contact {case.last_contact:%Y-%m-%d} lies after the as-of date "
                    f"{self.as_of:%Y-%m-%d}; the case is left out and its calendar items stay as "
                    "they are until the date is corrected",
                )
            )
            if trace is not None:
                trace.append("the case row is left out: last_contact lies after the as-of date")
            return [], [], None
        if case.extension_months and case.extension_months > p.max_extension_months:
            allowed = f"at most {p.max_extension_months} months" if p.max_extension_months else "no extension"
            errors.append(
                RowError(
                    self.files.get("cases", "cases"),
                    case.row,
                    "extension_months",
                    f"extension of {case.extension_months} months, but {p.id} allows {allowed}",
                )
            )
            if trace is not None:
                trace.append("the case row is left out: extension beyond the policy's maximum")
            return [], [], None
        v = self.view(case, errors, trace)
        out: list[Obligation] = []
        unmatched: list[str] = []
        self._contact_obligation(v, out, unmatched, trace)
        for m in case.measures:
            self._measure_obligations(v, m, out, trace)
        for cr in self._case_rules:
            self._case_obligation(v, cr, out, unmatched, trace)
        return out, unmatched, v

    def _contact_obligation(
        self, v: CaseView, out: list[Obligation], unmatched: list[str], trace: Trace
    ) -> None:
        case, p, T = v.case, self.policy, self.as_of
        for cr in self._rules_to_try(v, trace):
            if not cr.test.holds(v):
                if trace is not None:
                    trace.append(f"rule {cr.rule.id}: does not match, {cr.test.why_not(v)}")
                continue
            rule = cr.rule
            if trace is not None:
                trace.append(f"rule {rule.id}: matches" + (f" ({rule.title})" if rule.title else ""))
            v.contact_rule = rule.id
            if rule.unmatched:
                unmatched.append(rule.unmatched)
                return
            interval, add_interval = cr.interval, cr.add_interval
            tag, interval_text = cr.tag, cr.interval_text
            if interval is None:
                interval = case.individual_interval
                if interval is None:
                    unmatched.append(
                        rule.unmatched_without_interval
                        or f"rule {rule.id} takes the interval from individual_interval, which is empty"
                    )
                    return
                add_interval = self.calendar.adder(interval.n, interval.unit)
                tag, interval_text = rule.tag or interval.tag, str(interval)
            anchor = v.last_counting or case.registration_date
            if anchor is None:
                due = T
                if trace is not None:
                    trace.append("no counting contact and no registration date: due now (as-of date)")
            else:
                if trace is not None:
                    src = "last counting contact" if v.last_counting else "registration date"
                    trace.append(f"anchor {anchor} ({src}); interval {interval}")
                due = add_interval(anchor)
                if case.extension_months:
                    due = self.calendar.add_months(due, case.extension_months)
                    if trace is not None:
                        trace.append(
                            f"extension by {case.extension_months} months ({case.extension_reason}): {due}"
                        )
                elif trace is not None:
                    trace.append(f"anchor + {interval} = {due}")
                if cr.no_later_than is not None:
                    limit = cr.no_later_than(case, None)
                    if limit is not None and limit > anchor and limit < due:
                        if trace is not None:
                            trace.append(f"no later than {limit}: due {due} becomes {limit}")
                        due = limit
                    elif trace is not None:
                        trace.append(f"'no later than' does not apply (limit {limit or 'unknown'})")
            due = self.shift_due(due, trace)
            out.append(
                self._obligation(
                    v, ObligationKind.CONTACT, tag, due, None, cr.name,
                    cycle=anchor.isoformat() if anchor else "none",
                    anchor=anchor,
                    interval=interval_text,
                    extension_months=case.extension_months or 0,
                    note=rule.title,
                )
            )  # fmt: skip
            return
        if p.unmatched_when_no_rule and p.contact_rules:
            facts = f"status {case.status}, profile {case.profile}, team {case.team}, " + (
                f"age {v.age}" if v.age is not None else "age unknown"
            )
            reason = f"no rule of {p.id} covers {facts}"
            if v.age is None and self._age_rules:
                reason += " (rules with an age condition need birth_date)"
            unmatched.append(reason)
            if trace is not None:
                trace.append(f"no contact rule matches: {reason}")

    def _rules_to_try(self, v: CaseView, trace: Trace) -> list[_CompiledContact]:
        """The contact rules to try, in order. Without a trace only the first that matches
        matters, and which one that is depends only on the facts the conditions read: it is
        looked up by those facts (a few hundred combinations) instead of tested per case."""
        if trace is not None:
            return self._contact
        key = self._contact_facts(v)
        hit = self._first_match.get(key)
        if hit is None:
            hit = self._first_match[key] = next(([cr] for cr in self._contact if cr.test.holds(v)), [])
        return hit

    def _measure_obligations(self, v: CaseView, m: Measure, out: list[Obligation], trace: Trace) -> None:
        p = self.policy
        if not self._measure_rules:
            return
        E = m.effective_end
        if self._horizon > E:
            if trace is not None:
                trace.append(f"{_label(m)}: ended {E}, more than {p.measure_horizon} before the as-of date")
            return
        length = (E - m.start).days + 1
        key = None
        for mr in self._measure_rules:
            rule = mr.rule
            why = self._measure_skip(rule, m, length)
            if why:
                if trace is not None:
                    trace.append(f"{_label(m)}, rule {rule.id}: {why}")
                continue
            due_raw = mr.due(v.case, m)
            ws_raw = mr.window_start(v.case, m) if mr.window_start else None
            if due_raw is None:
                continue
            if trace is not None and mr.kind is ObligationKind.FOLLOW_UP_START:
                self._trace_next_start(v, m, rule, trace)
                trace.append(f"{_label(m)}, rule {rule.id}: {describe_date(rule.due)} = {due_raw}")
            due = self.shift_due(due_raw, trace)
            ws = self.shift_start(ws_raw, trace) if ws_raw is not None else None
            if mr.kind is ObligationKind.FOLLOW_UP_START:  # a task: no contact fulfils it
                if trace is not None:
                    trace.append(f"{_label(m)}, rule {rule.id}: {rule.tag} due {due} (no contact fulfils it)")
                out.append(
                    self._obligation(
                        v, mr.kind, rule.tag, due, None, mr.name,
                        cycle=m.key, measure_key=m.key, guidance=mr.guidance, note=rule.title,
                    )
                )  # fmt: skip
                continue
            lo = ws or date.min
            fulfilled = next((c for c in v.counting_contacts if lo <= c <= due), None)
            if fulfilled is not None:
                if trace is not None:
                    trace.append(
                        f"{_label(m)}, rule {rule.id}: window {ws}..{due} "
                        f"fulfilled by the contact on {fulfilled}"
                    )
                continue
            if trace is not None:
                trace.append(f"{_label(m)}, rule {rule.id}: {rule.tag} window {ws}..{due}")
            if key is None:
                key = m.key
            out.append(
                self._obligation(
                    v, mr.kind, rule.tag, due, ws, mr.name,
                    cycle=key, measure_key=key, guidance=mr.guidance, note=rule.title,
                )
            )  # fmt: skip

    def _obligation(
        self,
        v: CaseView,
        kind: ObligationKind,
        tag: str,
        due: date,
        window_start: date | None,
        rule_name: str,
        **extra: Any,
    ) -> Obligation:
        """An obligation of the case in view; `extra` holds the fields that differ by kind."""
        case = v.case
        return Obligation(
            case.case_id, case.counsellor, kind, tag, due, window_start, due < self.as_of,
            rule_name, self.policy.id, last_contact=v.last_counting, **extra,
        )  # fmt: skip

    def _measure_skip(self, rule: MeasureRule, m: Measure, length: int) -> str | None:
        w = rule.when
        if w.qualifying is not None and m.qualifying != w.qualifying:
            return "qualifying measure" if m.qualifying else "not a qualifying measure"
        if w.lasts_at_least or w.lasts_less_than:
            d = _duration(w.lasts_at_least or w.lasts_less_than)
            lasts = m.effective_end >= self.calendar.add_duration(m.start, d) - _ONE_DAY
            if w.lasts_at_least and not lasts:
                return f"lasts less than {d} ({length} days)"
            if w.lasts_less_than and lasts:
                return f"lasts at least {d} ({length} days)"
        if w.min_length_days is not None and length < w.min_length_days:
            waived = [f for f in w.min_length_unless if getattr(m, f)]
            if not waived:
                return f"left out: {length} days is shorter than {w.min_length_days}"
        for flag in w.skip_if:
            if getattr(m, flag):
                return f"left out: {flag} is set"
        for flag in w.require:
            if not getattr(m, flag):
                return f"left out: {flag} is not set"
        return None

    def _case_obligation(
        self,
        v: CaseView,
        cr: _CompiledCaseRule,
        out: list[Obligation],
        unmatched: list[str],
        trace: Trace,
    ) -> None:
        rule = cr.rule
        if not cr.test.holds(v):
            if trace is not None:
                trace.append(f"rule {rule.id}: does not apply, {cr.test.why_not(v)}")
            return
        if cr.kind is ObligationKind.PROFILE_REVIEW and any(o.kind is cr.kind for o in out):
            # the review's cycle is profile_since: one per case, first rule wins
            if trace is not None:
                trace.append(f"rule {rule.id}: does not apply, an earlier rule made the profile review")
            return
        due_raw = cr.due(v.case, None)
        if due_raw is None:
            if rule.unmatched_if_unknown:
                unmatched.append(rule.unmatched_if_unknown)
            if trace is not None:
                empty = _empty_fields(rule.due, v.case)
                what = f"{', '.join(empty)} {'is' if len(empty) == 1 else 'are'}" if empty else "fields are"
                trace.append(f"rule {rule.id}: no date can be computed ({what} empty)")
            return
        if trace is not None:
            trace.append(f"rule {rule.id}: due {describe_date(rule.due)} = {due_raw}")
        due = self.shift_due(due_raw, trace)
        ws_raw = cr.window_start(v.case, None) if cr.window_start else None
        ws = self.shift_start(ws_raw, trace) if ws_raw is not None else None
        if trace is not None:
            trace.append(f"rule {rule.id}: {rule.tag} due {due}" + (f", window from {ws}" if ws else ""))
        cycle = due_raw.isoformat()
        if cr.kind is ObligationKind.PROFILE_REVIEW:  # done when profile_since moves on
            since = v.case.profile_since
            cycle = since.isoformat() if since is not None else "none"
        out.append(
            self._obligation(
                v, cr.kind, rule.tag, due, ws, cr.name,
                cycle=cycle, guidance=cr.guidance, note=rule.title,
            )
        )  # fmt: skip


def plan(caseload: Caseload, policy: Policy, as_of: date) -> Plan:
    """Apply `policy` to every case of `caseload` on `as_of`."""
    with gc_paused():
        return _plan(caseload, policy, as_of)


def _plan(caseload: Caseload, policy: Policy, as_of: date) -> Plan:
    engine = Engine(policy, as_of, files=caseload.files)
    result = Plan(as_of=as_of, policy=policy.id, held=set(caseload.held), held_unknown=caseload.held_unknown)
    errors = list(caseload.errors)
    obligations = result.obligations
    unmatched, facts = result.unmatched, result.cases
    plan_case = engine.plan_case
    for case in caseload.cases:
        obs, reasons, v = plan_case(case, errors)
        if v is None:
            result.held.add(case.case_id)  # left out for an error: its calendar items are kept
            continue
        obligations += obs
        cid = case.case_id
        if reasons:
            unmatched.append(Unmatched(cid, "; ".join(reasons)))
        facts[cid] = CaseFacts(
            cid,
            case.counsellor,
            v.counting_contacts,
            case.display_name,
            case.needs_interpreter,
            v.last_counting is None,
            case.care_plan_created,
            case.profile_since,
            {m.key: m.effective_end for m in case.measures} if case.measures else NO_MEASURES,
            team=case.team,
        )
    obligations.sort(key=attrgetter("due", "case_id", "kind"))
    order = {name: i for i, name in enumerate(("cases", "measures", "contacts"))}
    file_rank = {f: order.get(t, 9) for t, f in caseload.files.items()}
    errors.sort(key=lambda e: (file_rank.get(e.file, 9), e.file, e.row))
    result.errors = errors
    return result


@dataclass
class Explanation:
    case: Case
    policy: Policy
    as_of: date
    trace: list[str]
    obligations: list[Obligation]
    unmatched: list[str]
    errors: list[RowError]


def explain(case: Case, policy: Policy, as_of: date, files: dict[str, str] | None = None) -> Explanation:
    engine = Engine(policy, as_of, files=files or {})
    trace: list[str] = []
    errors: list[RowError] = []
    obs, reasons, _ = engine.plan_case(case, errors, trace)
    obs.sort(key=lambda o: (o.due, o.case_id, o.kind))
    return Explanation(case, policy, as_of, trace, obs, reasons, errors)


__all__ = ["CaseView", "Engine", "Explanation", "Test", "explain", "plan"]
