"""Busy time of a counsellor, read from real servers (`Target.busy`, targets/base.py).

The counsellor's personal calendar and the program's own calendar are filled by a second
client (plain HTTP PUT of iCalendar made with the icalendar library, tests/calendars.py),
never by kontaktsync: a single meeting, a weekly meeting with an EXDATE and an overridden
occurrence, an all-day absence over two days, a transparent and a cancelled event (not busy),
a meeting in New York time; in the program's own calendar a tentative proposal carrying our
marker, our all-day marker (transparent) and an entry a person made there. Each shape is read
with both methods (free-busy-query and calendar-query) on Radicale and Xandikos; then how
`auto` learns the method, and that an unreadable calendar fails closed.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.item import namespace_tag
from kontaktsync.sync.targets.base import Busy, Interval, TargetError
from kontaktsync.sync.targets.caldav.busy_ical import Unusable, freebusy_intervals
from kontaktsync.sync.targets.caldav.target import CalDAVTarget
from kontaktsync.sync.targets.memory import MemTarget

from tests.calendars import calendar_of, event, make_calendar, put_events
from tests.exchange_helpers import ews_account, exchange_settings
from tests.fake_ews import SERVICE_PASSWORD
from tests.fake_ews.server import TNS
from tests.faultproxy import FaultProxy
from tests.servers import DavServer, start_radicale, stop

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")
WHO = "anna"
START = datetime(2026, 11, 23, tzinfo=BERLIN)  # Monday
END = datetime(2026, 12, 12, tzinfo=BERLIN)
PROPOSAL_UID = "kontaktsync-proposal-1"


def berlin(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN)


def personal_objects() -> list[list[icalendar.Event]]:
    """The counsellor's own calendar with every shape of the module docstring."""
    weekly = event("weekly", berlin(2, 9), berlin(2, 9, 30), RRULE={"FREQ": "WEEKLY"}, EXDATE=berlin(30, 9))
    moved = event("weekly", berlin(23, 13), berlin(23, 14), RECURRENCE_ID=berlin(23, 9))
    ny = datetime(2026, 11, 27, 9, tzinfo=NEW_YORK)  # 15:00 in Berlin
    return [
        [event("single", berlin(24, 10), berlin(24, 11))],
        [weekly, moved],
        [event("absence", date(2026, 11, 25), date(2026, 11, 27))],
        [event("free", berlin(24, 14), berlin(24, 15), TRANSP="TRANSPARENT")],
        [event("cancelled", berlin(24, 15), berlin(24, 16), STATUS="CANCELLED")],
        [event("new-york", ny, ny + timedelta(hours=1))],
    ]


def own_objects() -> list[list[icalendar.Event]]:
    """The program's calendar: our proposal, our all-day marker, and a person's entry (in
    floating time)."""
    ours = f"v=1&ns={namespace_tag('kontaktsync')}&h=x&c=100234&k=contact&y=1&t=marker"
    proposal = event(PROPOSAL_UID, berlin(30, 10), berlin(30, 10, 30), STATUS="TENTATIVE", X_KONTAKTSYNC=ours)
    marker = event(
        "kontaktsync-marker-1", date(2026, 12, 1), date(2026, 12, 2), TRANSP="TRANSPARENT", X_KONTAKTSYNC=ours
    )
    # a floating time (no zone): in the counsellors' zone
    person = event("person-in-our-calendar", datetime(2026, 12, 3, 10), datetime(2026, 12, 3, 11))
    return [[proposal], [marker], [person]]


def personal_calendar(server: DavServer) -> str:
    url = server.calendar_url(WHO, "calendar")
    make_calendar(url)
    for obj in personal_objects():
        put_events(url, *obj)
    return url


def own_calendar(server: DavServer) -> str:
    url = server.calendar_url(WHO)
    make_calendar(url)
    for obj in own_objects():
        put_events(url, *obj)
    return url


def target_for(
    server: DavServer, tmp_path, method: str = "auto", url: str | None = None, retries: int = 1, **caldav
) -> CalDAVTarget:
    """A CalDAV target whose busy time is each counsellor's `calendar` below `url` (the server's);
    `caldav` adds settings (credentials)."""
    settings = Settings(
        source={"cases": tmp_path / "cases.csv"},
        target={
            "kind": "caldav",
            "caldav": {
                "url": server.url_template,
                "busy_urls": [(url or server.url) + "{counsellor}/calendar/"],
                "busy_method": method,
                **caldav,
            },
        },
        sync={"state_path": tmp_path / "state.sqlite3", "retry_backoff_seconds": 0.01, "retries": retries},
    )
    return CalDAVTarget(settings)


