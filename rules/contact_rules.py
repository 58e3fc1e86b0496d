"""The contact table: the first rule whose condition holds gives the case's recurring contact."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from kontaktsync.rules.conditions import Test, compile_condition, facts_key
from kontaktsync.rules.dates import parse_duration
from kontaktsync.rules.datespec import DateFn, PolicyDates
from kontaktsync.rules.listener import Listener, Tried
from kontaktsync.rules.model import Duration, Obligation, ObligationKind
from kontaktsync.rules.policy_format import ContactRule, Policy
from kontaktsync.rules.view import CaseView, obligation


@dataclass(frozen=True, slots=True)
class _Interval:
    """A contact interval with what an obligation says of it."""

    interval: Duration
    add: Callable[[date], date]  # anchor -> anchor + interval
    tag: str
    text: str


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: ContactRule
    test: Test
    name: str  # policy/rule, as obligations name it
    fixed: _Interval | None  # None: the interval comes from the case
    no_later_than: DateFn | None


# per combination of the facts the conditions read: the rules that did not match, and the match
_Lookup = tuple[Tried, "_Compiled | None"]


class ContactRules:
    """The contact rules of a policy, compiled for one as-of date."""

    def __init__(self, policy: Policy, as_of: date, dates: PolicyDates) -> None:
        self.policy, self.as_of, self.dates = policy, as_of, dates
        self._rules = [self._compile(r) for r in policy.contact_rules]
        reads = frozenset().union(*(cr.test.reads for cr in self._rules))
        self._facts = facts_key(cr.test for cr in self._rules)
        self._first_match: dict[object, _Lookup] = {}
        pairs = tuple((cr.rule, cr.test) for cr in self._rules)
        self._before = [pairs[:i] for i in range(len(pairs) + 1)]  # the rules tried before rule i
        self._needs_age = "age" in reads
        self._unmatched_when_no_rule = bool(policy.unmatched_when_no_rule and policy.contact_rules)

    def _interval(self, interval: Duration, tag: str | None) -> _Interval:
        add = self.dates.calendar.adder(interval.n, interval.unit)
        return _Interval(interval, add, tag or interval.tag, str(interval))

    def _compile(self, r: ContactRule) -> _Compiled:
        fixed = self._interval(parse_duration(r.interval), r.tag) if r.interval else None
        test = compile_condition(r.when, self.policy.profile_groups)
        return _Compiled(r, test, f"{self.policy.id}/{r.id}", fixed, self.dates.optional_fn(r.no_later_than))

    def _lookup(self, v: CaseView) -> _Lookup:
        """Which rule matches first depends only on the facts the conditions read, as coarse as
        they read them (`facts_key`): it is looked up by those (a few hundred combinations)
        instead of tested per case."""
        key = self._facts(v)
        hit = self._first_match.get(key)
        if hit is None:
            i = next((i for i, cr in enumerate(self._rules) if cr.test.holds(v)), len(self._rules))
            hit = self._first_match[key] = (self._before[i], self._rules[i] if i < len(self._rules) else None)
        return hit

    def obligations(
        self, v: CaseView, out: list[Obligation], unmatched: list[str], listener: Listener
    ) -> None:
        """The case's recurring contact, or why it has none."""
        not_matched, cr = self._lookup(v)
        listener.contact_rules_tried(v, not_matched, cr.rule if cr else None)
        if cr is None:
            if self._unmatched_when_no_rule:
                self._no_rule(v, unmatched, listener)
            return
        rule = cr.rule
        v.contact_rule = rule.id
        if rule.unmatched:
            unmatched.append(rule.unmatched)
            return
        interval = cr.fixed
        if interval is None:
            own = v.case.individual_interval
            if own is None:
                unmatched.append(
                    rule.unmatched_without_interval
                    or f"rule {rule.id} takes the interval from individual_interval, which is empty"
                )
                return
            interval = self._interval(own, rule.tag)
        anchor = v.last_counting or v.case.registration_date
        if anchor is None:
            due = self.dates.shift_due(self.as_of)
            listener.no_anchor(self.as_of, due)
        else:
            due = self._due(v, cr, interval, anchor, listener)
        case = v.case
        out.append(
            obligation(
                v, self.as_of, self.policy.id, ObligationKind.CONTACT, interval.tag, due, None, cr.name,
                cycle=anchor.isoformat() if anchor else "none",
                anchor=anchor,
                interval=interval.text,
                extension_months=case.extension_months or 0,
                note=rule.title,
            )
        )  # fmt: skip

    def _due(self, v: CaseView, cr: _Compiled, interval: _Interval, anchor: date, listener: Listener) -> date:
        """Anchor + interval (+ the case's extension), at most `no_later_than`, on a working day."""
        case = v.case
        due = added = interval.add(anchor)
        if case.extension_months:
            due = added = self.dates.calendar.add_months(due, case.extension_months)
        limit = None
        if cr.no_later_than is not None:
            limit = cr.no_later_than(case, None)
            if limit is not None and limit > anchor and limit < due:
                due = limit
        shifted = self.dates.shift_due(due)
        limited = cr.no_later_than is not None
        listener.contact_due(v, anchor, interval.interval, added, limited, limit, due, shifted)
        return shifted

    def _no_rule(self, v: CaseView, unmatched: list[str], listener: Listener) -> None:
        """No rule matched: the case is listed as unmatched, saying which facts no rule covers."""
        p, case = self.policy, v.case
        facts = f"status {case.status}, profile {case.profile}, team {case.team}, " + (
            f"age {v.age}" if v.age is not None else "age unknown"
        )
        reason = f"no rule of {p.id} covers {facts}"
        if v.age is None and self._needs_age:
            reason += " (rules with an age condition need birth_date)"
        unmatched.append(reason)
        listener.no_contact_rule(reason)
