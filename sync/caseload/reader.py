"""Reading a caseload (cases, measures, contacts) from CSV files or one Excel workbook.

Bad rows are collected as `RowError`s (file, spreadsheet row, column, a message a counsellor
understands) and left out; everything else is read. A file that cannot be read at all raises
`SourceError`, which stops the run before anything is planned or written.

The reader is written for speed: converters are chosen once per column, and the values that
repeat in every export (dates, profiles, statuses, flags) are parsed once and then looked up.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from kontaktsync.rules.dates import parse_duration
from kontaktsync.rules.engine import gc_paused
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
ENCODINGS = ("auto", "utf-8", "cp1252")
ENCODING_NAMES = {"utf-8": "UTF-8", "cp1252": "Windows-1252"}

# No cell of a caseload is longer than this; a longer one is a broken export (a stray quote
# that swallowed the rows after it, a pasted document), reported as a row error.
MAX_CELL_CHARS = 10_000
MAX_CASE_ID_CHARS = 64
MAX_COUNSELLOR_CHARS = 254


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


def describe_char(ch: str) -> str:
    """A character as a message can show it: never the raw control character itself."""
    if ch == " ":
        return "a space"
    if unicodedata.category(ch)[0] in "CZ":
        name = unicodedata.name(ch, "")
        return f"the invisible character U+{ord(ch):04X}" + (f" ({name.lower()})" if name else "")
    return f"'{ch}'"


# A counsellor names a calendar URL or a mailbox: a login or mail address, nothing else.
_LOGIN_MARKS = frozenset("._-@+")
_ASCII_LOGIN = re.compile(r"[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*")
LOGIN_RULE = (
    "write a login or mail address, with only letters, digits and . _ - @ + (not starting with '.', no '..')"
)


def _login_char(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return ch in _LOGIN_MARKS or cat[0] in "LM" or cat == "Nd"


def _to_counsellor(raw: Any) -> str:
    """A login or mail address (NFC): letters of any script, digits and `._-@+`; never `/`,
    `%`, `..`, white space or control characters, which could reach a URL or mailbox name."""
    s = _to_text(raw)
    if len(s) <= MAX_COUNSELLOR_CHARS and _ASCII_LOGIN.fullmatch(s) and ".." not in s:
        return s
    s = unicodedata.normalize("NFC", s)  # checked after: NFC turns U+037E into ';'
    if len(s) > MAX_COUNSELLOR_CHARS:
        raise ValueError(f"counsellor has {len(s)} characters, at most {MAX_COUNSELLOR_CHARS} are allowed")
    bad = next((ch for ch in s if not _login_char(ch)), None)
    if bad is not None:
        raise ValueError(f"{describe_char(bad)} is not allowed in counsellor: {LOGIN_RULE}")
    if s.startswith("."):
        raise ValueError(f"counsellor must not start with '.': {LOGIN_RULE}")
    if ".." in s:
        raise ValueError(f"'..' is not allowed in counsellor: {LOGIN_RULE}")
    return s


_PLAIN_ID = re.compile(r"[\x20-\x7e]+")
_NO_ID_CHARS = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))


def _to_case_id(raw: Any) -> str:
    """A customer number: at most 64 characters, no line breaks or other control characters
    (it is written into calendar text and hashed into UIDs with a control character as
    separator). `;`, `,`, `:` and letters of any script are carried as they are."""
    s = _to_text(raw)
    if len(s) > MAX_CASE_ID_CHARS:
        raise ValueError(f"case_id has {len(s)} characters, at most {MAX_CASE_ID_CHARS} are allowed")
    if _PLAIN_ID.fullmatch(s):
        return s
    bad = next((ch for ch in s if unicodedata.category(ch) in _NO_ID_CHARS), None)
    if bad is not None:
        raise ValueError(f"case_id holds {describe_char(bad)}; a customer number cannot hold it")
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
            Column("case_id", _to_case_id, True),
            Column("counsellor", _to_counsellor, True),
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
            Column("case_id", _to_case_id, True),
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
        Column("case_id", _to_case_id, True),
        Column("date", d, True),
        Column("channel", _lookup(_CHANNEL, "channel"), True),
        Column("outcome", _lookup(_OUTCOME, "outcome")),
    ]


# -- raw tables ------------------------------------------------------------------------------


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


@dataclass
class RawTable:
    label: str  # the name errors give: cases.csv, or caseload.xlsx:cases
    header: list[str]
    rows: Iterable[tuple[int, list[Any]]]  # (spreadsheet row number, cells)


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A cell whose bytes cannot be read (a NUL byte, a byte its encoding does not know, far
    too long). It stands in the row in place of the text, so that converting it gives a row
    error of its column like any other bad value; in a column the reader ignores it is never
    looked at."""

    message: str


