"""Slot mode end to end (issue 12): proposed appointments in the counsellor's free time.

Against Radicale and Xandikos: the counsellor's own calendar holds a weekly all-day-long
meeting (a recurring event) and a two-day absence (an all-day event), written by a second
client (tests/calendars.py, never kontaktsync code). The sync proposes a tentative appointment
for every due talk around them; a second run moves nothing, nor does one after the absence is
called off (free time earlier does not pull proposals); a busy item put over one proposal
moves that one only; a proposal the counsellor confirmed stays where it is even when a busy
item lands on it; a fulfilled obligation's proposal goes.
"""

from __future__ import annotations

import csv
import itertools
import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from kontaktsync.sync.cli.sync import print_report
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.core.runner import run_sync

from tests.builders import AS_OF, counsellors_caseload
from tests.calendars import etags, event, make_calendar, put_events, put_object, request
from tests.cli import run_cli
from tests.configs import settings_for, write_config
from tests.servers import DavServer

BERLIN = ZoneInfo("Europe/Berlin")
WHO = "m.mueller"
OPEN = ((time(8), time(12)), (time(13), time(16)))
PER_DAY = 3
ABSENT = (date(2026, 11, 23), date(2026, 11, 24))  # Monday and Tuesday after the run date
MEETING_DAY = 2  # every Wednesday, 08:00-16:00


def _settings(server: DavServer, tmp: Path) -> Settings:
    src = counsellors_caseload(tmp / "src", {WHO: WHO})
    settings = settings_for(server.url, tmp, src, appointments="slot")
    assert settings.target.caldav is not None
    settings.target.caldav.busy_urls = [server.url + "{counsellor}/calendar/"]
    settings.items.opening_hours = "08:00-12:00,13:00-16:00"
    settings.items.buffer_minutes = 0
    settings.items.talks_per_day = PER_DAY
    settings.items.talks_per_week = 12
    settings.items.follow_up_minutes = 30
    settings.items.first_talk_minutes = 60
    settings.items.interpreter_minutes = 60
    return settings


def _personal(server: DavServer) -> str:
    """The counsellor's own calendar: the weekly meeting and the absence."""
    url = server.calendar_url(WHO, "calendar")
    make_calendar(url)
    wed = datetime(2026, 11, 25, 8, tzinfo=BERLIN)
    put_events(url, event("weekly", wed, wed.replace(hour=16), RRULE={"FREQ": "WEEKLY"}))
    put_events(url, event("absent", ABSENT[0], ABSENT[1] + timedelta(days=1)))
    return url


def _proposals(server: DavServer) -> dict[str, tuple[icalendar.cal.Component, str]]:
    """UID -> (VEVENT, ETag) of every proposal in the program's calendar, read by a second client."""
    url = server.calendar_url(WHO)
    out = {}
    for href, etag in etags(url).items():
        body = request(url + href.rsplit("/", 1)[-1])[1]
        for comp in icalendar.Calendar.from_ical(body).walk("VEVENT"):
            if "Terminvorschlag" in str(comp.get("SUMMARY", "")):
                out[str(comp["UID"])] = (comp, etag)
    return out


def _span(comp: icalendar.cal.Component) -> tuple[datetime, datetime]:
    return comp["DTSTART"].dt.astimezone(BERLIN), comp["DTEND"].dt.astimezone(BERLIN)


def _quiet(report) -> bool:
    return (report.created, report.updated, report.deleted, report.failed) == (0, 0, 0, 0)


