"""Raw rows to converted rows: the header is matched to the columns, each cell is converted, and
a row with any bad cell is reported (each cell, as a `RowError`) and left out.

This is the reader's hot loop (it runs once per cell of the caseload), so it works a batch of
rows and a column at a time, in C (`map` over a column): the values that repeat in every export
(dates, profiles, statuses, flags) are converted once per read and then looked up; case ids,
which do not repeat, are converted a whole column at once (`Column.many`). A row that needs
more than that is converted alone, cell by cell, in its place (tests/test_read_rows_batches.py
compares the two on random tables).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import compress, islice, repeat
from operator import itemgetter
from typing import Any, NamedTuple

from kontaktsync.rules.model import RowError
from kontaktsync.sync.caseload.columns import Column
from kontaktsync.sync.caseload.converters import Blank, norm_key
from kontaktsync.sync.caseload.errors import SourceError
from kontaktsync.sync.caseload.raw import RawTable, Unreadable, share_of

_ABSENT = 1 << 30  # column index of a required column the file lacks: never inside a row

# A converted cell that reads as empty (never a real value: converters return no None).
_BLANK = object()
_MISSING = object()  # a cell without a value in a column's look-up (see `Memo.lookup`)


class Memo:
    """What one converter gave for each text it was given in one read, so that each distinct
    date, status, flag ... is parsed once: `values` (a text -> its value) and `blank` (the texts
    that read as empty). A column reads its cells from a `lookup`."""

    __slots__ = ("_lookups", "blank", "values")

    def __init__(self) -> None:
        self.values: dict[Any, Any] = {}
        self.blank: set[Any] = {""}
        self._lookups: dict[tuple[type, Any], dict[Any, Any]] = {}

    def lookup(self, required: bool, default: Any) -> dict[Any, Any]:
        """The values of a column: a required column's lacks the blank texts (a row with one
        has an error), another's gives them the field's default. A text not in it is new."""
        if required:
            return self.values
        key = (type(default), default)  # False and 0 are equal keys, not equal defaults
        if key not in self._lookups:
            self._lookups[key] = self.values | dict.fromkeys(self.blank, default)
        return self._lookups[key]

    def add_all(self, texts: list[Any], values: list[Any]) -> None:
        """The values (none blank) of many texts, in C."""
        self.values.update(zip(texts, values, strict=True))
        for lookup in self._lookups.values():
            lookup.update(zip(texts, values, strict=True))

    def add(self, text: str, value: Any) -> None:
        """A text's value (or _BLANK), in `values` or `blank` and in every look-up."""
        if value is _BLANK:
            self.blank.add(text)
        else:
            self.values[text] = value
        for (_, default), lookup in self._lookups.items():
            lookup[text] = default if value is _BLANK else value


Memos = dict[Callable[[Any], Any], Memo]


@dataclass(frozen=True, slots=True)
class Share:
    """One of `count` shares of a caseload, for planning in several processes at once: the
    cases whose id hashes to `index`, with their measures and contacts. Each row, and so each
    row error, belongs to exactly one share, and a case, its measures and contacts to the same
    one, so the shares' plans together are the plan of the whole caseload (raw.share_of)."""

    index: int
    count: int


def _header_index(
    raw: RawTable, columns: list[Column], header_map: dict[str, str]
) -> list[tuple[int, Column]]:
    """(cell index, column) of each column the header holds, then (_ABSENT, column) of each
    required column it lacks. Raises SourceError without a case_id column."""
    mapping = {norm_key(k): norm_key(v) for k, v in header_map.items()}
    known = {c.name: c for c in columns}
    found: dict[str, int] = {}
    for i, h in enumerate(raw.header):
        key = norm_key(h)
        key = mapping.get(key, key)
        if key in known and key not in found:
            found[key] = i
    if "case_id" not in found:
        raise SourceError(
            f"{raw.label}: no case_id column (map your export's column with header_map); "
            f"columns are: {', '.join(raw.header)}"
        )
    return [(found[c.name], c) for c in columns if c.name in found] + [
        (_ABSENT, c) for c in columns if c.required and c.name not in found
    ]


def fields_up_to_row(cls: type) -> list[dataclasses.Field[Any]]:
    """The fields a row fills, in the order `cls` takes them positionally: `row` and what
    follows it (a case's measures and contacts) are passed after them."""
    names = [f.name for f in dataclasses.fields(cls)]
    return list(dataclasses.fields(cls)[: names.index("row")])


