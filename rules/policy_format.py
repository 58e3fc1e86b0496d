"""The policy file format: what a contact-density policy holds, as pydantic models that check it.

A policy is one YAML file (a Jobcenter copies a built-in one and changes it); policy.py finds,
reads and validates such files. The models also give the format's JSON Schema
(`policy.py` `policy_json_schema`, shipped as `policy.schema.json`).
"""

from __future__ import annotations

from typing import Literal, get_args

from kontaktsync.rules.dates import parse_duration, parse_offset
from kontaktsync.rules.model import Channel, Profile, Status, Team
from kontaktsync.rules.office import Office
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Profile groups as the BA uses them (policies.md, Common rules).
DEFAULT_PROFILE_GROUPS: dict[str, list[Profile]] = {
    "market_near": [
        Profile.MARKTPROFIL,
        Profile.AKTIVIERUNGSPROFIL,
        Profile.FOERDERPROFIL,
        Profile.MARKTNAH,
    ],
    "complex": [
        Profile.ENTWICKLUNGSPROFIL,
        Profile.STABILISIERUNGSPROFIL,
        Profile.UNTERSTUETZUNGSPROFIL,
        Profile.NICHT_MARKTNAH,
    ],
}

CaseDateField = Literal[
    "registration_date",
    "last_contact",
    "non_activation_end",
    "profile_since",
    "care_plan_created",
    "care_plan_valid_until",
    "birth_date",
]
CaseField = Literal[CaseDateField, "individual_interval", "extension_months"]
MeasureDateBase = Literal["start", "end", "completion", "last_third", "next_start"]
MEASURE_BASES = frozenset(get_args(MeasureDateBase))
MeasureFlag = Literal["qualifying", "follow_up_measure", "job_start"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_duration(v: str | None) -> str | None:
    if v is not None:
        parse_duration(v)
    return v


def _check_offset(v: str | None) -> str | None:
    if v is not None:
        parse_offset(v)
    return v


class AgeRange(_Strict):
    """Whole years on the as-of date, both ends included: U25 is `max: 24`, Ü25 is `min: 25`."""

    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)


class Condition(_Strict):
    """All given parts must hold. A rule with an `age` part never matches a case without a
    birth date."""

    age: AgeRange | None = None
    status: list[Status] | None = None
    profile: list[Profile] | None = None
    profile_group: list[str] | None = Field(
        default=None, description="names from the policy's profile_groups, e.g. market_near"
    )
    team: list[Team] | None = None
    buergerarbeit: bool | None = None
    umschueler: bool | None = None
    needs_interpreter: bool | None = None
    active_measure: bool | None = Field(default=None, description="a measure is active on the as-of date")
    known: list[CaseField] | None = Field(default=None, description="these fields are filled")
    unknown: list[CaseField] | None = Field(default=None, description="these fields are empty")
    any_of: list[Condition] | None = Field(default=None, description="at least one of these holds")


