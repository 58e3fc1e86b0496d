"""What a refusing WebDAV server says: the precondition named in its error body."""

from __future__ import annotations

import xml.etree.ElementTree as ET

_PREFIXES = {"DAV:": "DAV", "urn:ietf:params:xml:ns:caldav": "CALDAV", "http://apple.com/ns/ical/": "ICAL"}


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
