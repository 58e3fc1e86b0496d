"""The reader converts rows a batch and a column at a time (validate.read_rows); a row that
needs more is converted alone in its place. Whatever the batch size and whatever the cells,
that gives what converting every row alone, cell by cell, gives: the same rows in the same
order with the same values, the same row errors in the same order, the same held case ids."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kontaktsync.rules.model import Case, Contact, Measure, RowError
from kontaktsync.sync.caseload import validate
from kontaktsync.sync.caseload.columns import columns
from kontaktsync.sync.caseload.converters import Blank, case_ids, iso_dates, to_case_id
from kontaktsync.sync.caseload.raw import RawTable, Unreadable

TARGETS = {"cases": Case, "measures": Measure, "contacts": Contact}

# Cells of every kind a column meets: common values, blanks, values only the cell-by-cell
# converter reads (German dates, white space, non-ASCII ids), bad ones, Excel's native values
# and unreadable bytes.
CELLS = st.sampled_from(
    [
        "",
        "  ",
        "1001",
        "1002",
        " 1003 ",
        "Ä-7",
        "a\u200bb",
        "x" * 65,
        "vfk001",
        "2026-01-05",
        "2026-02-30",
        "2300-01-01",
        "05.01.2026",
        " 2026-03-01",
        "2026-W47-1",
        "lo",
        "arbeitslos",
        "marktnah",
        "Z",
        "standard",
        "reha",
        "ja",
        "nein",
        "x",
        "vielleicht",
        "2M",
        "6W",
        "6",
        "MAG",
        "M1",
        "persoenlich",
        "telefonisch",
        "erschienen",
        "nicht_erschienen",
        "Grund",
    ]
) | st.sampled_from(
    [7, 1001.0, True, 0, datetime(2026, 1, 5, 9, 30), date(2026, 2, 1), Unreadable("holds a NUL")]
)


def _header(table: str, draw: Any) -> list[str]:
    names = [c.name for c in columns(table)]
    if draw(st.booleans()):  # every column: no row lacks a required one
        kept = draw(st.permutations(names))
    else:
        kept = draw(st.lists(st.sampled_from(names), unique=True, min_size=1, max_size=len(names)))
    if "case_id" not in kept:
        kept.insert(0, "case_id")
    if draw(st.booleans()):
        kept.append("Bemerkung")  # a column the reader does not know
    return kept


# Values each column reads, blanks included where it may be blank.
_DATES = ["2026-01-05", "2026-03-01", "05.01.2026"]
GOOD = {
    "case_id": ["1001", "1002", " 1003 ", "A-7"],
    "counsellor": ["vfk001", "vfk002"],
    "status": ["lo", "arbeitslos"],
    "profile": ["marktnah", "Z"],
    "team": ["standard", "reha", ""],
    "individual_interval": ["2M", "6W", ""],
    "extension_months": ["", "6"],
    "extension_reason": ["", "Grund"],
    "measure_id": ["M1", ""],
    "kind": ["MAG", ""],
    "channel": ["persoenlich", "telefonisch"],
    "outcome": ["erschienen", ""],
    "start": _DATES,
    "end": _DATES,
    "date": _DATES,
}


def _good(name: str) -> list[Any]:
    if name in GOOD:
        return GOOD[name]
    if name.endswith(("date", "_end", "_contact", "_since", "_created", "_until")):
        return [*_DATES, ""]
    return ["ja", "nein", "x", ""] if name != "display_name" else ["Frau A", ""]


@st.composite
def tables(draw: Any) -> tuple[str, list[str], list[tuple[int, list[Any]]]]:
    table = draw(st.sampled_from(list(TARGETS)))
    header = _header(table, draw)
    rows = []
    for n in range(2, 2 + draw(st.integers(0, 40))):
        width = len(header) + draw(st.sampled_from([0, 0, 0, 0, -1, 1]))
        # mostly values the column reads, as exports hold; now and then anything
        row = [
            draw(st.sampled_from(_good(h)) if draw(st.integers(0, 14)) else CELLS)
            for h in header[: max(width, 0)]
        ]
        if width > len(header):
            row.append(draw(st.sampled_from(["", "  ", "surplus"])))
        rows.append((n, row))
    return table, header, rows


def _one_by_one(table: str, header: list[str], rows: list[tuple[int, list[Any]]]) -> tuple[list[Any], ...]:
    """Every row alone, each cell converted by its column's converter: the reference."""
    target = TARGETS[table]
    fields = [f.name for f in validate.fields_up_to_row(target)]
    template = [
        None if f.default is dataclasses.MISSING else f.default for f in validate.fields_up_to_row(target)
    ]
    raw = RawTable(f"{table}.csv", header, [])
    places = validate._header_index(raw, columns(table), {})
    out: list[tuple[int, list[Any]]] = []
    errors: list[RowError] = []
    held: set[str | None] = set()
    for n, cells in rows:
        if not any(cells):
            continue
        row = cells + [""] * (len(header) - len(cells))
        args, bad = template.copy(), False
        for i, column in places:
            if i == validate._ABSENT:
                message = f"required value {column.name} is missing (the file has no such column)"
                errors.append(RowError(raw.label, n, column.name, message))
                bad = True
                continue
            cell = row[i]
            try:
                if isinstance(cell, Unreadable):
                    raise ValueError(cell.message)
                args[fields.index(column.name)] = column.convert(cell)
            except Blank:
                if column.required:
                    errors.append(
                        RowError(raw.label, n, column.name, f"required value {column.name} is missing")
                    )
                    bad = True
            except ValueError as exc:
                errors.append(RowError(raw.label, n, column.name, str(exc)))
                bad = True
        if len(row) > len(header) and any(str(c).strip() for c in row[len(header) :]):
            message = f"row has {len(row)} cells, header {len(header)}"
            errors.append(RowError(raw.label, n, header[-1], message))
            bad = True
        if bad:
            held.add(args[fields.index("case_id")])
        else:
            out.append((n, args))
    return out, errors, held


