"""Collection names and refusals: the precondition a refusing WebDAV server names in its
error body, and a warning for a name some servers refuse to create."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from kontaktsync.sync.targets.transport import PLACEHOLDER

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


def name_warning(template: str, calendar: str, explicit: Mapping[str, str]) -> str:
    """A warning, before the first sync, for a collection name some servers refuse to create
    (Cyrus: 403 "Invalid characters in collection name" for a '.')."""
    if calendar in explicit or PLACEHOLDER not in template or not _UNSAFE_NAME.search(calendar):
        return ""
    return (
        f"; WARNING: its name carries {calendar!r}, and some servers refuse such characters in a new "
        "collection (Cyrus refuses '.'): {counsellor_slug} in target.caldav.url gives only a-z, 0-9 and '-'"
    )


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_-]")
