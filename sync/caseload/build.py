"""Reading a whole caseload: finding its files, then cases, measures and contacts, each row
checked against the others (a duplicate case, a measure or contact of an unknown case, an end
before its start) and put together into `Case`s. Rows left out for an error hold their case."""

from __future__ import annotations

import contextlib
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any

from kontaktsync.rules.heap import gc_frozen
from kontaktsync.rules.model import Case, Caseload, Contact, Measure, RowError
from kontaktsync.sync.caseload.columns import TABLES, columns
from kontaktsync.sync.caseload.errors import SourceError
from kontaktsync.sync.caseload.formats import SourceOptions, Workbooks, is_workbook, open_table
from kontaktsync.sync.caseload.raw import RawTable
from kontaktsync.sync.caseload.validate import Memos, Segment, Share, fields_up_to_row, read_rows

# Field positions in the values of a segment `read_rows` yields.
_CASE_FIELDS = [f.name for f in fields_up_to_row(Case)]
_EXTENSION_MONTHS = _CASE_FIELDS.index("extension_months")
_EXTENSION_REASON = _CASE_FIELDS.index("extension_reason")
_MEASURE_FIELDS = [f.name for f in fields_up_to_row(Measure)]
_START, _END = _MEASURE_FIELDS.index("start"), _MEASURE_FIELDS.index("end")
_ACTUAL_END = _MEASURE_FIELDS.index("actual_end")

_case_id = attrgetter("case_id")

CaseRows = dict[str, Case]  # the valid cases by id, their measures and contacts still to come


@dataclass
class _Reading:
    """What the tables of one read share: how files are opened, the header map, and what the
    read collects (row errors, each table's label, the converters' memos)."""

    source: SourceOptions
    header_map: dict[str, str]
    share: Share | None = None
    errors: list[RowError] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    memos: Memos = field(default_factory=dict)
    books: Workbooks = field(default_factory=Workbooks)

    def open(self, path: Path, table: str, required: bool = True) -> RawTable | None:
        """The raw rows of `table` (see `open_table`), its label noted for the caseload."""
        raw = open_table(path, table, required, self.source, self.books)
        if raw is not None:
            self.files[table] = raw.label
        return raw

    def rows(
        self, raw: RawTable, table: str, target: type, bad_ids: set[str | None] | None = None
    ) -> Iterator[Segment]:
        """The valid rows of `raw`, a segment at a time (see `read_rows`)."""
        return read_rows(
            raw, columns(table), target, self.header_map, self.errors, self.memos, bad_ids, self.share
        )


def read_caseload(
    cases: Path | str,
    measures: Path | str | None = None,
    contacts: Path | str | None = None,
    header_map: dict[str, str] | None = None,
    encoding: str = "auto",
    sheets: Mapping[str, str] | None = None,
    share: Share | None = None,
) -> Caseload:
    """Read and validate a caseload. `cases` may be a CSV file, an .xlsx workbook (holding the
    sheets cases, measures, contacts, or those `sheets` names) or a folder with
    cases.csv/measures.csv/contacts.csv. `encoding` is that of CSV files: auto, utf-8 or cp1252.

    The returned caseload's `held` names the cases whose row was left out for an error (and
    `held_unknown` says one such row had no readable case_id): see `Caseload`. With `share`,
    only that share of the cases is read, with its measures, contacts and row errors (`Share`)."""
    reading = _Reading(SourceOptions(encoding, dict(sheets or {})), header_map or {}, share)
    cases = Path(cases)
    paths = _table_paths(cases, measures, contacts)
    with gc_frozen(), contextlib.closing(reading.books):
        case_rows, bad_ids, label = _read_cases(reading, paths["cases"])
        children: dict[str, dict[str, list[Any]]] = {}
        for t in ("measures", "contacts"):
            p = paths[t]
            if p is None:
                children[t] = {}
                continue
            required = not is_workbook(p) or p != cases
            children[t] = _read_children(reading, p, t, required, case_rows, bad_ids, label)
        return Caseload(
            cases=_build_cases(case_rows, children),
            errors=reading.errors,
            files=reading.files,
            held={cid for cid in bad_ids if cid is not None and cid not in case_rows},
            held_unknown=None in bad_ids,
        )


def _table_paths(
    cases: Path, measures: Path | str | None, contacts: Path | str | None
) -> dict[str, Path | None]:
    """The file of each table: as given; from a folder, cases.csv/.xlsx and the tables not
    given; from a workbook, the tables not given are its sheets."""
    paths: dict[str, Path | None] = {
        "cases": cases,
        "measures": Path(measures) if measures else None,
        "contacts": Path(contacts) if contacts else None,
    }
    if cases.is_dir():
        for t in TABLES:
            if t == "cases" or paths[t] is None:
                hits = [cases / f"{t}{ext}" for ext in (".csv", ".xlsx")]
                hit = next((h for h in hits if h.exists()), None)
                if hit is None and t == "cases":
                    raise SourceError(f"{cases}: folder holds no cases.csv or cases.xlsx")
                paths[t] = hit
    elif is_workbook(cases):
        for t in ("measures", "contacts"):
            if paths[t] is None:
                paths[t] = cases
    return paths


