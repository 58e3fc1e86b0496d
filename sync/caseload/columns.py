"""The canonical columns of the three tables, their converters, and the aliases exports use for
statuses, profiles, teams and channels ("lo", "FM", "Telefon")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kontaktsync.rules.model import Channel, Outcome, Profile, Status, Team
from kontaktsync.sync.caseload.converters import (
    case_ids,
    date_converter,
    iso_dates,
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
    # `convert` of many cells at once, in C: their values, or None when a cell needs `convert`
    # itself (a blank, an uncommon or a bad value). validate.read_rows converts with it the
    # texts a column has not seen yet, and the whole column where its texts do not `repeat`.
    many: Callable[[list[Any]], list[Any] | None] | None = None
    # Whether the column's texts repeat (dates, statuses): then each distinct one is converted
    # once and looked up after. Case ids do not: looking each up would cost more than `many`.
    repeats: bool = True


_CASE_ID = Column("case_id", to_case_id, True, case_ids, repeats=False)


def columns(table: str) -> list[Column]:
    """The columns of `table`. Fresh converters per read, so the per-column caches never outlive
    one caseload."""
    d = date_converter()

    def date_column(name: str, required: bool = False) -> Column:
        return Column(name, d, required, iso_dates)

    if table == "cases":
        return [
            _CASE_ID,
            Column("counsellor", to_counsellor, True),
            date_column("birth_date"),
            Column("status", lookup(_STATUS, "status"), True),
            Column("profile", lookup(_PROFILE, "profile"), True),
            Column("team", lookup(_TEAM, "team")),
            date_column("registration_date"),
            date_column("last_contact"),
            date_column("non_activation_end"),
            date_column("profile_since"),
            Column("buergerarbeit", to_bool),
            Column("umschueler", to_bool),
            Column("individual_interval", to_duration),
            Column("extension_months", to_months),
            Column("extension_reason", to_text),
            date_column("care_plan_created"),
            date_column("care_plan_valid_until"),
            Column("needs_interpreter", to_bool),
            Column("display_name", to_text),
        ]
    if table == "measures":
        return [
            _CASE_ID,
            Column("measure_id", to_text),
            Column("kind", to_text),
            date_column("start", True),
            date_column("end", True),
            date_column("actual_end"),
            Column("qualifying", to_bool),
            Column("follow_up_measure", to_bool),
            Column("job_start", to_bool),
            date_column("completion_date"),
        ]
    return [
        _CASE_ID,
        date_column("date", True),
        Column("channel", lookup(_CHANNEL, "channel"), True),
        Column("outcome", lookup(_OUTCOME, "outcome")),
    ]
