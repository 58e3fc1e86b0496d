"""The marker: the one codec for what every item the program writes carries about itself.

CalDAV keeps it in the `X-KONTAKTSYNC` property, Exchange in the `KontaktsyncMarker` extended
property; both hold the same text, URL-encoded pairs in this order (the wire format: items
written by earlier versions must still be read, so keys are only ever added):

    v  = 1 (format version)
    ns = namespace tag (items.namespace_tag): another deployment's item is not ours
    h  = managed hash as written (items.hash_fields)
    c  = case key, k = kind, y = cycle, t = item type ("task" | "marker")
    d  = due date, w = window start ("" when none), m = measure key ("" when none)
    f  = hashes of the managed fields as written (items.encode_field_hashes)

`decode` reads any text back into a dict (empty for none); `is_ours` is the one rule for
"this deployment wrote it".
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote_plus, urlencode

if TYPE_CHECKING:
    from kontaktsync.sync.item import DesiredItem

VERSION = "1"

# `urlencode`'s quoting, remembered: the keys and most values (version, namespace, kind, type,
# cycle, dates) are the same for many items, and quoting them was most of what `encode` cost.
_quote = lru_cache(maxsize=4096)(quote_plus)


def pairs(item: DesiredItem, ns_tag: str) -> dict[str, str]:
    """The marker of an item as the program writes it, as a dict in wire order."""
    return {
        "v": VERSION,
        "ns": ns_tag,
        "h": item.managed_hash,
        "c": item.case_key,
        "k": item.kind,
        "y": item.cycle,
        "t": item.item_type,
        "d": item.due.isoformat(),
        "w": item.window_start.isoformat() if item.window_start else "",
        "m": item.measure_key or "",
        "f": item.field_hash_text,
    }


def encode(item: DesiredItem, ns_tag: str) -> str:
    """The marker text of an item."""
    return encode_pairs(pairs(item, ns_tag))


def encode_pairs(marker: Mapping[str, str]) -> str:
    """Marker text from a dict (e.g. `items.completed_marker`), keeping its key order."""
    return urlencode(dict(marker), quote_via=_quote)


def decode(raw: str | None) -> dict[str, str]:
    """The pairs of a marker text; empty for no marker. Blank values stay (`w=`, `m=`)."""
    return dict(parse_qsl(raw, keep_blank_values=True)) if raw else {}


def is_ours(marker: Mapping[str, str], ns_tag: str) -> bool:
    """Whether this deployment (namespace tag `ns_tag`) wrote the item carrying `marker`."""
    return bool(marker) and marker.get("ns") == ns_tag


def ours(marker: Mapping[str, str], ns_tag: str) -> dict[str, str]:
    """`marker` when it is ours, else the empty marker (what `RemoteItem.marker` holds)."""
    return dict(marker) if is_ours(marker, ns_tag) else {}
