"""The placer: a proposed appointment for every due talk, in the counsellor's free time (issue 12).

Pure: it reads what it is given and returns placements, no I/O. The rules:

- a talk lies on a working day of the policy's region (no weekend, no public holiday), inside
  the office's opening hours, starting on a grid (`grid_minutes` from the start of a range),
  and not before the office's first bookable day (`earliest_booking_working_days` after the
  run date);
- it keeps `office.buffer_minutes` clear of every busy item and every other talk;
- a counsellor holds at most `talks_per_day` talks a day and `talks_per_week` a week (Monday to
  Sunday), both multiplied by the counsellor's part-time factor and rounded down (0.5 × 5 = 2);
  fixed proposals (accepted or moved by the counsellor) count and block time;
- as many talks as possible lie inside their windows (from `window_start`, or the first
  bookable day, to `due`); among those, earlier days first. The rest get the earliest slot after
  the due date and are flagged `late`; a talk with no slot up to the horizon is unplaceable, with
  the reason;
- a previous proposal that still holds (right length, a bookable day not before its window,
  opening hours, no clash, capacity left) is kept and never moves; only the others are placed.

Times: busy items, fixed and previous proposals may be timezone-aware (converted to the
policy's time zone) or naive (taken as local wall-clock time there). Placed slots are naive
local times in that zone. The result is the same for the same input: ties go by id.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from kontaktsync.rules.booking import Booking, Want
from kontaktsync.rules.dates import Calendar
from kontaktsync.rules.dayboard import DayBoard
from kontaktsync.rules.office import Office


class OfficeIncomplete(ValueError):
    """The office data leaves a value the placer needs to the deployment, and it is not set."""


@dataclass(frozen=True, slots=True)
class Slot:
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Talk:
    """An obligation to place: its window, due date and the length of its talk."""

    id: str
    counsellor: str
    due: date
    minutes: int
    window_start: date | None = None


@dataclass(frozen=True, slots=True)
class Diary:
    """What the placer knows of one counsellor's time. `busy` is None when it could not be
    read: then nothing is proposed for that counsellor (fail closed)."""

    busy: tuple[Slot, ...] | None = ()
    fixed: tuple[Slot, ...] = ()  # proposals the counsellor accepted or moved
    part_time: float = 1.0


@dataclass(frozen=True, slots=True)
class Placement:
    id: str
    slot: Slot | None
    late: bool = False
    kept: bool = False
    reason: str | None = None

    @property
    def status(self) -> Literal["in_window", "late", "unplaceable"]:
        if self.slot is None:
            return "unplaceable"
        return "late" if self.late else "in_window"


def scaled(capacity: int, part_time: float) -> int:
    """A full-time capacity for a part-time counsellor, rounded down (decimal: 0.29 × 100 = 29)."""
    return math.floor(Decimal(capacity) * Decimal(str(part_time)))


def place(
    talks: Iterable[Talk],
    diaries: Mapping[str, Diary],
    office: Office,
    calendar: Calendar,
    run_date: date,
    *,
    previous: Mapping[str, Slot] | None = None,
    timezone: str = "Europe/Berlin",
    horizon_days: int = 91,
    grid_minutes: int = 15,
) -> dict[str, Placement]:
    """A placement for every talk, by id (see the module's docstring for the rules)."""
    missing = office.missing()
    if missing:
        raise OfficeIncomplete(f"set these office values to propose appointments: {', '.join(missing)}")
    by_counsellor: dict[str, list[Talk]] = {}
    for talk in talks:
        by_counsellor.setdefault(talk.counsellor, []).append(talk)
    ids = [t.id for group in by_counsellor.values() for t in group]
    if len(set(ids)) != len(ids):
        raise ValueError("talk ids must be unique")
    if grid_minutes < 1 or any(t.minutes < 1 for group in by_counsellor.values() for t in group):
        raise ValueError("talks and the grid need a length of at least one minute")
    first = calendar.working_days_after(run_date, office.earliest_booking_working_days)
    last = run_date + timedelta(days=horizon_days)
    window = _Frame(office, calendar, ZoneInfo(timezone), first, last, grid_minutes)
    placed: dict[str, Placement] = {}
    for name in sorted(by_counsellor):
        group = sorted(by_counsellor[name], key=lambda t: t.id)
        placed.update(window.place(group, diaries.get(name), previous or {}))
    return dict(sorted(placed.items()))


@dataclass(frozen=True, slots=True)
class _Frame:
    """What all counsellors of one run share: office, calendar, zone, first day and horizon."""

    office: Office
    calendar: Calendar
    zone: ZoneInfo
    first: date
    last: date
    grid: int

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone).replace(tzinfo=None) if moment.tzinfo else moment

    def boards(self) -> dict[date, DayBoard]:
        boards, day = {}, self.first
        while day <= self.last:
            ranges = self.office.opening_hours.on(day.weekday())
            if ranges and self.calendar.is_working_day(day):
                spans = [(a.hour * 60 + a.minute, b.hour * 60 + b.minute) for a, b in ranges]
                boards[day] = DayBoard(spans, self.office.buffer_minutes or 0, self.grid)
            day += timedelta(days=1)
        return boards

    def block(self, boards: dict[date, DayBoard], slot: Slot) -> None:
        """Mark a busy item on every day it touches (an all-day absence, a night-long event)."""
        start, end = self.local(slot.start), self.local(slot.end)
        day = start.date()
        while day <= end.date():
            board = boards.get(day)
            if board is not None:
                midnight = datetime.combine(day, time())
                a = max(0, math.floor((start - midnight).total_seconds() / 60))
                b = min(24 * 60, math.ceil((end - midnight).total_seconds() / 60))
                if a < b:
                    board.take(a, b - a)
            day += timedelta(days=1)

    def place(
        self, talks: list[Talk], diary: Diary | None, previous: Mapping[str, Slot]
    ) -> dict[str, Placement]:
        if diary is None or diary.busy is None:
            return _none(talks, "the counsellor's busy time could not be read")
        day_cap = scaled(self.office.talks_per_day or 0, diary.part_time)
        week_cap = scaled(self.office.talks_per_week or 0, diary.part_time)
        if min(day_cap, week_cap) < 1:
            return _none(talks, f"no capacity at part-time factor {diary.part_time}")
        booking = Booking(self.boards(), day_cap, week_cap)
        for slot in (*diary.busy, *diary.fixed):
            self.block(booking.boards, slot)
        for slot in diary.fixed:
            booking.count(self.local(slot.start).date())
        wants = {
            t.id: Want(t.id, max(t.window_start or self.first, self.first), t.due, t.minutes) for t in talks
        }
        kept = set()
        mine = [(previous[i], i) for i in wants if i in previous]
        earlier = [(self.local(slot.start), self.local(slot.end), i) for slot, i in mine]
        for start, end, talk_id in sorted(earlier):
            want, whole = wants[talk_id], start.second == 0 and start.microsecond == 0
            fits = whole and end - start == timedelta(minutes=want.minutes)
            if fits and booking.keep(want, start.date(), start.hour * 60 + start.minute):
                kept.add(talk_id)
        booking.place(w for w in wants.values() if w.id not in kept)
        return {t.id: self._result(t, booking, t.id in kept) for t in talks}

    def _result(self, talk: Talk, booking: Booking, kept: bool) -> Placement:
        if talk.id not in booking.booked:
            if (talk.window_start or self.first) > self.last:
                reason = f"its window starts after the horizon ({self.last})"
            else:
                reason = (
                    f"no free {talk.minutes}-minute slot within capacity from {self.first} to {self.last}"
                )
            return Placement(talk.id, None, reason=reason)
        day, start = booking.booked[talk.id]
        begin = datetime.combine(day, time()) + timedelta(minutes=start)
        slot = Slot(begin, begin + timedelta(minutes=talk.minutes))
        return Placement(talk.id, slot, late=day > talk.due, kept=kept)


def _none(talks: list[Talk], reason: str) -> dict[str, Placement]:
    return {t.id: Placement(t.id, None, reason=reason) for t in talks}
