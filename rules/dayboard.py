"""One counsellor's day as the placer sees it: opening hours, what is taken, where a talk fits.

Times are minutes after midnight, local wall-clock time. A talk starts on a grid (every
`grid` minutes from the start of an opening range), lies inside one range, and keeps `buffer`
minutes from every other talk and every busy item on both sides. Packing talks of one length
earliest-first fits the most talks a day can hold (interval scheduling: the earliest end first).
"""

from __future__ import annotations

from dataclasses import dataclass, field

Span = tuple[int, int]  # [start, end) in minutes after midnight


@dataclass(slots=True)
class DayBoard:
    ranges: list[Span]
    buffer: int
    grid: int
    taken: list[Span] = field(default_factory=list)

    def conflict(self, start: int, minutes: int) -> Span | None:
        """The first taken span that a talk at `start` would touch (buffers included)."""
        end = start + minutes
        for a, b in self.taken:
            if start < b + self.buffer and a < end + self.buffer:
                return a, b
        return None

    def allows(self, start: int, minutes: int) -> bool:
        """A talk may stand here: inside one opening range and clear of everything taken
        (the grid is not asked: a slot kept from an earlier run need not lie on it)."""
        inside = any(a <= start and start + minutes <= b for a, b in self.ranges)
        return inside and self.conflict(start, minutes) is None

    def earliest(self, minutes: int) -> int | None:
        """The earliest grid start where a talk of `minutes` fits, or None."""
        for a, b in self.ranges:
            start = a
            while start + minutes <= b:
                hit = self.conflict(start, minutes)
                if hit is None:
                    return start
                after = max(start + self.grid, hit[1] + self.buffer)
                start = a + -(-(after - a) // self.grid) * self.grid
        return None

    def take(self, start: int, minutes: int) -> None:
        self.taken.append((start, start + minutes))

    def copy(self) -> DayBoard:
        return DayBoard(self.ranges, self.buffer, self.grid, list(self.taken))

    def pack(self, lengths: list[int]) -> list[int] | None:
        """Earliest starts for talks of these lengths, in this order, on a copy; None when one
        does not fit."""
        trial, starts = self.copy(), []
        for minutes in lengths:
            start = trial.earliest(minutes)
            if start is None:
                return None
            trial.take(start, minutes)
            starts.append(start)
        return starts

    def room(self, minutes: int, most: int) -> int:
        """How many more talks of `minutes` fit (at most `most`)."""
        trial, n = self.copy(), 0
        while n < most:
            start = trial.earliest(minutes)
            if start is None:
                break
            trial.take(start, minutes)
            n += 1
        return n
