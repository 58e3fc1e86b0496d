"""kontaktsync.sync.caseload: reading a caseload (cases, measures, contacts) from CSV files or
one Excel workbook.

Bad rows are collected as `RowError`s (file, spreadsheet row, column, a message a counsellor
understands) and left out; everything else is read. A file that cannot be read at all raises
`SourceError`, which stops the run before anything is planned or written.

One job per module, in reading order:

- formats/   open a file as raw rows: csvfile (encoding, separator, bad bytes), xlsx (sheets)
- raw        what a format yields: `RawTable`, `Unreadable` cells
- columns    the canonical columns of each table, with their converters and aliases
- converters one function per kind of cell (dates, flags, logins, case ids, ...)
- validate   raw rows to converted rows, a `RowError` for each bad cell
- build      the whole caseload: files, cross-table checks, `Case`s, held cases
"""

from kontaktsync.sync.caseload.build import read_caseload
from kontaktsync.sync.caseload.columns import TABLES
from kontaktsync.sync.caseload.errors import SourceError
from kontaktsync.sync.caseload.formats import SourceOptions
from kontaktsync.sync.caseload.formats.csvfile import ENCODINGS, Encoding
from kontaktsync.sync.caseload.validate import Share

__all__ = ["ENCODINGS", "TABLES", "Encoding", "Share", "SourceError", "SourceOptions", "read_caseload"]
