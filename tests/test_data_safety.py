"""Nothing lost, only where it belongs: bad rows, team calendars, people's edits, the guard.

Each test runs `kontaktsync sync` as a child process against a real Radicale and Xandikos
(started by the tests on 127.0.0.1) and reads the calendars back with a second, independent
client (tests/calendars.py: plain PROPFIND/GET/PUT).
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import timedelta
from pathlib import Path

import icalendar
from kontaktsync.sync.core import items as items_mod
from kontaktsync.sync.core.planning import make_plan
from kontaktsync.sync.core.runner import run_sync

from tests.builders import AS_OF, caseload
from tests.calendars import components, etags, put_object, read_calendar
from tests.cli import run_cli
from tests.configs import settings_for, write_settings


def _edit_cases(folder: Path, change: dict[str, dict[str, str]]) -> None:
    """Rewrite cells of cases.csv: case_id -> {column: new value}."""
    path = folder / "cases.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        rows = [r | change.get(r["case_id"], {}) for r in reader]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fields)
        writer.writeheader()
        writer.writerows(rows)


def _sync_cli(settings, tmp: Path, *extra: str):
    config = write_settings(settings, tmp / "kontaktsync.toml")
    return run_cli(["sync", "--config", str(config), "--as-of", AS_OF.isoformat(), *extra], tmp)


def _bodies(url: str) -> dict[str, bytes]:
    """UID -> body of every object at `url`."""
    out = {}
    for body in read_calendar(url).values():
        comp = next(c for c in icalendar.Calendar.from_ical(body).subcomponents if "UID" in c)
        out[str(comp["UID"])] = body
    return out


def _uids_of(settings, case_id: str) -> set[str]:
    plan = make_plan(settings, AS_OF)
    return {
        uid
        for cal in items_mod.desired_items(plan, settings).values()
        for uid, item in cal.items()
        if item.case_id == case_id
    }


def _task_of(url: str, uid: str) -> tuple[str, icalendar.Calendar]:
    for href, body in read_calendar(url).items():
        cal = icalendar.Calendar.from_ical(body)
        if any(str(c.get("UID")) == uid for c in cal.subcomponents):
            return href, cal
    raise AssertionError(f"{uid} not in {url}")


def _contact_case(settings) -> tuple[str, str]:
    """A case with a recurring-contact task, and its counsellor."""
    plan = make_plan(settings, AS_OF)
    ob = next(o for o in plan.obligations if o.kind == "contact")
    return ob.case_id, ob.counsellor


def test_a_bad_row_freezes_its_cases_items(dav_server, tmp_path):
    src = caseload(tmp_path / "src")
    s = settings_for(dav_server.url, tmp_path, src)
    assert _sync_cli(s, tmp_path).returncode == 0
    case_id, who = _contact_case(s)
    url = dav_server.calendar_url(who)
    uids = _uids_of(s, case_id)
    task_uid = next(u for u in uids if "VTODO" in _bodies(url)[u].decode())
    # The counsellor writes a note into the task.
    href, cal = _task_of(url, task_uid)
    todo = cal.walk("VTODO")[0]
    note = str(todo["DESCRIPTION"]) + "\nNotiz: Kunde ruft zurück"
    todo.pop("DESCRIPTION")
    todo.add("DESCRIPTION", note)
    put_object(dav_server.origin + href, cal.to_ical(), etags(url)[href])
    before = {u: b for u, b in _bodies(url).items() if u in uids}
    assert set(before) == uids

    # A typo in the case's row (and a contact that would fulfil its task): the row is reported,
    # its items stay exactly as they are - not completed, not deleted, not rewritten.
    _edit_cases(src, {case_id: {"profile": "markt"}})
    with (src / "contacts.csv").open("a", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerow([case_id, AS_OF.isoformat(), "persoenlich", ""])
    bad = _sync_cli(s, tmp_path)
    assert bad.returncode == 0, bad.stderr
    assert "cases.csv" in bad.stderr and "profile" in bad.stderr and "markt" in bad.stderr
    assert {u: b for u, b in _bodies(url).items() if u in uids} == before
    again = _sync_cli(s, tmp_path)
    assert {u: b for u, b in _bodies(url).items() if u in uids} == before
    assert ", 0 completed, 0 deleted," in again.stdout

    # The row is readable again: the contact fulfilled the task, which is completed with the
    # counsellor's note in it; nothing is duplicated.
    _edit_cases(src, {case_id: {"profile": "marktnah"}})
    fixed = _sync_cli(s, tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    task = next(c for c in components(url) if str(c["UID"]) == task_uid)
    assert str(task["STATUS"]) == "COMPLETED" and "Notiz: Kunde ruft zurück" in str(task["DESCRIPTION"])
    assert max(Counter(str(c["UID"]) for c in components(url)).values()) == 1


def test_a_team_calendar_holds_every_counsellors_items(dav_server, tmp_path):
    """A template without {counsellor}: every counsellor's items live side by side."""
    src = caseload(tmp_path / "src")
    s = settings_for(dav_server.url, tmp_path, src)
    team = dav_server.url + "team/kontaktdichte/"
    s = s.model_copy(
        update={
            "target": s.target.model_copy(update={"caldav": s.target.caldav.model_copy(update={"url": team})})
        }
    )
    first = _sync_cli(s, tmp_path)
    assert first.returncode == 0, first.stderr
    plan = make_plan(s, AS_OF)
    want = {u for cal in items_mod.desired_items(plan, s).values() for u in cal}
    assert len({o.counsellor for o in plan.obligations}) > 3
    assert {str(c["UID"]) for c in components(team)} == want
    tags = etags(team)
    second = _sync_cli(s, tmp_path)
    assert second.returncode == 0 and "Summary: 0 created, 0 updated, 0 completed, 0 deleted" in second.stdout
    assert etags(team) == tags
    # One counsellor's case leaves: only its items go, the rest of the team's stay untouched.
    case_id, _who = _contact_case(s)
    gone = _uids_of(s, case_id)
    src2 = caseload(tmp_path / "src2", keep=lambda r: r["case_id"] != case_id)
    s2 = settings_for(dav_server.url, tmp_path, src2)
    s2 = s2.model_copy(update={"target": s.target})
    third = _sync_cli(s2, tmp_path)
    assert third.returncode == 0, third.stderr
    after = etags(team)
    assert {str(c["UID"]) for c in components(team)} == want - gone
    assert {h: t for h, t in tags.items() if h in after} == after


