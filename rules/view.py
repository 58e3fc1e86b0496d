"""The facts of one case on the as-of date, derived once and read by every rule."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from kontaktsync.rules.model import Case, Contact, Obligation, ObligationKind, Outcome, RowError


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


@dataclass(frozen=True, slots=True)
class Viewer:
    """Makes the view of a case: its age, whether a measure is active, its counting contacts."""

    as_of: date
    counting_channels: frozenset[str]
    contacts_file: str

    def view(self, case: Case, errors: list[RowError], heard: Callable[[Contact, bool], None]) -> CaseView:
        """The case's facts; a contact after the as-of date is left out with an error. `heard`
        learns of every other contact and whether it counts (`Listener.contact`)."""
        T = self.as_of
        b = case.birth_date
        age = None if b is None else T.year - b.year - ((T.month, T.day) < (b.month, b.day))
        active = False
        for m in case.measures:
            if m.start <= T <= (m.actual_end or m.end):
                active = True
                break
        lc = case.last_contact  # never after T: the engine leaves such a case out
        if not case.contacts:
            only = () if lc is None else (lc,)
            return CaseView(case, age, lc, only, active, case.status, case.profile, case.team)
        counting: list[date] = [] if lc is None else [lc]
        counting_channels, attended = self.counting_channels, Outcome.ERSCHIENEN
        for c in case.contacts:
            if c.date > T:
                errors.append(
                    RowError(
                        self.contacts_file,
                        c.row,
                        "date",
                        f"contact on {c.date:%Y-%m-%d} lies after the as-of date {T:%Y-%m-%d}; "
                        "it is left out",
                    )
                )
                continue
            counts = c.channel in counting_channels and c.outcome is attended
            heard(c, counts)
            if counts:
                counting.append(c.date)
        if len(counting) > 1:
            counting.sort()
        last = counting[-1] if counting else None
        return CaseView(case, age, last, tuple(counting), active, case.status, case.profile, case.team)


def obligation(
    v: CaseView,
    as_of: date,
    policy_id: str,
    kind: ObligationKind,
    tag: str,
    due: date,
    window_start: date | None,
    rule_name: str,
    cycle: str,
    measure_key: str | None = None,
    anchor: date | None = None,
    interval: str | None = None,
    extension_months: int = 0,
    guidance: tuple[str, ...] = (),
    note: str | None = None,
    measure: str | None = None,
) -> Obligation:
    """An obligation of the case in view; the arguments after `cycle` differ by kind.

    The fields are passed to `Obligation` by position, in its order: one obligation is made per
    due contact, and keyword arguments collected in a dict and passed on by name took three times
    as long (1.0 µs instead of 0.34 µs per obligation)."""
    case = v.case
    return Obligation(
        case.case_id, case.counsellor, kind, tag, due, window_start, due < as_of, rule_name,
        policy_id, cycle, measure_key, anchor, v.last_counting, interval, extension_months,
        guidance, note, measure,
    )  # fmt: skip
