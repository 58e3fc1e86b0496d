"""One counsellor's proposals: keep the valid ones, place the rest (see placement.py for the rules).

Placing runs in three steps over the counsellor's bookable days (working days of the region
with opening hours, from the first bookable day to the horizon):

1. every previous proposal that is still valid is kept where it is, in order of its start;
2. the talks still to place get days inside their windows: earliest deadline first, day by day,
   then augmenting paths of a maximum flow (talk -> day -> week) so that as many as possible
   lie inside their windows; each day then packs its talks earliest-first, the most urgent
   first. A day that cannot pack its talks (talks of different lengths) takes one fewer and
   the days are assigned again;
3. the talks left over, most urgent first, get the earliest slot still free inside their window,
   else the earliest after their due date (late).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise

from kontaktsync.rules.dayboard import DayBoard
from kontaktsync.rules.flow import SINK, Flow

Week = tuple[int, int]


def week_of(day: date) -> Week:
    iso = day.isocalendar()
    return iso.year, iso.week


@dataclass(frozen=True, slots=True)
class Want:
    """A talk to place, in the booking's terms: days and minutes after midnight."""

    id: str
    first: date  # first day of its window that may be booked
    due: date
    minutes: int

    @property
    def urgency(self) -> tuple[date, str]:
        return self.due, self.id


@dataclass(slots=True)
class Booking:
    boards: dict[date, DayBoard]  # bookable days, ascending
    day_cap: int
    week_cap: int
    per_day: dict[date, int] = field(default_factory=dict)  # talks counted per day
    per_week: dict[Week, int] = field(default_factory=dict)
    booked: dict[str, tuple[date, int]] = field(default_factory=dict)  # id -> (day, start)

    def count(self, day: date) -> None:
        self.per_day[day] = self.per_day.get(day, 0) + 1
        self.per_week[week_of(day)] = self.per_week.get(week_of(day), 0) + 1

    def under_caps(self, day: date) -> bool:
        return self.per_day.get(day, 0) < self.day_cap and self.per_week.get(week_of(day), 0) < self.week_cap

    def book(self, want_id: str, day: date, start: int, minutes: int) -> None:
        self.boards[day].take(start, minutes)
        self.count(day)
        self.booked[want_id] = (day, start)

    def keep(self, want: Want, day: date, start: int) -> bool:
        """Keep a previous proposal when it still holds; False when it must be placed anew."""
        board = self.boards.get(day)
        if board is None or day < want.first or not board.allows(start, want.minutes):
            return False
        if not self.under_caps(day):
            return False
        self.book(want.id, day, start, want.minutes)
        return True

    def place(self, wants: Iterable[Want]) -> None:
        """Book as many `wants` inside their windows as possible, the rest late where they fit."""
        todo = sorted(wants, key=lambda w: w.urgency)
        caps = self._day_caps(todo)
        while True:
            days = self._assign(todo, caps)
            short = self._pack(todo, days)
            if short is None:
                break
            # talks of mixed lengths that the day cannot hold: one fewer there, and assign again
            # (one day at a time: lowering every short day at once places fewer inside windows)
            caps[short] -= 1
        for want in todo:
            if want.id not in self.booked:
                self._fallback(want)

    def _day_caps(self, todo: list[Want]) -> dict[date, int]:
        shortest = min((w.minutes for w in todo), default=0)
        caps = {}
        for day, board in self.boards.items():
            left = self.day_cap - self.per_day.get(day, 0)
            caps[day] = board.room(shortest, left) if left > 0 and shortest else 0
        return caps

    def _assign(self, todo: list[Want], caps: dict[date, int]) -> dict[str, date]:
        """Days inside the windows for as many talks as possible (a maximum flow), found from an
        earliest-deadline-first sweep over the days."""
        flow, spans = Flow(), {}
        wanting: dict[date, list[Want]] = {}  # day -> the talks whose span holds it, in todo's order
        for want in todo:
            spans[want.id] = [d for d in self.boards if want.first <= d <= want.due and caps[d] > 0]
            for day in spans[want.id]:
                flow.edge(("talk", want.id), day, 1)
                wanting.setdefault(day, []).append(want)
        for day, cap in caps.items():
            week = week_of(day)
            flow.edge(day, week, cap)
            flow.edge(week, SINK, max(0, self.week_cap - self.per_week.get(week, 0)))
        got: set[str] = set()
        for day in self.boards:  # earliest deadline first, day by day
            for want in wanting.get(day, ()):
                if want.id in got:
                    continue
                path: list[Hashable] = [("talk", want.id), day, week_of(day), SINK]
                if all(flow.res[u][v] > 0 for u, v in pairwise(path)):
                    flow.push(path)
                    got.add(want.id)
        for want in todo:  # one search per talk: a talk that finds no path never will (flow.py)
            if want.id not in got and spans[want.id] and flow.augment(("talk", want.id)):
                got.add(want.id)  # its day is read from the flow below
        return {w.id: d for w in todo for d in spans[w.id] if flow.carries(("talk", w.id), d)}

    def _pack(self, todo: list[Want], days: dict[str, date]) -> date | None:
        """Book the assigned talks earliest-first per day, the most urgent first; the first day
        that cannot hold its talks is returned (nothing is booked then)."""
        per_day: dict[date, list[Want]] = {}
        for want in todo:
            if want.id in days:
                per_day.setdefault(days[want.id], []).append(want)
        plans = {}
        for day, wants in per_day.items():
            for order in (wants, sorted(wants, key=lambda w: (-w.minutes, *w.urgency))):
                starts = self.boards[day].pack([w.minutes for w in order])
                if starts is not None:
                    plans[day] = list(zip(order, starts, strict=True))
                    break
            else:
                return day
        for day, plan in plans.items():
            for want, start in sorted(plan, key=lambda p: p[1]):
                self.book(want.id, day, start, want.minutes)
        return None

    def _fallback(self, want: Want) -> None:
        """The earliest slot left inside the window (a day that packing turned down may still
        hold this talk), else the earliest after the due date."""
        inside = [d for d in self.boards if want.first <= d <= want.due]
        for day in [*inside, *(d for d in self.boards if d > want.due)]:
            start = self.boards[day].earliest(want.minutes) if self.under_caps(day) else None
            if start is not None:
                self.book(want.id, day, start, want.minutes)
                return
