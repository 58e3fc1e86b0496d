"""CSV that people open in a spreadsheet, safe to open.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is run as a formula by
Excel, LibreOffice and Google Sheets (CSV or formula injection: `=cmd|' /C calc'!A0`,
`=HYPERLINK(...)` that sends data elsewhere). Case ids, counsellors and policy rule names come
from exports and files people write, so every CSV meant for people goes through `safe_cell`,
which prefixes such a cell with a single quote, as OWASP recommends. The spreadsheet shows the
text; the quote is visible in a text editor only.

A value that is a plain number (`-5`, `-1.5`, `+3`, `1e-3`) is left as it is: it is no formula,
and escaping it would turn a number into text. Dates (`2026-11-22`) never start with one of
these characters and are left alone too.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, TextIO

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value: object) -> str:
    """The text of one CSV cell, with a leading `'` when a spreadsheet would run it as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


class SafeCsvWriter:
    """`csv.writer` whose every cell goes through `safe_cell`."""

    def __init__(self, stream: TextIO, **fmtparams: Any) -> None:
        self._writer = csv.writer(stream, **fmtparams)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)
