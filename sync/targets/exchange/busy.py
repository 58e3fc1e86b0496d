"""Busy time of a counsellor on Exchange (`ExchangeTarget.busy`, contract in base.py).

One source: the Calendar folder of the counsellor's mailbox, read with a `CalendarView`
(FindItem), in which Exchange itself expands recurring series into their occurrences and
exceptions. The program's own items (markers, proposals) live in the same folder and are told
apart by the marker extended property (`Interval.own_uid`).

Not busy: cancelled items (`IsCancelled`), and items shown as Free or Working Elsewhere
(`LegacyFreeBusyStatus`): a counsellor working from elsewhere still takes talks. Busy:
Busy, Tentative, Out of Office, and No Data (unknown is never taken for free). An all-day
item is busy from midnight to midnight in `target.exchange.timezone`.

GetUserAvailability would give merged free/busy blocks without the marker, so our own
proposals could not be told apart; the CalendarView needs only the read access the target
has anyway. Any failure gives `Busy.failed` (fail closed).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from exchangelib import EWSDateTime
from kontaktsync.sync.item import made_theirs
from kontaktsync.sync.targets import marker as marker_codec
from kontaktsync.sync.targets.base import BUSY_MARGIN, Busy, Interval, TargetError, window_error
from kontaktsync.sync.targets.exchange.connection import Connection, short
from kontaktsync.sync.targets.exchange.mapping import MARKERS, moment_text
from kontaktsync.sync.targets.exchange.patches import MARKER_FIELD, UID_FIELD

NOT_BUSY = frozenset({"Free", "WorkingElsewhere"})
BUSY_FIELDS = (
    "start", "end", "is_all_day", "is_cancelled", "legacy_free_busy_status", UID_FIELD, MARKER_FIELD,
)  # fmt: skip


class BusyReads(Connection):
    """`busy` of the Exchange target."""

    def busy(self, calendar: str, start: datetime, end: datetime) -> Busy:
        if why := window_error(start, end):
            return Busy.failed(why)
        source = [f"{self._mailbox_text(calendar)} Calendar (CalendarView)"]
        try:
            folder = self._whole(calendar, lambda: self.folder(calendar, MARKERS))
            view_start, view_end = _ews(start - BUSY_MARGIN), _ews(end + BUSY_MARGIN)
            # only the fields busy time needs: without .only() exchangelib's GetItem after the
            # FindItem fetches every field of every appointment of 93 days (bodies, MIME)
            view = folder.view(start=view_start, end=view_end).only(*BUSY_FIELDS)
            items = self._whole(calendar, lambda: list(view))
            zone = ZoneInfo(self.ex.timezone)
            intervals = [i for item in items if (i := self._interval(item, zone)) is not None]
        except Exception as exc:  # fail closed, whatever went wrong
            why = str(exc) if isinstance(exc, TargetError) else short(exc)
            return Busy.failed(f"busy time of {calendar!r} not readable: {why}", source)
        return Busy.of(intervals, start, end, source)

    def _interval(self, item: Any, zone: ZoneInfo) -> Interval | None:
        if isinstance(item, Exception):
            raise item
        if item.is_cancelled or item.legacy_free_busy_status in NOT_BUSY:
            return None
        marker = marker_codec.decode(getattr(item, MARKER_FIELD, None))
        own = getattr(item, UID_FIELD, None) if marker_codec.is_ours(marker, self.ns_tag) else None
        if item.is_all_day:  # exchangelib gives the days, the last one included
            return Interval(_midnight(item.start, zone), _midnight(item.end, zone) + timedelta(days=1), own)
        theirs = own is not None and made_theirs(
            marker,
            item.legacy_free_busy_status == "Tentative",
            lambda: (moment_text(item.start, self.tz), moment_text(item.end, self.tz)),
        )
        return Interval(_plain(item.start), _plain(item.end), own, theirs)


def _ews(value: datetime) -> EWSDateTime:
    return EWSDateTime.from_datetime(value.astimezone(UTC))


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    day = day.date() if isinstance(day, datetime) else day
    return datetime.combine(day, time(), zone)


def _plain(value: datetime) -> datetime:
    """An EWSDateTime as a plain aware datetime in UTC."""
    return datetime.fromtimestamp(value.timestamp(), UTC)
