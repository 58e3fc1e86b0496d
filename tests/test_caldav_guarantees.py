"""The guarantees of calendar.md, each against Radicale and Xandikos (real servers on loopback).

Requests are counted by a proxy between client and server (tests/faultproxy.py), which also
injects 503s and dropped connections. Crashes are real: `kontaktsync sync` runs as a child
process with KS_FAULT_AFTER_WRITES=k and dies right after its k-th write.
"""

from __future__ import annotations

import subprocess
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import icalendar
import pytest
from kontaktsync.sync import item as item_mod
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.core import items as items_mod
from kontaktsync.sync.core.lock import LockHeld, SyncLock
from kontaktsync.sync.core.planning import make_plan
from kontaktsync.sync.core.runner import FAULT_ENV, FAULT_EXIT_CODE, MassDeleteRefused, run_sync

from tests.builders import AS_OF, caseload, example_case_ids
from tests.calendars import components, etags, put_object, read_calendar, server_uids
from tests.cli import run_cli
from tests.configs import settings_for
from tests.configs import write_settings as write_config
from tests.faultproxy import FaultProxy
from tests.servers import DavServer


@pytest.fixture
def proxy(dav_server: DavServer) -> Iterator[FaultProxy]:
    with FaultProxy(dav_server.url) as p:
        yield p


def desired_uids(settings: Settings) -> dict[str, set[str]]:
    plan = make_plan(settings, AS_OF)
    return {cal: set(d) for cal, d in items_mod.desired_items(plan, settings).items()}


def assert_exactly_desired(server: DavServer, settings: Settings) -> None:
    """Every desired item is on the server once; nothing else of ours is there."""
    want = desired_uids(settings)
    on_server = server_uids(server.url, want)
    dupes = [u for u, n in Counter(on_server).items() if n > 1]
    assert dupes == []
    assert set(on_server) == set().union(*want.values())


def sync(settings: Settings, **kw) -> object:
    return run_sync(settings, as_of=AS_OF, **kw)


def test_second_run_writes_nothing(dav_server, proxy, tmp_path):
    s = settings_for(proxy.url, tmp_path, caseload(tmp_path / "src"))
    first = sync(s)
    assert first.failed == 0
    assert first.created == 2 * first.obligations_due > 0  # a task and a marker each
    calendars = len(first.per_calendar)
    for _ in range(2):  # without a token, then with one
        proxy.reset()
        again = sync(s)
        assert proxy.writes() == 0
        assert again.writes == 0 and again.failed == 0
        assert again.unchanged == first.created
        assert proxy.count() <= 2 * calendars
        assert proxy.count("GET") == 0
    assert_exactly_desired(dav_server, s)