def _batched(table: str, header: list[str], rows: list[tuple[int, list[Any]]]) -> tuple[list[Any], ...]:
    errors: list[RowError] = []
    held: set[str | None] = set()
    raw = RawTable(f"{table}.csv", header, [(n, list(cells)) for n, cells in rows])
    out = []
    for numbers, values in validate.read_rows(raw, columns(table), TARGETS[table], {}, errors, {}, held):
        assert len(numbers) >= 1 and all(len(v) == len(numbers) for v in values)
        out += [(n, list(args)) for n, args in zip(numbers, zip(*values, strict=True), strict=True)]
    return out, errors, held


@pytest.mark.parametrize("batch", [1, 2, 3, 7, 2048])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=tables())
def test_batches_read_what_rows_read_one_by_one(
    monkeypatch: pytest.MonkeyPatch, batch: int, case: Any
) -> None:
    monkeypatch.setattr(validate, "BATCH", batch)
    table, header, rows = case
    got, want = _batched(table, header, rows), _one_by_one(table, header, rows)
    assert got[0] == want[0]
    assert got[1] == want[1]
    assert got[2] == want[2]


def test_a_batch_with_bad_rows_keeps_the_good_ones_in_their_places(monkeypatch: pytest.MonkeyPatch) -> None:
    """Good rows around bad ones come out as runs (segments) in row order, once each."""
    monkeypatch.setattr(validate, "BATCH", 8)
    header = ["case_id", "date", "channel"]
    rows = [(n, [str(n), "2026-01-05", "persoenlich"]) for n in range(2, 22)]
    rows[3][1][1] = "2026-02-30"  # row 5: no such date
    rows[4][1][0] = ""  # row 6: no case id
    rows[10][1][2] = "telefon"  # row 12: a new text, read by its own converter: no error
    errors: list[RowError] = []
    held: set[str | None] = set()
    raw = RawTable("contacts.csv", header, rows)
    segments = list(validate.read_rows(raw, columns("contacts"), Contact, {}, errors, {}, held))
    numbers = [n for ns, _ in segments for n in ns]
    assert numbers == [n for n in range(2, 22) if n not in (5, 6)]
    assert [(e.row, e.column) for e in errors] == [(5, "date"), (6, "case_id")]
    assert held == {"5", None}
    assert [len(ns) for ns, _ in segments] == [3, 3, 8, 4]  # batches of 8, the first split at rows 5 and 6


@given(st.lists(CELLS, max_size=12))
def test_case_ids_of_a_column_are_to_case_id_of_each_cell_or_none(cells: list[Any]) -> None:
    got = case_ids(cells)
    if got is None:
        return  # the cells are converted one by one
    assert got == [to_case_id(c) for c in cells]


def test_case_ids_leave_uncommon_ones_to_the_converter() -> None:
    assert case_ids([" 1001 ", "A-7"]) == ["1001", "A-7"]
    for odd in (["1001", ""], ["Ä1"], ["1\u200b"], ["x" * 65], [1001], [Unreadable("x")], []):
        assert case_ids(odd) is None, odd