_BOM = b"\xef\xbb\xbf"
# decoding with "surrogateescape" keeps each undecodable byte b as the lone surrogate U+DC00+b
_ESCAPED = re.compile("[\udc80-\udcff]")


def _decode(path: Path, data: bytes, encoding: str) -> tuple[str, str, bool]:
    """The text of a CSV file, the encoding used and whether some bytes could not be decoded
    (those are kept as lone surrogates and become row errors of their rows).

    auto: UTF-8 (with or without BOM) when the file is valid UTF-8, or mostly so (it holds at
    least as many UTF-8 umlauts as stray bytes: those are row errors, the other rows keep their
    umlauts); else Windows-1252 (German Excel's "CSV (Trennzeichen-getrennt)"), where its five
    undefined bytes are row errors."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SourceError(
            f"{path}: a UTF-16 text file, not a UTF-8 or Windows-1252 one; export it as CSV UTF-8 or as .xlsx"
        )
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
        if encoding == "auto":
            encoding = "utf-8"
    if encoding == "auto":
        try:
            return data.decode("utf-8"), "utf-8", False
        except UnicodeDecodeError:
            text = data.decode("utf-8", "surrogateescape")
        stray = len(_ESCAPED.findall(text))
        non_ascii = len(text) - len(text.encode("ascii", "ignore"))
        if non_ascii - stray >= stray:
            return text, "utf-8", True
        encoding = "cp1252"
    try:
        return data.decode(encoding), encoding, False
    except UnicodeDecodeError:
        return data.decode(encoding, "surrogateescape"), encoding, True


def _unreadable_cells(record: list[str], encoding: str, escaped: bool) -> list[Any]:
    """`record` with each cell that cannot be read replaced by an `Unreadable`."""
    joined = "".join(record)
    if "\x00" not in joined and len(joined) <= MAX_CELL_CHARS and not (escaped and _ESCAPED.search(joined)):
        return record
    out: list[Any] = []
    for cell in record:
        bad = _ESCAPED.search(cell) if escaped else None
        if "\x00" in cell:
            out.append(Unreadable("holds a NUL byte (binary data, not text); check the export"))
        elif bad is not None:
            byte = ord(bad.group()) - 0xDC00
            out.append(
                Unreadable(
                    f"holds the byte 0x{byte:02X}, which is not {ENCODING_NAMES[encoding]} text; save the "
                    "file as CSV UTF-8, or set the file's encoding (source.encoding, plan --encoding)"
                )
            )
        elif len(cell) > MAX_CELL_CHARS:
            out.append(_too_long(cell, " (is a closing quote missing?)"))
        else:
            out.append(cell)
    return out


def _too_long(cell: str, hint: str = "") -> Unreadable:
    return Unreadable(f"holds {len(cell)} characters, more than the {MAX_CELL_CHARS} a cell may hold{hint}")


def _printable(cell: str) -> str:
    """A header cell as a message may show it: undecodable bytes and NUL as U+FFFD."""
    return _ESCAPED.sub("\ufffd", cell).replace("\x00", "\ufffd")


def _csv_table(path: Path, encoding: str = "auto") -> RawTable:
    label = path.name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SourceError(f"{path}: file not found") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror})") from None
    if data.startswith(b"PK\x03\x04"):
        raise SourceError(
            f"{path}: an Excel workbook (or other zip file), not CSV; name a workbook with .xlsx at the end"
        )
    text, encoding, escaped = _decode(path, data, encoding)
    first = text.split("\n", 1)[0]
    if "\x00" in first:
        raise SourceError(f"{path}: not a CSV file (it holds binary data)")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    # The whole file is in memory already, so no field can be larger than it; long fields are
    # checked per cell below (MAX_CELL_CHARS) and reported as row errors. The limit is global
    # to the csv module and only ever raised here.
    if csv.field_size_limit() <= len(text):
        csv.field_size_limit(len(text) + 1)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise SourceError(f"{path}: the header row cannot be read as CSV ({exc})") from None
    if not header or not any(h.strip() for h in header):
        raise SourceError(f"{path}: no header row (the first row must name the columns)")
    header = [_printable(h) for h in header]
    check = escaped or "\x00" in text or len(text) > MAX_CELL_CHARS

    def rows() -> Iterator[tuple[int, list[Any]]]:
        n = 1
        try:
            for n, record in enumerate(reader, start=2):
                yield n, (_unreadable_cells(record, encoding, escaped) if check else record)
        except csv.Error as exc:
            raise SourceError(f"{path}: row {n + 1} cannot be read as CSV ({exc})") from None

    return RawTable(label, header, rows())


def _sheet_name(sheetnames: list[str], table: str, named: str | None, required: bool) -> str | None:
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


def _xlsx_sheet(path: Path, table: str, required: bool, named: str | None = None) -> RawTable | None:
    from openpyxl import load_workbook  # imported here: only workbooks need it

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError:
        raise SourceError(f"{path}: file not found") from None
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise SourceError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__})") from None
    name = _sheet_name(wb.sheetnames, table, named, required)
    if name is None:
        wb.close()
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
        wb.close()
        raise SourceError(f"{label}: no header row (the first row must name the columns)")
    header = ["" if h is None else str(h) for h in header_row]

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for n, record in enumerate(it, start=2):
            if all(c is None or (isinstance(c, str) and not c.strip()) for c in record):
                continue  # blank row
            cells = ["" if c is None else c for c in record]
            yield n, [_too_long(c) if type(c) is str and len(c) > MAX_CELL_CHARS else c for c in cells]
        wb.close()

    return RawTable(label, header, rows())


def _open(path: Path, table: str, required: bool, source: SourceOptions) -> RawTable | None:
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        return _xlsx_sheet(path, table, required, source.sheets.get(table))
    if path.suffix.lower() in {".xls", ".ods", ".numbers"}:
        raise SourceError(f"{path}: {path.suffix} files are not read; save it as .xlsx or CSV")
    return _csv_table(path, source.encoding)


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

# A converted cell that reads as empty (memo value, never a real value: converters return no None).
_BLANK = object()

Memos = dict[Callable[[Any], Any], dict[Any, Any]]


def _fields_up_to_row(cls: type) -> list[dataclasses.Field[Any]]:
    """The fields a row fills, in the order `cls` takes them positionally: `row` and what
    follows it (a case's measures and contacts) are passed after them."""
    names = [f.name for f in dataclasses.fields(cls)]
    return list(dataclasses.fields(cls)[: names.index("row")])


def _template(cls: type) -> list[Any]:
    """Positional arguments of `cls` holding each field's default (None where it has none)."""
    return [None if f.default is dataclasses.MISSING else f.default for f in _fields_up_to_row(cls)]


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


def _read_rows(
    raw: RawTable,
    columns: list[Column],
    target: type,
    header_map: dict[str, str],
    errors: list[RowError],
    memos: Memos,
    bad_ids: set[str | None] | None = None,
) -> Iterator[tuple[int, list[Any]]]:
    """Converted rows as positional arguments of `target` (up to its `row` field); a row with
    any bad cell is reported (each cell) and skipped. The case ids of skipped rows go to
    `bad_ids`, None for a skipped row whose own case_id cannot be read.

    This loop runs once per cell of the caseload, so it is kept flat: one memo look-up per
    cell, the converter only for a value the column has not seen yet."""
    fields = [f.name for f in _fields_up_to_row(target)]
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
    for n, cells in raw.rows:
        if not any(cells):
            continue  # blank line
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


def read_caseload(
    cases: Path | str,
    measures: Path | str | None = None,
    contacts: Path | str | None = None,
    header_map: dict[str, str] | None = None,
    encoding: str = "auto",
    sheets: Mapping[str, str] | None = None,
) -> Caseload:
    """Read and validate a caseload. `cases` may be a CSV file, an .xlsx workbook (holding the
    sheets cases, measures, contacts, or those `sheets` names) or a folder with
    cases.csv/measures.csv/contacts.csv. `encoding` is that of CSV files: auto, utf-8 or cp1252.

    The returned caseload's `held` names the cases whose row was left out for an error (and
    `held_unknown` says one such row had no readable case_id): see `Caseload`."""
    source = SourceOptions(encoding, dict(sheets or {}))
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
    memos: Memos = {}
    with gc_paused():
        case_rows, bad_ids, label = _read_cases(paths["cases"], hm, errors, files, memos, source)
        children: dict[str, dict[str, list[Any]]] = {}
        for t in ("measures", "contacts"):
            p = paths[t]
            if p is None:
                children[t] = {}
                continue
            required = p.suffix.lower() not in {".xlsx", ".xlsm"} or p != cases
            children[t] = _read_children(
                p, t, required, hm, errors, files, memos, case_rows, bad_ids, label, source
            )
        return Caseload(
            cases=_build_cases(case_rows, children),
            errors=errors,
            files=files,
            held={cid for cid in bad_ids if cid is not None and cid not in case_rows},
            held_unknown=None in bad_ids,
        )


# Field positions in the positional arguments `_read_rows` yields.
_CASE_FIELDS = [f.name for f in _fields_up_to_row(Case)]
_EXTENSION_MONTHS = _CASE_FIELDS.index("extension_months")
_EXTENSION_REASON = _CASE_FIELDS.index("extension_reason")
_MEASURE_FIELDS = [f.name for f in _fields_up_to_row(Measure)]
_START, _END = _MEASURE_FIELDS.index("start"), _MEASURE_FIELDS.index("end")
_ACTUAL_END = _MEASURE_FIELDS.index("actual_end")


def _read_cases(
    path: Path,
    hm: dict[str, str],
    errors: list[RowError],
    files: dict[str, str],
    memos: Memos,
    source: SourceOptions,
) -> tuple[dict[str, tuple[int, list[Any]]], set[str | None], str]:
    """The valid case rows by case id, the ids of rejected ones (None for a rejected row
    without a readable case_id), and the cases file's label. A duplicate row is not counted
    as rejected: the case is planned from its first row."""
    raw = _open(path, "cases", True, source)
    files["cases"] = raw.label
    case_rows: dict[str, tuple[int, list[Any]]] = {}
    seen_rows: dict[str, int] = {}
    # case ids whose row had errors: their measures and contacts are left out quietly, the
    # case's own error already says why.
    bad_ids: set[str | None] = set()
    for n, args in _read_rows(raw, _columns("cases"), Case, hm, errors, memos, bad_ids):
        cid = args[0]
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
        if args[_EXTENSION_MONTHS] is not None and not args[_EXTENSION_REASON]:
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
        case_rows[cid] = (n, args)
    return case_rows, bad_ids, raw.label


def _read_children(
    path: Path,
    table: str,
    required: bool,
    hm: dict[str, str],
    errors: list[RowError],
    files: dict[str, str],
    memos: Memos,
    case_rows: dict[str, tuple[int, list[Any]]],
    bad_ids: set[str | None],
    cases_label: str,
    source: SourceOptions,
) -> dict[str, list[Any]]:
    """The measures or contacts of `table`, grouped by case id."""
    sheet = _open(path, table, required, source)
    if sheet is None:
        return {}
    files[table] = sheet.label
    by_case: defaultdict[str, list[Any]] = defaultdict(list)
    target = Measure if table == "measures" else Contact
    for n, args in _read_rows(sheet, _columns(table), target, hm, errors, memos):
        cid = args[0]
        if cid not in case_rows:
            if cid not in bad_ids:
                errors.append(RowError(sheet.label, n, "case_id", f"no case {cid} in {cases_label}"))
            continue
        if target is Contact:
            by_case[cid].append(Contact(*args, n))
        else:
            item = _measure(n, args, sheet.label, errors)
            if item is not None:
                by_case[cid].append(item)
    return by_case


def _build_cases(
    case_rows: dict[str, tuple[int, list[Any]]], children: dict[str, dict[str, list[Any]]]
) -> list[Case]:
    ms, cs = children["measures"], children["contacts"]
    return [
        Case(*args, n, tuple(ms.get(cid, ())), tuple(cs.get(cid, ()))) for cid, (n, args) in case_rows.items()
    ]


def _measure(n: int, args: list[Any], label: str, errors: list[RowError]) -> Measure | None:
    start, end, ae = args[_START], args[_END], args[_ACTUAL_END]
    if end < start:
        errors.append(RowError(label, n, "end", f"end {end} lies before start {start}"))
        return None
    if ae is not None and ae < start:
        errors.append(RowError(label, n, "actual_end", f"actual_end {ae} lies before start {start}"))
        return None
    return Measure(*args, n)
