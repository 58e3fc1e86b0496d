"""ical.render and ical.merge write exactly the bytes they wrote before the render was made
cheaper (issue 11): typed values shared between objects instead of `Component.add` inferring
each type, VTIMEZONEs built once per TZID. The implementation before that change is kept here
as the reference and both are run on many items of every shape."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import icalendar
from hypothesis import given, settings
from hypothesis import strategies as st
from kontaktsync.sync.item import DesiredItem, marker_end, namespace_tag
from kontaktsync.sync.targets import marker as marker_codec
from kontaktsync.sync.targets.caldav import ical

NS = namespace_tag("kontaktsync")
NOW = datetime(2026, 11, 23, 9, 30, 5, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


# --- the reference: ical.py's render and _set_managed as they were ---------------------------


def ref_set_managed(comp: icalendar.cal.Component, item: DesiredItem, keep: set[str]) -> None:
    for name in ical.MANAGED:
        if name not in keep:
            comp.pop(name, None)
    add: dict[str, object] = {
        "SUMMARY": item.summary,
        "DESCRIPTION": item.description,
        "CATEGORIES": list(item.categories),
        "CLASS": "PRIVATE" if item.private else "PUBLIC",
    }
    if item.priority:
        add["PRIORITY"] = item.priority
    if item.item_type == "task":
        add["DUE"] = item.due
        if item.start:
            add["DTSTART"] = item.start
        if item.status == "completed":
            add["STATUS"] = "COMPLETED"
            add["PERCENT-COMPLETE"] = 100
        else:
            add["STATUS"] = "NEEDS-ACTION"
    elif item.item_type == "proposal":
        add["DTSTART"] = item.start
        add["DTEND"] = item.end
        add["STATUS"] = item.status.upper()
        add["TRANSP"] = "OPAQUE"
    else:
        add["DTSTART"] = item.start or item.due
        add["DTEND"] = marker_end(item)
        add["TRANSP"] = "TRANSPARENT"
    if item.related and "RELATED-TO" not in comp:
        add["RELATED-TO"] = item.related
    for name, value in add.items():
        if name not in keep:
            comp.add(name, value)


def ref_render(item: DesiredItem, ns_tag: str, now: datetime) -> bytes:
    cal = icalendar.Calendar()
    cal.add("PRODID", ical.PRODID)
    cal.add("VERSION", "2.0")
    comp = icalendar.Todo() if item.item_type == "task" else icalendar.Event()
    comp.add("UID", item.uid)
    comp.add("DTSTAMP", now)
    comp.add("CREATED", now)
    comp.add("LAST-MODIFIED", now)
    comp.add("SEQUENCE", 0)
    ref_set_managed(comp, item, set())
    if item.status == "completed":
        comp.add("COMPLETED", now)
    comp.add(ical.MARKER, urlencode(marker_codec.pairs(item, ns_tag)))
    cal.add_component(comp)
    if item.item_type == "proposal":
        cal.add_missing_timezones()
    return cal.to_ical()


def ref_merge(existing: bytes, item: DesiredItem, keep: set[str], now: datetime) -> bytes:
    """ical.merge as it was, when it writes (the tests below only merge real changes)."""
    cal = icalendar.Calendar.from_ical(existing)
    comp = ical._component(cal)
    assert comp is not None
    ref_set_managed(comp, item, ical.props_of(keep, item.item_type))
    if item.item_type == "task" and item.status == "completed" and "status" not in keep:
        comp.add("COMPLETED", now)
    comp.pop(ical.MARKER, None)
    comp.add(ical.MARKER, urlencode(marker_codec.pairs(item, NS)))
    ical._bump(comp, now)
    return cal.to_ical()


# --- items of every shape -------------------------------------------------------------------


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


def proposal(start: datetime, minutes: int = 45, **kw: object) -> DesiredItem:
    fields: dict[str, object] = {
        "item_type": "proposal",
        "start": start,
        "end": start + timedelta(minutes=minutes),
        "status": "tentative",
        "priority": None,
        "window_start": date(2026, 11, 17),
        "related": "ks-0a1b2c3d-" + "e" * 32,
    }
    return item(**(fields | kw))


LONG = "Sehr langer Text über die Fälligkeit; mit Komma, Semikolon; und \\Backslash " * 6
SHAPES = [
    item(),
    item(priority=None, overdue=False),
    item(priority=5),
    item(start=date(2026, 11, 1), window_start=date(2026, 11, 1), priority=None, overdue=False),
    item(status="completed", priority=None),
    item(status="completed", priority=1, start=date(2026, 11, 3)),
    item(private=False, categories=("Kontaktdichte", "6WM", "a,b;c")),
    item(categories=()),
    item(summary="x" * 73 + "\\" + "ä" * 40, description="\\; ,\n" * 60 + "ü" * 200),
    item(summary=LONG, description=LONG + "\r\n" + "€" * 90 + "\n\n  \t"),
    item(description="", summary=""),
    item(summary="日本語の要約" * 20, description="😀 emoji " * 30),
    item(measure_key="M-7;8", case_key="P0123456789", cycle="M-7;8"),
    item(measure_key="M 9/ä&=?", case_key="Kd=1&x", kind="measure_end"),
    item(item_type="marker", start=date(2026, 12, 2), priority=None),
    item(item_type="marker", start=None, priority=2, private=False),
    item(item_type="marker", start=date(2026, 12, 31), due=date(2027, 1, 4), related="ks-related"),
    item(related="ks-related-task"),
    proposal(datetime(2026, 11, 25, 9, 0, tzinfo=BERLIN)),
    proposal(datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN), minutes=90),  # across the DST change
    proposal(datetime(2026, 11, 25, 14, 15, tzinfo=BERLIN), status="confirmed"),
    proposal(datetime(2026, 11, 25, 8, 0, tzinfo=ZoneInfo("America/New_York")), description=LONG),
    proposal(datetime(2026, 11, 25, 8, 0, tzinfo=UTC)),
]
NOWS = [NOW, datetime(2026, 11, 23, 10, 30, 5, tzinfo=BERLIN), datetime(2027, 1, 1, tzinfo=UTC)]


def test_every_shape_renders_the_same_bytes() -> None:
    for now in NOWS:
        for shape in SHAPES:
            assert ical.render(shape, NS, now) == ref_render(shape, NS, now), shape


def test_the_same_bytes_rendered_twice_and_after_other_items() -> None:
    """Shared values are not changed by a render: the first object renders the same after all."""
    first = [ical.render(shape, NS, NOW) for shape in SHAPES]
    again = [ical.render(shape, NS, NOW) for shape in reversed(SHAPES)]
    assert first == list(reversed(again))
    assert first == [ref_render(shape, NS, NOW) for shape in SHAPES]


def test_proposals_carry_their_vtimezone() -> None:
    body = ical.render(SHAPES[18], NS, NOW)
    cal = icalendar.Calendar.from_ical(body)
    assert [tz.tz_name for tz in cal.timezones] == ["Europe/Berlin"]
    assert cal.get_missing_tzids() == set()


def test_merge_writes_the_same_bytes() -> None:
    """merge shares the typed values with render: a changed plan merged into an object (some
    fields a person's) gives the bytes the former merge gave."""
    later = NOW + timedelta(hours=3)
    for shape in SHAPES:
        existing = ref_render(shape, NS, NOW)
        changed = replace(shape, summary=shape.summary + " (neu)", priority=shape.priority or 2)
        # RELATED-TO is written with the object and never replaced, also when the plan has none
        for want in (changed, replace(changed, related=None), replace(changed, related="ks-other")):
            for keep in (set(), {"description"}, {"categories", "private"}):
                got = ical.merge(existing, want, NS, keep=keep, now=later)
                assert got == ref_merge(existing, want, keep, later), (shape, want.related, keep)


TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=200)
DAYS = st.dates(date(2020, 1, 1), date(2030, 12, 31))


