"""The engine: a policy applied to validated cases gives obligations. Pure, no I/O.

`plan()` and `explain()` share one code path (`Engine.plan_case`); explain merely passes a
trace list that every decision writes a line to, so what `explain` shows is exactly what
`plan` did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from operator import attrgetter

from kontaktsync.rules.dates import Calendar, parse_duration, parse_offset
from kontaktsync.rules.model import (
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
    CaseRule,
    Condition,
    ContactRule,
    DateSpec,
    MeasureRule,
    Policy,
)

Trace = list[str] | None


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


_offset = cache(parse_offset)
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


def _uses_age(cond: Condition) -> bool:
    return cond.age is not None or any(_uses_age(c) for c in cond.any_of or ())


@dataclass
class _CompiledContact:
    rule: ContactRule
    test: Test
    interval: Duration | None


@dataclass
class _CompiledCaseRule:
    rule: CaseRule
    test: Test


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
        self._contact = [
            _CompiledContact(r, _compile(r.when, groups), parse_duration(r.interval) if r.interval else None)
            for r in p.contact_rules
        ]
        self._case_rules = [_CompiledCaseRule(r, _compile(r.when, groups)) for r in p.case_rules]
        self._age_rules = any(_uses_age(r.when) for r in p.contact_rules)
        h = parse_duration(p.measure_horizon)
        self._horizon = self.calendar.add(self.as_of, -h.n, h.unit)

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
        lc = case.last_contact
        if not case.contacts and (lc is None or lc <= T):
            only = () if lc is None else (lc,)
            return CaseView(case, age, lc, only, active, case.status, case.profile, case.team)
        counting: list[date] = []
        if case.last_contact is not None:
            if case.last_contact > T:
                errors.append(
                    RowError(
                        self.files.get("cases", "cases"),
                        case.row,
                        "last_contact",
                        f"last contact {case.last_contact:%Y-%m-%d} lies after the as-of date "
                        f"{T:%Y-%m-%d}; it is ignored",
                    )
                )
            else:
                counting.append(case.last_contact)
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
            counts = c.channel in self._counting and c.outcome is Outcome.ERSCHIENEN
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
        counting.sort()
        last = counting[-1] if counting else None
        return CaseView(case, age, last, tuple(counting), active, case.status, case.profile, case.team)

    # -- dates -------------------------------------------------------------------------------

    def eval_date(self, spec: DateSpec, case: Case, measure: Measure | None = None) -> date | None:
        if spec.latest_of is not None or spec.earliest_of is not None:
            parts = [self.eval_date(s, case, measure) for s in (spec.latest_of or spec.earliest_of)]
            known = [d for d in parts if d is not None]
            if not known:
                return None
            return max(known) if spec.latest_of is not None else min(known)
        base = self._base(spec.from_, case, measure)
        if base is None:
            return None
        if spec.plus:
            n, unit = _offset(spec.plus)
            base = self.calendar.add(base, n, unit)
        if spec.working_days_after:
            base = self.calendar.working_days_after(base, spec.working_days_after)
        return base

    @staticmethod
    def _base(name: str | None, case: Case, m: Measure | None) -> date | None:
        if m is not None:
            E = m.effective_end
            if name == "start":
                return m.start
            if name == "end":
                return E
            if name == "completion":
                cd = m.completion_date
                return cd if cd is not None and cd > E else E
            if name == "last_third":
                length = (E - m.start).days + 1
                return m.start + timedelta(days=(2 * length) // 3)
        return getattr(case, name) if name else None

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
        this policy (an extension beyond the maximum) gets an error and nothing else."""
        p = self.policy
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
        for cr in self._contact:
            if not cr.test.holds(v):
                if trace is not None:
                    trace.append(f"rule {cr.rule.id}: does not match, {cr.test.why_not(v)}")
                continue
            rule = cr.rule
            if trace is not None:
                trace.append(f"rule {rule.id}: matches" + (f" ({rule.title})" if rule.title else ""))
            if rule.unmatched:
                unmatched.append(rule.unmatched)
                return
            interval = cr.interval
            if interval is None:
                interval = case.individual_interval
                if interval is None:
                    unmatched.append(
                        rule.unmatched_without_interval
                        or f"rule {rule.id} takes the interval from individual_interval, which is empty"
                    )
                    return
            anchor = v.last_counting or case.registration_date
            if anchor is None:
                due = T
                if trace is not None:
                    trace.append("no counting contact and no registration date: due now (as-of date)")
            else:
                if trace is not None:
                    src = "last counting contact" if v.last_counting else "registration date"
                    trace.append(f"anchor {anchor} ({src}); interval {interval}")
                due = self.calendar.add_duration(anchor, interval)
                if case.extension_months:
                    due = self.calendar.add_months(due, case.extension_months)
                    if trace is not None:
                        trace.append(
                            f"extension by {case.extension_months} months ({case.extension_reason}): {due}"
                        )
                elif trace is not None:
                    trace.append(f"anchor + {interval} = {due}")
                if rule.no_later_than is not None:
                    limit = self.eval_date(rule.no_later_than, case)
                    if limit is not None and limit > anchor and limit < due:
                        if trace is not None:
                            trace.append(f"no later than {limit}: due {due} becomes {limit}")
                        due = limit
                    elif trace is not None:
                        trace.append(f"'no later than' does not apply (limit {limit or 'unknown'})")
            due = self.shift_due(due, trace)
            tag = rule.tag or interval.tag
            out.append(
                Obligation(
                    case_id=case.case_id,
                    counsellor=case.counsellor,
                    kind=ObligationKind.CONTACT,
                    tag=tag,
                    due=due,
                    window_start=None,
                    overdue=due < T,
                    rule=f"{p.id}/{rule.id}",
                    policy=p.id,
                    cycle=anchor.isoformat() if anchor else "none",
                    anchor=anchor,
                    last_contact=v.last_counting,
                    interval=str(interval),
                    extension_months=case.extension_months or 0,
                    note=rule.title,
                )
            )
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

    def _measure_obligations(self, v: CaseView, m: Measure, out: list[Obligation], trace: Trace) -> None:
        p, T = self.policy, self.as_of
        E = m.effective_end
        label = f"measure {m.key}" + (f" ({m.kind})" if m.kind else "")
        if not self.policy.measure_rules:
            return
        if self._horizon > E:
            if trace is not None:
                trace.append(f"{label}: ended {E}, more than {p.measure_horizon} before the as-of date")
            return
        length = (E - m.start).days + 1
        for rule in p.measure_rules:
            why = self._measure_skip(rule, m, length)
            if why:
                if trace is not None:
                    trace.append(f"{label}, rule {rule.id}: {why}")
                continue
            due_raw = self.eval_date(rule.due, v.case, m)
            ws_raw = self.eval_date(rule.window_start, v.case, m) if rule.window_start else None
            if due_raw is None:
                continue
            due = self.shift_due(due_raw, trace)
            ws = self.shift_start(ws_raw, trace) if ws_raw is not None else None
            lo = ws or date.min
            fulfilled = next((c for c in v.counting_contacts if lo <= c <= due), None)
            if fulfilled is not None:
                if trace is not None:
                    trace.append(
                        f"{label}, rule {rule.id}: window {ws}..{due} fulfilled by the contact on {fulfilled}"
                    )
                continue
            if trace is not None:
                trace.append(f"{label}, rule {rule.id}: {rule.tag} window {ws}..{due}")
            out.append(
                Obligation(
                    case_id=v.case.case_id,
                    counsellor=v.case.counsellor,
                    kind=ObligationKind(rule.kind),
                    tag=rule.tag,
                    due=due,
                    window_start=ws,
                    overdue=due < T,
                    rule=f"{p.id}/{rule.id}",
                    policy=p.id,
                    cycle=m.key,
                    measure_key=m.key,
                    last_contact=v.last_counting,
                    guidance=tuple(rule.guidance),
                    note=rule.title,
                )
            )

    def _measure_skip(self, rule: MeasureRule, m: Measure, length: int) -> str | None:
        w = rule.when
        if w.qualifying is not None and m.qualifying != w.qualifying:
            return "qualifying measure" if m.qualifying else "not a qualifying measure"
        if w.lasts_at_least or w.lasts_less_than:
            d = _duration(w.lasts_at_least or w.lasts_less_than)
            lasts = m.effective_end >= self.calendar.add_duration(m.start, d) - timedelta(days=1)
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
        return None

    def _case_obligation(
        self,
        v: CaseView,
        cr: _CompiledCaseRule,
        out: list[Obligation],
        unmatched: list[str],
        trace: Trace,
    ) -> None:
        rule, p, T = cr.rule, self.policy, self.as_of
        if not cr.test.holds(v):
            if trace is not None:
                trace.append(f"rule {rule.id}: does not apply, {cr.test.why_not(v)}")
            return
        due_raw = self.eval_date(rule.due, v.case)
        if due_raw is None:
            if rule.unmatched_if_unknown:
                unmatched.append(rule.unmatched_if_unknown)
            if trace is not None:
                trace.append(f"rule {rule.id}: no date can be computed (the fields it needs are empty)")
            return
        due = self.shift_due(due_raw, trace)
        ws_raw = self.eval_date(rule.window_start, v.case) if rule.window_start else None
        ws = self.shift_start(ws_raw, trace) if ws_raw is not None else None
        if trace is not None:
            trace.append(f"rule {rule.id}: {rule.tag} due {due}" + (f", window from {ws}" if ws else ""))
        out.append(
            Obligation(
                case_id=v.case.case_id,
                counsellor=v.case.counsellor,
                kind=ObligationKind(rule.kind),
                tag=rule.tag,
                due=due,
                window_start=ws,
                overdue=due < T,
                rule=f"{p.id}/{rule.id}",
                policy=p.id,
                cycle=due_raw.isoformat(),
                last_contact=v.last_counting,
                guidance=tuple(rule.guidance),
                note=rule.title,
            )
        )


def plan(caseload: Caseload, policy: Policy, as_of: date) -> Plan:
    """Apply `policy` to every case of `caseload` on `as_of`."""
    engine = Engine(policy, as_of, files=caseload.files)
    result = Plan(as_of=as_of, policy=policy.id)
    errors = list(caseload.errors)
    obligations = result.obligations
    for case in caseload.cases:
        obs, reasons, v = engine.plan_case(case, errors)
        if v is None:
            continue
        obligations.extend(obs)
        if reasons:
            result.unmatched.append(Unmatched(case.case_id, "; ".join(reasons)))
        result.cases[case.case_id] = CaseFacts(
            case_id=case.case_id,
            counsellor=case.counsellor,
            counting_contacts=v.counting_contacts,
            display_name=case.display_name,
            needs_interpreter=case.needs_interpreter,
            first_talk=v.last_counting is None,
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
