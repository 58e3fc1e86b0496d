"""Input formats: each opens a file as a `RawTable` of raw cells and converts nothing.

One module per format (csvfile, xlsx); `open_table` picks one by the file's suffix. A new input
format is one module here and one line in `open_table`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kontaktsync.sync.caseload.columns import TABLES
from kontaktsync.sync.caseload.errors import SourceError
from kontaktsync.sync.caseload.formats.csvfile import ENCODINGS, read_csv
from kontaktsync.sync.caseload.formats.xlsx import Workbooks, is_workbook, read_sheet
from kontaktsync.sync.caseload.raw import RawTable

_NOT_READ = frozenset({".xls", ".ods", ".numbers"})


@dataclass(frozen=True)
class SourceOptions:
    """How the files are read: the CSV encoding (`auto`, `utf-8`, `cp1252`) and which sheet
    of a workbook holds which table (source.encoding, source.sheets)."""

    encoding: str = "auto"
    sheets: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise SourceError(f"unknown encoding '{self.encoding}' (use one of {', '.join(ENCODINGS)})")
        unknown = sorted(t for t in self.sheets if t not in TABLES)
        if unknown:
            raise SourceError(
                f"source.sheets names {', '.join(repr(t) for t in unknown)}, which is no table "
                f"(the tables are {', '.join(TABLES)})"
            )


def open_table(
    path: Path, table: str, required: bool, source: SourceOptions, books: Workbooks
) -> RawTable | None:
    """The raw rows of `table` in `path`; None only for a workbook sheet that is not `required`.
    A workbook is opened once in `books`, which the caller closes when its rows are read."""
    if is_workbook(path):
        return read_sheet(path, table, required, source.sheets.get(table), books)
    if path.suffix.lower() in _NOT_READ:
        raise SourceError(f"{path}: {path.suffix} files are not read; save it as .xlsx or CSV")
    return read_csv(path, source.encoding)


__all__ = ["SourceOptions", "Workbooks", "is_workbook", "open_table"]