def _template(cls: type) -> list[Any]:
    """Positional arguments of `cls` holding each field's default (None where it has none)."""
    return [None if f.default is dataclasses.MISSING else f.default for f in fields_up_to_row(cls)]


def _convert_new(cell: Any, convert: Callable[[Any], Any], memo: Memo) -> Any:
    """Convert a cell its converter has not seen yet in this read: its value or _BLANK,
    remembered for text cells. Raises ValueError with the counsellor's message."""
    if type(cell) is Unreadable:
        raise ValueError(cell.message)
    try:
        value = convert(cell)
    except Blank:
        value = _BLANK
    if type(cell) is str:  # str keys only: 1, 1.0 and True from Excel are equal dict keys
        memo.add(cell, value)
    return value


def _id_text(cell: Any, convert: Callable[[Any], Any]) -> str:
    """The text a share is chosen by, of a case_id cell that is no text (an Excel number,
    unreadable bytes): its case id, or "" when it has none."""
    try:
        return str(convert(cell))
    except (ValueError, Blank):
        return ""


# Rows converted at a time, a column at a time: enough for C to do the work, and few enough
# that a batch's cells stay in the CPU's cache while its columns are read (2048 rows read a
# share's cases 15-25 % slower than 64-512 when the machine was busy; benchmarks/README.md).
BATCH = 256

# The valid rows of a table in their order, a run of them at a time: (their spreadsheet row
# numbers, one list per field of the target class up to its `row`: the values of those rows).
Segment = tuple[list[int], list[list[Any]]]


def read_rows(
    raw: RawTable,
    columns: list[Column],
    target: type,
    header_map: dict[str, str],
    errors: list[RowError],
    memos: Memos,
    bad_ids: set[str | None] | None = None,
    share: Share | None = None,
) -> Iterator[Segment]:
    """The valid rows of `raw`, converted, in segments (see `Segment`); a row with any bad cell
    is reported (each cell) and left out. The case ids of left-out rows go to `bad_ids`, None for
    a left-out row whose own case_id cannot be read. With `share`, only the rows of that share
    are read (the others are not looked at: their errors are another's).

    This runs once per cell of the caseload, so the rows are converted BATCH at a time, a column
    at a time, in C: each text the column has not seen yet is converted once (and remembered in
    `memos`), then the whole column is looked up. A row that needs more (a bad or missing value,
    a value from Excel, surplus cells) is converted on its own (`_Table.one`), in its place."""
    table = _Table(raw, columns, target, header_map, errors, memos, bad_ids)
    # With a share: the case_id cell's text picks the share (`share_of`), without converting
    # it. A cell that is no case id (blank, bad) is in exactly one share too, where its error is
    # reported. Where the format can pick the share's rows itself, the others are not parsed.
    index, count = (share.index, share.count) if share is not None else (0, 0)
    source, clean = raw.rows, raw.clean
    if count and raw.share_rows is not None:  # the share's rows only, cleaned: no other is looked at
        source, count, clean = raw.share_rows(table.id_at, index, count), 0, None
    it = iter(source)
    while batch := list(islice(it, BATCH)):
        numbers = list(map(itemgetter(0), batch))
        rows = list(map(itemgetter(1), batch))
        del batch
        keep: list[bool] | None = None
        if count:
            keep = [any(r) and table.in_share(r, index, count) for r in rows]
        elif not all(map(any, rows)):
            keep = list(map(any, rows))  # a blank line is no row
        if keep is not None:
            numbers, rows = list(compress(numbers, keep)), list(compress(rows, keep))
        if clean is not None:
            rows = list(map(clean, rows))
        if rows:
            yield from table.convert(numbers, rows)


class _Place(NamedTuple):
    """Where a column's cells are and go: their index in a row, the field they fill (its
    position in the values), the column, its converter's memo and its look-up."""

    cell: int
    pos: int
    column: Column
    memo: Memo
    lookup: dict[Any, Any]


