"""`folding.fold` folds every line as icalendar's own `_foldline` does (issue 11: folding was a
third of `ical.render`), and `ical` writes with it."""

from __future__ import annotations

from collections.abc import Callable

import icalendar
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from icalendar.parser import content_line
from icalendar.parser import string as icalendar_string
from kontaktsync.sync.targets.caldav import folding, ical  # noqa: F401 - ical installs the fold

ORIGINAL = icalendar_string._foldline
FOLD = folding.folder(ORIGINAL)

# Characters of one to four octets, the escapes icalendar keeps on one line, and the rest of
# what a description holds; weighted so that lines often reach the limit.
TEXT = st.text(
    alphabet=st.sampled_from(list('aZ9 ,;:\\^"äöüßÄ€ſ✓𝄞😀\t')) | st.characters(exclude_categories=("Cs",)),
    max_size=400,
)


@settings(max_examples=3000, deadline=None)
@given(line=TEXT, limit=st.sampled_from([1, 2, 3, 4, 5, 7, 8, 9, 10, 13, 40, 74, 75, 76, 200]))
@example(line="DESCRIPTION:" + "x" * 61 + "\\n" + "y" * 80, limit=75)  # an escape at the cut
@example(line="A" * 73 + "^" + "'" + "B" * 90, limit=75)  # a parameter escape at the cut
@example(line="Ü" * 100, limit=75)  # two octets each, the cut in the middle of a pair
@example(line="😀" * 40, limit=8)  # four octets each
def test_fold_equals_icalendar(line: str, limit: int) -> None:
    assert outcome(FOLD, line, limit) == outcome(ORIGINAL, line, limit)
    assert outcome(FOLD, line, limit, "\r\n\t") == outcome(ORIGINAL, line, limit, "\r\n\t")
    if "\n" not in line:  # what icalendar hands over: a Contentline, a str of its own
        assert FOLD(content_line.Contentline(line), limit) == ORIGINAL(line, limit)


def outcome(fold: Callable[..., str], *args: object) -> object:
    """What `fold` returns, or the type of what it raises (a line break, a lone surrogate)."""
    try:
        return fold(*args)
    except (AssertionError, UnicodeError) as exc:
        return type(exc)


def test_lines_icalendar_refuses_are_refused_alike() -> None:
    for bad in ("a\nb", "x\udc80y" * 40):
        assert outcome(FOLD, bad, 75) == outcome(ORIGINAL, bad, 75) != bad


def test_ical_writes_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    fold = content_line._foldline
    assert getattr(fold, "original", None) is ORIGINAL  # installed by importing ical
    assert folding.install()
    assert content_line._foldline is fold  # a second install keeps the one fold in place
    cal = icalendar.Calendar({"PRODID": "-//test//DE", "VERSION": "2.0"})
    todo = icalendar.Todo({"UID": "u1", "SUMMARY": "Gespräch vor Maßnahmeende – Kd 4711"})
    todo.add("DESCRIPTION", "Warum: Kontaktdichte\nFällig: 01.12.2026\\" + "ä;,\\" * 60)
    cal.add_component(todo)
    handed_on: list[tuple[object, ...]] = []
    counting = folding.folder(lambda *args: handed_on.append(args) or ORIGINAL(*args))
    monkeypatch.setattr(content_line, "_foldline", counting)
    ours = cal.to_ical()
    assert handed_on == []  # every line folded by `fold` itself, none handed to icalendar's
    monkeypatch.setattr(content_line, "_foldline", ORIGINAL)
    assert ours == cal.to_ical()
    assert max(map(len, ours.split(b"\r\n"))) <= 75 < len(todo["DESCRIPTION"].encode())


def test_an_icalendar_that_folds_otherwise_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A release whose `_foldline` cuts elsewhere (here: without keeping escapes on one line,
    as releases before icalendar's issue #1501 did) keeps its own function."""

    def older(line: str, limit: int = 75, fold_sep: str = "\r\n ") -> str:
        data = line.encode("utf-8")
        parts, start = [], 0
        while len(data) - start > limit - 1:
            end = start + limit - 1
            while data[end] & 0xC0 == 0x80:
                end -= 1
            parts.append(data[start:end].decode("utf-8"))
            start = end
        return fold_sep.join([*parts, data[start:].decode("utf-8")])

    assert older("a" * 200) == ORIGINAL("a" * 200)  # alike but for escapes at the cut
    monkeypatch.setattr(content_line, "_foldline", older)
    assert folding.install() is False and content_line._foldline is older
    monkeypatch.setattr(content_line, "_foldline", ORIGINAL)
    assert folding.install() is True and content_line._foldline.original is ORIGINAL  # type: ignore[attr-defined]
