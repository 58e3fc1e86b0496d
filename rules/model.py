"""The data that flows from the caseload through the engine: validated cases in, obligations out.

Everything here is plain data without I/O, and is treated as immutable. The per-row classes
(Case, Measure, Contact, Obligation, CaseFacts) are slotted but not frozen dataclasses: a plan of
100,000 cases builds about half a million of them, and a frozen dataclass's __init__ costs a
third more. Nothing mutates them after construction. The sync layer consumes `Plan`; it never
needs to know which policy rule made an obligation beyond the `rule` and `cycle` strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    ARBEITSLOS = "arbeitslos"
    ARBEITSUCHEND = "arbeitsuchend"
    OHNE_STATUS = "ohne_status"


class Profile(StrEnum):
    MARKTPROFIL = "marktprofil"
    AKTIVIERUNGSPROFIL = "aktivierungsprofil"
    FOERDERPROFIL = "foerderprofil"
    ENTWICKLUNGSPROFIL = "entwicklungsprofil"
    STABILISIERUNGSPROFIL = "stabilisierungsprofil"
    UNTERSTUETZUNGSPROFIL = "unterstuetzungsprofil"
    MARKTNAH = "marktnah"
    NICHT_MARKTNAH = "nicht_marktnah"
    I = "I"  # noqa: E741 - the profile's official one-letter name
    Z = "Z"


class Team(StrEnum):
    STANDARD = "standard"
    FALLMANAGEMENT = "fallmanagement"
    PLUS50 = "50plus"
    SELBSTSTAENDIGE = "selbststaendige"
    BJO = "bjo"
    REHA = "reha"


class Channel(StrEnum):
    PERSOENLICH = "persoenlich"
    TELEFONISCH = "telefonisch"
    VIDEO = "video"
    SCHRIFTLICH = "schriftlich"


class Outcome(StrEnum):
    ERSCHIENEN = "erschienen"
    NICHT_ERSCHIENEN = "nicht_erschienen"
    ABGESAGT = "abgesagt"


class ObligationKind(StrEnum):
    CONTACT = "contact"
    MEASURE_WINDOW = "measure_window"
    MEASURE_BEFORE_END = "measure_before_end"
    MEASURE_AFTER_END = "measure_after_end"
    FOLLOW_UP_START = "follow_up_start"
    CARE_PLAN = "care_plan"
    CARE_PLAN_REVIEW = "care_plan_review"
    PROFILE_REVIEW = "profile_review"


@dataclass(frozen=True, slots=True)
class Duration:
    """An interval as the policies write it: `<n>M` calendar months, `<n>W` weeks, `<n>D` days."""

    n: int
    unit: str  # "M", "W" or "D"

    def __str__(self) -> str:
        return f"{self.n}{self.unit}"

    @property
    def tag(self) -> str:
        """`2M` -> `2MM`, `6W` -> `6WM`, `10D` -> `10TM` (policies.md, Tags)."""
        return f"{self.n}{ {'M': 'MM', 'W': 'WM', 'D': 'TM'}[self.unit] }"


@dataclass(slots=True, eq=True)
class Measure:
    case_id: str
    start: date
    end: date
    measure_id: str | None = None
    kind: str | None = None
    actual_end: date | None = None
    qualifying: bool = False
    follow_up_measure: bool = False
    job_start: bool = False
    completion_date: date | None = None
    row: int = 0

    @property
    def effective_end(self) -> date:
        return self.actual_end or self.end

    @property
    def key(self) -> str:
        """Identity of the measure across runs: its own number, else its dates."""
        return self.measure_id or f"{self.start.isoformat()}_{self.end.isoformat()}"


@dataclass(slots=True, eq=True)
class Contact:
    case_id: str
    date: date
    channel: Channel
    outcome: Outcome = Outcome.ERSCHIENEN
    row: int = 0


@dataclass(slots=True, eq=True)
class Case:
    case_id: str
    counsellor: str
    status: Status
    profile: Profile
    team: Team = Team.STANDARD
    birth_date: date | None = None
    registration_date: date | None = None
    last_contact: date | None = None
    non_activation_end: date | None = None
    profile_since: date | None = None
    buergerarbeit: bool = False
    umschueler: bool = False
    individual_interval: Duration | None = None
    extension_months: int | None = None
    extension_reason: str | None = None
    care_plan_created: date | None = None
    care_plan_valid_until: date | None = None
    needs_interpreter: bool = False
    display_name: str | None = None
    row: int = 0
    measures: tuple[Measure, ...] = ()
    contacts: tuple[Contact, ...] = ()


@dataclass(frozen=True, slots=True)
class RowError:
    """One unreadable row or cell; `row` counts as a spreadsheet does (header = 1)."""

    file: str
    row: int
    column: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "row": self.row, "column": self.column, "message": self.message}

    def __str__(self) -> str:
        return f"{self.file}, row {self.row}, column {self.column}: {self.message}"


@dataclass(frozen=True, slots=True)
class Unmatched:
    case_id: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "reason": self.reason}


@dataclass(slots=True, eq=True)
class Obligation:
    """One contact a case needs. The first eight fields are the JSON contract of plan-output.md.

    `cycle` identifies the round this obligation belongs to (calendar.md, Identity): for a
    `contact` its anchor date, for measure talks the measure key, so that a new counting contact
    starts a new cycle while a changed due date within the cycle updates the same item.
    """

    case_id: str
    counsellor: str
    kind: ObligationKind
    tag: str
    due: date
    window_start: date | None
    overdue: bool
    rule: str
    policy: str
    cycle: str
    measure_key: str | None = None
    anchor: date | None = None
    last_contact: date | None = None
    interval: str | None = None
    extension_months: int = 0
    guidance: tuple[str, ...] = ()
    note: str | None = None
    measure: str | None = None  # the measure as people know it: kind, number, dates

    def contract(self) -> dict[str, Any]:
        """The fields of the JSON contract (`OBLIGATION_FIELDS`), in its order, the values as
        they are: orjson writes a date as its ISO text and the kind as its value."""
        return {
            "case_id": self.case_id,
            "counsellor": self.counsellor,
            "kind": self.kind,
            "tag": self.tag,
            "due": self.due,
            "window_start": self.window_start,
            "overdue": self.overdue,
            "rule": self.rule,
        }

    def to_json(self) -> dict[str, Any]:
        """`contract()` with JSON values only."""
        d = self.contract()
        d["kind"] = str(self.kind)
        d["due"] = self.due.isoformat()
        d["window_start"] = self.window_start.isoformat() if self.window_start else None
        return d


# The JSON contract of an obligation (plan-output.md), in its order: the keys of
# `Obligation.contract` (tests/test_plan_identical.py), the columns of plan --format csv.
OBLIGATION_FIELDS = ("case_id", "counsellor", "kind", "tag", "due", "window_start", "overdue", "rule")

NO_MEASURES: frozenset[str] = frozenset()  # most cases have none


@dataclass(slots=True, eq=True)
class CaseFacts:
    """What the sync layer needs to know about a planned case beyond its obligations.

    `counting_contacts` are the dates of every contact that counts under the policy (including
    `last_contact`), so the reconciler can tell a fulfilled obligation from a vanished one.
    `profile_since` and `measures` (the keys of the case's measures inside the policy's measure
    horizon) let `rules.fulfilment.fate` decide about profile reviews and follow-up-start tasks.
    """

    case_id: str
    counsellor: str
    counting_contacts: tuple[date, ...] = ()
    display_name: str | None = None
    needs_interpreter: bool = False
    first_talk: bool = False
    care_plan_created: date | None = None
    profile_since: date | None = None
    measures: frozenset[str] = NO_MEASURES
    team: Team = Team.STANDARD  # the team leader's report counts per team (sync/report)


@dataclass(slots=True)
class Caseload:
    """Validated cases with their measures and contacts, plus every row error met on the way.

    `files` maps a table (`cases`, `measures`, `contacts`) to the name used in error messages,
    so that errors the engine finds later (a contact after the as-of date, an extension beyond
    the policy's maximum) still name the file the row came from.

    `held` names the cases whose case row was left out for an error: they did not leave the
    caseload, so the sync keeps their calendar items exactly as they are. `held_unknown` is set
    when a bad case row's own case_id could not be read: then no case counts as having left.
    """

    cases: list[Case] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    held: set[str] = field(default_factory=set)
    held_unknown: bool = False


@dataclass(slots=True)
class Plan:
    as_of: date
    policy: str
    obligations: list[Obligation] = field(default_factory=list)
    unmatched: list[Unmatched] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    cases: dict[str, CaseFacts] = field(default_factory=dict)
    held: set[str] = field(default_factory=set)
    held_unknown: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "policy": self.policy,
            "obligations": [o.to_json() for o in self.obligations],
            "unmatched": [u.to_json() for u in self.unmatched],
            "errors": [e.to_json() for e in self.errors],
        }
