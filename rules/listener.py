"""What the engine tells whoever listens while it plans a case.

`plan` listens with `Listener`, whose methods do nothing; `explain` with
`kontaktsync.rules.trace.TraceListener`, which words every event as a line. The engine takes
the same path either way, so what `explain` shows is exactly what `plan` did.
"""

from __future__ import annotations

from datetime import date

from kontaktsync.rules.conditions import Test
from kontaktsync.rules.model import Case, Contact, Duration, Measure
from kontaktsync.rules.policy_format import CaseRule, ContactRule, MeasureRule
from kontaktsync.rules.view import CaseView

Tried = tuple[tuple[ContactRule, Test], ...]
# an obligation's due and window start as computed, and as moved to working days
Dates = tuple[date, date, date | None, date | None]


class Listener:
    """The events of planning one case, in the order they happen. Does nothing."""

    def left_out(self, reason: str) -> None:
        """The case row is left out for an error."""

    def contact(self, c: Contact, counts: bool) -> None:
        """A contact on or before the as-of date, and whether it counts."""

    # -- the contact rule ---------------------------------------------------------------------

    def contact_rules_tried(self, v: CaseView, not_matched: Tried, match: ContactRule | None) -> None:
        """The rules tried before the first match (all of them when none matched)."""

    def no_anchor(self, as_of: date, due: date) -> None:
        """No counting contact and no registration date: due on the as-of date (`due` on a
        working day)."""

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
        """`anchor` (the last counting contact, else the registration) + `interval` (+ the case's
        extension) = `added`; with a `no_later_than` (`limited`), its `limit` may make it earlier
        (`capped`); `due` is that on a working day."""

    def no_contact_rule(self, reason: str) -> None: ...

    # -- measure rules --------------------------------------------------------------------------

    def measure_aged_out(self, m: Measure) -> None:
        """The measure ended before the policy's horizon."""

    def measure_rule_skipped(self, m: Measure, rule: MeasureRule, why: str) -> None: ...

    def follow_up_task(self, case: Case, m: Measure, rule: MeasureRule, raw: date, due: date) -> None:
        """A follow-up-start task due on `raw`, `due` on a working day."""

    def measure_fulfilled(self, m: Measure, rule: MeasureRule, dates: Dates, by: date) -> None:
        """A counting contact on `by` lies in the window."""

    def measure_window(self, m: Measure, rule: MeasureRule, dates: Dates) -> None: ...

    # -- case rules -----------------------------------------------------------------------------

    def case_rule_skipped(self, rule: CaseRule, test: Test, v: CaseView) -> None: ...

    def profile_review_made(self, rule: CaseRule) -> None:
        """An earlier rule already made the case's profile review."""

    def no_date(self, rule: CaseRule, case: Case) -> None: ...

    def case_obligation(self, rule: CaseRule, dates: Dates) -> None: ...


SILENT = Listener()
