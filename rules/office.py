"""Office data of a policy: talk lengths, opening hours, buffers and capacity.

What a Jobcenter's documents say about how talks are booked, as data beside the contact rules,
for the placer (`placement.py`) that proposes appointments. Every value may be `null`: the
document is silent and the deployment must set it. The placer refuses to run while a value it
needs is `null` (`Office.missing`), rather than guess an office's hours.
"""

from __future__ import annotations

from datetime import time
from itertools import pairwise

from kontaktsync.rules.model import ObligationKind, Team
from pydantic import BaseModel, ConfigDict, Field, field_validator

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def parse_range(text: str) -> tuple[time, time]:
    """`08:00-12:30` -> (08:00, 12:30). Raises ValueError with a plain message."""
    try:
        start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError:
        raise ValueError(f"'{text}' is not a time range like 08:00-12:30") from None
    if start >= end:
        raise ValueError(f"'{text}' ends before it starts")
    return start, end


def check_ranges(value: list[str] | None) -> list[str] | None:
    """`value` when each is a range like 08:00-12:30 and none overlaps; else ValueError."""
    if value is None:
        return None
    ranges = sorted(parse_range(text) for text in value)
    for (_, end), (start, _) in pairwise(ranges):
        if start < end:
            raise ValueError(f"the ranges {', '.join(value)} overlap")
    return value


_DAY = "ranges `HH:MM-HH:MM`; `[]`: no talks that day; not set: the deployment must set it"


class OpeningHours(_Strict):
    """Hours in which talks are booked, per working day: a list of `HH:MM-HH:MM` ranges (an
    empty list: no talks that day). Saturdays and Sundays are never working days."""

    monday: list[str] | None = Field(default=None, description=_DAY)
    tuesday: list[str] | None = Field(default=None, description=_DAY)
    wednesday: list[str] | None = Field(default=None, description=_DAY)
    thursday: list[str] | None = Field(default=None, description=_DAY)
    friday: list[str] | None = Field(default=None, description=_DAY)

    _ranges = field_validator(*WEEKDAYS)(check_ranges)

    def on(self, weekday: int) -> list[tuple[time, time]]:
        """The ranges of a weekday (0 = Monday), sorted; none on weekends or where not set."""
        if weekday >= len(WEEKDAYS):
            return []
        return sorted(parse_range(text) for text in getattr(self, WEEKDAYS[weekday]) or ())


Minutes = int


class TalkMinutes(_Strict):
    """Length of a talk in minutes. The first that applies wins: `interpreter`, `first_talk`,
    `by_kind`, `by_team`, `default`."""

    default: Minutes | None = Field(default=None, ge=5, le=480, description="a talk not covered below")
    first_talk: Minutes | None = Field(
        default=None, ge=5, le=480, description="the first talk with a customer (no counting contact yet)"
    )
    interpreter: Minutes | None = Field(
        default=None, ge=5, le=480, description="a talk with an interpreter (case flag `needs_interpreter`)"
    )
    by_kind: dict[ObligationKind, Minutes] = Field(
        default_factory=dict, description="per obligation kind, e.g. `care_plan: 60`"
    )
    by_team: dict[Team, Minutes] = Field(
        default_factory=dict, description="per counsellor team, e.g. `bjo: 45`"
    )

    def of(
        self, kind: ObligationKind, team: Team | None = None, first: bool = False, interpreter: bool = False
    ) -> Minutes | None:
        """The length of one talk; None where the policy leaves it to the deployment."""
        for applies, minutes in (
            (interpreter, self.interpreter),
            (first, self.first_talk),
            (True, self.by_kind.get(kind)),
            (team is not None, self.by_team.get(team) if team is not None else None),
        ):
            if applies and minutes is not None:
                return minutes
        return self.default


class Office(_Strict):
    """How the office books talks. `null` everywhere the document is silent: the deployment
    must set it before appointments can be proposed."""

    talk_minutes: TalkMinutes = Field(default_factory=TalkMinutes, description="length of a talk")
    opening_hours: OpeningHours = Field(
        default_factory=OpeningHours, description="hours in which talks are booked, per weekday"
    )
    buffer_minutes: int | None = Field(
        default=None,
        ge=0,
        le=240,
        description="free minutes between two talks, and between a talk and a busy item",
    )
    talks_per_day: int | None = Field(
        default=None, ge=1, le=50, description="talks a full-time counsellor holds a day at most"
    )
    talks_per_week: int | None = Field(
        default=None,
        ge=1,
        le=250,
        description="talks a full-time counsellor holds a week (Monday to Sunday) at most",
    )
    earliest_booking_working_days: int = Field(
        default=1,
        ge=1,
        le=20,
        description="the first proposal lies on the n-th working day after the run date",
    )

    def missing(self) -> list[str]:
        """The values the placer needs and this office leaves `null`, as dotted keys."""
        gaps = [f"opening_hours.{day}" for day in WEEKDAYS if getattr(self.opening_hours, day) is None]
        if self.talk_minutes.default is None:
            gaps.append("talk_minutes.default")
        gaps += [
            key for key in ("buffer_minutes", "talks_per_day", "talks_per_week") if getattr(self, key) is None
        ]
        return [f"office.{gap}" for gap in gaps]