# What a person's calendar holds, other than the absence, as busy intervals.
TIMED = [
    Interval(berlin(23, 13), berlin(23, 14)),  # the weekly meeting, this week moved
    Interval(berlin(24, 10), berlin(24, 11)),  # the single meeting
    Interval(berlin(27, 15), berlin(27, 16)),  # 09:00 in New York
    Interval(berlin(3, 10, month=12), berlin(3, 11, month=12)),  # a person's entry in our calendar
    Interval(berlin(7, 9, month=12), berlin(7, 9, 30, month=12)),  # weekly again (30.11. EXDATE)
]
OWN = [Interval(berlin(30, 10), berlin(30, 10, 30), PROPOSAL_UID)]


@pytest.mark.parametrize("method", ["free-busy", "events"])
def test_every_shape_of_busy_time(dav_server, tmp_path, method):
    personal_calendar(dav_server)
    own_calendar(dav_server)
    target = target_for(dav_server, tmp_path, method)
    busy = target.busy(WHO, START, END)
    target.close()
    assert busy.ok, busy.error
    others = list(busy.others)
    absence = [i for i in others if i.end - i.start >= timedelta(days=1)]
    assert [i for i in others if i not in absence] == TIMED
    assert busy.own == tuple(OWN)
    assert busy.intervals == tuple(sorted([*others, *OWN], key=lambda i: i.start))
    how = {"free-busy": "free-busy-query", "events": "calendar-query"}[method]
    assert busy.sources == (f"/{_path(dav_server)}{WHO}/kontaktdichte/ (calendar-query)",
                            f"/{_path(dav_server)}{WHO}/calendar/ ({how})")  # fmt: skip
    # The two-day absence: with events, midnight to midnight in the counsellor's time zone;
    # free-busy-query leaves all-day events to the server, which puts them in UTC (Radicale
    # 3.9, Xandikos 0.4): an hour late in Berlin, so only the working days are sure to be busy.
    assert len(absence) == 1
    if method == "events":
        assert absence == [Interval(berlin(25, 0), berlin(27, 0))]
    else:
        assert absence == [Interval(datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC))]
    assert all(i.start.tzinfo is not None and i.end.tzinfo is not None for i in busy.intervals)


def test_auto_uses_free_busy_where_the_server_answers_it(dav_server, tmp_path):
    personal_calendar(dav_server)
    own_calendar(dav_server)
    target = target_for(dav_server, tmp_path, "auto")
    first, second = target.busy(WHO, START, END), target.busy(WHO, START, END)
    target.close()
    assert first.ok and first == second
    assert first.sources[1].endswith("(free-busy-query)")
    assert target.busy_reader._free_busy(dav_server.url) is True


@pytest.mark.parametrize("refusal", ["501", "403", "400", "unusable", "207"])
def test_auto_falls_back_to_events_once_per_run(radicale_server, tmp_path, refusal):
    """A server (here a proxy in front of Radicale) that refuses free-busy-query, or answers it
    with something that is no free-busy: calendar-query instead, and for the rest of the run
    without asking again."""
    personal_calendar(radicale_server)
    own_calendar(radicale_server)
    with FaultProxy(radicale_server.url) as proxy:
        proxy.fault = lambda req: _refuse(req, refusal)
        target = target_for(radicale_server, tmp_path, "auto", url=proxy.url)
        busy = [target.busy(WHO, START, END) for _ in range(2)]
        target.close()
        asked = proxy.count(faulted=True)
    assert all(b.ok for b in busy), busy[0].error
    assert busy[0] == busy[1]
    assert busy[0].sources[1].endswith("(calendar-query)")
    assert [i for i in busy[0].others if i.end - i.start < timedelta(days=1)] == TIMED
    assert Interval(berlin(25, 0), berlin(27, 0)) in busy[0].others
    assert asked == 1  # learnt once, not asked again


