"""Raw rows to converted rows: the header is matched to the columns, each cell is converted, and
a row with any bad cell is reported (each cell, as a `RowError`) and left out.

This is the reader's hot loop (it runs once per cell of the caseload): converters are chosen once
per column, and the values that repeat in every export (dates, profiles, statuses, flags) are
converted once per read and then looked up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kontaktsync.rules.model import RowError
from kontaktsync.sync.caseload.columns import Column
from kontaktsync.sync.caseload.converters import Blank, norm_key
from kontaktsync.sync.caseload.errors import SourceError
from kontaktsync.sync.caseload.raw import RawTable, Unreadable, share_of

_ABSENT = 1 << 30  # column index of a required column the file lacks: never inside a row

# A converted cell that reads as empty (memo value, never a real value: converters return no None).
_BLANK = object()

Memos = dict[Callable[[Any], Any], dict[Any, Any]]


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


def _convert_new(cell: Any, convert: Callable[[Any], Any], memo: dict[Any, Any]) -> Any:
    """Convert a cell not seen before in this column; the value (or _BLANK) is remembered for
    text cells, so each distinct date, status, flag ... is parsed once per read. Raises
    ValueError with the counsellor's message."""
    if type(cell) is Unreadable:
        raise ValueError(cell.message)
    try:
        value = convert(cell)
    except Blank:
        value = _BLANK
    if type(cell) is str:  # str keys only: 1, 1.0 and True from Excel are equal dict keys
        memo[cell] = value
    return value


def _id_text(cell: Any, convert: Callable[[Any], Any]) -> str:
    """The text a share is chosen by, of a case_id cell that is no text (an Excel number,
    unreadable bytes): its case id, or "" when it has none."""
    try:
        return str(convert(cell))
    except (ValueError, Blank):
        return ""


def read_rows(
    raw: RawTable,
    columns: list[Column],
    target: type,
    header_map: dict[str, str],
    errors: list[RowError],
    memos: Memos,
    bad_ids: set[str | None] | None = None,
    share: Share | None = None,
) -> Iterator[tuple[int, list[Any]]]:
    """Converted rows as positional arguments of `target` (up to its `row` field); a row with
    any bad cell is reported (each cell) and skipped. The case ids of skipped rows go to
    `bad_ids`, None for a skipped row whose own case_id cannot be read. With `share`, only the
    rows of that share are read (the others are not looked at: their errors are another's).

    This loop runs once per cell of the caseload, so it is kept flat: one memo look-up per
    cell, the converter only for a value the column has not seen yet."""
    fields = [f.name for f in fields_up_to_row(target)]
    template = _template(target)
    id_pos = fields.index("case_id")
    present = []
    absent = []
    for i, c in _header_index(raw, columns, header_map):
        if i == _ABSENT:
            absent.append(c.name)
            continue
        memo = memos.setdefault(c.convert, {"": _BLANK})
        present.append((i, fields.index(c.name), c.name, memo, c.convert, c.required))
    label = raw.label
    width = len(raw.header)
    padding = [""] * width
    # With a share: the case_id cell's text picks the share (`share_of`), without converting
    # it. A cell that is no case id (blank, bad) is in exactly one share too, where its error is
    # reported. Where the format can pick the share's rows itself, the others are not parsed.
    index, count = (share.index, share.count) if share is not None else (0, 0)
    at, to_id = next((p[0], p[4]) for p in present if p[2] == "case_id")
    rows, clean = raw.rows, raw.clean
    if count and raw.share_rows is not None:  # the share's rows only, cleaned: no other is looked at
        rows, count, clean = raw.share_rows(at, index, count), 0, None
    for n, cells in rows:
        if not any(cells):
            continue  # blank line
        if count:
            cell = cells[at] if at < len(cells) else ""
            if share_of(cell if type(cell) is str else _id_text(cell, to_id), count) != index:
                continue
        if clean is not None:
            cells = clean(cells)
        length = len(cells)
        row = cells if length >= width else cells + padding[length:]  # missing cells are empty
        args = template.copy()
        bad = False
        for i, pos, name, memo, convert, required in present:
            cell = row[i]
            value = memo.get(cell)
            if value is None:
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
        for name in absent:
            message = f"required value {name} is missing (the file has no such column)"
            errors.append(RowError(label, n, name, message))
            bad = True
        if length > width and any(str(c).strip() for c in cells[width:]):
            errors.append(
                RowError(label, n, raw.header[-1] or "?", f"row has {length} cells, header {width}")
            )
            bad = True
        if not bad:
            yield n, args
        elif bad_ids is not None:
            bad_ids.add(args[id_pos])
