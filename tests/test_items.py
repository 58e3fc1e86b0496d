"""Unit tests without a server: items, iCalendar mapping, reconcile, state, lock."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import icalendar
import pytest
from kontaktsync.rules.model import Obligation
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.core.items import desired_items
from kontaktsync.sync.core.lock import LockHeld, SyncLock
from kontaktsync.sync.core.reconcile import (
    CalendarInput,
    MassDeleteRefused,
    PlanView,
    check_mass_delete,
    decide,
    to_fetch,
)
from kontaktsync.sync.core.state import ItemRow, StateStore
from kontaktsync.sync.item import case_key, hash_fields, make_uid, namespace_tag
from kontaktsync.sync.targets.base import RemoteItem, RemoteRef, TargetError, make_target
from kontaktsync.sync.targets.caldav import ical

from tests.builders import obligation, plan_of, settings

NS = namespace_tag("kontaktsync")


# --- items -------------------------------------------------------------------------------


def test_task_and_marker_carry_what_calendar_md_asks_for():
    s = settings()
    items = desired_items(plan_of(obligation(overdue=True)), s)["anna"]
    task = next(i for i in items.values() if i.item_type == "task")
    marker = next(i for i in items.values() if i.item_type == "marker")
    assert task.summary == "2MM Kontakt fällig – Kd 100234"
    assert task.categories == ("Kontaktdichte", "2MM")
    assert task.priority == 1 and task.private and task.due == date(2026, 12, 2)
    assert "coburg-2016" in task.description and "2mm-ue25-marktnah" in task.description
    assert "Letzter zählender Kontakt: 02.10.2026" in task.description
    assert "Mustermann" not in task.summary + task.description
    assert marker.start == marker.due == task.due and marker.uid != task.uid


def test_names_only_when_allowed_and_pseudonyms_hide_the_number():
    shown = desired_items(plan_of(obligation()), settings(show_names=True))["anna"]
    assert all("(Erika Mustermann)" in i.summary for i in shown.values())
    ps = settings(pseudonymize=True, pseudonym_key="geheim")
    items = desired_items(plan_of(obligation()), ps)["anna"]
    for item in items.values():
        assert "100234" not in item.summary + item.description + item.uid
        assert item.case_key == case_key("100234", ps) and re.fullmatch(r"P[0-9A-F]{10}", item.case_key)
    assert (
        case_key("100234", settings(pseudonymize=True, pseudonym_key="anders"))
        != items[next(iter(items))].case_key
    )
    with pytest.raises(ValueError, match="pseudonym_key"):
        case_key("100234", settings(pseudonymize=True))


def test_uid_is_deterministic_href_safe_and_per_cycle():
    s = settings()
    a = make_uid(s, "100234", "contact", None, "2026-10-02", "task")
    assert a == make_uid(s, "100234", "contact", None, "2026-10-02", "task")
    assert re.fullmatch(r"[a-z0-9-]+", a)
    assert a != make_uid(s, "100234", "contact", None, "2026-11-19", "task")
    assert a != make_uid(s, "100234", "contact", None, "2026-10-02", "marker")
    other_ns = s.model_copy(update={"sync": s.sync.model_copy(update={"namespace": "zwei"})})
    assert a != make_uid(other_ns, "100234", "contact", None, "2026-10-02", "task")


def test_due_date_move_within_a_cycle_keeps_the_uid():
    s = settings()
    before = desired_items(plan_of(obligation()), s)["anna"]
    after = desired_items(plan_of(obligation(due=date(2027, 1, 4))), s)["anna"]
    assert set(before) == set(after)
    assert {i.managed_hash for i in before.values()} != {i.managed_hash for i in after.values()}


# --- iCalendar ---------------------------------------------------------------------------


def _items():
    ob = obligation(window_start=date(2026, 11, 2), overdue=True, guidance=("Frage?",))
    return desired_items(plan_of(ob), settings())["anna"].values()


def test_render_parse_round_trip_gives_the_same_hash():
    for item in _items():
        body = ical.render(item, NS)
        parsed = ical.parse(body)
        assert parsed is not None and parsed.ours and not parsed.edited_by_person
        assert parsed.fields == item.fields()
        assert parsed.current_hash == item.managed_hash == parsed.written_hash
        if item.item_type == "task":
            assert b"DUE;VALUE=DATE:20261202" in body and b"DTSTART;VALUE=DATE:20261102" in body
            assert b"PRIORITY:1" in body and b"CLASS:PRIVATE" in body
        else:
            assert b"TRANSP:TRANSPARENT" in body


def test_merge_keeps_client_additions_and_bumps_only_on_change():
    task = next(i for i in _items() if i.item_type == "task")
    cal = icalendar.Calendar.from_ical(ical.render(task, NS))
    comp = cal.walk("VTODO")[0]
    alarm = icalendar.Alarm()
    alarm.add("ACTION", "DISPLAY")
    alarm.add("TRIGGER", icalendar.vDuration.from_ical("-PT1H"))
    comp.add_component(alarm)
    comp.add("X-MOZ-LASTACK", "20261120T080000Z")
    body = cal.to_ical()
    assert ical.merge(body, task, NS) is None  # nothing changed: no new SEQUENCE/DTSTAMP
    from dataclasses import replace

    changed = replace(task, summary=task.summary + " (neu)")
    merged = ical.merge(body, changed, NS)
    assert merged is not None
    out = icalendar.Calendar.from_ical(merged).walk("VTODO")[0]
    assert str(out["SUMMARY"]).endswith("(neu)") and int(out["SEQUENCE"]) == 1
    assert len(out.walk("VALARM")) == 1 and "X-MOZ-LASTACK" in out
    assert ical.parse(merged).written_hash == changed.managed_hash


def test_complete_sets_status_completed_and_percent_together():
    task = next(i for i in _items() if i.item_type == "task")
    body = ical.completion(ical.render(task, NS))[0]
    assert body is not None
    todo = icalendar.Calendar.from_ical(body).walk("VTODO")[0]
    assert str(todo["STATUS"]) == "COMPLETED" and int(todo["PERCENT-COMPLETE"]) == 100
    assert "COMPLETED" in todo and "PRIORITY" not in todo
    parsed = ical.parse(body)
    assert parsed.completed and not parsed.edited_by_person
    assert ical.completion(body) is None


def test_merge_keeps_a_persons_completion():
    task = next(i for i in _items() if i.item_type == "task")
    cal = icalendar.Calendar.from_ical(ical.render(task, NS))
    comp = cal.walk("VTODO")[0]
    comp.pop("STATUS")
    comp.add("STATUS", "COMPLETED")
    comp.add("PERCENT-COMPLETE", 100)
    parsed = ical.parse(cal.to_ical())
    assert parsed.edited_by_person and parsed.completed
    from dataclasses import replace

    merged = ical.merge(cal.to_ical(), replace(task, summary="x"), NS, keep={"status"})
    assert ical.parse(merged).completed


def test_hash_ignores_category_order_and_trailing_space():
    a = {"summary": "s", "description": "a \nb", "categories": ["x", "y"]}
    b = {"summary": "s ", "description": "a\nb\n", "categories": ["y", "x"]}
    assert hash_fields(a) == hash_fields(b)


# --- reconcile -----------------------------------------------------------------------------


def _remote(item, body: bytes | None = None) -> RemoteItem:
    body = body or ical.render(item, NS)
    p = ical.parse(body)
    return RemoteItem(RemoteRef(item.uid, item.uid + ".ics", '"e1"'), p.item_type, p.fields, p.marker, body)


def _row(item, status: str = "open") -> ItemRow:
    return ItemRow(item.uid, item.calendar, item.uid + ".ics", '"e1"', item.managed_hash, item.case_id,
                   item.kind, item.item_type, item.cycle, None, item.due.isoformat(), status)  # fmt: skip


def _world(ob: Obligation, contacts: tuple[date, ...]):
    s = settings()
    old = desired_items(plan_of(ob), s)["anna"]
    rows = {u: _row(i) for u, i in old.items()}
    refs = {u: RemoteRef(u, u + ".ics", '"e1"') for u in old}
    return s, old, rows, refs, plan_of(ob, contacts={ob.case_id: contacts})


def test_unchanged_needs_no_read_and_no_write():
    _s, old, rows, refs, plan = _world(obligation(), (date(2026, 10, 2),))
    inp = CalendarInput("anna", old, rows, refs)
    assert to_fetch(inp) == []
    assert {a.kind for a in decide(inp, PlanView(plan.cases, {}))} == {"adopt"}


def test_items_of_a_case_the_plan_lacks_stay_while_a_row_without_a_readable_case_id_is_held():
    """That row may be the case's own (its id cell is what could not be read): its items stay
    exactly as they are, as the items of a case whose row is in error do."""
    _s, old, rows, refs, _plan = _world(obligation(), ())
    inp = CalendarInput("anna", {}, rows, refs)
    inp.fetched = {u: _remote(old[u]) for u in (r.uid for r in to_fetch(inp))}
    for view in (PlanView({}, {}, held_unknown=True), PlanView({}, {}, held=frozenset({"100234"}))):
        assert view.holds("100234") and decide(inp, view) == []
    gone = decide(inp, PlanView({}, {}))  # the case left the caseload: its items go
    assert not PlanView({}, {}).holds("100234") and [a.kind for a in gone] == ["delete", "delete"]


def test_fulfilled_task_is_completed_marker_deleted():
    _s, old, rows, refs, plan = _world(obligation(), (date(2026, 10, 2), date(2026, 11, 19)))
    inp = CalendarInput("anna", {}, rows, refs)
    need = to_fetch(inp)
    assert [r.uid for r in need] == [u for u, i in old.items() if i.item_type == "task"]
    inp.fetched = {u: _remote(old[u]) for u in (r.uid for r in need)}
    kinds = {old[a.uid].item_type: a.kind for a in decide(inp, PlanView(plan.cases, {}))}
    assert kinds == {"task": "complete", "marker": "delete"}


def test_vanished_obligation_is_deleted_and_case_left_follows_setting():
    _s, old, rows, refs, plan = _world(obligation(), (date(2026, 10, 2),))
    inp = CalendarInput("anna", {}, rows, refs)
    inp.fetched = {u: _remote(i) for u, i in old.items()}
    assert {a.kind for a in decide(inp, PlanView(plan.cases, {}))} == {"delete"}
    assert {a.kind for a in decide(inp, PlanView({}, {}, on_case_left="delete"))} == {"delete"}
    assert {old[a.uid].item_type: a.kind for a in decide(inp, PlanView({}, {}, on_case_left="complete"))} == {
        "task": "complete",
        "marker": "delete",
    }
    assert decide(inp, PlanView({}, {}, on_case_left="keep")) == []


def test_a_task_a_person_completed_is_never_deleted():
    _s, old, rows, refs, _plan = _world(obligation(), (date(2026, 10, 2),))
    task = next(i for i in old.values() if i.item_type == "task")
    body = ical.completion(ical.render(task, NS))[0]
    refs[task.uid] = RemoteRef(task.uid, task.uid + ".ics", '"e2"')
    inp = CalendarInput("anna", {}, rows, refs)
    inp.fetched = {task.uid: _remote(task, body)}
    acts = {a.uid: a for a in decide(inp, PlanView({}, {}))}
    assert acts[task.uid].kind == "keep"


def test_state_lost_items_are_taken_over_by_marker():
    _s, old, _rows, refs, plan = _world(obligation(), (date(2026, 10, 2),))
    inp = CalendarInput("anna", old, {}, refs)
    assert len(to_fetch(inp)) == len(old)
    inp.fetched = {u: _remote(i) for u, i in old.items()}
    acts = decide(inp, PlanView(plan.cases, {}))
    assert {a.kind for a in acts} == {"update"} and all(not a.keep for a in acts)


def test_mass_delete_guard_share_and_minimum():
    with pytest.raises(MassDeleteRefused, match="allow-mass-delete"):
        check_mass_delete({"anna": (90, 100), "bernd": (1, 100)}, 0.3, 10)
    check_mass_delete({"anna": (30, 100)}, 0.3, 10)
    check_mass_delete({"anna": (3, 4)}, 0.3, 10)  # small calendars: below the minimum


# --- state, lock, factory --------------------------------------------------------------------


def test_state_round_trip_in_wal_mode(tmp_path):
    item = next(iter(_items()))
    with StateStore(tmp_path / "s.sqlite3") as st:
        st.put(_row(item))
        st.set_token("anna", "http://x/anna/", "tok1")
    with StateStore(tmp_path / "s.sqlite3") as st:
        assert st.items("anna")[item.uid].hash == item.managed_hash
        assert st.token("anna", "http://x/anna/") == "tok1"
        assert st.token("anna", "http://elsewhere/") is None
        assert st._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        st.drop(item.uid, "anna")
        assert st.items() == {}


def test_lock_refuses_a_second_holder(tmp_path):
    state = tmp_path / "s.sqlite3"
    with SyncLock(state), pytest.raises(LockHeld, match="another sync run"):
        SyncLock(state).acquire()
    with SyncLock(state):
        pass


def test_make_target_caldav_and_unknown():
    tgt = make_target(settings())
    assert tgt.kind == "caldav"
    assert tgt.address("a b") == "http://127.0.0.1:1/a%20b/k/"
    tgt.close()
    s = settings()
    s.target.kind = "nothing"  # type: ignore[assignment]
    with pytest.raises(TargetError):
        make_target(s)


def test_explicit_calendar_table_wins_over_the_template():
    s = Settings(
        source={"cases": Path("cases.csv")},
        target={
            "kind": "caldav",
            "caldav": {
                "url": "https://dav.example/{counsellor}/kontaktdichte/",
                "calendars": {"anna": "https://dav.example/shared/anna-kd"},
            },
        },
    )
    tgt = make_target(s)
    assert tgt.address("anna") == "https://dav.example/shared/anna-kd/"
    assert tgt.address("bernd") == "https://dav.example/bernd/kontaktdichte/"
    tgt.close()


def test_a_proposals_times_are_one_field_and_older_markers_still_read():
    from kontaktsync.sync.item import (
        _field_hash,
        changed_by_person,
        encode_field_hashes,
        field_hashes,
        three_way,
    )

    written = {"type": "proposal", "summary": "Terminvorschlag", "description": "d",
               "categories": ["Kontaktdichte"], "priority": None, "private": True, "due": "2026-11-27",
               "start": "2026-11-27T09:00:00+01:00", "status": "tentative",
               "end": "2026-11-27T09:30:00+01:00"}  # fmt: skip
    longer = dict(written, end="2026-11-27T10:15:00+01:00")
    base = field_hashes(written)
    marker = {"f": encode_field_hashes(base)}
    assert field_hashes(longer)["start"] != base["start"]  # the end counts in the times
    assert changed_by_person(longer, marker)
    assert three_way(written, longer, marker).keep == {"start"}  # the person's times are kept
    assert not changed_by_person(written, marker)
    # a marker written before the end counted: its start alone; an unchanged start is unchanged
    older = {"f": encode_field_hashes(dict(base, start=_field_hash("start", written["start"])))}
    assert not changed_by_person(written, older)
    assert three_way(written, written, older).keep == frozenset()
    moved = dict(written, start="2026-11-27T11:00:00+01:00", end="2026-11-27T11:30:00+01:00")
    assert "start" in three_way(written, moved, older).keep
    # the plan still wants what was written: the counsellor's move is kept, and no conflict
    assert three_way(written, moved, older).moved == frozenset()
    later = dict(written, start="2026-11-30T09:00:00+01:00", end="2026-11-30T09:30:00+01:00")
    assert three_way(later, moved, older).moved == {"start"}  # the plan moved it as well
