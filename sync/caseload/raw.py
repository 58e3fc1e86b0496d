"""What every input format hands to validation: a table of raw cells with spreadsheet row numbers.

A format (formats/) only opens a file and yields rows; it never converts a value. A cell whose
bytes cannot be read stands in its row as an `Unreadable`, so that it becomes a row error of its
column like any other bad value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

# No cell of a caseload is longer than this; a longer one is a broken export (a stray quote
# that swallowed the rows after it, a pasted document), reported as a row error.
MAX_CELL_CHARS = 10_000


@dataclass
class RawTable:
    label: str  # the name errors give: cases.csv, or caseload.xlsx:cases
    header: list[str]
    rows: Iterable[tuple[int, list[Any]]]  # (spreadsheet row number, cells)
    # What a row's cells become before they are converted, each unreadable one an `Unreadable`
    # (None: they are read as they are). Validation applies it to the rows it reads, once it
    # has chosen them: a row of another share (validate.Share) is never looked at closely.
    clean: Callable[[list[Any]], list[Any]] | None = None
    # The rows of one share (validate.Share) without parsing the others' (None where the format
    # cannot find them so): given the case_id column, the share's index and the count of
    # shares, the rows of `rows` whose case id falls in that share (by `share_of`), in the same
    # order, with the same numbers, their cells cleaned as `clean` does. Blank rows may differ
    # (`[""]` for `[]`, one more after the last line end): validation skips every blank row.
    # formats/csvfile gives it for a CSV file without quotes.
    share_rows: Callable[[int, int, int], Iterator[tuple[int, list[Any]]]] | None = None


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A cell whose bytes cannot be read (a NUL byte, a byte its encoding does not know, far
    too long). It stands in the row in place of the text, so that converting it gives a row
    error of its column like any other bad value; in a column the reader ignores it is never
    looked at."""

    message: str


def too_long(cell: str, hint: str = "") -> Unreadable:
    """The stand-in for a cell longer than MAX_CELL_CHARS."""
    return Unreadable(f"holds {len(cell)} characters, more than the {MAX_CELL_CHARS} a cell may hold{hint}")


def share_of(case_id: str, count: int) -> int:
    """The share (0 to count - 1) of a row by the text of its case_id cell: stripped, as the
    case id converter takes it (nothing else changes a valid id), so that a case, its measures
    and contacts fall in one share. Python's own hash: the same in processes forked from one,
    not from run to run. `RawTable.share_rows` computes the same in C."""
    return hash(case_id.strip()) % count
