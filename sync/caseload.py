"""Reading a caseload (cases, measures, contacts) from CSV files or one Excel workbook.

Bad rows are collected as `RowError`s (file, spreadsheet row, column, a message a counsellor
understands) and left out; everything else is read. A file that cannot be read at all raises
`SourceError`, which stops the run before anything is planned or written.

The reader is written for speed: converters are chosen once per column, and the values that
repeat in every export (dates, profiles, statuses, flags) are parsed once and then looked up.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from kontaktsync.rules.dates import parse_duration
from kontaktsync.rules.model import (
    Case,
    Caseload,
    Channel,
    Contact,
    Duration,
    Measure,
    Outcome,
    Profile,
    RowError,
    Status,
    Team,
)

TABLES = ("cases", "measures", "contacts")


class SourceError(Exception):
    """A caseload file that cannot be read at all: nothing is planned, nothing is written."""


# -- value converters ------------------------------------------------------------------------


class Blank(ValueError):
    """A cell holding only white space: read as empty."""


# Each takes the raw cell (str, or a native value from Excel) and returns the value or raises
# ValueError with the message for the counsellor.


def _norm_key(raw: str) -> str:
    s = raw.strip().lower().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    s = s.replace("ß", "ss")
    return re.sub(r"[\s\-]+", "_", s)


def _enum_table(enum: Any, aliases: dict[str, str]) -> dict[str, Any]:
    table = {_norm_key(m.value): m for m in enum}
    table.update({_norm_key(k): enum(v) for k, v in aliases.items()})
    return table


_STATUS = _enum_table(
    Status,
    {
        "lo": "arbeitslos",
        "asu": "arbeitsuchend",
        "ohne": "ohne_status",
        "arbeitssuchend": "arbeitsuchend",
        "ohne status": "ohne_status",
    },
)
_PROFILE = _enum_table(Profile, {"nicht marktnah": "nicht_marktnah", "i": "I", "z": "Z", "integriert": "I"})
_TEAM = _enum_table(
    Team,
    {
        "selbstaendige": "selbststaendige",
        "fm": "fallmanagement",
        "bfm": "fallmanagement",
        "50+": "50plus",
    },
)
_CHANNEL = _enum_table(Channel, {"telefon": "telefonisch", "tel": "telefonisch"})
_OUTCOME = _enum_table(Outcome, {})
_TRUE = {"true", "ja", "1", "x", "j", "yes", "y", "wahr"}
_FALSE = {"false", "nein", "0", "n", "no", "falsch"}
_GERMAN_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")


def _lookup(table: dict[str, Any], what: str) -> Callable[[Any], Any]:
    cache: dict[str, Any] = {}

    def conv(raw: Any) -> Any:
        hit = cache.get(raw)
        if hit is not None:
            return hit
        key = _norm_key(str(raw))
        value = table.get(key)
        if value is None:
            if not key:
                raise Blank
            raise ValueError(f"unknown {what} '{str(raw).strip()}'")
        cache[raw] = value
        return value

    return conv


# Dates outside this range are typing errors (2062 for 2026) and would overflow the arithmetic.
EARLIEST = date(1900, 1, 1)
LATEST = date(2199, 12, 31)


def _date_converter() -> Callable[[Any], date]:
    cache: dict[Any, date] = {}

    def conv(raw: Any) -> date:
        hit = cache.get(raw)
        if hit is not None:
            return hit
        if isinstance(raw, datetime):
            value = raw.date()
        elif isinstance(raw, date):
            value = raw
        else:
            s = str(raw).strip()
            if not s:
                raise Blank
            try:
                if len(s) == 10 and s[4] == "-":
                    value = date.fromisoformat(s)
                else:
                    m = _GERMAN_DATE.match(s)
                    if not m:
                        raise ValueError
                    value = date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
            except ValueError:
                if re.match(r"^\d{4}-\d{2}-\d{2}$|^\d{1,2}\.\d{1,2}\.\d{4}$", s):
                    raise ValueError(f"'{s}' is not a date that exists") from None
                raise ValueError(f"'{s}' is not a date (write YYYY-MM-DD or DD.MM.YYYY)") from None
        if not EARLIEST <= value <= LATEST:
            raise ValueError(f"{value:%d.%m.%Y} lies outside {EARLIEST.year}-{LATEST.year}; is it mistyped?")
        cache[raw] = value
        return value

    return conv


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float):
        if raw in (0, 1):
            return bool(raw)
    else:
        s = str(raw).strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
        if not s:
            raise Blank
    raise ValueError(f"'{raw}' is not yes or no (write true/false, ja/nein, 1/0 or x)")


def _to_text(raw: Any) -> str:
    if type(raw) is str:
        s = raw.strip()
        if s:
            return s
        raise Blank
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    s = str(raw).strip()
    if not s:
        raise Blank
    return s


@cache
def _to_duration(raw: Any) -> Duration:
    if not str(raw).strip():
        raise Blank
    return parse_duration(str(raw))


def _to_months(raw: Any) -> int:
    if not str(raw).strip():
        raise Blank
    try:
        value = float(str(raw).strip().replace(",", "."))
    except ValueError:
        raise ValueError(f"'{raw}' is not a whole number of months") from None
    if not value.is_integer() or not 1 <= value <= 6:
        raise ValueError(f"extension_months must be a whole number from 1 to 6, not '{raw}'")
    return int(value)


@dataclass(frozen=True)
class Column:
    name: str
    convert: Callable[[Any], Any]
    required: bool = False


def _columns(table: str) -> list[Column]:
    """Fresh converters per read, so the per-column caches never outlive one caseload."""
    d = _date_converter()
    if table == "cases":
        return [
            Column("case_id", _to_text, True),
            Column("counsellor", _to_text, True),
            Column("birth_date", d),
            Column("status", _lookup(_STATUS, "status"), True),
            Column("profile", _lookup(_PROFILE, "profile"), True),
            Column("team", _lookup(_TEAM, "team")),
            Column("registration_date", d),
            Column("last_contact", d),
            Column("non_activation_end", d),
            Column("profile_since", d),
            Column("buergerarbeit", _to_bool),
            Column("umschueler", _to_bool),
            Column("individual_interval", _to_duration),
            Column("extension_months", _to_months),
            Column("extension_reason", _to_text),
            Column("care_plan_created", d),
            Column("care_plan_valid_until", d),
            Column("needs_interpreter", _to_bool),
            Column("display_name", _to_text),
        ]
    if table == "measures":
        return [
            Column("case_id", _to_text, True),
            Column("measure_id", _to_text),
            Column("kind", _to_text),
            Column("start", d, True),
            Column("end", d, True),
            Column("actual_end", d),
            Column("qualifying", _to_bool),
            Column("follow_up_measure", _to_bool),
            Column("job_start", _to_bool),
            Column("completion_date", d),
        ]
    return [
        Column("case_id", _to_text, True),
        Column("date", d, True),
        Column("channel", _lookup(_CHANNEL, "channel"), True),
        Column("outcome", _lookup(_OUTCOME, "outcome")),
    ]


# -- raw tables ------------------------------------------------------------------------------


@dataclass
class RawTable:
    label: str  # the name errors give: cases.csv, or caseload.xlsx:cases
    header: list[str]
    rows: Iterable[tuple[int, list[Any]]]  # (spreadsheet row number, cells)


def _csv_table(path: Path) -> RawTable:
    label = path.name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SourceError(f"{path}: file not found") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourceError(
            f"{path}: not a UTF-8 text file (undecodable byte in line {line}); "
            "export it as CSV UTF-8 or as .xlsx"
        ) from None
    if "\x00" in text:
        raise SourceError(f"{path}: not a CSV file (it holds binary data)")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise SourceError(f"{path}: the header row cannot be read as CSV ({exc})") from None
    if not header or not any(h.strip() for h in header):
        raise SourceError(f"{path}: no header row (the first row must name the columns)")

    def rows() -> Iterator[tuple[int, list[Any]]]:
        n = 1
        try:
            for record in reader:
                n += 1
                yield n, record
        except csv.Error as exc:
            raise SourceError(f"{path}: row {n + 1} cannot be read as CSV ({exc})") from None

    return RawTable(label, header, rows())


def _xlsx_sheet(path: Path, sheet: str, required: bool) -> RawTable | None:
    from openpyxl import load_workbook  # imported here: only workbooks need it

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError:
        raise SourceError(f"{path}: file not found") from None
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise SourceError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__})") from None
    names = {n.strip().lower(): n for n in wb.sheetnames}
    name = names.get(sheet)
    if name is None and required and len(wb.sheetnames) == 1:
        name = wb.sheetnames[0]
    if name is None:
        wb.close()
        if required:
            raise SourceError(f"{path}: no sheet named '{sheet}' (sheets: {', '.join(wb.sheetnames)})")
        return None
    it = wb[name].iter_rows(values_only=True)
    header_row = next(it, None)
    label = f"{path.name}:{name}"
    if not header_row or not any(h not in (None, "") for h in header_row):
        wb.close()
        raise SourceError(f"{label}: no header row (the first row must name the columns)")
    header = ["" if h is None else str(h) for h in header_row]

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for n, record in enumerate(it, start=2):
            if all(c is None or (isinstance(c, str) and not c.strip()) for c in record):
                continue  # blank row
            yield n, ["" if c is None else c for c in record]
        wb.close()

    return RawTable(label, header, rows())


def _open(path: Path, table: str, required: bool) -> RawTable | None:
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        return _xlsx_sheet(path, table, required)
    if path.suffix.lower() in {".xls", ".ods", ".numbers"}:
        raise SourceError(f"{path}: {path.suffix} files are not read; save it as .xlsx or CSV")
    return _csv_table(path)


# -- validation ------------------------------------------------------------------------------


def _header_index(
    raw: RawTable, columns: list[Column], header_map: dict[str, str]
) -> list[tuple[int, Column]]:
    mapping = {_norm_key(k): _norm_key(v) for k, v in header_map.items()}
    known = {c.name: c for c in columns}
    found: dict[str, int] = {}
    for i, h in enumerate(raw.header):
        key = _norm_key(h)
        key = mapping.get(key, key)
        if key in known and key not in found:
            found[key] = i
    if "case_id" not in found:
        hint = " (map your export's column with header_map)" if header_map is not None else ""
        raise SourceError(f"{raw.label}: no case_id column{hint}; columns are: {', '.join(raw.header)}")
    return [(found[c.name], c) for c in columns if c.name in found] + [
        (_ABSENT, c) for c in columns if c.required and c.name not in found
    ]


_ABSENT = 1 << 30  # column index of a required column the file lacks: never inside a row


def _read_rows(
    raw: RawTable,
    columns: list[Column],
    header_map: dict[str, str],
    errors: list[RowError],
    bad_ids: set[str] | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Converted rows as dicts; a row with any bad cell is reported (each cell) and skipped.
    The case ids of skipped rows go to `bad_ids`."""
    index = [(i, c.name, c.convert, c.required) for i, c in _header_index(raw, columns, header_map)]
    label = raw.label
    width = len(raw.header)
    for n, cells in raw.rows:
        if not any(cells):
            continue  # blank line
        values: dict[str, Any] = {}
        bad = False
        length = len(cells)
        for i, name, convert, required in index:
            cell = cells[i] if i < length else ""
            if cell != "":
                try:
                    values[name] = convert(cell)
                    continue
                except Blank:
                    pass
                except ValueError as exc:
                    errors.append(RowError(label, n, name, str(exc)))
                    bad = True
                    continue
            if required:
                missing = "is missing" if i != _ABSENT else "is missing (the file has no such column)"
                errors.append(RowError(label, n, name, f"required value {name} {missing}"))
                bad = True
        if len(cells) > width and any(str(c).strip() for c in cells[width:]):
            errors.append(
                RowError(label, n, raw.header[-1] or "?", f"row has {len(cells)} cells, header {width}")
            )
            bad = True
        if not bad:
            yield n, values
        elif bad_ids is not None and "case_id" in values:
            bad_ids.add(values["case_id"])


