"""One contract for every input format (caseload/formats/): the same cells give the same caseload,
the same row errors and the same held cases, whichever format holds them. A new format is added
to FORMATS and must pass the same tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from kontaktsync.rules.model import Caseload
from kontaktsync.sync.caseload import read_caseload
from openpyxl import Workbook

Table = list[list[str]]

CASES: Table = [
    ["case_id", "counsellor", "status", "profile", "birth_date", "display_name", "Bemerkung"],
    ["1", "j.weiß", "lo", "Förderprofil", "05.03.1980", "Jürgen Größe", "frei"],
    ["2", "a.b", "frei", "I", "1980-01-01", "", ""],  # unknown status: held
    ["", "", "", "", "", "", ""],  # blank row: skipped, counted
    ["4", "a.b", "asu", "Z", "30.02.1980", "", ""],  # no such date: held
    ["5", "a/b", "lo", "I", "", "", ""],  # not a login: held
    ["6", "a.b", "ohne", "marktnah", "", "Zoë", ""],
    ["1", "c.d", "lo", "I", "", "", ""],  # duplicate: planned from its first row
]
MEASURES: Table = [
    ["case_id", "start", "end", "kind"],
    ["1", "2026-01-01", "30.06.2026", "FbW"],
    ["6", "2026-07-01", "2026-06-30", ""],  # end before start
    ["9", "2026-01-01", "2026-06-30", ""],  # no such case
    ["2", "2026-01-01", "2026-06-30", ""],  # of a held case: left out quietly
]
CONTACTS: Table = [
    ["case_id", "date", "channel", "outcome"],
    ["1", "2026-10-01", "persönlich", "erschienen"],
    ["6", "02.10.2026", "Telefon", ""],
    ["6", "2026-10-03", "brieftaube", ""],  # unknown channel
]
TABLES = {"cases": CASES, "measures": MEASURES, "contacts": CONTACTS}


def _csv(encoding: str, sep: str, bom: bool = False, eol: str = "\n") -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        for name, rows in TABLES.items():
            text = eol.join(sep.join(r) for r in rows) + eol
            (folder / f"{name}.csv").write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
        return folder

    return write


def _xlsx(folder: Path) -> Path:
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in TABLES.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append([cell if cell else None for cell in r])
    path = folder / "caseload.xlsx"
    wb.save(path)
    return path


FORMATS = {
    "csv-utf8-comma": _csv("utf-8", ","),
    "csv-utf8-bom-semicolon": _csv("utf-8", ";", bom=True),
    "csv-cp1252-semicolon-crlf": _csv("cp1252", ";", eol="\r\n"),
    "xlsx": _xlsx,
}


def _read(tmp_path: Path, fmt: str) -> Caseload:
    folder = tmp_path / fmt
    folder.mkdir()
    return read_caseload(FORMATS[fmt](folder))


def _errors(cl: Caseload) -> list[tuple[str, int, str, str]]:
    """Row errors with the table in place of the file's label (in messages too), which differs
    by format."""
    table_of = {label: table for table, label in cl.files.items()}
    cases = cl.files["cases"]
    return [(table_of[e.file], e.row, e.column, e.message.replace(cases, "<cases>")) for e in cl.errors]


EXPECTED_ERRORS = [
    ("cases", 3, "status", "unknown status 'frei'"),
    ("cases", 5, "birth_date", "'30.02.1980' is not a date that exists"),
    ("cases", 6, "counsellor"),
    ("cases", 8, "case_id", "case 1 appears twice (first in row 2)"),
    ("measures", 3, "end", "end 2026-06-30 lies before start 2026-07-01"),
    ("measures", 4, "case_id", "no case 9 in <cases>"),
    ("contacts", 4, "channel", "unknown channel 'brieftaube'"),
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_reads_the_same_cells_into_the_same_caseload(tmp_path, fmt):
    cl = _read(tmp_path, fmt)
    assert [(c.case_id, c.counsellor, c.birth_date, c.display_name) for c in cl.cases] == [
        ("1", "j.weiß", date(1980, 3, 5), "Jürgen Größe"),
        ("6", "a.b", None, "Zoë"),
    ]
    one, six = cl.cases
    assert [(m.start, m.end, m.kind) for m in one.measures] == [(date(2026, 1, 1), date(2026, 6, 30), "FbW")]
    assert [c.date for c in one.contacts] == [date(2026, 10, 1)] and six.measures == ()
    assert [c.date for c in six.contacts] == [date(2026, 10, 2)]
    got = _errors(cl)
    assert [e[: len(x)] for e, x in zip(got, EXPECTED_ERRORS, strict=True)] == EXPECTED_ERRORS
    assert (cl.held, cl.held_unknown) == ({"2", "4", "5"}, False)


def test_all_formats_agree_to_the_last_message(tmp_path):
    read = {fmt: _read(tmp_path, fmt) for fmt in FORMATS}
    first, *others = read
    for fmt in others:
        assert read[fmt].cases == read[first].cases, fmt
        assert _errors(read[fmt]) == _errors(read[first]), fmt


def test_openpyxl_is_imported_only_when_a_workbook_is_read(tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    _csv("utf-8", ",")(folder)
    xlsx = _xlsx(tmp_path)
    script = (
        "import sys\n"
        "from kontaktsync.sync.caseload import read_caseload\n"
        "assert 'openpyxl' not in sys.modules, 'imported with the package'\n"
        f"read_caseload({str(folder)!r})\n"
        "assert 'openpyxl' not in sys.modules, 'imported to read CSV'\n"
        f"read_caseload({str(xlsx)!r})\n"
        "assert 'openpyxl' in sys.modules, 'a workbook was read without it'\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


def test_a_workbook_is_opened_once_for_its_three_sheets_and_closed_after(tmp_path, monkeypatch):
    import openpyxl

    opened = []
    real = openpyxl.load_workbook

    def counting(*args, **kwargs):
        wb = real(*args, **kwargs)
        opened.append(wb)
        return wb

    monkeypatch.setattr(openpyxl, "load_workbook", counting)
    book = _xlsx(tmp_path)
    cl = read_caseload(book)
    assert cl.cases and any(c.contacts for c in cl.cases) and any(c.measures for c in cl.cases)
    assert len(opened) == 1
    assert opened[0]._archive.fp is None  # closed once its rows were read