def test_an_explicit_table_may_map_two_counsellors_to_one_calendar(dav_server, tmp_path):
    src = caseload(tmp_path / "src")
    s = settings_for(dav_server.url, tmp_path, src)
    plan = make_plan(s, AS_OF)
    a, b = sorted({o.counsellor for o in plan.obligations})[:2]
    shared = dav_server.url + "gemeinsam/kontaktdichte/"
    caldav = s.target.caldav.model_copy(update={"calendars": {a: shared, b: shared}})
    s = s.model_copy(update={"target": s.target.model_copy(update={"caldav": caldav})})
    first = run_sync(s, as_of=AS_OF)
    assert first.failed == 0
    want = {u for cal, items in items_mod.desired_items(plan, s).items() if cal in (a, b) for u in items}
    assert {str(c["UID"]) for c in components(shared)} == want
    again = run_sync(s, as_of=AS_OF)
    assert again.writes == 0 and again.failed == 0


def test_counsellor_edits_survive_field_by_field(dav_server, tmp_path):
    src = caseload(tmp_path / "src")
    s = settings_for(dav_server.url, tmp_path, src, appointments="none")
    assert _sync_cli(s, tmp_path).returncode == 0
    case_id, who = _contact_case(s)
    url = dav_server.calendar_url(who)
    (task_uid,) = _uids_of(s, case_id) & {str(c["UID"]) for c in components(url) if c.name == "VTODO"}
    href, cal = _task_of(url, task_uid)
    todo = cal.walk("VTODO")[0]
    planned_due = todo["DUE"].dt
    own_due = planned_due + timedelta(days=3)
    notes = str(todo["DESCRIPTION"]) + "\nNotiz: Unterlagen mitbringen"
    for prop, value in (("DESCRIPTION", notes), ("DUE", own_due), ("PRIORITY", 5)):
        todo.pop(prop, None)
        todo.add(prop, value)
    put_object(dav_server.origin + href, cal.to_ical(), etags(url)[href])

    # The plan moves: names shown (summary) and an extension (due date and description).
    s_names = s.model_copy(update={"privacy": s.privacy.model_copy(update={"show_names": True})})
    _edit_cases(src, {case_id: {"extension_months": "1", "extension_reason": "Krankheit"}})
    run = _sync_cli(s_names, tmp_path)
    assert run.returncode == 0, run.stderr
    after = next(c for c in components(url) if str(c["UID"]) == task_uid)
    assert after["DUE"].dt == own_due and int(after["PRIORITY"]) == 5
    assert str(after["DESCRIPTION"]) == notes
    assert "(" in str(after["SUMMARY"])  # the field nobody touched follows the plan
    assert "kept the counsellor's" in run.stdout and "due" in run.stdout
    assert ", 1 person edits kept" in run.stdout
    quiet = _sync_cli(s_names, tmp_path)
    assert "Summary: 0 created, 0 updated" in quiet.stdout and ", 0 person edits kept" in quiet.stdout

    # The case leaves the caseload: a task with the counsellor's edits is completed, not deleted.
    src2 = caseload(tmp_path / "src2", keep=lambda r: r["case_id"] != case_id)
    left = _sync_cli(settings_for(dav_server.url, tmp_path, src2, appointments="none"), tmp_path)
    assert left.returncode == 0, left.stderr
    done = next(c for c in components(url) if str(c["UID"]) == task_uid)
    assert str(done["STATUS"]) == "COMPLETED" and str(done["DESCRIPTION"]) == notes


