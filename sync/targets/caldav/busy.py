"""Busy time of a counsellor on a CalDAV server (`CalDAVTarget.busy`, contract in base.py).

Sources: the program's own calendar of the counsellor (`target.caldav.url` / `calendars`),
whose items count as busy too, and every calendar of `target.caldav.busy_urls` (templates
with the same placeholders and the same safety as `target.caldav.url`, see
transport.calendar_url).

How a source is read (`target.caldav.busy_method`):

- `free-busy`: a `free-busy-query` REPORT (RFC 4791 7.10). The server expands recurrences
  and leaves out transparent and cancelled events; it places all-day events in its own time
  zone (Radicale 3.9 and Xandikos 0.4 use UTC: an absence then ends at 01:00 Berlin time on
  the day after; measured, see tests/test_busy_time.py);
- `events`: a time-range `calendar-query` REPORT for VEVENTs, recurrences expanded here
  (busy_ical.py), all-day events in the zone of the window asked for (the policy's);
- `auto` (default): free-busy-query on the first source of the run; when the server refuses
  it (400, 403, 404, 405, 415, 501) or answers something that is no free-busy, and
  calendar-query then works, the rest of the run reads events only.

The own calendar is always read as events: only they carry the marker that tells our own
proposals (`Interval.own_uid`) from a person's items. Every request goes through the
target's DavSession (counted, retried, bounded by the deadline). Any failure of any source
gives `Busy.failed` (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from kontaktsync.sync.config.masking import mask_userinfo
from kontaktsync.sync.targets.base import BUSY_MARGIN, Busy, Interval, TargetError, window_error
from kontaktsync.sync.targets.caldav.busy_ical import Unusable, event_intervals, freebusy_intervals
from kontaktsync.sync.targets.caldav.webdav import multistatus, origin, path, without_userinfo
from kontaktsync.sync.targets.learned import Learned
from kontaktsync.sync.targets.transport import calendar_url

if TYPE_CHECKING:
    from kontaktsync.sync.config.models import CalDAVSettings
    from kontaktsync.sync.targets.caldav.session import DavSession

FREE_BUSY_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav">'
    '<c:time-range start="{start}" end="{end}"/></c:free-busy-query>'
)
EVENTS_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
    "<d:prop><c:calendar-data/></d:prop>"
    '<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">'
    '<c:time-range start="{start}" end="{end}"/>'
    "</c:comp-filter></c:comp-filter></c:filter></c:calendar-query>"
)
HEADERS = {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"}
# Answers to free-busy-query that mean "not here" (the REPORT unknown, refused or not for this
# collection): fall back to calendar-query. So does a 2xx answer without VFREEBUSY.
NOT_SUPPORTED = frozenset({400, 403, 404, 405, 415, 501})


class BusyReader:
    """Reads busy time for the CalDAV target; remembers for the run, per server, whether it
    answers free-busy-query (the counsellors are read by several threads at once: `Learned` locks)."""

    def __init__(
        self, http: DavSession, cfg: CalDAVSettings, ns_tag: str, own_url: Callable[[str], str]
    ) -> None:
        self.http = http
        self.cfg = cfg
        self.ns_tag = ns_tag
        self.own_url = own_url
        self.forced: bool | None = {"free-busy": True, "events": False}.get(cfg.busy_method)
        self._learned: Learned[bool] = Learned()  # origin -> answers free-busy-query, this run

    def _free_busy(self, url: str) -> bool | None:
        """Does the server of `url` answer free-busy-query (None: not tried yet)?"""
        if self.forced is not None:
            return self.forced
        return self._learned.get(origin(url))

    def _learn(self, url: str, answers: bool) -> None:
        self._learned.put(origin(url), answers)

    def busy(self, calendar: str, start: datetime, end: datetime) -> Busy:
        """See `Target.busy`: never raises."""
        if why := window_error(start, end):
            return Busy.failed(why)
        sources: list[str] = []
        intervals: list[Interval] = []
        try:
            urls = [(self.own_url(calendar), True), *((u, False) for u in self._busy_urls(calendar))]
            for url, own in urls:
                got, how = self._read(url, start, end, events_only=own)
                intervals += got
                sources.append(f"{path(url)} ({how})")
        except Exception as exc:  # fail closed, whatever went wrong
            why = str(exc) if isinstance(exc, TargetError) else f"{type(exc).__name__}: {exc}"
            return Busy.failed(f"busy time of {calendar!r} not readable: {mask_userinfo(why)}", sources)
        return Busy.of(intervals, start, end, sources)

    def _busy_urls(self, calendar: str) -> list[str]:
        out = []
        for i, template in enumerate(self.cfg.busy_urls):
            try:
                out.append(without_userinfo(calendar_url(template, calendar)))
            except TargetError as exc:
                raise TargetError(f"target.caldav.busy_urls[{i}]: {exc}") from None
        return out

    def _read(
        self, url: str, start: datetime, end: datetime, *, events_only: bool
    ) -> tuple[list[Interval], str]:
        """(intervals, how it was read) of one source; TargetError when it cannot be read."""
        if events_only:
            # The program's own calendar that does not exist yet (the first sync makes it)
            # holds nothing: that is no failure. Every other calendar must be there.
            got = self._events(url, start, end, missing_ok=True)
            return (got, "calendar-query") if got is not None else ([], "not there yet")
        free_busy = self._free_busy(url)
        if free_busy is False:
            return self._events(url, start, end) or [], "calendar-query"
        resp = self.http.request(url, "REPORT", _window(FREE_BUSY_BODY, start, end), HEADERS, refusal_ok=True)
        why, answered = f"free-busy-query answered HTTP {resp.status}", 200 <= resp.status < 300
        if answered:
            try:
                got = freebusy_intervals(resp.raw)
                self._learn(url, True)
                return got, "free-busy-query"
            except Unusable as exc:
                why = f"free-busy-query answer (HTTP {resp.status}) unusable: {exc}"
        if free_busy or not (answered or resp.status in NOT_SUPPORTED):
            raise TargetError(f"{path(url)}: {why}")  # forced, or known to work: no fallback
        got = self._events(url, start, end) or []
        self._learn(url, False)  # calendar-query works there: use it for the rest of the run
        return got, "calendar-query"

    def _events(
        self, url: str, start: datetime, end: datetime, *, missing_ok: bool = False
    ) -> list[Interval] | None:
        """The events' busy intervals; None for a calendar that is not there (`missing_ok`)."""
        resp = self.http.request(url, "REPORT", _window(EVENTS_BODY, start, end), HEADERS)
        if resp.status == 404 and missing_ok:
            return None
        if resp.status == 404:
            raise TargetError(f"{path(url)}: no such calendar (HTTP 404)")
        if resp.status != 207:
            raise TargetError(f"{path(url)}: calendar-query answered HTTP {resp.status}")
        out: list[Interval] = []
        for href, status, props in multistatus(resp.raw):
            data = props.get("calendar-data")
            if status >= 300 or data is None:
                raise TargetError(f"{path(url)}: item {href} not readable (HTTP {status})")
            try:
                out += event_intervals(data, start, end, self.ns_tag)
            except ValueError as exc:  # Unusable included
                raise TargetError(f"{path(url)}: item {href} not readable: {exc}") from None
        return out


def _window(body: str, start: datetime, end: datetime) -> str:
    """The time range of a REPORT: a day more on both sides (BUSY_MARGIN), clipped again by Busy.of."""
    return body.format(start=_utc(start - BUSY_MARGIN), end=_utc(end + BUSY_MARGIN))


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
