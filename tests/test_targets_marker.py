"""The one marker codec (targets/marker.py): its wire format, decoding, "is it ours", and
that both targets write and read exactly this text."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from exchangelib import EWSTimeZone
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.core.items import desired_items
from kontaktsync.sync.item import DesiredItem, namespace_tag
from kontaktsync.sync.targets import marker
from kontaktsync.sync.targets.caldav import ical
from kontaktsync.sync.targets.exchange.mapping import values
from kontaktsync.sync.targets.exchange.patches import MARKER_FIELD
from kontaktsync.sync.targets.memory import MemTarget

from tests.exchange_helpers import make_plan

NS = namespace_tag("kontaktsync")
WIRE_KEYS = ["v", "ns", "h", "c", "k", "y", "t", "d", "w", "m", "f"]


def items() -> list[DesiredItem]:
    settings = Settings(
        source={"cases": Path("cases.csv")},
        target={"kind": "caldav", "caldav": {"url": "http://127.0.0.1:1/{counsellor}/k/"}},
        items={"appointments": "marker"},
    )
    return list(desired_items(make_plan(2), settings)["anna"].values())


def test_the_wire_format_keeps_its_keys_and_order() -> None:
    item = items()[0]
    text = marker.encode(item, NS)
    pairs = parse_qsl(text, keep_blank_values=True)
    assert [k for k, _ in pairs] == WIRE_KEYS
    got = dict(pairs)
    assert got["v"] == "1" and got["ns"] == NS and got["h"] == item.managed_hash
    assert (got["c"], got["k"], got["y"], got["t"]) == (item.case_key, item.kind, item.cycle, item.item_type)
    assert got["d"] == item.due.isoformat()


def test_a_marker_written_by_an_earlier_version_is_still_read() -> None:
    """Text as version 0.1 wrote it (no field hashes yet; blank window and measure)."""
    old = f"v=1&ns={NS}&h=abc123&c=100234&k=contact&y=2026-10-02&t=task&d=2026-12-02&w=&m="
    got = marker.decode(old)
    assert got == {
        "v": "1", "ns": NS, "h": "abc123", "c": "100234", "k": "contact",
        "y": "2026-10-02", "t": "task", "d": "2026-12-02", "w": "", "m": "",
    }  # fmt: skip
    assert marker.is_ours(got, NS)
    assert marker.encode_pairs(got) == old


@pytest.mark.parametrize("raw", [None, ""])
def test_no_marker_decodes_empty_and_is_not_ours(raw: str | None) -> None:
    assert marker.decode(raw) == {}
    assert not marker.is_ours(marker.decode(raw), NS)


def test_only_this_deployments_namespace_is_ours() -> None:
    mine = marker.decode(marker.encode(items()[0], NS))
    other = namespace_tag("another-jobcenter")
    assert marker.is_ours(mine, NS) and not marker.is_ours(mine, other)
    assert marker.ours(mine, other) == {} and marker.ours(mine, NS) == mine
    assert not marker.is_ours({"h": "abc"}, NS)  # no namespace: not ours


def test_caldav_and_exchange_write_the_same_marker_text() -> None:
    for item in items():
        expected = marker.encode(item, NS)
        body = ical.render(item, NS)
        parsed = ical.parse(body)
        assert parsed is not None and parsed.marker == marker.decode(expected)
        assert values(item, NS, EWSTimeZone("Europe/Berlin"))[MARKER_FIELD] == expected


def test_a_completed_task_keeps_the_identity_pairs() -> None:
    task = next(i for i in items() if i.item_type == "task")
    body = ical.completion(ical.render(task, NS))[0]
    assert body is not None
    parsed = ical.parse(body)
    assert parsed is not None
    before = marker.decode(marker.encode(task, NS))
    for key in ("v", "ns", "c", "k", "y", "t", "d"):
        assert parsed.marker[key] == before[key], key
    assert parsed.marker["h"] != before["h"]  # the hash of the completed fields


def test_the_memory_target_reads_back_what_it_wrote() -> None:
    target = MemTarget()
    target.create_calendar("anna")
    item = items()[0]
    assert next(target.create("anna", [item])).ok
    got = target.fetch("anna", list(target.list_ours("anna", None, {}).refs.values()))[item.uid]
    assert got.marker == marker.decode(marker.encode(item, target.ns_tag))  # type: ignore[union-attr]