def test_tasks_completed_by_contacts_do_not_trip_the_guard(dav_server, tmp_path):
    src = caseload(tmp_path / "src")
    s = settings_for(dav_server.url, tmp_path, src, appointments="none", mass_delete_min=1)
    assert _sync_cli(s, tmp_path).returncode == 0
    plan = make_plan(s, AS_OF)
    contact_cases = sorted({o.case_id for o in plan.obligations if o.kind == "contact"})
    with (src / "contacts.csv").open("a", newline="", encoding="utf-8") as fh:
        for cid in contact_cases:  # every recurring contact took place today
            csv.writer(fh).writerow([cid, AS_OF.isoformat(), "persoenlich", ""])
    done = _sync_cli(s, tmp_path)
    assert done.returncode == 0, done.stderr
    assert f", {len(contact_cases)} completed," in done.stdout

    # A truncated export does trip it, and the message names the likely causes.
    src2 = caseload(tmp_path / "src2", keep=lambda r: r["case_id"] in contact_cases[:1])
    cut = _sync_cli(
        settings_for(dav_server.url, tmp_path, src2, appointments="none", mass_delete_min=1), tmp_path
    )
    assert cut.returncode == 4
    for cause in ("truncated", "calendar mapping", "pseudonymize"):
        assert cause in cut.stderr


def test_switching_on_pseudonymisation_migrates_instead_of_deleting(dav_server, tmp_path):
    """Every UID changes when pseudonyms are switched on: the items are replaced, the guard
    does not take that for a truncated export, and no customer number is left in the calendar."""
    src = caseload(tmp_path / "src")
    s = settings_for(dav_server.url, tmp_path, src, appointments="none", mass_delete_min=1)
    assert _sync_cli(s, tmp_path).returncode == 0
    case_id, who = _contact_case(s)
    url = dav_server.calendar_url(who)
    before = {str(c["UID"]) for c in components(url)}
    env = {"KONTAKTSYNC_PRIVACY__PSEUDONYMIZE": "true", "KONTAKTSYNC_PRIVACY__PSEUDONYM_KEY": "k" * 32}
    config = write_settings(s, tmp_path / "kontaktsync.toml")
    args = ["sync", "--config", str(config), "--as-of", AS_OF.isoformat()]
    moved = run_cli(args, tmp_path, env)
    assert moved.returncode == 0, moved.stderr
    after = components(url)
    assert {str(c["UID"]) for c in after}.isdisjoint(before) and len(after) == len(before)
    assert all(f"Kd {case_id}" not in str(c["SUMMARY"]) for c in after)
    assert not any("Kd 1" in str(c["SUMMARY"]) for c in after)  # example numbers start with 1
    again = run_cli(args, tmp_path, env)
    assert "Summary: 0 created, 0 updated, 0 completed, 0 deleted" in again.stdout