def test_what_one_server_answers_is_learnt_for_that_server_only(radicale_server, tmp_path):
    """Two busy calendars on two servers: the first answers free-busy-query, the second (a
    proxy) refuses it. The second falls back to calendar-query; the first keeps free-busy."""
    personal_calendar(radicale_server)
    own_calendar(radicale_server)
    with FaultProxy(radicale_server.url) as proxy:
        proxy.fault = lambda req: _refuse(req, "501")
        urls = [u + "{counsellor}/calendar/" for u in (radicale_server.url, proxy.url)]
        target = target_for(radicale_server, tmp_path, "auto", busy_urls=urls)
        busy = target.busy(WHO, START, END)
        target.close()
    assert busy.ok, busy.error
    assert [s.rsplit(" ", 1)[-1] for s in busy.sources[1:]] == ["(free-busy-query)", "(calendar-query)"]


def test_free_busy_set_explicitly_does_not_fall_back(radicale_server, tmp_path):
    personal_calendar(radicale_server)
    own_calendar(radicale_server)
    with FaultProxy(radicale_server.url) as proxy:
        proxy.fault = lambda req: _refuse(req, "501")
        target = target_for(radicale_server, tmp_path, "free-busy", url=proxy.url)
        busy = target.busy(WHO, START, END)
        target.close()
        reports = proxy.count(method="REPORT")
    assert not busy.ok and busy.intervals == ()
    assert "free-busy-query answered HTTP 501" in (busy.error or "")
    assert reports == 1  # no calendar-query after it


def test_a_free_busy_answer_without_vfreebusy_is_unusable():
    """A server that answers free-busy-query with its events (or anything but VFREEBUSY) has
    not answered it: `auto` falls back to events, `free-busy` fails closed."""
    with pytest.raises(Unusable, match="no VFREEBUSY"):
        freebusy_intervals(calendar_of(event("single", berlin(24, 10), berlin(24, 11))))
    with pytest.raises(Unusable, match="not iCalendar"):
        freebusy_intervals(b"")


def _refuse(req, refusal: str) -> str | None:
    if req.method != "REPORT" or b"free-busy-query" not in req.body:
        return None
    return "200" if refusal == "unusable" else refusal  # answered without a body


@pytest.mark.parametrize("method", ["auto", "free-busy", "events"])
def test_a_missing_calendar_fails_closed(dav_server, tmp_path, method):
    own_calendar(dav_server)  # the personal calendar was never made: 404
    target = target_for(dav_server, tmp_path, method)
    busy = target.busy(WHO, START, END)
    target.close()
    assert not busy.ok and busy.intervals == ()
    assert f"{WHO}/calendar/" in (busy.error or "")
    assert "404" in (busy.error or "")
    learned = target.busy_reader._free_busy(dav_server.url)
    assert learned is {"auto": None, "free-busy": True, "events": False}[method]


def test_an_own_calendar_not_there_yet_holds_nothing(dav_server, tmp_path):
    """Before the first sync makes it, the program's calendar holds no items: the busy time
    is the personal calendar's alone (a missing personal calendar still fails closed, above)."""
    personal_calendar(dav_server)
    target = target_for(dav_server, tmp_path, "events")
    busy = target.busy(WHO, START, END)
    target.close()
    assert busy.ok, busy.error
    assert busy.others and not busy.own
    assert any("kontaktdichte" in s and "not there yet" in s for s in busy.sources)


def test_a_wrong_password_fails_closed(tmp_path):
    server = start_radicale(tmp_path / "radicale", users={WHO: "right"})
    try:
        for name in ("kontaktdichte", "calendar"):
            make_calendar(server.calendar_url(WHO, name), auth=(WHO, "right"))
        single = event("single", berlin(24, 10), berlin(24, 11))
        put_events(server.calendar_url(WHO, "calendar"), single, auth=(WHO, "right"))
        got = {}
        for password in ("right", "wrong"):
            target = target_for(server, tmp_path, retries=0, username=WHO, password=password)
            got[password] = target.busy(WHO, START, END)
            target.close()
    finally:
        stop(server)
    assert got["right"].ok and got["right"].others == (Interval(berlin(24, 10), berlin(24, 11)),)
    busy = got["wrong"]
    assert not busy.ok and busy.intervals == ()
    assert "refused the credentials" in (busy.error or "")
    assert "wrong" not in (busy.error or "")


def test_a_counsellor_value_that_leaves_the_template_fails_closed(dav_server, tmp_path):
    target = target_for(dav_server, tmp_path, "events")
    busy = target.busy("../bob", START, END)
    target.close()
    assert not busy.ok and busy.intervals == ()
    assert "refused before any request" in (busy.error or "")
    assert target.requests == 0


