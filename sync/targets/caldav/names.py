"""Collection names a server accepts, and what a refusing server says.

`counsellor_slug` is the `{counsellor_slug}` placeholder of `target.caldav.url`: some servers
refuse characters of ordinary logins in a collection name (Cyrus answers 403 to a `.`), so the
slug keeps only lower-case letters, digits and `-`. It is stable (the same id gives the same slug
in every run and on every machine) and collision-free: an id that had to be changed gets eight
hex digits of its SHA-256 appended, so `m.mueller` and `m-mueller` never share a calendar.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET

_UNSAFE = re.compile(r"[^a-z0-9]+")
_PREFIXES = {"DAV:": "DAV", "urn:ietf:params:xml:ns:caldav": "CALDAV", "http://apple.com/ns/ical/": "ICAL"}


def counsellor_slug(counsellor: str) -> str:
    """`m.mueller` -> `m-mueller-<8 hex>`; an id of only [a-z0-9-] stays as it is."""
    if counsellor and re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", counsellor):
        return counsellor
    cleaned = _UNSAFE.sub("-", counsellor.lower()).strip("-") or "x"
    return f"{cleaned}-{hashlib.sha256(counsellor.encode()).hexdigest()[:8]}"


def precondition(body: str | bytes | None) -> str | None:
    """The precondition a WebDAV error body names, e.g.
    `CALDAV:calendar-collection-location-ok ("Invalid characters in collection name")`."""
    if not body:
        return None
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    if not root.tag.endswith("}error"):
        return None
    names, notes = [], []
    for child in root:
        ns, _, local = child.tag[1:].partition("}") if child.tag.startswith("{") else ("", "", child.tag)
        if local == "responsedescription":
            if child.text and child.text.strip():
                notes.append(child.text.strip())
            continue
        names.append(f"{_PREFIXES.get(ns, ns)}:{local}")
        text = "".join(child.itertext()).strip()
        if text:
            notes.append(text)
    if not names:
        return None
    return ", ".join(names) + (f' ("{"; ".join(notes)}")' if notes else "")
