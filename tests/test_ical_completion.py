"""ical.completion: the completed object and the hash its marker records, in one step (the
in-memory target uses it instead of parsing what it just wrote)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

from kontaktsync.sync.item import DesiredItem, namespace_tag
from kontaktsync.sync.targets.caldav import ical

NS = namespace_tag("kontaktsync")
NOW = datetime(2026, 11, 23, 9, 30, 5, tzinfo=UTC)


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


def test_completion_reports_the_hash_its_marker_records():
    for variant in VARIANTS:
        if variant.item_type != "task" or variant.status == "completed":
            continue
        body, written = ical.completion(ical.render(variant, NS, NOW), NOW)
        parsed = ical.parse(body)
        assert parsed is not None and parsed.completed and written == parsed.written_hash
        assert ical.complete(ical.render(variant, NS, NOW), NOW) == body