def test_a_busy_url_gets_the_transport_safety_of_the_calendar_url(tmp_path):
    """Credentials over plain http:// only to loopback: checked for busy_urls at start too."""
    settings = Settings(
        source={"cases": tmp_path / "cases.csv"},
        target={
            "kind": "caldav",
            "caldav": {
                "url": "https://dav.example.invalid/{counsellor}/kontaktdichte/",
                "busy_urls": ["http://dav.example.invalid/{counsellor}/calendar/"],
                "username": WHO,
                "password": "secret",
            },
        },
    )
    with pytest.raises(TargetError, match=r"target\.caldav\.busy_urls\[0\]"):
        CalDAVTarget(settings)


def test_a_naive_window_is_refused(dav_server, tmp_path):
    target = target_for(dav_server, tmp_path, "events")
    busy = target.busy(WHO, datetime(2026, 11, 23), datetime(2026, 11, 30))
    target.close()
    assert busy == Busy.failed("busy time needs a window of timezone-aware start < end")
    assert target.requests == 0


# --- the in-memory target: the same shapes, the same answer ---------------------------------


def test_the_memory_target_reads_the_same_shapes():
    target = MemTarget()
    for obj in [*personal_objects(), *own_objects()]:
        target.put(WHO, str(obj[0]["UID"]), calendar_of(*obj))
    busy = target.busy(WHO, START, END)
    assert busy.ok, busy.error
    assert busy.others == tuple(sorted([*TIMED, Interval(berlin(25, 0), berlin(27, 0))]))
    assert busy.own == tuple(OWN)
    assert busy.sources == ("mem://anna/ (events)",)


def test_the_memory_target_fails_closed():
    target = MemTarget()
    target.put(WHO, "single", calendar_of(event("single", berlin(24, 10), berlin(24, 11))))
    assert target.busy(WHO, START, END).ok
    target.unreadable[WHO] = "HTTP 403"
    assert target.busy(WHO, START, END) == Busy.failed("HTTP 403", ["mem://anna/ (events)"])
    # a calendar not made yet holds nothing, as the CalDAV target's own before the first sync
    assert target.busy("bob", START, END) == Busy.of([], START, END, ["mem://bob/ (events)"])
    del target.unreadable[WHO]
    target.put(WHO, "broken", b"BEGIN:VCALENDAR\r\nnot iCalendar")
    broken = target.busy(WHO, START, END)
    assert not broken.ok and broken.intervals == ()


# --- Busy itself ----------------------------------------------------------------------------


def test_busy_merges_other_peoples_time_and_keeps_our_items_apart():
    a, b = berlin(24, 9), berlin(24, 10)
    got = Busy.of(
        [
            Interval(b, berlin(24, 11)),  # touches the next: merged
            Interval(a, b),
            Interval(berlin(24, 10, 30), berlin(24, 12)),  # overlaps: merged
            Interval(berlin(24, 10), berlin(24, 10, 30), "ours-1"),  # ours: kept apart
            Interval(berlin(24, 10), berlin(24, 10, 30), "ours-1"),  # read twice: once
            Interval(berlin(22, 9), berlin(23, 1)),  # starts before the window: clipped
            Interval(berlin(21, 9), berlin(21, 10)),  # outside: dropped
            Interval(berlin(11, 23, month=12), berlin(13, 1, month=12)),  # clipped at the end
        ],
        START,
        END,
        ["x"],
    )
    assert got.intervals == (
        Interval(START, berlin(23, 1)),
        Interval(a, berlin(24, 12)),
        Interval(berlin(24, 10), berlin(24, 10, 30), "ours-1"),
        Interval(berlin(11, 23, month=12), END),
    )
    assert got.ok and got.sources == ("x",)


def _path(server: DavServer) -> str:
    return server.url.split("/", 3)[3]


# --- Exchange, against the fake EWS server ---------------------------------------------------


