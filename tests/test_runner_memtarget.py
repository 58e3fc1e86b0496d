"""The runner and reconciler against the in-memory target: races a real server rarely shows."""

from __future__ import annotations

from datetime import date

import icalendar
from kontaktsync.sync.core.runner import run_sync
from kontaktsync.sync.targets.caldav import ical
from kontaktsync.sync.targets.memory import MemTarget

from tests.builders import obligation, plan_of, settings


def _settings(tmp_path, **privacy):
    s = settings(**privacy)
    return s.model_copy(update={"sync": s.sync.model_copy(update={"state_path": tmp_path / "st.sqlite3"})})


def _complete_by_person(tgt: MemTarget, cal: str, uid: str) -> None:
    v, body = tgt.cals[cal][uid]
    c = icalendar.Calendar.from_ical(body)
    todo = c.walk("VTODO")[0]
    todo.pop("STATUS")
    todo.add("STATUS", "COMPLETED")
    todo.add("PERCENT-COMPLETE", 100)
    tgt.cals[cal][uid] = (v + 1, c.to_ical())


def test_a_person_completing_between_read_and_write_is_kept(tmp_path):
    tgt = MemTarget()
    plan = plan_of(obligation(), obligation("100235"))
    first = run_sync(_settings(tmp_path), plan=plan, target=tgt)
    assert first.created == 4 and tgt.writes == 4
    task_uid = next(u for u, (_, b) in tgt.cals["anna"].items() if ical.parse(b).item_type == "task")
    raced: list[str] = []

    def race(cal: str, uid: str) -> None:
        if uid == task_uid and not raced:
            raced.append(uid)
            _complete_by_person(tgt, cal, uid)

    tgt.before_update = race
    second = run_sync(_settings(tmp_path, show_names=True), plan=plan, target=tgt)
    assert raced and second.failed == 0
    assert second.updated == 4 and second.kept_person_edits == 1
    after = ical.parse(tgt.cals["anna"][task_uid][1])
    assert after.completed and "(Erika Mustermann)" in after.fields["summary"]
    tgt.before_update = None
    third = run_sync(_settings(tmp_path, show_names=True), plan=plan, target=tgt)
    assert third.writes == 0 and third.failed == 0


def test_take_over_after_a_crash_between_write_and_state(tmp_path):
    """The item is on the server, the state does not know it: adopt it, write nothing."""
    tgt = MemTarget()
    plan = plan_of(obligation())
    run_sync(_settings(tmp_path), plan=plan, target=tgt)
    (tmp_path / "st.sqlite3").unlink()
    writes = tgt.writes
    report = run_sync(_settings(tmp_path), plan=plan, target=tgt)
    assert report.created == 0 and report.unchanged == 2 and tgt.writes == writes


def test_moved_due_date_in_the_same_cycle_updates_in_place(tmp_path):
    tgt = MemTarget()
    run_sync(_settings(tmp_path), plan=plan_of(obligation()), target=tgt)
    uids = set(tgt.cals["anna"])
    moved = plan_of(obligation(due=date(2027, 1, 4)))
    report = run_sync(_settings(tmp_path), plan=moved, target=tgt)
    assert report.updated == 2 and report.created == 0 and set(tgt.cals["anna"]) == uids


def test_stop_event_ends_the_run_between_items(tmp_path):
    import threading

    tgt = MemTarget()
    stop = threading.Event()
    stop.set()
    plan = plan_of(*(obligation(str(100300 + i)) for i in range(5)))
    report = run_sync(_settings(tmp_path), plan=plan, target=tgt, stop=stop)
    assert report.created <= 1 and any("stopped" in e for e in report.errors)
    again = run_sync(_settings(tmp_path), plan=plan, target=tgt)
    assert again.created + report.created == 10


def test_a_vanished_calendar_is_recreated_and_refilled(tmp_path):
    tgt = MemTarget()
    plan = plan_of(obligation())
    run_sync(_settings(tmp_path), plan=plan, target=tgt)
    del tgt.cals["anna"]  # an administrator deleted the calendar
    report = run_sync(_settings(tmp_path), plan=plan, target=tgt)
    assert report.created == 2 and len(tgt.cals["anna"]) == 2
    assert run_sync(_settings(tmp_path), plan=plan, target=tgt).writes == 0


def test_an_item_a_person_deleted_stays_deleted(tmp_path):
    tgt = MemTarget()
    plan = plan_of(obligation())
    run_sync(_settings(tmp_path), plan=plan, target=tgt)
    uid = next(iter(tgt.cals["anna"]))
    del tgt.cals["anna"][uid]
    report = run_sync(_settings(tmp_path), plan=plan, target=tgt)
    assert report.created == 0 and report.kept_person_edits == 1 and uid not in tgt.cals["anna"]
    assert run_sync(_settings(tmp_path), plan=plan, target=tgt).kept_person_edits == 0


def test_a_row_rebuilt_from_a_pseudonymised_marker_holds_the_case_id(tmp_path):
    """State lost, pseudonymisation on: the row of an item the run reads back from its marker
    names the case, not its pseudonym (else the next run takes a live case for one that left)."""
    from kontaktsync.sync.core.state import StateStore

    s = _settings(tmp_path, pseudonymize=True, pseudonym_key="geheim-1234567890")
    tgt = MemTarget()
    run_sync(s, plan=plan_of(obligation()), target=tgt)
    task_uid = next(u for u, (_, b) in tgt.cals["anna"].items() if ical.parse(b).item_type == "task")
    _complete_by_person(tgt, "anna", task_uid)
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"st.sqlite3{suffix}").unlink(missing_ok=True)
    later = plan_of(obligation(cycle="2026-11-20"), contacts={"100234": (date(2026, 11, 20),)})
    run_sync(s, plan=later, target=tgt)
    state = StateStore(tmp_path / "st.sqlite3")
    try:
        row = state.items("anna")[task_uid]
    finally:
        state.close()
    assert row.case_id == "100234", row
