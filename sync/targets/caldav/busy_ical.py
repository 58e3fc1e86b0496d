"""Busy time from iCalendar: events (with their recurrences) and free-busy answers.

Pure functions, shared by the CalDAV target (caldav/busy.py) and the in-memory target.

- Events: every occurrence in the window, expanded by `recurring-ical-events` (RRULE, RDATE,
  EXDATE, overridden occurrences by RECURRENCE-ID). Not busy: `TRANSP:TRANSPARENT` ("show as
  free") and `STATUS:CANCELLED`. An all-day event (DATE values: an absence, a holiday) is busy
  from midnight to midnight in the counsellor's time zone, and so are floating times; events
  with a TZID or in UTC keep their own zone. An event carrying this deployment's marker
  (`X-KONTAKTSYNC`, targets/marker.py) comes back with its UID in `Interval.own_uid`, and as
  the counsellor's (`Interval.confirmed`) when it is a proposal a person confirmed (a status
  other than TENTATIVE) or moved, lengthened or shortened (`item.times_changed`).
- Free-busy (RFC 4791 section 7.10; RFC 5545's FREEBUSY): every `FREEBUSY` period of a `VFREEBUSY`
  except `FBTYPE=FREE`; BUSY, BUSY-TENTATIVE, BUSY-UNAVAILABLE and unknown types are busy.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from functools import partial
from typing import Any

import icalendar
import recurring_ical_events
from kontaktsync.sync.item import made_theirs
from kontaktsync.sync.targets import marker as marker_codec
from kontaktsync.sync.targets.base import BUSY_MARGIN, Interval
from kontaktsync.sync.targets.caldav.ical import fields_of, marker_of

NOT_BUSY_FBTYPES = frozenset({"FREE"})


class Unusable(ValueError):
    """The text is not iCalendar of the expected kind."""


def event_intervals(body: bytes | str, start: datetime, end: datetime, ns_tag: str) -> list[Interval]:
    """The busy occurrences of the VEVENTs of one calendar object in [start, end); all-day and
    floating events lie in the zone of `start` (the caller's: the policy's time zone)."""
    cal = _calendar(body)
    zone = start.tzinfo
    assert zone is not None, "an aware window (Target.busy checks it)"
    out = []
    # all-day and floating events are placed in `zone` below, whatever zone the expansion
    # assumed for them: it looks a margin further (BUSY_MARGIN), Busy.of clips
    for occ in recurring_ical_events.of(cal).between(start - BUSY_MARGIN, end + BUSY_MARGIN):
        if _text(occ, "TRANSP") == "TRANSPARENT" or _text(occ, "STATUS") == "CANCELLED":
            continue
        begin, finish = _aware(occ.start, zone), _aware(occ.end, zone)
        if finish <= begin:
            continue  # an instant blocks nothing
        marker = marker_of(occ)
        own = _own_uid(occ, marker, ns_tag)
        theirs = own is not None and made_theirs(
            marker, _text(occ, "STATUS") in ("TENTATIVE", ""), partial(_times, occ, marker)
        )
        out.append(Interval(begin, finish, own, theirs))
    return out


def freebusy_intervals(body: bytes | str) -> list[Interval]:
    """The busy periods of the VFREEBUSY components of a free-busy-query answer; `Unusable`
    when the answer holds no VFREEBUSY."""
    cal = _calendar(body)
    comps = list(cal.walk("VFREEBUSY"))
    if not comps:
        raise Unusable("no VFREEBUSY in the answer")
    out = []
    for comp in comps:
        props = comp.get("FREEBUSY", [])
        for prop in props if isinstance(props, list) else [props]:
            if str(prop.params.get("FBTYPE", "BUSY")).upper() in NOT_BUSY_FBTYPES:
                continue
            begin, until = prop.dt
            finish = begin + until if isinstance(until, timedelta) else until
            if begin.tzinfo is None or finish.tzinfo is None:
                raise Unusable("FREEBUSY periods must be in UTC (RFC 5545, the FREEBUSY property)")
            if finish > begin:
                out.append(Interval(begin, finish))
    return out


def _calendar(body: bytes | str) -> icalendar.Calendar:
    try:
        return icalendar.Calendar.from_ical(body)
    except ValueError as exc:
        raise Unusable(f"not iCalendar: {exc}") from None


def _text(comp: Any, name: str) -> str:
    return str(comp.get(name, "")).strip().upper()


def _aware(value: date | datetime, zone: tzinfo) -> datetime:
    """A DATE as midnight in `zone`; a floating time in `zone`; an aware time as it is."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time(), zone)
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def _times(comp: Any, marker: dict[str, str]) -> tuple[str | None, str | None]:
    fields = fields_of(comp, marker)
    return fields["start"], fields.get("end")


def _own_uid(comp: Any, marker: dict[str, str], ns_tag: str) -> str | None:
    if not marker_codec.is_ours(marker, ns_tag):
        return None
    return str(comp.get("UID", "")) or None