def _read_cases(reading: _Reading, path: Path) -> tuple[CaseRows, set[str | None], str]:
    """The valid case rows by case id, the ids of rejected ones (None for a rejected row
    without a readable case_id), and the cases file's label. A duplicate row is not counted
    as rejected: the case is planned from its first row."""
    # case ids whose row had errors: their measures and contacts are left out quietly, the
    # case's own error already says why.
    bad_ids: set[str | None] = set()
    raw = reading.open(path, "cases")  # never None: a required table that is missing raises
    label, errors = raw.label, reading.errors
    case_rows: CaseRows = {}
    left_out: dict[str, int] = {}  # first row of a case left out for its extension
    for numbers, values in reading.rows(raw, "cases", Case, bad_ids):
        ids, months = values[0], values[_EXTENSION_MONTHS]
        made = map(Case, *values, numbers)
        if (
            len(set(ids)) == len(ids)
            and case_rows.keys().isdisjoint(ids)
            and left_out.keys().isdisjoint(ids)
            and months.count(None) == len(months)
        ):  # the common segment: no case twice, no extension
            case_rows.update(zip(ids, made, strict=True))
            continue
        for n, cid, case in zip(numbers, ids, made, strict=True):
            first = case_rows.get(cid)
            first_row = first.row if first is not None else left_out.get(cid)
            if first_row is not None:
                message = f"case {cid} appears twice (first in row {first_row})"
                errors.append(RowError(label, n, "case_id", message))
                continue
            if case.extension_months is not None and not case.extension_reason:
                message = "an extension needs its documented reason (extension_reason is empty)"
                errors.append(RowError(label, n, "extension_reason", message))
                bad_ids.add(cid)
                left_out[cid] = n
                continue
            case_rows[cid] = case
    return case_rows, bad_ids, label


def _read_children(
    reading: _Reading,
    path: Path,
    table: str,
    required: bool,
    case_rows: CaseRows,
    bad_ids: set[str | None],
    cases_label: str,
) -> dict[str, list[Any]]:
    """The measures or contacts of `table`, grouped by case id."""
    target = Measure if table == "measures" else Contact
    raw = reading.open(path, table, required)
    if raw is None:
        return {}
    label, errors = raw.label, reading.errors
    by_case: defaultdict[str, list[Any]] = defaultdict(list)
    for numbers, values in reading.rows(raw, table, target):
        try:
            # Each row's case id replaced by its case's own: the rows' copies would add a string
            # per measure and contact (~150 MB at a million cases).
            values[0] = list(map(_case_id, map(case_rows.__getitem__, values[0])))
        except KeyError:  # a row of an unknown case: the segment's rows are taken one by one
            pass
        else:
            if target is Contact:  # the common segment: each contact appended to its case's list, in C
                ids = values[0]
                deque(map(list.append, map(by_case.__getitem__, ids), map(Contact, *values, numbers)), 0)
                continue
        for n, args in zip(numbers, zip(*values, strict=True), strict=True):
            cid = args[0]
            if cid not in case_rows:
                if cid not in bad_ids:
                    errors.append(RowError(label, n, "case_id", f"no case {cid} in {cases_label}"))
                continue
            item = Contact(*args, n) if target is Contact else _measure(n, args, label, errors)
            if item is not None:
                by_case[cid].append(item)
    return by_case


def _build_cases(cases: CaseRows, children: dict[str, dict[str, list[Any]]]) -> list[Case]:
    """The cases, each given its measures and contacts: set here, once, while the caseload is
    built (a `Case` is not changed after reading). A case is made when its row is read, so that
    a million rows are never held twice, as cells and as cases. A loop per field: an attribute
    named in the code is set several times faster than by `setattr` (a 50,000-case share:
    27 -> 20 ms)."""
    by_case = children["measures"]
    for cid, items in by_case.items():
        cases[cid].measures = tuple(items)
    by_case.clear()
    by_case = children["contacts"]
    for cid, items in by_case.items():
        cases[cid].contacts = tuple(items)
    by_case.clear()
    return list(cases.values())


def _measure(n: int, args: tuple[Any, ...], label: str, errors: list[RowError]) -> Measure | None:
    """A measure, or None (and a row error) when it ends before it starts."""
    start, end, ae = args[_START], args[_END], args[_ACTUAL_END]
    if end < start:
        errors.append(RowError(label, n, "end", f"end {end} lies before start {start}"))
        return None
    if ae is not None and ae < start:
        errors.append(RowError(label, n, "actual_end", f"actual_end {ae} lies before start {start}"))
        return None
    return Measure(*args, n)
