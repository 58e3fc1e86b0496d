"""Measure rules: talks around each measure's end, and follow-up-start tasks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

from kontaktsync.rules.dates import german_date, parse_duration
from kontaktsync.rules.datespec import DateFn, PolicyDates
from kontaktsync.rules.listener import Listener
from kontaktsync.rules.model import Measure, Obligation, ObligationKind
from kontaktsync.rules.policy_format import MeasureRule, Policy
from kontaktsync.rules.view import CaseView, obligation

_duration = cache(parse_duration)
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: MeasureRule
    name: str
    kind: ObligationKind
    guidance: tuple[str, ...]
    due: DateFn
    window_start: DateFn | None


class MeasureRules:
    """The measure rules of a policy, compiled for one as-of date."""

    def __init__(self, policy: Policy, as_of: date, dates: PolicyDates) -> None:
        self.policy, self.as_of, self.dates = policy, as_of, dates
        self._rules = [
            _Compiled(
                r,
                f"{policy.id}/{r.id}",
                ObligationKind(r.kind),
                tuple(r.guidance),
                dates.fn(r.due),
                dates.optional_fn(r.window_start),
            )
            for r in policy.measure_rules
        ]
        h = parse_duration(policy.measure_horizon)
        self.horizon = dates.calendar.add(as_of, -h.n, h.unit)

    def obligations(self, v: CaseView, m: Measure, out: list[Obligation], listener: Listener) -> None:
        """What the rules ask around measure `m` of the case in view."""
        if not self._rules:
            return
        E = m.effective_end
        if self.horizon > E:
            listener.measure_aged_out(m)
            return
        length = (E - m.start).days + 1
        for mr in self._rules:
            rule = mr.rule
            why = self._skip(rule, m, length)
            if why:
                listener.measure_rule_skipped(m, rule, why)
                continue
            due_raw = mr.due(v.case, m)
            ws_raw = mr.window_start(v.case, m) if mr.window_start else None
            if due_raw is None:
                continue
            due = self.dates.shift_due(due_raw)
            ws = self.dates.shift_start(ws_raw)
            if mr.kind is ObligationKind.FOLLOW_UP_START:  # a task: no contact fulfils it
                listener.follow_up_task(v.case, m, rule, due_raw, due)
                out.append(
                    obligation(
                        v, self.as_of, self.policy.id, mr.kind, rule.tag, due, None, mr.name,
                        cycle=m.key, measure_key=m.key, guidance=mr.guidance, note=rule.title,
                        measure=describe(m),
                    )
                )  # fmt: skip
                continue
            lo = ws or date.min
            fulfilled = next((c for c in v.counting_contacts if lo <= c <= due), None)
            if fulfilled is not None:
                listener.measure_fulfilled(m, rule, (due_raw, due, ws_raw, ws), fulfilled)
                continue
            listener.measure_window(m, rule, (due_raw, due, ws_raw, ws))
            key = m.key
            out.append(
                obligation(
                    v, self.as_of, self.policy.id, mr.kind, rule.tag, due, ws, mr.name,
                    cycle=key, measure_key=key, guidance=mr.guidance, note=rule.title,
                    measure=describe(m),
                )
            )  # fmt: skip

    def _skip(self, rule: MeasureRule, m: Measure, length: int) -> str | None:
        """Why `rule` does not apply to `m` (None: it applies)."""
        w = rule.when
        if w.qualifying is not None and m.qualifying != w.qualifying:
            return "qualifying measure" if m.qualifying else "not a qualifying measure"
        if w.lasts_at_least or w.lasts_less_than:
            d = _duration(w.lasts_at_least or w.lasts_less_than)
            lasts = m.effective_end >= self.dates.calendar.add_duration(m.start, d) - _ONE_DAY
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


def describe(m: Measure) -> str:
    """The measure as a counsellor recognises it: kind, number and dates (dd.mm.yyyy)."""
    parts = [m.kind or "Maßnahme"]
    if m.measure_id:
        parts.append(m.measure_id)
    span = f"{german_date(m.start)} bis {german_date(m.end)}"
    if m.actual_end and m.actual_end != m.end:
        span += f", tatsächlich beendet {german_date(m.actual_end)}"
    return " ".join(parts) + f", {span}"
