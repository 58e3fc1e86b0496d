"""`ical.render` writes the bytes icalendar writes, through the cheaper path of lines.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import icalendar
from hypothesis import given
from hypothesis import strategies as st
from icalendar.parser.string import _foldline
from kontaktsync.sync.item import DesiredItem, namespace_tag
from kontaktsync.sync.targets import marker
from kontaktsync.sync.targets.caldav import ical, lines

NS = namespace_tag("kontaktsync")
NOW = datetime(2026, 11, 23, 9, 30, 5, tzinfo=UTC)


def by_icalendar(item: DesiredItem, ns_tag: str, now: datetime) -> bytes:
    """The object as icalendar builds and serialises it (how `render` wrote it before)."""
    cal = icalendar.Calendar()
    cal.add("PRODID", ical.PRODID)
    cal.add("VERSION", "2.0")
    comp = icalendar.Todo() if item.item_type == "task" else icalendar.Event()
    for name, value in (("UID", item.uid), ("DTSTAMP", now), ("CREATED", now), ("LAST-MODIFIED", now)):
        comp.add(name, value)
    comp.add("SEQUENCE", 0)
    ical._set_managed(comp, item, set())
    if item.status == "completed":
        comp.add("COMPLETED", now)
    comp.add(ical.MARKER, marker.encode(item, ns_tag))
    cal.add_component(comp)
    return cal.to_ical()


def item(**kw: object) -> DesiredItem:
    base = DesiredItem(
        uid="ks-0a1b2c3d-" + "f" * 32,
        calendar="anna",
        item_type="task",
        case_id="100234",
        case_key="100234",
        kind="contact",
        cycle="2026-10-02",
        measure_key=None,
        summary="2MM Kontakt fällig – Kd 100234",
        description="Warum: Kontaktdichte nach coburg-2016.\nFällig: 02.12.2026\n\nAutomatisch angelegt.",
        categories=("Kontaktdichte", "2MM"),
        priority=1,
        private=True,
        due=date(2026, 12, 2),
        start=None,
        window_start=None,
        overdue=True,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


VARIANTS = [
    item(),
    item(item_type="marker", start=date(2026, 12, 2), priority=None),
    item(start=date(2026, 11, 1), window_start=date(2026, 11, 1), priority=None, overdue=False),
    item(status="completed", priority=None),
    item(private=False, categories=("Kontaktdichte", "6WM", "a,b;c")),
    item(summary="x" * 73 + "\\" + "ä" * 40, description="\\; ,\n" * 60 + "ü" * 200),
    item(description="", summary=""),
    item(measure_key="M-7;8", case_key="P0123456789", cycle="M-7;8"),
]


def test_render_writes_what_icalendar_writes_for_every_kind_of_item():
    for variant in VARIANTS:
        assert ical.render(variant, NS, NOW) == by_icalendar(variant, NS, NOW), variant


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=400))
def test_fold_folds_as_icalendar(text: str):
    text = text.replace("\n", "").replace("\r", "")
    assert lines.fold(text) == _foldline(text).encode()


@given(st.text(st.sampled_from("ab\\^äあ😀 ,;"), max_size=300))
def test_fold_around_escapes_and_wide_characters(text: str):
    assert lines.fold(text) == _foldline(text).encode()


@given(
    summary=st.text(max_size=120).map(lambda s: s.replace("\r", "")),
    description=st.text(max_size=600),
    task=st.booleans(),
)
def test_render_matches_icalendar_on_random_text(summary: str, description: str, task: bool):
    variant = item(
        summary=summary,
        description=description,
        item_type="task" if task else "marker",
        start=None if task else date(2026, 12, 2),
    )
    assert ical.render(variant, NS, NOW) == by_icalendar(variant, NS, NOW)


def test_completion_reports_the_hash_its_marker_records():
    for variant in VARIANTS:
        if variant.item_type != "task" or variant.status == "completed":
            continue
        body, written = ical.completion(ical.render(variant, NS, NOW), NOW)
        parsed = ical.parse(body)
        assert parsed is not None and parsed.completed and written == parsed.written_hash
        assert ical.complete(ical.render(variant, NS, NOW), NOW) == body