def _ews_items(fake) -> None:
    """The same shapes in the mailbox's Calendar, made by a second EWS client (exchangelib as
    Outlook would use it). Exchange expands series itself for a CalendarView and the fake keeps
    none: the weekly meeting is here as the occurrences Exchange would list."""
    from exchangelib import CalendarItem, EWSDate, EWSDateTime, EWSTimeZone
    from kontaktsync.sync.targets.exchange import patches

    patches.apply()  # the marker's extended properties, as the program writes them
    acc = ews_account(fake, f"{WHO}@jobcenter.example")
    tz, ny = EWSTimeZone("Europe/Berlin"), EWSTimeZone("America/New_York")

    def at(day: int, hour: int, minute: int = 0, month: int = 11, zone=tz) -> EWSDateTime:
        return EWSDateTime(2026, month, day, hour, minute, tzinfo=zone)

    ours = {
        "kontaktsync_marker": f"v=1&ns={namespace_tag('kontaktsync')}&h=x&c=100234&k=contact&y=1&t=marker",
        "kontaktsync_uid": PROPOSAL_UID,
    }
    items = [
        CalendarItem(subject="single", start=at(24, 10), end=at(24, 11)),
        CalendarItem(subject="weekly, moved", start=at(23, 13), end=at(23, 14)),
        CalendarItem(subject="weekly", start=at(7, 9, month=12), end=at(7, 9, 30, month=12)),
        CalendarItem(
            subject="absence", is_all_day=True, start=EWSDate(2026, 11, 25), end=EWSDate(2026, 11, 26)
        ),
        CalendarItem(subject="free", start=at(24, 14), end=at(24, 15), legacy_free_busy_status="Free"),
        CalendarItem(
            subject="home office", start=at(24, 8), end=at(24, 16), legacy_free_busy_status="WorkingElsewhere"
        ),
        CalendarItem(subject="new-york", start=at(27, 9, zone=ny), end=at(27, 10, zone=ny)),
        CalendarItem(subject="elsewhere", start=at(3, 10, month=12), end=at(3, 11, month=12)),
        CalendarItem(
            subject="proposal",
            start=at(30, 10),
            end=at(30, 10, 30),
            legacy_free_busy_status="Tentative",
            **ours,
        ),
        CalendarItem(
            subject="marker",
            is_all_day=True,
            start=EWSDate(2026, 12, 1),
            end=EWSDate(2026, 12, 1),
            legacy_free_busy_status="Free",
            **ours,
        ),
    ]
    for item in items:
        item.account, item.folder = acc, acc.calendar
        item.save(send_meeting_invitations="SendToNone")
    cancelled = (
        f'<t:CalendarItem xmlns:t="{TNS}"><t:Subject>cancelled</t:Subject>'
        "<t:Start>2026-11-24T14:00:00Z</t:Start><t:End>2026-11-24T15:00:00Z</t:End>"
        "<t:IsAllDayEvent>false</t:IsAllDayEvent><t:LegacyFreeBusyStatus>Busy</t:LegacyFreeBusyStatus>"
        "<t:IsCancelled>true</t:IsCancelled></t:CalendarItem>"
    )
    fake.person_create(f"{WHO}@jobcenter.example", "calendar", cancelled)


def test_exchange_reads_the_same_shapes(fake_ews, tmp_path):
    from kontaktsync.sync.targets.exchange.target import ExchangeTarget, forget_accounts

    forget_accounts()
    _ews_items(fake_ews)
    target = ExchangeTarget(exchange_settings(fake_ews, tmp_path), retry_wait=0.01)
    busy = target.busy(WHO, START, END)
    target.close()
    assert busy.ok, busy.error
    assert busy.others == tuple(sorted([*TIMED, Interval(berlin(25, 0), berlin(27, 0))]))
    assert busy.own == tuple(OWN)
    assert busy.sources == ("anna@jobcenter.example Calendar (CalendarView)",)
    assert fake_ews.count(operation="FindItem") == 1
    assert fake_ews.count(operation="GetItem") == 1  # the busy fields of all of them, at once


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("wrong password", "Unauthorized"),
        ("impersonation denied", "impersonate"),
        ("server busy", "RateLimit"),
    ],
)
def test_exchange_fails_closed(fake_ews, tmp_path, fault, said):
    from kontaktsync.sync.targets.exchange.target import ExchangeTarget, forget_accounts

    forget_accounts()
    _ews_items(fake_ews)
    password = "wrong" if fault == "wrong password" else SERVICE_PASSWORD
    if fault == "impersonation denied":
        fake_ews.inject("impersonate_denied", times=99)
    if fault == "server busy":
        fake_ews.inject("server_busy", operation="FindItem", times=99, back_off_ms=60_000)
    settings = exchange_settings(fake_ews, tmp_path, password=password, retries=1)
    target = ExchangeTarget(settings, retry_wait=0.01)
    busy = target.busy(WHO, START, END)
    target.close()
    assert not busy.ok and busy.intervals == ()
    assert said in (busy.error or "")
    assert "Fk-7q2" not in (busy.error or "")