def test_no_duplicates_after_crashes_between_writes(dav_server, tmp_path):
    src = caseload(tmp_path / "src")
    s = settings_for(dav_server.url, tmp_path, src)
    config = write_config(s, tmp_path / "kontaktsync.toml")
    args = ["sync", "--config", str(config), "--as-of", AS_OF.isoformat()]
    total = 2 * len(make_plan(s, AS_OF).obligations)
    # Crash after the 1st, 2nd, 5th, ... write of successive runs: each run redoes what the
    # previous one did not record, so crashes hit creates, take-overs and fresh items.
    for k in (1, 2, 5, 17, 40):
        proc = run_cli(args, tmp_path, {FAULT_ENV: str(k)})
        assert proc.returncode == FAULT_EXIT_CODE, proc.stderr
    done = run_cli(args, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_exactly_desired(dav_server, s)
    again = sync(s)
    assert again.writes == 0 and again.unchanged == total
    # Crashes during completions and deletions (a smaller caseload, one contact added).
    ids = example_case_ids()
    gone = set(ids[:3])
    src2 = caseload(tmp_path / "src2", keep=lambda r: r["case_id"] not in gone)
    s2 = settings_for(dav_server.url, tmp_path, src2)
    config2 = write_config(s2, tmp_path / "kontaktsync2.toml")
    args2 = ["sync", "--config", str(config2), "--as-of", AS_OF.isoformat()]
    for k in (1, 3):
        proc = run_cli(args2, tmp_path, {FAULT_ENV: str(k)})
        assert proc.returncode == FAULT_EXIT_CODE, proc.stderr
    assert run_cli(args2, tmp_path).returncode == 0
    assert_exactly_desired(dav_server, s2)
    assert sync(s2).writes == 0


def test_lost_state_file_creates_no_duplicates(dav_server, proxy, tmp_path):
    s = settings_for(proxy.url, tmp_path, caseload(tmp_path / "src"))
    first = sync(s)
    for suffix in ("", "-wal", "-shm"):
        Path(str(s.sync.state_path) + suffix).unlink(missing_ok=True)
    proxy.reset()
    again = sync(s)
    assert proxy.writes() == 0
    assert again.created == 0 and again.unchanged == first.created
    assert_exactly_desired(dav_server, s)
    proxy.reset()
    assert sync(s).writes == 0 and proxy.count() <= 2 * len(first.per_calendar)


def test_two_runs_at_once(dav_server, tmp_path):
    s = settings_for(dav_server.url, tmp_path, caseload(tmp_path / "src"))
    with SyncLock(s.sync.state_path), pytest.raises(LockHeld):
        sync(s)
    config = write_config(s, tmp_path / "kontaktsync.toml")
    args = ["sync", "--config", str(config), "--as-of", AS_OF.isoformat()]
    procs = [
        subprocess.Popen(
            [str(Path(__import__("sys").executable).with_name("kontaktsync")), *args],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    codes = [p.wait(timeout=300) for p in procs]
    assert sorted(codes) in ([0, 0], [0, 3]), [p.stderr.read() for p in procs]
    assert_exactly_desired(dav_server, s)


def _first_of(url: str, name: str) -> tuple[str, icalendar.Calendar]:
    for href, body in sorted(read_calendar(url).items()):
        cal = icalendar.Calendar.from_ical(body)
        if any(c.name == name for c in cal.subcomponents):
            return href, cal
    raise AssertionError(f"no {name} in {url}")


def test_person_edits_survive(dav_server, tmp_path):
    s = settings_for(dav_server.url, tmp_path, caseload(tmp_path / "src"))
    first = sync(s)
    who = sorted(first.per_calendar)[0]
    url = dav_server.calendar_url(who)
    tags = etags(url)
    # A counsellor ticks off a task in her client, which also adds an alarm and a property.
    href, cal = _first_of(url, "VTODO")
    todo = cal.walk("VTODO")[0]
    for name in ("STATUS", "PERCENT-COMPLETE", "COMPLETED"):
        todo.pop(name, None)
    todo.add("STATUS", "COMPLETED")
    todo.add("PERCENT-COMPLETE", 100)
    todo.add("COMPLETED", icalendar.vDatetime.from_ical("20261120T090000Z"))
    todo.add("X-CLIENT-NOTE", "angerufen")
    alarm = icalendar.Alarm()
    alarm.add("ACTION", "DISPLAY")
    alarm.add("DESCRIPTION", "Erinnerung")
    alarm.add("TRIGGER", icalendar.vDuration.from_ical("-PT15M"))
    todo.add_component(alarm)
    assert put_object(dav_server.origin + href, cal.to_ical(), tags[href]) in (200, 201, 204)
    # ... and moves a marker appointment by two days.
    ehref, ecal = _first_of(url, "VEVENT")
    event = ecal.walk("VEVENT")[0]
    start = event["DTSTART"].dt
    moved = start.replace(day=1) if start.day > 2 else start.replace(day=start.day + 2)
    event.pop("DTSTART")
    event.pop("DTEND")
    event.add("DTSTART", moved)
    event.add("DTEND", moved.fromordinal(moved.toordinal() + 1))
    put_object(dav_server.origin + ehref, ecal.to_ical(), tags[ehref])

    second = sync(s)
    assert second.writes == 0 and second.kept_person_edits == 2
    # A later run that changes every item (names now shown) still keeps both edits.
    s_names = s.model_copy(update={"privacy": s.privacy.model_copy(update={"show_names": True})})
    third = sync(s_names)
    assert third.updated == first.created and third.failed == 0
    after = icalendar.Calendar.from_ical(read_calendar(url)[href]).walk("VTODO")[0]
    assert str(after["STATUS"]) == "COMPLETED" and int(after["PERCENT-COMPLETE"]) == 100
    assert "COMPLETED" in after and str(after["X-CLIENT-NOTE"]) == "angerufen"
    assert [a["ACTION"] for a in after.walk("VALARM")] == ["DISPLAY"]
    assert "(" in str(after["SUMMARY"])  # the program's update went through around the edit
    ev_after = icalendar.Calendar.from_ical(read_calendar(url)[ehref]).walk("VEVENT")[0]
    assert ev_after["DTSTART"].dt == moved
    assert sync(s_names).writes == 0


def test_fulfilled_completes_and_left_deletes(dav_server, tmp_path):
    s = settings_for(dav_server.url, tmp_path, caseload(tmp_path / "src"))
    plan = make_plan(s, AS_OF)
    sync(s)
    contact_obs = [o for o in plan.obligations if o.kind == "contact"]
    fulfilled, left = contact_obs[0], contact_obs[1]
    assert fulfilled.case_id != left.case_id
    src2 = caseload(
        tmp_path / "src2",
        keep=lambda r: r["case_id"] != left.case_id,
        extra_contacts=[
            {"case_id": fulfilled.case_id, "date": AS_OF.isoformat(), "channel": "persoenlich",
             "outcome": "erschienen"}
        ],
    )  # fmt: skip
    s2 = settings_for(dav_server.url, tmp_path, src2)
    left_items = [o for o in plan.obligations if o.case_id == left.case_id]
    report = sync(s2)
    assert report.failed == 0
    assert report.completed >= 1
    assert report.deleted >= 2 * len(left_items)
    old_uid = item_mod.make_uid(
        s, fulfilled.case_id, str(fulfilled.kind), fulfilled.measure_key, fulfilled.cycle, "task"
    )
    todo = next(
        c for c in components(dav_server.calendar_url(fulfilled.counsellor)) if str(c["UID"]) == old_uid
    )
    assert str(todo["STATUS"]) == "COMPLETED" and int(todo["PERCENT-COMPLETE"]) == 100
    assert "COMPLETED" in todo and "PRIORITY" not in todo
    left_uids = [
        item_mod.make_uid(s, o.case_id, str(o.kind), o.measure_key, o.cycle, "task") for o in left_items
    ]
    assert not set(left_uids) & set(server_uids(dav_server.url, [left.counsellor]))
    assert sync(s2).writes == 0


def test_dry_run_changes_nothing(dav_server, proxy, tmp_path):
    fresh = settings_for(proxy.url, tmp_path / "fresh", caseload(tmp_path / "src"))
    dry = sync(fresh, dry_run=True)
    assert dry.created == 2 * dry.obligations_due and proxy.writes() == 0
    assert not fresh.sync.state_path.exists()
    assert server_uids(dav_server.url, dry.per_calendar) == []

    s = settings_for(proxy.url, tmp_path, caseload(tmp_path / "src"))
    sync(s)
    ids = example_case_ids()
    s2 = settings_for(proxy.url, tmp_path, caseload(tmp_path / "src2", keep=lambda r: r["case_id"] != ids[0]))
    before_tags = {cal: etags(dav_server.calendar_url(cal)) for cal in dry.per_calendar}
    before_state = s.sync.state_path.read_bytes()
    proxy.reset()
    dry2 = sync(s2, dry_run=True)
    assert proxy.writes() == 0
    assert {cal: etags(dav_server.calendar_url(cal)) for cal in dry.per_calendar} == before_tags
    assert s.sync.state_path.read_bytes() == before_state
    assert dry2.deleted > 0 and {a.action for a in dry2.dry_run_actions} >= {"delete"}
    real = sync(s2)
    assert (real.created, real.updated, real.completed, real.deleted) == (
        dry2.created, dry2.updated, dry2.completed, dry2.deleted,
    )  # fmt: skip
    # The CLI prints the same, per calendar.
    config = write_config(s2, tmp_path / "kontaktsync.toml")
    out = run_cli(["sync", "--config", str(config), "--dry-run", "--as-of", AS_OF.isoformat()], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Dry run: nothing was changed" in out.stdout and "nothing" in out.stdout


def test_server_errors_lose_nothing_and_converge(dav_server, proxy, tmp_path):
    s = settings_for(proxy.url, tmp_path, caseload(tmp_path / "src"))
    total = 2 * len(make_plan(s, AS_OF).obligations)
    # Every 7th item answers 503 however often it is retried; one calendar's listing fails.
    bad_paths: set[str] = set()
    cal_fail = sorted(desired_uids(s))[-1]

    def fault(req) -> str | None:
        if req.method == "PUT" and (zlib.crc32(req.path.encode()) % 7 == 0 or req.path in bad_paths):
            bad_paths.add(req.path)
            return "503"
        if req.method == "REPORT" and f"/{cal_fail}/" in req.path:
            return "drop"
        return None

    proxy.fault = fault
    first = sync(s)
    assert first.failed > 0 and first.errors
    assert all("injected" not in e for e in first.errors)
    failed_cal = len(desired_uids(s)[cal_fail])
    assert first.created + first.failed == total
    assert first.per_calendar[cal_fail]["failed"] == failed_cal
    # Next run without faults converges; nothing is duplicated.
    proxy.fault = None
    second = sync(s)
    assert second.failed == 0 and second.created == total - first.created
    assert_exactly_desired(dav_server, s)
    assert sync(s).writes == 0


def test_dropped_connections_are_retried(dav_server, proxy, tmp_path):
    s = settings_for(proxy.url, tmp_path, caseload(tmp_path / "src"))
    seen: Counter[str] = Counter()

    def fault(req) -> str | None:
        if req.method != "PUT":
            return None
        seen[req.path] += 1
        if seen[req.path] == 1 and len(seen) % 5 == 0:
            return "drop"  # the server never saw it
        if seen[req.path] == 1 and len(seen) % 5 == 1:
            return "drop-after"  # the server wrote it, the answer was lost
        return None

    proxy.fault = fault
    first = sync(s)
    assert first.failed == 0, first.errors
    assert proxy.count(faulted=True) > 0
    assert_exactly_desired(dav_server, s)
    proxy.fault = None
    proxy.reset()
    assert sync(s).writes == 0 and proxy.writes() == 0


def test_mass_delete_guard(dav_server, proxy, tmp_path):
    s = settings_for(proxy.url, tmp_path, caseload(tmp_path / "src"))
    sync(s)
    ids = example_case_ids()
    tenth = set(ids[::10])
    s2 = settings_for(proxy.url, tmp_path, caseload(tmp_path / "src2", keep=lambda r: r["case_id"] in tenth))
    proxy.reset()
    with pytest.raises(MassDeleteRefused) as err:
        sync(s2)
    assert "--allow-mass-delete" in str(err.value)
    assert proxy.writes() == 0
    config = write_config(s2, tmp_path / "kontaktsync.toml")
    args = ["sync", "--config", str(config), "--as-of", AS_OF.isoformat()]
    refused = run_cli(args, tmp_path)
    assert refused.returncode == 4 and "allow-mass-delete" in refused.stderr
    assert proxy.writes() == 0
    allowed = sync(s2, allow_mass_delete=True)
    assert allowed.deleted > 0 and allowed.failed == 0
    assert_exactly_desired(dav_server, s2)


def test_expired_token_means_one_full_listing(dav_server, proxy, tmp_path):
    s = settings_for(proxy.url, tmp_path, caseload(tmp_path / "src"))
    first = sync(s)
    sync(s)  # now every calendar has a token
    from kontaktsync.sync.core.state import StateStore

    with StateStore(s.sync.state_path) as st:
        for cal in first.per_calendar:
            address = s.target.caldav.url.format(counsellor=cal)
            assert st.token(cal, address)
            st.set_token(cal, address, "http://radicale.org/ns/sync/expired-0000")
    proxy.reset()
    again = sync(s)
    assert again.failed == 0 and again.writes == 0 and proxy.writes() == 0
    assert proxy.count("REPORT") == 2 * len(first.per_calendar)  # refused, then full


def test_servers_without_sync_collection_get_an_etag_listing(dav_server, proxy, tmp_path):
    proxy.fault = lambda req: "403" if req.method == "REPORT" and b"sync-collection" in req.body else None
    s = settings_for(proxy.url, tmp_path, caseload(tmp_path / "src"))
    first = sync(s)
    assert first.failed == 0 and first.created > 0
    proxy.reset()
    again = sync(s)
    assert again.writes == 0 and again.unchanged == first.created and proxy.writes() == 0
    assert proxy.count("PROPFIND") == len(first.per_calendar)
    assert_exactly_desired(dav_server, s)


@pytest.mark.slow
def test_crash_after_every_single_write(dav_server, tmp_path):
    """A small caseload, crashed after the k-th write for every k, in each phase of its life:
    creating, updating (names switched on), completing and deleting (a contact, a case gone)."""
    ids = example_case_ids()
    few = set(ids[:4])
    gone = ids[0]
    src = caseload(tmp_path / "src", keep=lambda r: r["case_id"] in few)
    plan = make_plan(settings_for(dav_server.url, tmp_path, src), AS_OF)
    fulfilled = next(o.case_id for o in plan.obligations if o.kind == "contact" and o.case_id != gone)
    src_after = caseload(
        tmp_path / "src-after",
        keep=lambda r: r["case_id"] in few - {gone},
        extra_contacts=[
            {
                "case_id": fulfilled,
                "date": AS_OF.isoformat(),
                "channel": "persoenlich",
                "outcome": "erschienen",
            }
        ],
    )
    phases = [("create", src, False), ("update", src, True), ("remove", src_after, True)]
    for k in range(1, 2 * len(plan.obligations) + 1):
        world = tmp_path / f"k{k}"
        world.mkdir()
        url = f"{dav_server.url}k{k}-"
        before: Settings | None = None
        for phase, source, names in phases:
            s = settings_for(url, world, source)
            if names:
                s = s.model_copy(update={"privacy": s.privacy.model_copy(update={"show_names": True})})
            if before is not None:
                assert sync(before).writes == 0  # the previous phase had converged
            config = write_config(s, world / f"{phase}.toml")
            # write_config does not carry privacy; names go in through the environment
            env = {FAULT_ENV: str(k)} | ({"KONTAKTSYNC_PRIVACY__SHOW_NAMES": "true"} if names else {})
            proc = run_cli(["sync", "--config", str(config), "--as-of", AS_OF.isoformat()], world, env)
            assert proc.returncode in (0, FAULT_EXIT_CODE), proc.stderr
            report = sync(s)
            assert report.failed == 0, report.errors
            want = set().union(*desired_uids(s).values())
            comps = [c for who in desired_uids(s) for c in components(f"{url}{who}/kontaktdichte/")]
            uids = [str(c["UID"]) for c in comps]
            assert len(uids) == len(set(uids)), (phase, k, "duplicates")
            assert want <= set(uids), (phase, k, "missing")
            extra = [c for c in comps if str(c["UID"]) not in want]
            assert all(str(c.get("STATUS")) == "COMPLETED" for c in extra), (phase, k)
            assert (len(extra) > 0) == (phase == "remove"), (phase, k)
            before = s