@given(st.lists(st.sampled_from(["2026-01-05", "2026-12-31", "1900-01-01", "2199-12-31"]) | st.lists(CELLS)))
def test_iso_dates_are_the_date_converter_of_each_text_or_none(texts: list[Any]) -> None:
    convert = next(c.convert for c in columns("contacts") if c.name == "date")
    got = iso_dates(texts)
    if got is None:
        return
    assert got == [convert(t) for t in texts]


def test_iso_dates_leave_other_writings_to_the_converter() -> None:
    assert iso_dates(["2026-01-05", "2026-01-06"]) == [date(2026, 1, 5), date(2026, 1, 6)]
    for odd in (["05.01.2026"], [" 2026-01-05"], ["2026-02-30"], ["2300-01-01"], ["1899-12-31"], [""], []):
        assert iso_dates(odd) is None, odd


def test_a_caseload_reads_the_same_whatever_the_batch(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """The tables' checks across rows (a case twice, an extension without its reason, a measure
    or contact of an unknown or a held case) come out the same where rows meet in one
    segment as where each row is a segment of its own."""
    from kontaktsync.sync.caseload import read_caseload

    cases = ["case_id,counsellor,status,profile,extension_months,extension_reason"]
    for n in range(60):  # 20 and 21 share an id, 40-59 repeat 0-19; 5 and 6 are extended
        extension = {5: "6,", 6: "6,Grund"}.get(n, ",")
        cases.append(f"{20 if n == 21 else n % 40},vfk00{n % 3},lo,marktnah,{extension}")
    cases.append("99,vfk001,lo,,,")  # held: no profile
    (tmp_path / "cases.csv").write_text("\n".join(cases) + "\n", encoding="utf-8")
    contacts = ["case_id,date,channel"] + [f"{n % 45},2026-0{1 + n % 9}-05,persoenlich" for n in range(90)]
    (tmp_path / "contacts.csv").write_text("\n".join(contacts) + "\n", encoding="utf-8")
    measures = ["case_id,start,end"] + [f"{n % 50},2026-01-05,2026-0{1 + n % 3}-04" for n in range(60)]
    (tmp_path / "measures.csv").write_text("\n".join(measures) + "\n", encoding="utf-8")
    reads = []
    for batch in (1, 3, 16, 2048):
        monkeypatch.setattr(validate, "BATCH", batch)
        c = read_caseload(tmp_path / "cases.csv", tmp_path / "measures.csv", tmp_path / "contacts.csv")
        reads.append((c.cases, c.errors, c.held, c.held_unknown))
    assert all(r == reads[0] for r in reads[1:])
    cases_read, errors, held, _ = reads[0]
    messages = {e.message.split(" (")[0].split(" in ")[0] for e in errors}
    # every kind of check had its say, so the comparison above compared them
    assert {
        "case 0 appears twice",
        "case 20 appears twice",
        "an extension needs its documented reason",
    } <= messages
    assert any(m.startswith("no case 4") for m in messages) and any(
        "lies before start" in m for m in messages
    )
    assert "99" in held and len(cases_read) > 20 and any(c.contacts for c in cases_read)


def test_measures_and_contacts_hold_their_case_s_own_id(tmp_path: Any) -> None:
    """A row's case id is a string of its own; the measures and contacts of a case keep the
    case's instead, so that a million cases' 2 million contacts hold no copies (~150 MB)."""
    from kontaktsync.sync.caseload import read_caseload

    (tmp_path / "cases.csv").write_text(
        "case_id,counsellor,status,profile\n"
        + "".join(f"{n},vfk001,lo,marktnah\n" for n in range(1000, 1600)),
        encoding="utf-8",
    )
    (tmp_path / "contacts.csv").write_text(
        "case_id,date,channel\n" + "".join(f"{n},2026-01-05,persoenlich\n" for n in range(1000, 1600)) * 2,
        encoding="utf-8",
    )
    (tmp_path / "measures.csv").write_text(
        "case_id,start,end\n" + "".join(f"{n},2026-01-05,2026-06-04\n" for n in range(1000, 1600)),
        encoding="utf-8",
    )
    caseload = read_caseload(tmp_path / "cases.csv", tmp_path / "measures.csv", tmp_path / "contacts.csv")
    children = [(case, child) for case in caseload.cases for child in case.contacts + case.measures]
    assert len(children) == 1800
    assert all(child.case_id is case.case_id for case, child in children)
