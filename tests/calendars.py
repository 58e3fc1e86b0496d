"""A second CalDAV client for reading calendars back and acting as a person in them.

Deliberately not kontaktsync code: plain urllib (MKCOL, MKCALENDAR, PROPFIND, REPORT, GET, PUT,
DELETE), so what it sees is what any client would see. Every test that plays a person or another
program on a server uses it. `auth` is (user, password) for servers with Basic auth.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, date, datetime
from urllib.parse import urljoin

import icalendar

DAV = "{DAV:}"
Auth = tuple[str, str] | None
_PROPFIND = b'<?xml version="1.0"?><propfind xmlns="DAV:"><prop><getetag/></prop></propfind>'


def request(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    auth: Auth = None,
) -> tuple[int, bytes, str]:
    """(status, body, ETag header) of one request; HTTP errors raise `urllib.error.HTTPError`."""
    all_headers = dict(headers or {})
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        all_headers["Authorization"] = f"Basic {token}"
    req = urllib.request.Request(url, data=body, method=method, headers=all_headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, resp.read(), resp.headers.get("ETag", "")


def answer(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    auth: Auth = None,
) -> tuple[int, bytes]:
    """(status, body) of one request, an HTTP error status returned like any other."""
    try:
        status, content, _ = request(url, method, body, headers, auth)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    return status, content


def make_calendar(url: str, auth: Auth = None) -> None:
    """MKCALENDAR, after the counsellor's home above it (MKCOL; it may be there already, 405):
    servers create a calendar's parent, not the parent's parent."""
    home = url.rstrip("/").rsplit("/", 1)[0] + "/"
    assert answer(home, "MKCOL", auth=auth)[0] in (201, 405)
    assert request(url, "MKCALENDAR", auth=auth)[0] == 201


def etags(url: str, auth: Auth = None) -> dict[str, str]:
    """href (as the server lists it) -> ETag of every object in the calendar at `url`; empty
    when the calendar does not exist."""
    headers = {"Depth": "1", "Content-Type": "application/xml"}
    try:
        _, body, _ = request(url, "PROPFIND", _PROPFIND, headers, auth)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return {}
        raise
    out = {}
    for resp in ET.fromstring(body).findall(f"{DAV}response"):
        href = resp.findtext(f"{DAV}href") or ""
        if href.endswith(".ics"):
            out[href] = resp.findtext(f"{DAV}propstat/{DAV}prop/{DAV}getetag") or ""
    return out


def read_calendar(url: str, auth: Auth = None) -> dict[str, bytes]:
    """href -> body of every object in the calendar at `url`."""
    return {href: request(urljoin(url, href), auth=auth)[1] for href in etags(url, auth)}


def calendar_items(url: str, auth: Auth = None) -> dict[str, str]:
    """href -> iCalendar text of every object in the calendar at `url`."""
    return {href: body.decode() for href, body in read_calendar(url, auth).items()}


def components(url: str, auth: Auth = None) -> list[icalendar.cal.Component]:
    """Every VTODO and VEVENT in the calendar at `url`."""
    comps = []
    for body in read_calendar(url, auth).values():
        cal = icalendar.Calendar.from_ical(body)
        comps.extend(c for c in cal.subcomponents if c.name in ("VTODO", "VEVENT"))
    return comps


def server_uids(base_url: str, counsellors: Iterable[str]) -> list[str]:
    """Every UID in the given counsellors' calendars under `base_url` (duplicates kept)."""
    return [str(c["UID"]) for who in counsellors for c in components(f"{base_url}{who}/kontaktdichte/")]


def uids(items: dict[str, str]) -> list[str]:
    """The UID of each object of a `calendar_items` answer."""
    return [
        next(line[4:].strip() for line in text.splitlines() if line.startswith("UID:"))
        for text in items.values()
    ]


def mentions(items: dict[str, str], case_id: str) -> list[str]:
    """hrefs of the objects whose text mentions a customer number (the summary carries it)."""
    return [href for href, text in items.items() if case_id in text.replace("\r\n ", "")]


def put_object(url: str, body: bytes, etag: str | None = None, auth: Auth = None) -> int:
    """PUT an object as a person's client does (If-Match its ETag when given): the status."""
    headers = {"Content-Type": "text/calendar; charset=utf-8"}
    if etag:
        headers["If-Match"] = etag
    return request(url, "PUT", body, headers, auth)[0]


def put_events(
    calendar_url: str, *events: icalendar.Event, name: str | None = None, auth: Auth = None
) -> None:
    """A person's new object holding `events` (see `calendar_of`), at `name`.ics in the calendar
    (default: the first event's UID); the server must take it."""
    href = f"{calendar_url}{name or events[0]['UID']}.ics"
    assert put_object(href, calendar_of(*events), auth=auth) in (200, 201, 204)


def delete_object(url: str, etag: str | None = None, auth: Auth = None) -> int:
    headers = {"If-Match": etag} if etag else {}
    return request(url, "DELETE", None, headers, auth)[0]


def event(uid: str, start: datetime | date, end: datetime | date, **props: object) -> icalendar.Event:
    """A person's event (`RRULE={"FREQ": "WEEKLY"}`, `RECURRENCE_ID=...`: underscores become
    dashes in property names)."""
    ev = icalendar.Event()
    ev.add("UID", uid)
    ev.add("DTSTAMP", datetime(2026, 11, 1, tzinfo=UTC))
    ev.add("SUMMARY", uid)
    ev.add("DTSTART", start)
    ev.add("DTEND", end)
    for name, value in props.items():
        ev.add(name.replace("_", "-"), value)
    return ev


def calendar_of(*events: icalendar.Event) -> bytes:
    """One calendar object holding `events`, as a person's client writes it."""
    cal = icalendar.Calendar()
    cal.add("PRODID", "-//a person's client//EN")
    cal.add("VERSION", "2.0")
    for ev in events:
        cal.add_component(ev)
    cal.add_missing_timezones()
    return cal.to_ical()
