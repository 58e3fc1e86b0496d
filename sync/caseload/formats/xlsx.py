"""Excel workbooks (.xlsx, .xlsm): one sheet per table. openpyxl is imported only here, when a
workbook is opened, so that reading CSV never pays for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kontaktsync.sync.caseload.errors import SourceError
from kontaktsync.sync.caseload.raw import MAX_CELL_CHARS, RawTable, too_long

SUFFIXES = frozenset({".xlsx", ".xlsm"})


def is_workbook(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES


def sheet_name(sheetnames: list[str], table: str, named: str | None, required: bool) -> str | None:
    """The workbook's sheet for `table`: the one the settings name (source.sheets), else the
    one called like the table; a workbook of one sheet gives it to `cases`."""
    if named is not None:
        if named in sheetnames:
            return named
        return {n.strip().lower(): n for n in sheetnames}.get(named.strip().lower())
    name = {n.strip().lower(): n for n in sheetnames}.get(table)
    if name is None and required and len(sheetnames) == 1:
        name = sheetnames[0]
    return name


class Workbooks:
    """The workbooks one read has opened, each opened once for all of its sheets: opening one
    reads its table of shared strings (for a workbook of 10,000 cases ~1 s, most of reading it)."""

    def __init__(self) -> None:
        self._open: dict[Path, Any] = {}

    def get(self, path: Path) -> Any:
        """`path` opened read-only (its cells' values, not formulas)."""
        wb = self._open.get(path)
        if wb is None:
            from openpyxl import load_workbook  # imported here: only workbooks need it

            try:
                wb = load_workbook(path, read_only=True, data_only=True)
            except FileNotFoundError:
                raise SourceError(f"{path}: file not found") from None
            except Exception as exc:  # openpyxl raises many kinds for a broken file
                raise SourceError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__})") from None
            self._open[path] = wb
        return wb

    def close(self) -> None:
        while self._open:
            self._open.popitem()[1].close()


def read_sheet(
    path: Path, table: str, required: bool, named: str | None, books: Workbooks
) -> RawTable | None:
    """The rows of the sheet holding `table`, or None for a table the workbook may lack. The
    workbook stays open in `books` (the rows are read from it)."""
    wb = books.get(path)
    name = sheet_name(wb.sheetnames, table, named, required)
    if name is None:
        sheets = ", ".join(f"'{n}'" for n in wb.sheetnames)
        if named is not None:
            raise SourceError(
                f"{path}: no sheet named '{named}' for the {table} (source.sheets); the workbook has {sheets}"
            )
        if required:
            raise SourceError(f"{path}: no sheet named '{table}' (sheets: {', '.join(wb.sheetnames)})")
        return None
    it = wb[name].iter_rows(values_only=True)
    header_row = next(it, None)
    label = f"{path.name}:{name}"
    if not header_row or not any(h not in (None, "") for h in header_row):
        raise SourceError(f"{label}: no header row (the first row must name the columns)")
    header = ["" if h is None else str(h) for h in header_row]

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for n, record in enumerate(it, start=2):
            if all(c is None or (isinstance(c, str) and not c.strip()) for c in record):
                continue  # blank row
            cells = ["" if c is None else c for c in record]
            yield n, [too_long(c) if type(c) is str and len(c) > MAX_CELL_CHARS else c for c in cells]

    return RawTable(label, header, rows())