class DateSpec(_Strict):
    """A date computed from a case or measure field, or the latest/earliest of several.

    `from` names the base date; `plus` adds a signed offset (`-3M`, `14D`, `1W`);
    `working_days_after` then takes the n-th working day after it. In `latest_of` and
    `earliest_of`, parts whose base is unknown are left out. The measure bases (`start`, `end`,
    `completion`, `last_third`, `next_start`) exist only in measure rules. `next_start` is the
    start of the case's next measure when one starts within `next_measure_within` after this
    measure's end (the earliest such), else the end.
    """

    from_: CaseDateField | MeasureDateBase | None = Field(default=None, alias="from")
    next_measure_within: str | None = Field(
        default=None, description="with from: next_start: how long after the end a next measure may start"
    )
    plus: str | None = None
    working_days_after: int | None = Field(default=None, ge=1)
    latest_of: list[DateSpec] | None = None
    earliest_of: list[DateSpec] | None = None

    _plus = field_validator("plus")(_check_offset)
    _within = field_validator("next_measure_within")(_check_duration)

    @model_validator(mode="after")
    def _one_base(self) -> DateSpec:
        given = [x for x in (self.from_, self.latest_of, self.earliest_of) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'from', 'latest_of', 'earliest_of'")
        if (self.from_ == "next_start") != (self.next_measure_within is not None):
            raise ValueError("'from: next_start' and 'next_measure_within' go together (e.g. 14D)")
        if self.from_ is None and (self.plus or self.working_days_after):
            # the engine takes the latest/earliest of the parts as it is: shift each part instead
            raise ValueError(
                "'plus' and 'working_days_after' go with 'from', not with 'latest_of'/'earliest_of' "
                "(give them in each part)"
            )
        return self

    def places(self, at: str) -> list[tuple[str, str]]:
        """Every `from` this date reads with where it stands (`due.latest_of.0.from`), nested
        parts included; `at` is where this date stands."""
        if self.from_:
            return [(f"{at}.from", self.from_)]
        found: list[tuple[str, str]] = []
        for key, parts in (("latest_of", self.latest_of), ("earliest_of", self.earliest_of)):
            for i, part in enumerate(parts or ()):
                found += part.places(f"{at}.{key}.{i}")
        return found

    def bases(self) -> set[str]:
        """Every `from` this date reads, nested parts included."""
        return {base for _, base in self.places("")}


def _no_measure_dates(rule_id: str, dated: dict[str, DateSpec | None]) -> None:
    """A measure date (start, end, ...) outside a measure rule, where there is no measure."""
    for field_name, spec in dated.items():
        for where, base in spec.places(field_name) if spec is not None else ():
            if base in MEASURE_BASES:
                raise ValueError(
                    f"rule {rule_id}: '{base}' is a measure date; only measure rules can use it (at {where})"
                )


class ContactRule(_Strict):
    """One row of a contact-density table. First match wins."""

    id: str
    title: str | None = Field(default=None, description="the document's wording, for explain")
    when: Condition = Condition()
    interval: str | None = Field(default=None, description="fixed interval: 1M, 6W, 14D")
    interval_field: Literal["individual_interval"] | None = Field(
        default=None, description="take the interval from this case field"
    )
    unmatched_without_interval: str | None = Field(
        default=None,
        description="with interval_field: the reason given when the case has no interval",
    )
    tag: str | None = Field(default=None, description="defaults to the interval's tag (2M -> 2MM)")
    no_later_than: DateSpec | None = Field(
        default=None,
        description="due is at most this date, where it is known and lies after the anchor",
    )
    unmatched: str | None = Field(
        default=None, description="a matching case is listed as unmatched with this reason"
    )

    _interval = field_validator("interval")(_check_duration)

    @model_validator(mode="after")
    def _one_outcome(self) -> ContactRule:
        outcomes = [x for x in (self.interval, self.interval_field, self.unmatched) if x]
        if len(outcomes) != 1:
            raise ValueError("give exactly one of 'interval', 'interval_field', 'unmatched'")
        if self.unmatched and (self.tag or self.no_later_than):
            raise ValueError(
                f"rule {self.id}: a rule with 'unmatched' makes no contact: drop 'tag', 'no_later_than'"
            )
        if self.unmatched_without_interval and not self.interval_field:
            raise ValueError(f"rule {self.id}: 'unmatched_without_interval' goes with 'interval_field'")
        _no_measure_dates(self.id, {"no_later_than": self.no_later_than})
        return self


class MeasureCondition(_Strict):
    qualifying: bool | None = None
    lasts_at_least: str | None = Field(
        default=None, description="E >= start + n - 1 day (policies.md, Measure length)"
    )
    lasts_less_than: str | None = None
    min_length_days: int | None = Field(
        default=None, description="left out when length (both ends counted) is shorter"
    )
    min_length_unless: list[MeasureFlag] = Field(
        default_factory=list, description="flags that waive min_length_days"
    )
    skip_if: list[MeasureFlag] = Field(default_factory=list, description="left out when set")
    require: list[MeasureFlag] = Field(default_factory=list, description="only when all of these are set")

    _a = field_validator("lasts_at_least", "lasts_less_than")(_check_duration)


class _DatedRule(_Strict):
    """What measure and case rules share: a tagged obligation with a due date and maybe a window."""

    id: str
    title: str | None = None
    tag: str
    window_start: DateSpec | None = None
    due: DateSpec
    guidance: list[str] = Field(default_factory=list, description="the document's guiding questions")


class MeasureRule(_DatedRule):
    """A talk around a measure's end, or a task about it; applied to every measure of a case.

    `follow_up_start` (check that the follow-up measure began) is a task the counsellor ticks
    off: no contact fulfils it, so it has no window.
    """

    kind: Literal["measure_window", "measure_before_end", "measure_after_end", "follow_up_start"]
    when: MeasureCondition = MeasureCondition()

    @model_validator(mode="after")
    def _no_window_for_tasks(self) -> MeasureRule:
        if self.kind == "follow_up_start" and self.window_start is not None:
            raise ValueError("a follow_up_start rule has no window_start: no contact fulfils it")
        return self


class CaseCondition(Condition):
    """A case rule's condition: a contact-table condition, plus the contact rule that matched."""

    contact_rule: list[str] | None = Field(
        default=None,
        description="applies only when one of these contact rules matched the case (first match)",
    )


class CaseRule(_DatedRule):
    """A one-off obligation of a case: the care plan, its review, a profile review."""

    kind: Literal["care_plan", "care_plan_review", "profile_review"]
    when: CaseCondition = CaseCondition()
    unmatched_if_unknown: str | None = Field(
        default=None, description="reason listed as unmatched when the due date cannot be computed"
    )

    @model_validator(mode="after")
    def _no_measure(self) -> CaseRule:
        _no_measure_dates(self.id, {"due": self.due, "window_start": self.window_start})
        return self


class Region(_Strict):
    country: str = Field(description="ISO country code as the holidays package knows it: DE, AT")
    subdivision: str | None = Field(default=None, description="e.g. BY, NW, BE, HH")


class Policy(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    title: str
    source: str | None = Field(default=None, description="the document this policy reads")
    region: Region
    timezone: str = "Europe/Berlin"
    counting_channels: list[Channel]
    max_extension_months: int = Field(default=0, ge=0, le=24)
    unmatched_when_no_rule: bool = Field(
        default=True, description="list a case as unmatched when no contact rule matches it"
    )
    measure_horizon: str = Field(
        default="6M", description="measures that ended longer ago than this produce nothing"
    )
    profile_groups: dict[str, list[Profile]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_PROFILE_GROUPS.items()}
    )
    contact_rules: list[ContactRule] = Field(default_factory=list)
    measure_rules: list[MeasureRule] = Field(default_factory=list)
    case_rules: list[CaseRule] = Field(default_factory=list)
    office: Office | None = Field(
        default=None,
        description="how the office books talks, for proposed appointments (slot mode); plans ignore it",
    )

    _h = field_validator("measure_horizon")(_check_duration)

    @model_validator(mode="after")
    def _references(self) -> Policy:
        ids = [r.id for r in [*self.contact_rules, *self.measure_rules, *self.case_rules]]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"rule ids must be unique; repeated: {', '.join(dupes)}")

        def groups(c: Condition) -> list[str]:
            own = list(c.profile_group or [])
            for sub in c.any_of or []:
                own += groups(sub)
            return own

        for rule in [*self.contact_rules, *self.case_rules]:
            for g in groups(rule.when):
                if g not in self.profile_groups:
                    raise ValueError(
                        f"rule {rule.id}: unknown profile_group '{g}' "
                        f"(known: {', '.join(self.profile_groups)})"
                    )
        self._check_case_rules()
        return self

    def _check_case_rules(self) -> None:
        """What the engine cannot run: a contact_rule that is not in the contact table. (A
        measure date outside a measure rule is refused by the rule itself.)"""
        contact_ids = [r.id for r in self.contact_rules]
        for rule in self.case_rules:
            for name in rule.when.contact_rule or ():
                if name not in contact_ids:
                    known = ", ".join(contact_ids) or "none"
                    raise ValueError(
                        f"rule {rule.id}: unknown contact_rule '{name}' (contact rules: {known})"
                    )
