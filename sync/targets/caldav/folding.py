"""icalendar's line folding, the same lines at a twentieth of the cost.

icalendar 7 folds every content line it writes (RFC 5545 3.1: at most 75 octets a line) in a
Python loop that encodes each character on its own, to count its octets (`_foldline`; the ASCII
fast path of earlier releases went with the fix of its issue #1501, which keeps a `\\` or `^`
escape on one line). A task's DESCRIPTION and marker are long lines: folding was a third of
`ical.render`, 17 µs for one description.

`install()` puts `fold` in the place `Contentline.to_ical` looks it up. `fold` cuts the UTF-8
bytes of a line at the same places as icalendar does, in one encode, and hands whatever it does
not cover to icalendar's own function: a limit below 8 (where icalendar may carry an escape
onto a line that then runs over the limit), a line with a line break or one that does not
encode. tests/test_ical_folding.py compares both on random lines of every kind; where a release
of icalendar has no such function, or folds the probe lines (`PROBES`) otherwise, `install`
leaves it alone.
"""

from __future__ import annotations

from collections.abc import Callable

_ESCAPES = b"\\^"  # RFC 5545 TEXT and RFC 6868 parameter escapes start with these
_SMALLEST = 8  # limits below this go to icalendar's own function (see above)

Fold = Callable[..., str]


def folder(original: Fold) -> Fold:
    """A fold function that gives what `original` (icalendar's `_foldline`) gives."""

    def fold(line: str, limit: int = 75, fold_sep: str = "\r\n ") -> str:
        if not isinstance(line, str) or limit < _SMALLEST or "\n" in line:  # (a Contentline is a str)
            return original(line, limit, fold_sep)
        try:
            data = line.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: icalendar raises its own error
            return original(line, limit, fold_sep)
        size = len(data)
        if size < limit:
            return line
        width = limit - 1  # a line holds fewer octets than `limit`
        parts = []
        start = 0
        while size - start > width:
            end = start + width
            while data[end] & 0xC0 == 0x80:  # not inside a character
                end -= 1
            if data[end - 1] in _ESCAPES:  # never the line's only character: limit >= 8
                end -= 1  # the escape starts the next line, with what it escapes
            parts.append(data[start:end].decode("utf-8"))
            start = end
        parts.append(data[start:].decode("utf-8"))
        return fold_sep.join(parts)

    fold.original = original  # type: ignore[attr-defined]
    return fold


# Lines that tell one folding rule from another: an escape, a parameter escape and a character
# of two, three and four octets at the cut, and a line just below and at the limit.
PROBES = (
    "DESCRIPTION:" + "x" * 61 + "\\n" + "y" * 80,
    "X-A;P=" + "A" * 67 + "^'" + "B" * 90,
    "SUMMARY:" + "Ü" * 100,
    "SUMMARY:" + "a" + "€" * 60,
    "X-B:" + "😀" * 40,
    "X-C:" + "c" * 70,
    "X-C:" + "c" * 71,
)


def install() -> bool:
    """Fold icalendar's content lines with `fold`; False (icalendar folds as it always did)
    where this icalendar has no `_foldline` to replace, or one that folds the probe lines
    otherwise than `fold` would."""
    try:
        from icalendar.parser import content_line
    except ImportError:
        return False
    current = getattr(content_line, "_foldline", None)
    if current is None:
        return False
    if getattr(current, "original", None) is not None:
        return True  # installed already
    fold = folder(current)
    try:
        same = all(fold(line) == current(line) for line in PROBES)
    except Exception:  # a function of another shape: left alone
        same = False
    if same:
        content_line._foldline = fold
    return same
