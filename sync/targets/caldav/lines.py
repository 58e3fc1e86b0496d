"""iCalendar content lines for new objects, byte for byte as icalendar writes them, cheaper.

`ical.render` writes one new object per item on a first sync; through `icalendar.Component.
to_ical` that cost ~0.35 ms per item, more than the whole client budget. The bytes stay
icalendar's (each property is still encoded by `Component.add` and `content_line`); what
changes is the cost:

- a property whose value repeats across items (dates, CLASS, STATUS, the timestamps of one
  run, ...) is encoded once and reused (`_shared`);
- folding: icalendar's folder looks at every character of a line in Python; `fold` gives the
  same result from the UTF-8 bytes in slices (lines of up to 74 bytes are never folded).

tests/test_ical_lines.py holds both to icalendar: `fold` against its folder on random text,
and `render` against the object built and serialised by icalendar.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import icalendar
from icalendar.caselessdict import canonsort_keys

LIMIT = 75  # icalendar's fold limit: a line is folded before it would reach 75 octets
_ESCAPES = (ord("\\"), ord("^"))  # never split off the character they escape (icalendar #1501)


def fold(line: str) -> bytes:
    """`icalendar.parser.string._foldline(line).encode()`, in slices of the UTF-8 bytes: each
    piece is the longest run of whole characters under `LIMIT` octets, except that a piece
    ending in a backslash or caret leaves that character to the next piece."""
    raw = line.encode()
    if len(raw) < LIMIT:
        return raw
    pieces = []
    start, end = 0, len(raw)
    while end - start >= LIMIT:
        cut = start + LIMIT - 1
        while raw[cut] & 0xC0 == 0x80:  # inside a multi-byte character: cut before it
            cut -= 1
        if raw[cut - 1] in _ESCAPES and cut - start > 1:
            cut -= 1
        pieces.append(raw[start:cut])
        start = cut
    pieces.append(raw[start:])
    return b"\r\n ".join(pieces)


def line(name: str, value: Any) -> bytes:
    """One property as icalendar writes it (`Component.add`, then `content_line`), folded."""
    comp = icalendar.cal.Component()
    comp.add(name, list(value) if isinstance(value, tuple) else value)
    return fold(comp.content_line(name, comp[name]))


_shared = lru_cache(maxsize=4096)(line)


def component(
    kind: type[icalendar.cal.Component], props: Sequence[tuple[str, Any]], unique: Iterable[str]
) -> list[bytes]:
    """The lines of a component without subcomponents, properties in icalendar's order; each
    property once. Values of the names in `unique` differ per object and are not cached (a
    tuple value stands for a list, so that it can be cached)."""
    values = dict(props)
    once = frozenset(unique)
    out = [_shared("BEGIN", kind.name)]
    for name in _order(kind, tuple(values)):
        value = values[name]
        out.append(line(name, value) if name in once else _shared(name, value))
    out.append(_shared("END", kind.name))
    return out


@lru_cache(maxsize=64)
def _order(kind: type[icalendar.cal.Component], names: tuple[str, ...]) -> list[str]:
    return canonsort_keys(names, kind.canonical_order)