@st.composite
def items(draw: st.DrawFn) -> DesiredItem:
    kind = draw(st.sampled_from(["task", "marker", "proposal"]))
    due = draw(DAYS)
    fields: dict[str, object] = {
        "item_type": kind,
        "uid": "ks-" + draw(st.text("0123456789abcdef-", min_size=1, max_size=60)),
        "summary": draw(TEXT),
        "description": draw(TEXT),
        "categories": tuple(draw(st.lists(TEXT, max_size=4))),
        "priority": draw(st.sampled_from([None, 0, 1, 5, 9])),
        "private": draw(st.booleans()),
        "due": due,
        "case_key": draw(TEXT),
        "measure_key": draw(st.one_of(st.none(), TEXT)),
        "window_start": draw(st.one_of(st.none(), DAYS)),
        "related": draw(st.one_of(st.none(), st.just("ks-rel-" + "a" * 40))),
    }
    if kind == "proposal":
        minute = timedelta(minutes=draw(st.integers(0, 1439)))
        start = datetime.combine(due, datetime.min.time(), BERLIN) + minute
        fields.update(start=start, end=start + timedelta(minutes=draw(st.integers(15, 120))))
        fields["status"] = draw(st.sampled_from(["tentative", "confirmed"]))
    else:
        fields["start"] = draw(st.one_of(st.none(), DAYS))
        fields["status"] = draw(st.sampled_from(["open", "completed"]))
    return item(**fields)


@settings(max_examples=400, deadline=None)
@given(items(), st.sampled_from(NOWS))
def test_generated_items_render_the_same_bytes(generated: DesiredItem, now: datetime) -> None:
    assert ical.render(generated, NS, now) == ref_render(generated, NS, now)


def test_remembered_field_hashes_are_the_digests() -> None:
    """field_hashes remembers the short hashes of repeating values by value and type: each one
    is the digest of that very value (1 and True, [] and "" hash apart)."""
    from kontaktsync.sync import item as item_module
    from kontaktsync.sync.item import EDITABLE, FIELD_HASH_SIZE

    def digests(fields: dict[str, object]) -> dict[str, str]:
        norm = item_module._normalised(fields)
        return {n: item_module._digest(norm.get(n), FIELD_HASH_SIZE) for n in EDITABLE}

    base = SHAPES[0].fields()
    variants = [
        base,
        base | {"priority": True, "private": 1},
        base | {"priority": 1, "private": True},
        base | {"priority": 1.0, "private": 0, "status": None},
        base | {"categories": [], "start": ""},
        base | {"categories": ["b", "a"], "due": "2026-12-02"},
        base | {"categories": [["b"], ["a"]], "status": {"odd": [1]}},  # unhashable
    ]
    for fields in variants + variants:  # the second time from what was remembered
        assert item_module.field_hashes(fields) == digests(fields), fields
    assert item_module.field_hashes(variants[1]) != item_module.field_hashes(variants[2])


def test_completion_reports_the_hash_its_marker_records() -> None:
    """ical.completion: the completed object and the hash its marker records, in one step
    (the in-memory target uses it instead of parsing what it just wrote)."""
    tasks = [s for s in SHAPES if s.item_type == "task" and s.status != "completed"]
    assert tasks
    for shape in tasks:
        body, written = ical.completion(ical.render(shape, NS, NOW), NOW)
        parsed = ical.parse(body)
        assert parsed is not None and parsed.completed and written == parsed.written_hash
