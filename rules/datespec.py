"""Date specs compiled into functions of (case, measure), and the working-day shifts of dues.

A spec is compiled once per engine (memoised per spec object), so the policy is read once and
not once per case. `describe_date` words a spec for `explain`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from functools import cache
from operator import attrgetter

from kontaktsync.rules.dates import Calendar, parse_offset
from kontaktsync.rules.model import Case, Measure
from kontaktsync.rules.policy_format import MEASURE_BASES, DateSpec

DateFn = Callable[[Case, "Measure | None"], "date | None"]

offset = cache(parse_offset)


def describe_date(spec: DateSpec) -> str:
    """A date rule in words, for explain: `profile_since + 6M`, `1st working day after ...`."""
    if spec.latest_of is not None or spec.earliest_of is not None:
        which = "latest" if spec.latest_of is not None else "earliest"
        return f"the {which} of " + " and ".join(describe_date(s) for s in spec.latest_of or spec.earliest_of)
    text = str(spec.from_)
    if spec.from_ == "next_start":
        text = f"the next measure's start (within {spec.next_measure_within} after the end, else the end)"
    if spec.plus:
        n, unit = offset(spec.plus)
        text += f" {'-' if n < 0 else '+'} {abs(n)}{unit}"
    if spec.working_days_after:
        text = f"working day {spec.working_days_after} after {text}"
    return text


def empty_fields(spec: DateSpec, case: Case) -> list[str]:
    """The case fields a date rule reads that are empty in `case` (for explain)."""
    return sorted(b for b in spec.bases() if b not in MEASURE_BASES and getattr(case, b) is None)


def next_measure(case: Case, m: Measure, last: date) -> Measure | None:
    """The case's measure that starts first after `m`'s effective end, up to `last`."""
    E = m.effective_end
    found = [n for n in case.measures if E < n.start <= last]
    return min(found, key=attrgetter("start")) if found else None


def _completion(m: Measure) -> date:
    E = m.effective_end
    cd = m.completion_date
    return cd if cd is not None and cd > E else E


def _last_third(m: Measure) -> date:
    E = m.effective_end
    length = (E - m.start).days + 1
    return m.start + timedelta(days=(2 * length) // 3)


_MEASURE_BASE: dict[str, Callable[[Measure], date]] = {
    "start": attrgetter("start"),
    "end": attrgetter("effective_end"),
    "completion": _completion,
    "last_third": _last_third,
}


def _base_fn(name: str | None) -> DateFn:
    if not name:
        return lambda case, m: None
    of_case = attrgetter(name)
    if name not in MEASURE_BASES:
        return lambda case, m: of_case(case)
    of_measure = _MEASURE_BASE[name]
    return lambda case, m: of_case(case) if m is None else of_measure(m)


def _then(base: DateFn, steps: list[Callable[[date], date]]) -> DateFn:
    """`base` followed by `steps` (each applied to a known date)."""
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


class PolicyDates:
    """The date specs of one policy, compiled against its calendar."""

    def __init__(self, calendar: Calendar) -> None:
        self.calendar = calendar
        self._fns: dict[int, tuple[DateSpec, DateFn]] = {}

    def fn(self, spec: DateSpec) -> DateFn:
        """`spec` compiled into a function of (case, measure), memoised per spec object."""
        known = self._fns.get(id(spec))
        if known is None:
            # the spec is kept with its function so that its id stays unique
            known = self._fns[id(spec)] = (spec, self._compile(spec))
        return known[1]

    def optional_fn(self, spec: DateSpec | None) -> DateFn | None:
        return None if spec is None else self.fn(spec)

    def _compile(self, spec: DateSpec) -> DateFn:
        if spec.latest_of is not None or spec.earliest_of is not None:
            parts = [self.fn(s) for s in (spec.latest_of or spec.earliest_of)]
            pick = max if spec.latest_of is not None else min

            def extreme(case: Case, m: Measure | None) -> date | None:
                known = [d for d in (f(case, m) for f in parts) if d is not None]
                return pick(known) if known else None

            return extreme
        if spec.from_ == "next_start":
            base = self._next_start_fn(spec.next_measure_within or "14D")
        else:
            base = _base_fn(spec.from_)
        steps: list[Callable[[date], date]] = []
        if spec.plus:
            steps.append(self.calendar.adder(*offset(spec.plus)))
        if spec.working_days_after:
            n_days, cal = spec.working_days_after, self.calendar
            steps.append(lambda d: cal.working_days_after(d, n_days))
        return _then(base, steps)

    def _next_start_fn(self, within: str) -> DateFn:
        """`from: next_start`: the next measure's start when it begins within `within` after
        the end, else the end (policies.md, hamburg: follow_up_start)."""
        add_within = self.calendar.adder(*offset(within))

        def next_start(case: Case, m: Measure | None) -> date | None:
            if m is None:
                return None
            n = next_measure(case, m, add_within(m.effective_end))
            return m.effective_end if n is None else n.start

        return next_start

    def shift_due(self, d: date) -> date:
        """A due on a day off moves back to the working day before."""
        return self.calendar.previous_working_day(d)

    def shift_start(self, d: date | None) -> date | None:
        """A window start on a day off moves on to the next working day."""
        return None if d is None else self.calendar.next_working_day(d)
