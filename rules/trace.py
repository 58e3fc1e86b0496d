"""The listener of `explain`: every event of the engine as a line of text."""

from __future__ import annotations

from datetime import date

from kontaktsync.rules.conditions import Test
from kontaktsync.rules.dates import Calendar
from kontaktsync.rules.datespec import describe_date, empty_fields, next_measure, offset
from kontaktsync.rules.listener import Dates, Listener, Tried
from kontaktsync.rules.model import Case, Contact, Duration, Measure
from kontaktsync.rules.policy_format import CaseRule, ContactRule, MeasureRule, Policy
from kontaktsync.rules.view import CaseView


def label(m: Measure) -> str:
    """How a trace names a measure."""
    return f"measure {m.key}" + (f" ({m.kind})" if m.kind else "")


class TraceListener(Listener):
    """Writes what the engine does to `lines`."""

    def __init__(self, policy: Policy, calendar: Calendar) -> None:
        self.policy = policy
        self.calendar = calendar
        self.counting = frozenset(policy.counting_channels)
        self.lines: list[str] = []
        self._say = self.lines.append

    def left_out(self, reason: str) -> None:
        self._say(f"the case row is left out: {reason}")

    def contact(self, c: Contact, counts: bool) -> None:
        if counts:
            how = "counts"
        elif c.channel not in self.counting:
            how = f"does not count (channel {c.channel})"
        else:
            how = f"does not count (outcome {c.outcome})"
        self._say(f"contact {c.date} {c.channel}/{c.outcome}: {how}")

    def contact_rules_tried(self, v: CaseView, not_matched: Tried, match: ContactRule | None) -> None:
        for rule, test in not_matched:
            self._say(f"rule {rule.id}: does not match, {test.why_not(v)}")
        if match is not None:
            self._say(f"rule {match.id}: matches" + (f" ({match.title})" if match.title else ""))

    def no_anchor(self, as_of: date, due: date) -> None:
        self._say("no counting contact and no registration date: due now (as-of date)")
        self._moved(as_of, due)

    def contact_due(
        self,
        v: CaseView,
        anchor: date,
        interval: Duration,
        added: date,
        limited: bool,
        limit: date | None,
        capped: date,
        due: date,
    ) -> None:
        src = "last counting contact" if v.last_counting is not None else "registration date"
        self._say(f"anchor {anchor} ({src}); interval {interval}")
        case = v.case
        if case.extension_months:
            self._say(f"extension by {case.extension_months} months ({case.extension_reason}): {added}")
        else:
            self._say(f"anchor + {interval} = {added}")
        if limited and capped != added:
            self._say(f"no later than {limit}: due {added} becomes {limit}")
        elif limited:
            self._say(f"'no later than' does not apply (limit {limit or 'unknown'})")
        self._moved(capped, due)

    def no_contact_rule(self, reason: str) -> None:
        self._say(f"no contact rule matches: {reason}")

    def _why_not_working(self, d: date) -> str:
        name = self.calendar.holiday_name(d)
        return name if name else d.strftime("%A")

    def _moved(self, raw: date, due: date) -> None:
        if due != raw:
            self._say(f"due {raw} is no working day ({self._why_not_working(raw)}): moved back to {due}")

    def _shifts(self, dates: Dates) -> None:
        raw, due, ws_raw, ws = dates
        self._moved(raw, due)
        if ws_raw is not None and ws != ws_raw:
            why = self._why_not_working(ws_raw)
            self._say(f"window start {ws_raw} is no working day ({why}): moved on to {ws}")

    def measure_aged_out(self, m: Measure) -> None:
        E, horizon = m.effective_end, self.policy.measure_horizon
        self._say(f"{label(m)}: ended {E}, more than {horizon} before the as-of date")

    def measure_rule_skipped(self, m: Measure, rule: MeasureRule, why: str) -> None:
        self._say(f"{label(m)}, rule {rule.id}: {why}")

    def follow_up_task(self, case: Case, m: Measure, rule: MeasureRule, raw: date, due: date) -> None:
        within = rule.due.next_measure_within
        if rule.due.from_ == "next_start" and within is not None:
            E = m.effective_end
            n = next_measure(case, m, self.calendar.add(E, *offset(within)))
            if n is None:
                self._say(f"{label(m)}, rule {rule.id}: no measure starts within {within} after the end {E}")
            else:
                self._say(
                    f"{label(m)}, rule {rule.id}: next {label(n)} starts {n.start}, "
                    f"within {within} after the end {E}"
                )
        self._say(f"{label(m)}, rule {rule.id}: {describe_date(rule.due)} = {raw}")
        self._moved(raw, due)
        self._say(f"{label(m)}, rule {rule.id}: {rule.tag} due {due} (no contact fulfils it)")

    def measure_fulfilled(self, m: Measure, rule: MeasureRule, dates: Dates, by: date) -> None:
        self._shifts(dates)
        _, due, _, ws = dates
        self._say(f"{label(m)}, rule {rule.id}: window {ws}..{due} fulfilled by the contact on {by}")

    def measure_window(self, m: Measure, rule: MeasureRule, dates: Dates) -> None:
        self._shifts(dates)
        _, due, _, ws = dates
        self._say(f"{label(m)}, rule {rule.id}: {rule.tag} window {ws}..{due}")

    def case_rule_skipped(self, rule: CaseRule, test: Test, v: CaseView) -> None:
        self._say(f"rule {rule.id}: does not apply, {test.why_not(v)}")

    def profile_review_made(self, rule: CaseRule) -> None:
        self._say(f"rule {rule.id}: does not apply, an earlier rule made the profile review")

    def no_date(self, rule: CaseRule, case: Case) -> None:
        empty = empty_fields(rule.due, case)
        what = f"{', '.join(empty)} {'is' if len(empty) == 1 else 'are'}" if empty else "fields are"
        self._say(f"rule {rule.id}: no date can be computed ({what} empty)")

    def case_obligation(self, rule: CaseRule, dates: Dates) -> None:
        raw, due, _, ws = dates
        self._say(f"rule {rule.id}: due {describe_date(rule.due)} = {raw}")
        self._shifts(dates)
        self._say(f"rule {rule.id}: {rule.tag} due {due}" + (f", window from {ws}" if ws else ""))