def test_proposals_fit_the_free_time_and_stay_unless_they_must_move(
    dav_server: DavServer, tmp_path: Path
) -> None:
    personal = _personal(dav_server)
    settings = _settings(dav_server, tmp_path)

    first = run_sync(settings, as_of=AS_OF)
    assert first.failed == 0 and first.errors == [], first.errors
    assert first.proposals is not None and first.proposals.placed > 0
    got = _proposals(dav_server)
    assert len(got) == first.proposals.placed
    tasks = {str(c["UID"]) for c in _components(dav_server, "VTODO")}
    per_day: dict[date, int] = {}
    for comp, _ in got.values():
        start, end = _span(comp)
        assert str(comp["STATUS"]) == "TENTATIVE" and str(comp["TRANSP"]) == "OPAQUE"
        assert str(comp["CLASS"]) == "PRIVATE" and str(comp["RELATED-TO"]) in tasks
        assert start.date() == end.date() and start.date() > AS_OF
        assert start.weekday() < 5 and start.weekday() != MEETING_DAY, start
        assert start.date() not in ABSENT, start
        assert any(a <= start.time() and end.time() <= b for a, b in OPEN), (start, end)
        per_day[start.date()] = per_day.get(start.date(), 0) + 1
    assert max(per_day.values()) <= PER_DAY
    spans = sorted(_span(c) for c, _ in got.values())
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))  # no overlap

    again = run_sync(settings, as_of=AS_OF)
    assert _quiet(again), again.errors
    assert _proposals(dav_server) == got  # same items, same ETags

    # The absence is called off: earlier time is free now, but a proposal that still holds does
    # not move (a fresh placement would pull talks forward into Monday and Tuesday).
    assert request(f"{personal}absent.ics", "DELETE")[0] in (200, 204)
    freed = run_sync(settings, as_of=AS_OF)
    assert _quiet(freed), (freed.updated, freed.errors)
    assert _proposals(dav_server) == got

    # A busy item over one proposal: that one moves, and only that one.
    moved_uid, (moved, _) = sorted(got.items())[0]
    start, end = _span(moved)
    put_events(personal, event("clash", start, end))
    third = run_sync(settings, as_of=AS_OF)
    assert (third.updated, third.created, third.deleted, third.failed) == (1, 0, 0, 0), third.errors
    now = _proposals(dav_server)
    new_start, new_end = _span(now[moved_uid][0])
    assert new_end <= start or new_start >= end
    assert {u: e for u, (_, e) in now.items() if u != moved_uid} == {
        u: e for u, (_, e) in got.items() if u != moved_uid
    }

    # The counsellor confirms another proposal; then a busy item lands on it: it stays theirs.
    kept_uid, (kept, etag) = sorted(now.items())[1]
    href = f"{dav_server.calendar_url(WHO)}{kept_uid}.ics"
    cal = icalendar.Calendar.from_ical(request(href)[1])
    for comp in cal.walk("VEVENT"):
        comp["STATUS"] = icalendar.vText("CONFIRMED")
    assert put_object(href, cal.to_ical(), etag) in (200, 204)
    k_start, k_end = _span(kept)
    put_events(personal, event("over", k_start, k_end), name="over-confirmed")
    fourth = run_sync(settings, as_of=AS_OF)
    assert fourth.failed == 0 and fourth.deleted == 0, fourth.errors
    after = _proposals(dav_server)
    assert _span(after[kept_uid][0]) == (k_start, k_end)
    assert str(after[kept_uid][0]["STATUS"]) == "CONFIRMED"

    # A contact fulfils the obligation of a third (untouched) proposal: its proposal goes.
    gone_uid, (gone, _) = sorted(after.items())[2]
    case = str(gone["SUMMARY"]).split("Kd ")[1].split()[0]
    src = Path(settings.source.contacts)  # type: ignore[arg-type]
    with src.open("a", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerow([case, AS_OF.isoformat(), "persönlich", "erschienen"])
    fifth = run_sync(settings, as_of=AS_OF)
    assert fifth.failed == 0, fifth.errors
    assert gone_uid not in _proposals(dav_server)
    assert kept_uid in _proposals(dav_server)


def test_a_proposal_the_counsellor_only_lengthened_keeps_its_times(
    dav_server: DavServer, tmp_path: Path
) -> None:
    """Its end alone changed (not confirmed, not moved): the start and the end stay the
    person's, the run neither moves nor deletes it, and the placer takes it as theirs."""
    _personal(dav_server)
    settings = _settings(dav_server, tmp_path)
    first = run_sync(settings, as_of=AS_OF)
    assert first.failed == 0 and first.proposals is not None
    got = _proposals(dav_server)
    uid, (comp, etag) = sorted(got.items())[0]
    start, end = _span(comp)
    href = f"{dav_server.calendar_url(WHO)}{uid}.ics"
    cal = icalendar.Calendar.from_ical(request(href)[1])
    for c in cal.walk("VEVENT"):
        c["DTEND"] = icalendar.vDDDTypes(end + timedelta(minutes=45))
    assert put_object(href, cal.to_ical(), etag) in (200, 204)

    for _ in range(2):  # and again: it stays so
        report = run_sync(settings, as_of=AS_OF)
        assert (report.failed, report.deleted) == (0, 0), report.errors
        # the counsellor's now: it counts where it is and is not booked again elsewhere
        assert report.proposals is not None and report.proposals.placed == first.proposals.placed - 1
        now = _proposals(dav_server)
        assert _span(now[uid][0]) == (start, end + timedelta(minutes=45))
        assert str(now[uid][0]["STATUS"]) == "TENTATIVE"
    # the other proposals are untouched
    assert {u: e for u, (_, e) in now.items() if u != uid} == {u: e for u, (_, e) in got.items() if u != uid}


def _components(server: DavServer, name: str) -> list[icalendar.cal.Component]:
    url = server.calendar_url(WHO)
    out = []
    for href in etags(url):
        body = request(url + href.rsplit("/", 1)[-1])[1]
        out += icalendar.Calendar.from_ical(body).walk(name)
    return out


@pytest.mark.parametrize("missing", ["opening_hours", "talks_per_day"])
def test_without_office_data_no_proposal_is_made_and_the_run_says_which(
    dav_server: DavServer, tmp_path: Path, missing: str
) -> None:
    """coburg-2016 names no opening hours and no daily capacity: unset in the configuration,
    the run proposes nothing, names the missing values, and still writes every task."""
    _personal(dav_server)
    settings = _settings(dav_server, tmp_path)
    setattr(settings.items, missing, None)
    report = run_sync(settings, as_of=AS_OF)
    assert report.created > 0 and report.failed == 0
    assert not _proposals(dav_server)
    assert any("no appointments proposed" in e and missing.split("_")[0] in e for e in report.errors), (
        report.errors
    )


def test_a_counsellor_whose_busy_time_cannot_be_read_gets_no_proposal(
    dav_server: DavServer, tmp_path: Path
) -> None:
    """Fail closed: the personal calendar named in busy_urls is missing."""
    settings = _settings(dav_server, tmp_path)  # no _personal(): the busy calendar does not exist
    report = run_sync(settings, as_of=AS_OF)
    assert report.created > 0 and report.failed == 0
    assert not _proposals(dav_server)
    assert any(WHO in e and "no appointments proposed" in e for e in report.errors), report.errors


def test_the_dry_run_lists_the_proposals_and_the_load_per_week(
    dav_server: DavServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What a team leader or operator sees before anything is written: each proposal once,
    and per counsellor and week the talks against the capacity (FULL where it is reached)."""
    _personal(dav_server)
    settings = _settings(dav_server, tmp_path)
    report = run_sync(settings, as_of=AS_OF, dry_run=True)
    print_report(report)
    out = capsys.readouterr().out
    assert report.proposals is not None and report.proposals.placed > 0
    listed = [line for line in out.splitlines() if line.strip().startswith("create") and "proposal" in line]
    assert len(listed) == report.proposals.placed
    assert f"Proposals: {report.proposals.placed} placed" in out
    assert f"{WHO}: 2026-W48 6/12" in out  # Thursday and Friday, three talks a day
    assert not _proposals(dav_server)  # nothing written


def test_config_check_names_the_office_values_slot_mode_still_needs(tmp_path: Path) -> None:
    """coburg-2016 leaves opening hours, buffer and daily capacity to the deployment."""
    src = counsellors_caseload(tmp_path / "src", {WHO: WHO})
    config = tmp_path / "kontaktsync.toml"
    config.write_text(
        "[source]\n"
        f'cases = "{src / "cases.csv"}"\n'
        '[target]\nkind = "caldav"\n[target.caldav]\nurl = "http://127.0.0.1:9/{counsellor}/k/"\n'
        '[items]\nappointments = "slot"\n'
        f'[sync]\nstate_path = "{tmp_path / "state.sqlite3"}"\n',
        encoding="utf-8",
    )
    out = run_cli(["config", "check", "--config", str(config)], tmp_path)
    line = next(x for x in out.stdout.splitlines() if x.startswith("appointments:"))
    assert "FAILED" in line and "opening_hours.monday" in line and "talks_per_day" in line, line
    assert out.returncode != 0
    with config.open("a", encoding="utf-8") as fh:
        fh.write('[items.part_time]\n"m.mueller" = 0.5\n')
    text = config.read_text(encoding="utf-8").replace(
        '[items]\nappointments = "slot"\n',
        '[items]\nappointments = "slot"\nopening_hours = "08:00-12:00"\nbuffer_minutes = 5\n'
        "talks_per_day = 5\ntalks_per_week = 25\n",
    )
    config.write_text(text, encoding="utf-8")
    out = run_cli(["config", "check", "--config", str(config)], tmp_path)
    assert "appointments: ok" in out.stdout, out.stdout + out.stderr


def test_the_team_leaders_report_shows_the_proposals_per_week(dav_server: DavServer, tmp_path: Path) -> None:
    """`kontaktsync report --config` in slot mode reads the calendars (writes nothing) and adds
    the proposals, the late ones, the talks without a place and per week proposals against the
    capacity — counts only, no names — to every format."""
    _personal(dav_server)
    settings = _settings(dav_server, tmp_path)
    assert settings.target.caldav is not None
    items = settings.items.model_dump(exclude_none=True)
    config = write_config(
        tmp_path / "kontaktsync.toml",
        {
            "source": {k: str(getattr(settings.source, k)) for k in ("cases", "measures", "contacts")},
            "target": {
                "kind": "caldav",
                "caldav": {"url": settings.target.caldav.url, "busy_urls": settings.target.caldav.busy_urls},
            },
            "items": items,
            "sync": {"state_path": str(tmp_path / "state.sqlite3")},
        },
    )
    args = ["report", "--config", str(config), "--as-of", AS_OF.isoformat()]
    out = run_cli([*args, "--format", "json"], tmp_path)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)["proposals"]
    assert got["placed"] > 0 and got["without_place"] == 0
    assert {"iso_week": "2026-W48", "proposals": 6, "capacity": 12} in got["weeks"]
    table = run_cli(args, tmp_path)
    assert "Proposed appointments (calendars read, nothing written)" in table.stdout
    assert "2026-W48 6/12" in table.stdout and WHO not in table.stdout
    html = run_cli([*args, "--format", "html"], tmp_path).stdout
    assert "<h2>Proposed appointments</h2>" in html and WHO not in html
    csv_text = run_cli([*args, "--format", "csv"], tmp_path).stdout
    assert f"{AS_OF.isoformat()},proposals,,proposals,2026-W48,6" in csv_text
    assert not _proposals(dav_server)  # nothing written
    # the configuration found in the working folder, without --config, counts as well
    found = run_cli(["report", "--as-of", AS_OF.isoformat(), "--format", "json"], tmp_path)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["proposals"] == got
