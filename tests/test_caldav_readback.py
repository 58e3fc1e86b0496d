"""What a counsellor's client sees: the written items read back by other software.

After a sync of the example caseload into each server, a second client (plain HTTP, see
calendars.read_calendar) downloads every object into a vdir, as vdirsyncer would, and
the objects are read with icalendar, todoman (its own cache and parser) and khal.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import icalendar
import pytest
import pytz
from khal.khalendar.event import Event
from kontaktsync.sync.core.planning import make_plan
from kontaktsync.sync.core.runner import run_sync
from todoman.model import Database

from tests.builders import AS_OF, caseload
from tests.calendars import read_calendar
from tests.configs import settings_for

SUBJECT = re.compile(r"^(\d+(MM|WM|TM)|AM|AM-V|AM-N|BP|BP-R|WV) \S.* – Kd \d+$")
KHAL_LOCALE = {
    "default_timezone": pytz.timezone("Europe/Berlin"),
    "local_timezone": pytz.timezone("Europe/Berlin"),
    "timeformat": "%H:%M",
    "dateformat": "%d.%m.",
    "longdateformat": "%d.%m.%Y",
    "datetimeformat": "%d.%m. %H:%M",
    "longdatetimeformat": "%d.%m.%Y %H:%M",
    "unicode_symbols": True,
    "weeknumbers": False,
    "firstweekday": 0,
}


def _vdirs(server_url: str, calendars: list[str], root: Path) -> dict[str, Path]:
    out = {}
    for cal in calendars:
        folder = root / cal
        folder.mkdir(parents=True)
        for href, body in read_calendar(f"{server_url}{cal}/kontaktdichte/").items():
            (folder / href.rsplit("/", 1)[-1]).write_bytes(body)
        out[cal] = folder
    return out


def test_items_read_back_with_icalendar_todoman_and_khal(dav_server, tmp_path):
    s = settings_for(dav_server.url, tmp_path, caseload(tmp_path / "src"))
    plan = make_plan(s, AS_OF)
    report = run_sync(s, as_of=AS_OF)
    assert report.failed == 0
    calendars = sorted(report.per_calendar)
    vdirs = _vdirs(dav_server.url, calendars, tmp_path / "vdir")
    names = [f.display_name for f in plan.cases.values() if f.display_name]
    by_uid = {}

    # icalendar: every object is one VTODO or one VEVENT, private, with our marker.
    for folder in vdirs.values():
        for path in folder.glob("*.ics"):
            raw = path.read_bytes()
            assert not any(n.encode() in raw for n in names), "a name reached the calendar"
            cal = icalendar.Calendar.from_ical(raw)
            comps = [c for c in cal.subcomponents if c.name in ("VTODO", "VEVENT")]
            assert len(comps) == 1
            comp = comps[0]
            assert path.name == f"{comp['UID']}.ics"
            assert str(comp["CLASS"]) == "PRIVATE"
            assert SUBJECT.match(str(comp["SUMMARY"])), str(comp["SUMMARY"])
            cats = [str(c) for c in comp["CATEGORIES"].cats]
            assert cats[0] == "Kontaktdichte" and str(comp["SUMMARY"]).startswith(cats[1] + " ")
            assert "X-KONTAKTSYNC" in comp and int(comp["SEQUENCE"]) == 0
            if comp.name == "VTODO":
                assert b"DUE;VALUE=DATE:" in raw
                assert str(comp["STATUS"]) == "NEEDS-ACTION"
            else:
                assert str(comp["TRANSP"]) == "TRANSPARENT"
                assert comp["DTEND"].dt - comp["DTSTART"].dt == dt.timedelta(days=1)
            by_uid[str(comp["UID"])] = comp

    # todoman: the tasks as `todo list` would show them.
    db = Database(list(map(str, vdirs.values())), str(tmp_path / "todoman-cache.sqlite3"))
    todos = list(db.todos(status="ANY"))
    assert len(todos) == len(plan.obligations) == report.created // 2
    overdue = {(o.case_id, o.due) for o in plan.obligations if o.overdue}
    for todo in todos:
        assert isinstance(todo.due, dt.date) and todo.summary
        assert "Kontaktdichte" in todo.categories
        case = todo.summary.rsplit(" ", 1)[-1]
        due = todo.due.date() if isinstance(todo.due, dt.datetime) else todo.due
        assert (todo.priority == 1) == ((case, due) in overdue)
        assert "Warum: Kontaktdichte nach coburg-2016" in todo.description
        assert "Letzter zählender Kontakt:" in todo.description
    db.close()

    # khal: the marker appointments as all-day events on the due date.
    events = [c for c in by_uid.values() if c.name == "VEVENT"]
    assert len(events) == len(plan.obligations)
    for comp in events:
        cal = icalendar.Calendar()
        cal.add_component(comp)
        event = Event.fromString(cal.to_ical().decode(), locale=KHAL_LOCALE)
        assert event.allday
        assert event.summary == str(comp["SUMMARY"])
        assert event.start == comp["DTSTART"].dt


def test_guidance_questions_reach_the_description(tmp_path):
    """Measure talks carry the source document's questions (unit level: no server needed)."""
    from kontaktsync.rules.model import Obligation, ObligationKind
    from kontaktsync.sync.core.items import description_for

    ob = Obligation(
        case_id="100234",
        counsellor="anna",
        kind=ObligationKind.MEASURE_BEFORE_END,
        tag="AM-V",
        due=dt.date(2026, 12, 31),
        window_start=dt.date(2026, 10, 1),
        overdue=False,
        rule="hamburg-absolventenmanagement/am-v",
        policy="hamburg-absolventenmanagement",
        cycle="M0001",
        measure_key="M0001",
        guidance=("Wie läuft die Maßnahme?", "Gibt es eine Anschlussperspektive?"),
    )
    text = description_for(ob)
    assert "Leitfragen:\n- Wie läuft die Maßnahme?\n- Gibt es eine Anschlussperspektive?" in text
    assert "Zeitfenster: 01.10.2026 bis 31.12.2026" in text


@pytest.mark.parametrize("appointments", ["none"])
def test_without_markers_only_tasks(dav_server, tmp_path, appointments):
    s = settings_for(dav_server.url, tmp_path, caseload(tmp_path / "src"), appointments=appointments)
    report = run_sync(s, as_of=AS_OF)
    assert report.created == report.obligations_due and report.failed == 0
