"""The canonical columns of the three tables, their converters, and the aliases exports use for
statuses, profiles, teams and channels ("lo", "FM", "Telefon")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kontaktsync.rules.model import Channel, Outcome, Profile, Status, Team
from kontaktsync.sync.caseload.converters import (
    date_converter,
    lookup,
    norm_key,
    to_bool,
    to_case_id,
    to_counsellor,
    to_duration,
    to_months,
    to_text,
)

TABLES = ("cases", "measures", "contacts")


def _enum_table(enum: Any, aliases: dict[str, str]) -> dict[str, Any]:
    table = {norm_key(m.value): m for m in enum}
    table.update({norm_key(k): enum(v) for k, v in aliases.items()})
    return table


_STATUS = _enum_table(
    Status,
    {
        "lo": "arbeitslos",
        "asu": "arbeitsuchend",
        "ohne": "ohne_status",
        "arbeitssuchend": "arbeitsuchend",
        "ohne status": "ohne_status",
    },
)
_PROFILE = _enum_table(Profile, {"nicht marktnah": "nicht_marktnah", "i": "I", "z": "Z", "integriert": "I"})
_TEAM = _enum_table(
    Team,
    {
        "selbstaendige": "selbststaendige",
        "fm": "fallmanagement",
        "bfm": "fallmanagement",
        "50+": "50plus",
    },
)
_CHANNEL = _enum_table(Channel, {"telefon": "telefonisch", "tel": "telefonisch"})
_OUTCOME = _enum_table(Outcome, {})


@dataclass(frozen=True)
class Column:
    name: str
    convert: Callable[[Any], Any]
    required: bool = False


def columns(table: str) -> list[Column]:
    """The columns of `table`. Fresh converters per read, so the per-column caches never outlive
    one caseload."""
    d = date_converter()
    if table == "cases":
        return [
            Column("case_id", to_case_id, True),
            Column("counsellor", to_counsellor, True),
            Column("birth_date", d),
            Column("status", lookup(_STATUS, "status"), True),
            Column("profile", lookup(_PROFILE, "profile"), True),
            Column("team", lookup(_TEAM, "team")),
            Column("registration_date", d),
            Column("last_contact", d),
            Column("non_activation_end", d),
            Column("profile_since", d),
            Column("buergerarbeit", to_bool),
            Column("umschueler", to_bool),
            Column("individual_interval", to_duration),
            Column("extension_months", to_months),
            Column("extension_reason", to_text),
            Column("care_plan_created", d),
            Column("care_plan_valid_until", d),
            Column("needs_interpreter", to_bool),
            Column("display_name", to_text),
        ]
    if table == "measures":
        return [
            Column("case_id", to_case_id, True),
            Column("measure_id", to_text),
            Column("kind", to_text),
            Column("start", d, True),
            Column("end", d, True),
            Column("actual_end", d),
            Column("qualifying", to_bool),
            Column("follow_up_measure", to_bool),
            Column("job_start", to_bool),
            Column("completion_date", d),
        ]
    return [
        Column("case_id", to_case_id, True),
        Column("date", d, True),
        Column("channel", lookup(_CHANNEL, "channel"), True),
        Column("outcome", lookup(_OUTCOME, "outcome")),
    ]