def read_caseload(
    cases: Path | str,
    measures: Path | str | None = None,
    contacts: Path | str | None = None,
    header_map: dict[str, str] | None = None,
) -> Caseload:
    """Read and validate a caseload. `cases` may be a CSV file, an .xlsx workbook (holding the
    sheets cases, measures, contacts) or a folder with cases.csv/measures.csv/contacts.csv."""
    cases = Path(cases)
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
    elif cases.suffix.lower() in {".xlsx", ".xlsm"}:
        for t in ("measures", "contacts"):
            if paths[t] is None:
                paths[t] = cases
    hm = header_map or {}
    errors: list[RowError] = []
    files: dict[str, str] = {}

    raw = _open(paths["cases"], "cases", required=True)
    files["cases"] = raw.label
    case_rows: dict[str, tuple[int, dict[str, Any]]] = {}
    seen_rows: dict[str, int] = {}
    # case ids whose row had errors: their measures and contacts are left out quietly, the
    # case's own error already says why.
    bad_ids: set[str] = set()
    for n, v in _read_rows(raw, _columns("cases"), hm, errors, bad_ids):
        cid = v["case_id"]
        if cid in seen_rows:
            errors.append(
                RowError(
                    raw.label,
                    n,
                    "case_id",
                    f"case {cid} appears twice (first in row {seen_rows[cid]})",
                )
            )
            continue
        seen_rows[cid] = n
        if "extension_months" in v and not v.get("extension_reason"):
            errors.append(
                RowError(
                    raw.label,
                    n,
                    "extension_reason",
                    "an extension needs its documented reason (extension_reason is empty)",
                )
            )
            bad_ids.add(cid)
            continue
        case_rows[cid] = (n, v)

    children: dict[str, dict[str, list[Any]]] = {"measures": {}, "contacts": {}}
    for t in ("measures", "contacts"):
        p = paths[t]
        if p is None:
            continue
        sheet = _open(p, t, required=p.suffix.lower() not in {".xlsx", ".xlsm"} or p != cases)
        if sheet is None:
            continue
        files[t] = sheet.label
        bucket = children[t]
        for n, v in _read_rows(sheet, _columns(t), hm, errors):
            cid = v["case_id"]
            if cid not in case_rows:
                if cid not in bad_ids:
                    errors.append(RowError(sheet.label, n, "case_id", f"no case {cid} in {raw.label}"))
                continue
            item = _measure(n, v, sheet.label, errors) if t == "measures" else _contact(n, v)
            if item is not None:
                bucket.setdefault(cid, []).append(item)

    result = Caseload(errors=errors, files=files)
    ms, cs = children["measures"], children["contacts"]
    for cid, (n, v) in case_rows.items():
        result.cases.append(
            Case(row=n, measures=tuple(ms.get(cid, ())), contacts=tuple(cs.get(cid, ())), **v)
        )
    return result


def _measure(n: int, v: dict[str, Any], label: str, errors: list[RowError]) -> Measure | None:
    if v["end"] < v["start"]:
        errors.append(RowError(label, n, "end", f"end {v['end']} lies before start {v['start']}"))
        return None
    ae = v.get("actual_end")
    if ae is not None and ae < v["start"]:
        errors.append(RowError(label, n, "actual_end", f"actual_end {ae} lies before start {v['start']}"))
        return None
    return Measure(row=n, **v)


def _contact(n: int, v: dict[str, Any]) -> Contact:
    return Contact(row=n, **v)
