"""WebDAV/CalDAV wire details of the CalDAV target: request bodies, multistatus parsing, the
probe's reading of a PROPFIND answer, and URL helpers that never show user-info."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit
from xml.sax.saxutils import escape

NS = {"d": "DAV:", "c": "urn:ietf:params:xml:ns:caldav"}
MULTIGET_BATCH = 200  # hrefs per calendar-multiget REPORT

SYNC_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token>'
    "<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"
)
PROPFIND_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:resourcetype/></d:prop></d:propfind>'
)
MULTIGET_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
    "<d:prop><d:getetag/><c:calendar-data/></d:prop>"
)
ETAGS_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
    "<d:prop><d:getetag/></d:prop>"
)
PROBE_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
    "<d:prop><d:resourcetype/><d:displayname/><c:supported-calendar-component-set/></d:prop>"
    "</d:propfind>"
)
MKCALENDAR_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop>'
    "<d:displayname>Kontaktdichte</d:displayname>"
    '<c:supported-calendar-component-set><c:comp name="VTODO"/><c:comp name="VEVENT"/>'
    "</c:supported-calendar-component-set></d:prop></d:set></c:mkcalendar>"
)


def probe_answer(status: int, raw: str | bytes, create_calendars: bool) -> tuple[str, bool]:
    """(detail, ok) for the answer to the probe's PROPFIND."""
    if status in (401, 403):
        return f"HTTP {status}: access refused; check target.caldav.username and the password secret", False
    if status == 404:
        if create_calendars:
            return "not there yet; will be created at the first sync", True
        return "HTTP 404; create the calendar or set create_calendars = true", False
    if status != 207:
        return f"HTTP {status} to PROPFIND; is this a CalDAV URL?", False
    try:
        root = ET.fromstring(raw.encode() if isinstance(raw, str) else raw)
    except ET.ParseError:
        return "answer is not WebDAV XML; is this a CalDAV URL?", False
    if root.find(".//d:resourcetype/c:calendar", NS) is None:
        return "exists but is not a calendar collection", False
    name = (root.findtext(".//d:displayname", default="", namespaces=NS) or "").strip()
    comps = [c.get("name", "") for c in root.findall(".//c:comp", NS)]
    what = "calendar" + (f" '{name}'" if name else "")
    if comps:
        what += f" ({', '.join(comps)})"
    if comps and "VTODO" not in comps:
        return what + ": does not take tasks (VTODO)", False
    return what, True


def path(url: str) -> str:
    """The path of a URL, for messages and comparisons (never user:password@host)."""
    return urlsplit(url).path or "/"


def origin(url: str) -> str:
    """scheme://host:port of a URL: what is learned about a server is kept under it."""
    return "{0.scheme}://{0.netloc}".format(urlsplit(url))


def host(netloc: str) -> str:
    """host[:port] of a netloc, without user-info."""
    return netloc.rpartition("@")[2]


def without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=host(parts.netloc)))


def xml_text(text: str) -> str:
    return escape(text)


def multistatus(raw: str | bytes | ET.Element) -> Iterator[tuple[str, int, dict[str, str]]]:
    """(href, status, {getetag, calendar-data}) per response of a multistatus."""
    root = (
        raw if isinstance(raw, ET.Element) else ET.fromstring(raw.encode() if isinstance(raw, str) else raw)
    )
    for resp in root.findall("d:response", NS):
        href_el = resp.find("d:href", NS)
        if href_el is None or not href_el.text:
            continue
        status = _status(resp.find("d:status", NS))
        props: dict[str, str] = {}
        seen: list[int] = []
        for ps in resp.findall("d:propstat", NS):
            ps_status = _status(ps.find("d:status", NS))
            seen.append(ps_status)
            if ps_status >= 300:
                continue
            etag = ps.find("d:prop/d:getetag", NS)
            if etag is not None and etag.text:
                props["getetag"] = etag.text.strip()
            data = ps.find("d:prop/c:calendar-data", NS)
            if data is not None and data.text:
                props["calendar-data"] = data.text
        if status == 0 and seen:
            ok = [x for x in seen if x < 300]
            status = min(ok) if ok else min(seen)
        yield href_el.text.strip(), status or 200, props


def _status(el: ET.Element | None) -> int:
    if el is None or not el.text:
        return 0
    parts = el.text.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
