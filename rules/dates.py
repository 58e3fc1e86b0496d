"""Date arithmetic of the policies: intervals and working days.

Month arithmetic is python-dateutil's `relativedelta` (it clips to the month's end, as
policies.md asks: 2027-01-31 + 1M = 2027-02-28) and holidays come from the `holidays` package.
Both are memoised per calendar: a caseload of 100,000 cases uses only a few thousand distinct
dates, and the cache turns the library calls into dictionary look-ups.
"""

from __future__ import annotations

import importlib
import re
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import holidays
from dateutil.relativedelta import relativedelta
from holidays.registry import COUNTRIES
from kontaktsync.rules.model import Duration

# Ten years at most: longer intervals are typing errors, and would overflow date arithmetic.
_MAX = {"M": 120, "W": 522, "D": 3653}
_DURATION = re.compile(r"^\s*([+-]?)\s*(\d{1,4})\s*([MWDmwd])\s*$")


def parse_duration(text: str) -> Duration:
    """`2M`, `6W`, `14D` (case-insensitive) -> Duration. Raises ValueError with a plain message."""
    m = _DURATION.match(text)
    if not m or m.group(1) == "-":
        raise ValueError(f"'{text}' is not a duration like 2M (months), 6W (weeks) or 14D (days)")
    n = int(m.group(2))
    if n == 0:
        raise ValueError(f"'{text}' is an empty interval")
    unit = m.group(3).upper()
    if n > _MAX[unit]:
        raise ValueError(f"'{text}' is longer than ten years")
    return Duration(n, unit)


def parse_offset(text: str) -> tuple[int, str]:
    """A signed offset such as `-3M` or `14D` -> (signed n, unit)."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"'{text}' is not an offset like -3M, 14D or 1W")
    n, unit = int(m.group(2)), m.group(3).upper()
    if n > _MAX[unit]:
        raise ValueError(f"'{text}' is longer than ten years")
    return (-n if m.group(1) == "-" else n), unit


@cache
def german_date(day: date) -> str:
    """dd.mm.yyyy, as people in the offices write a date; made once per date (a plan and its
    calendar items repeat a few thousand dates)."""
    return f"{day.day:02}.{day.month:02}.{day.year:04}"


def country_holidays(country: str, subdivision: str | None) -> holidays.HolidayBase:
    """`holidays.country_holidays(country, subdiv=subdivision)`, with that country's module
    imported alone.

    The package finds a country's class in its registry and imports its module, but the
    module's package, `holidays.countries`, imports all of its 250 countries first: ~70 ms of
    every start, a twentieth of planning 100,000 cases. So while the one module is imported the
    package stands in `sys.modules` as a bare package of the same folder, and is removed after,
    so that whoever imports `holidays.countries` later gets the real one, which finds this
    country's module loaded and takes it (one class: calendars pickle; a second calendar is made
    at once). The holidays are the package's own, made by its own class
    (tests/test_holidays_alone.py compares them with `holidays.country_holidays`); should the
    package's layout change, this falls back to `holidays.country_holidays`."""
    fallback = holidays.country_holidays
    if "holidays.countries" in sys.modules:
        return fallback(country, subdiv=subdivision)
    try:
        module, name = next((m, codes[0]) for m, codes in COUNTRIES.items() if country in codes[1:])
        folder = Path(holidays.__file__).parent / "countries"
        bare = types.ModuleType("holidays.countries")
        bare.__path__ = [str(folder)]
        sys.modules["holidays.countries"] = bare
        try:
            cls = getattr(importlib.import_module(f"holidays.countries.{module}"), name)
        finally:
            del sys.modules["holidays.countries"]
    except Exception:  # the package's layout changed: its own way, all countries
        return fallback(country, subdiv=subdivision)
    return cls(subdiv=subdivision)


@dataclass
class Calendar:
    """Working days of one region, with memoised arithmetic."""

    country: str
    subdivision: str | None = None
    _holidays: holidays.HolidayBase = field(init=False, repr=False)
    _working: dict[date, bool] = field(default_factory=dict, init=False, repr=False)
    _months: dict[int, dict[date, date]] = field(default_factory=dict, init=False, repr=False)
    _previous: dict[date, date] = field(default_factory=dict, init=False, repr=False)
    _next: dict[date, date] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._holidays = country_holidays(self.country, self.subdivision)

    def holiday_name(self, day: date) -> str | None:
        return self._holidays.get(day)

    def is_working_day(self, day: date) -> bool:
        known = self._working.get(day)
        if known is None:
            known = day.weekday() < 5 and day not in self._holidays
            self._working[day] = known
        return known

    def previous_working_day(self, day: date) -> date:
        """`day` itself when it is a working day, else the closest earlier one."""
        hit = self._previous.get(day)
        if hit is None:
            hit = day
            while not self.is_working_day(hit):
                hit -= timedelta(days=1)
            self._previous[day] = hit
        return hit

    def next_working_day(self, day: date) -> date:
        hit = self._next.get(day)
        if hit is None:
            hit = day
            while not self.is_working_day(hit):
                hit += timedelta(days=1)
            self._next[day] = hit
        return hit

    def working_days_after(self, day: date, n: int) -> date:
        """The n-th working day after `day` (`day` itself does not count)."""
        for _ in range(n):
            day = self.next_working_day(day + timedelta(days=1))
        return day

    def add_months(self, day: date, months: int) -> date:
        table = self._months.get(months)
        if table is None:
            table = self._months[months] = {}
        hit = table.get(day)
        if hit is None:
            hit = table[day] = day + relativedelta(months=months)
        return hit

    def add(self, day: date, n: int, unit: str) -> date:
        """Add a signed `n` of `unit` (M, W or D) to `day`."""
        if unit == "M":
            return self.add_months(day, n)
        if unit == "W":
            return day + timedelta(days=7 * n)
        return day + timedelta(days=n)

    def add_duration(self, day: date, d: Duration) -> date:
        return self.add(day, d.n, d.unit)

    def adder(self, n: int, unit: str) -> Callable[[date], date]:
        """`add(day, n, unit)` as a one-argument function, for rules that add the same
        interval to every case: months become one look-up in the memo of that month count."""
        if unit != "M":
            step = timedelta(days=7 * n if unit == "W" else n)
            return lambda day: day + step
        table = self._months.setdefault(n, {})

        def add_months(day: date) -> date:
            hit = table.get(day)
            if hit is None:
                hit = table[day] = day + relativedelta(months=n)
            return hit

        return add_months