class _Table:
    """How the rows of one table are converted: its columns' places, converters and memos."""

    def __init__(
        self,
        raw: RawTable,
        columns: list[Column],
        target: type,
        header_map: dict[str, str],
        errors: list[RowError],
        memos: Memos,
        bad_ids: set[str | None] | None,
    ) -> None:
        fields = [f.name for f in fields_up_to_row(target)]
        self.template = _template(target)
        self.id_pos = fields.index("case_id")
        self.present: list[_Place] = []
        self.absent: list[str] = []
        for i, c in _header_index(raw, columns, header_map):
            if i == _ABSENT:
                self.absent.append(c.name)
                continue
            memo = memos.setdefault(c.convert, Memo())
            pos = fields.index(c.name)
            self.present.append(_Place(i, pos, c, memo, memo.lookup(c.required, self.template[pos])))
        at_id = next(p for p in self.present if p.column.name == "case_id")
        self.id_at, self.to_id = at_id.cell, at_id.column.convert
        self.raw, self.errors, self.bad_ids = raw, errors, bad_ids
        self.width = len(raw.header)
        self.padding = [""] * self.width

    def in_share(self, cells: list[Any], index: int, count: int) -> bool:
        at = self.id_at
        cell = cells[at] if at < len(cells) else ""
        return share_of(cell if type(cell) is str else _id_text(cell, self.to_id), count) == index

    def convert(self, numbers: list[int], rows: list[list[Any]]) -> Iterator[Segment]:
        """The segments of a batch of rows (none blank, each of the share, cleaned)."""
        width, padding = self.width, self.padding
        single: set[int] = set()  # the rows converted on their own (`one`)
        lengths = set(map(len, rows))
        if lengths != {width}:
            if min(lengths) < width:  # missing cells are empty
                rows = [r if len(r) >= width else r + padding[len(r) :] for r in rows]
            if max(lengths) > width:  # surplus cells: an error unless they are empty
                single.update(j for j, r in enumerate(rows) if len(r) > width)
        values = [[v] * len(rows) for v in self.template]
        cols = list(zip(*rows, strict=False))  # a row longer than the header is read alone
        for i, pos, column, memo, lookup in self.present:
            col = cols[i]
            many = column.many
            if not column.repeats and many is not None and (whole := many(col)) is not None:
                values[pos] = whole
                continue
            try:
                values[pos] = list(map(lookup.__getitem__, col))
                continue
            except KeyError:  # a text not seen yet, a blank in a required column, ...
                pass
            # else from Excel, unreadable or blank: its row is converted alone
            new = [c for c in set(col).difference(lookup) if type(c) is str and c not in memo.blank]
            if new and many is not None and (made := many(new)) is not None:
                memo.add_all(new, made)
            else:
                for cell in new:  # (no contextlib.suppress: a context per value costs ~0.3 µs)
                    try:  # noqa: SIM105
                        _convert_new(cell, column.convert, memo)
                    except ValueError:  # a bad value: its row is read alone, and reported
                        pass
            got = list(map(lookup.get, col, repeat(_MISSING)))
            if _MISSING in got:
                single.update(j for j, v in enumerate(got) if v is _MISSING)
            values[pos] = got
        if self.absent:
            single = set(range(len(rows)))  # each row lacks a required value
        if not single:
            yield numbers, values
            return
        start = 0
        for j in sorted(single):
            if j > start:
                yield numbers[start:j], [v[start:j] for v in values]
            args = self.one(numbers[j], rows[j])
            if args is not None:
                yield [numbers[j]], [[a] for a in args]
            start = j + 1
        if start < len(numbers):
            yield numbers[start:], [v[start:] for v in values]

    def one(self, n: int, row: list[Any]) -> list[Any] | None:
        """One row (padded) converted cell by cell, each bad cell reported: its values, or None."""
        label, errors = self.raw.label, self.errors
        args = self.template.copy()
        bad = False
        for i, pos, column, memo, _ in self.present:
            name, convert, required = column.name, column.convert, column.required
            cell = row[i]
            value = memo.values.get(cell)
            if value is None and cell in memo.blank:
                value = _BLANK
            elif value is None:
                try:
                    value = _convert_new(cell, convert, memo)
                except ValueError as exc:
                    errors.append(RowError(label, n, name, str(exc)))
                    bad = True
                    continue
            if value is _BLANK:
                if required:
                    errors.append(RowError(label, n, name, f"required value {name} is missing"))
                    bad = True
                continue
            args[pos] = value
        for name in self.absent:
            message = f"required value {name} is missing (the file has no such column)"
            errors.append(RowError(label, n, name, message))
            bad = True
        width = self.width
        if len(row) > width and any(str(c).strip() for c in row[width:]):
            message = f"row has {len(row)} cells, header {width}"
            errors.append(RowError(label, n, self.raw.header[-1] or "?", message))
            bad = True
        if not bad:
            return args
        if self.bad_ids is not None:
            self.bad_ids.add(args[self.id_pos])
        return None
