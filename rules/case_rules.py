"""Case rules: one-off obligations of a case (the care plan, its review, a profile review)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from kontaktsync.rules.conditions import Test, compile_case_condition
from kontaktsync.rules.datespec import DateFn, PolicyDates
from kontaktsync.rules.listener import Listener
from kontaktsync.rules.model import Obligation, ObligationKind
from kontaktsync.rules.policy_format import CaseRule, Policy
from kontaktsync.rules.view import CaseView, obligation


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: CaseRule
    test: Test
    name: str
    kind: ObligationKind
    guidance: tuple[str, ...]
    due: DateFn
    window_start: DateFn | None


class CaseRules:
    """The case rules of a policy, compiled for one as-of date."""

    def __init__(self, policy: Policy, as_of: date, dates: PolicyDates) -> None:
        self.policy, self.as_of, self.dates = policy, as_of, dates
        self.rules = [
            _Compiled(
                r,
                compile_case_condition(r.when, policy.profile_groups),
                f"{policy.id}/{r.id}",
                ObligationKind(r.kind),
                tuple(r.guidance),
                dates.fn(r.due),
                dates.optional_fn(r.window_start),
            )
            for r in policy.case_rules
        ]

    def obligations(
        self, v: CaseView, out: list[Obligation], unmatched: list[str], listener: Listener
    ) -> None:
        """What every case rule asks of the case in view (after its contact rule matched)."""
        for cr in self.rules:
            self._one(v, cr, out, unmatched, listener)

    def _one(
        self, v: CaseView, cr: _Compiled, out: list[Obligation], unmatched: list[str], listener: Listener
    ) -> None:
        rule = cr.rule
        if not cr.test.holds(v):
            listener.case_rule_skipped(rule, cr.test, v)
            return
        if cr.kind is ObligationKind.PROFILE_REVIEW and any(o.kind is cr.kind for o in out):
            # the review's cycle is profile_since: one per case, first rule wins
            listener.profile_review_made(rule)
            return
        due_raw = cr.due(v.case, None)
        if due_raw is None:
            if rule.unmatched_if_unknown:
                unmatched.append(rule.unmatched_if_unknown)
            listener.no_date(rule, v.case)
            return
        due = self.dates.shift_due(due_raw)
        ws_raw = cr.window_start(v.case, None) if cr.window_start else None
        ws = self.dates.shift_start(ws_raw)
        listener.case_obligation(rule, (due_raw, due, ws_raw, ws))
        cycle = due_raw.isoformat()
        if cr.kind is ObligationKind.PROFILE_REVIEW:  # done when profile_since moves on
            since = v.case.profile_since
            cycle = since.isoformat() if since is not None else "none"
        out.append(
            obligation(
                v, self.as_of, self.policy.id, cr.kind, rule.tag, due, ws, cr.name,
                cycle=cycle, guidance=cr.guidance, note=rule.title,
            )
        )  # fmt: skip
