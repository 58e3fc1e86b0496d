"""CSV files: encoding detection, the separator, bad bytes as unreadable cells."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from itertools import chain, compress, count, repeat
from operator import add, itemgetter, methodcaller
from pathlib import Path
from typing import Any, Literal, get_args

from kontaktsync.sync.caseload.errors import SourceError
from kontaktsync.sync.caseload.raw import MAX_CELL_CHARS, RawTable, Unreadable, too_long

Encoding = Literal["auto", "utf-8", "cp1252"]
ENCODINGS: tuple[str, ...] = get_args(Encoding)
ENCODING_NAMES = {"utf-8": "UTF-8", "cp1252": "Windows-1252"}

_BOM = b"\xef\xbb\xbf"
BLOCK = 1 << 20  # bytes of a file decoded at a time to pick a share's rows (`_share_rows`)
# decoding with "surrogateescape" keeps each undecodable byte b as the lone surrogate U+DC00+b
_ESCAPED = re.compile("[\udc80-\udcff]")


def decode(path: Path, data: bytes, encoding: str) -> tuple[str, str, bool]:
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


def cleaner(encoding: str, escaped: bool) -> Callable[[list[str]], list[Any]]:
    """A record's cells made readable (`RawTable.clean`): a record whose cells can all be read
    as it is, else `unreadable_cells` of it."""

    def clean(record: list[str]) -> list[Any]:
        joined = "".join(record)
        if (
            "\x00" not in joined
            and len(joined) <= MAX_CELL_CHARS
            and not (escaped and _ESCAPED.search(joined))
        ):
            return record
        return unreadable_cells(record, encoding, escaped)

    return clean


def unreadable_cells(record: list[str], encoding: str, escaped: bool) -> list[Any]:
    """`record` with each cell that cannot be read replaced by an `Unreadable`."""
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
            out.append(too_long(cell, " (is a closing quote missing?)"))
        else:
            out.append(cell)
    return out


def _printable(cell: str) -> str:
    """A header cell as a message may show it: undecodable bytes and NUL as U+FFFD."""
    return _ESCAPED.sub("\ufffd", cell).replace("\x00", "\ufffd")


def _read_bytes(path: Path) -> bytes:
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
    return data


def read_csv(path: Path, encoding: str = "auto") -> RawTable:
    """The rows of a CSV file, separated by `;` or `,` (whichever the header holds more of)."""
    data = _read_bytes(path)
    text, encoding, escaped = decode(path, data, encoding)
    first = text.split("\n", 1)[0].split("\r", 1)[0]  # the header row: a CR ends it too
    if "\x00" in first:
        raise SourceError(f"{path}: not a CSV file (it holds binary data)")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    # The whole file is in memory already, so no field can be larger than it; long fields are
    # checked per cell below (MAX_CELL_CHARS) and reported as row errors. The limit is global
    # to the csv module and only ever raised here.
    if csv.field_size_limit() <= len(text):
        csv.field_size_limit(len(text) + 1)
    check = escaped or "\x00" in text or len(text) > MAX_CELL_CHARS
    # The rows are parsed from the bytes, decoded a block at a time as `text` was (the same
    # characters): an io.StringIO of `text` would hold the file a third time, at 4 bytes a
    # character. `text` itself is dropped when this function returns.
    body = data[len(_BOM) :] if data.startswith(_BOM) else data
    lines = io.TextIOWrapper(io.BytesIO(body), encoding=encoding, errors=_errors(escaped), newline="")
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise SourceError(f"{path}: the header row cannot be read as CSV ({exc})") from None
    if not header or not any(h.strip() for h in header):
        raise SourceError(f"{path}: no header row (the first row must name the columns)")
    header = [_printable(h) for h in header]

    def rows() -> Iterator[tuple[int, list[Any]]]:
        n = 1
        try:
            for n, record in enumerate(reader, start=2):
                yield n, record
        except csv.Error as exc:
            raise SourceError(f"{path}: row {n + 1} cannot be read as CSV ({exc})") from None

    clean = cleaner(encoding, escaped)
    # a file with quotes has no share_rows: its rows are parsed
    share_rows = None if b'"' in body else _share_rows(body, encoding, escaped, delimiter, clean)
    return RawTable(path.name, header, rows(), clean if check else None, share_rows)


def _errors(escaped: bool) -> str:
    """How a file's bytes are decoded: undecodable ones kept (`decode`), or none expected."""
    return "surrogateescape" if escaped else "strict"


def _share_rows(
    body: bytes, encoding: str, escaped: bool, delimiter: str, clean: Callable[[list[str]], list[Any]]
) -> Callable[[int, int, int], Iterator[tuple[int, list[Any]]]]:
    """`RawTable.share_rows` of a CSV file without quotes. It is read line by line: there a
    record is a line (ended by CR LF, CR or LF) and a cell what lies between two separators, as
    the csv module reads it. The rows of one share are found by their case_id cell, picked and
    hashed in C (`map`), and only those are split into cells, so that a process of `plan --jobs`
    does not parse the other shares' rows. The file is decoded a block of lines at a time (its
    bytes are kept anyway), so that its text is never held whole; the bytes it is cut at are
    ASCII, which mean the same in UTF-8 and Windows-1252."""

    def share_rows(at: int, index: int, shares: int) -> Iterator[tuple[int, list[Any]]]:
        pick = _picker(delimiter, at, index, shares, clean)
        blocks = _blocks(body, encoding, escaped)
        return chain.from_iterable(pick(n, lines, suspect) for n, lines, suspect in blocks)

    return share_rows


def _blocks(body: bytes, encoding: str, escaped: bool) -> Iterator[tuple[int, list[str], bool]]:
    """The lines after the header of `body`, a block of about BLOCK bytes at a time: the number
    of the block's first line, its lines, and whether a line may hold a cell that cannot be read
    (a NUL, an undecodable byte, a line longer than a cell may be)."""
    n, start, errors = 1, 0, _errors(escaped)
    while True:
        stop = body.find(b"\n", start + BLOCK)  # a block ends with a line's end
        end = len(body) if stop < 0 else stop + 1
        text = body[start:end].decode(encoding, errors)
        lines = _lines(text)
        if stop >= 0:
            lines.pop()  # what follows the block's last line end: the next block's
        suspect = "\x00" in text or bool(escaped and _ESCAPED.search(text))
        del text
        suspect = suspect or max(map(len, lines), default=0) > MAX_CELL_CHARS
        count = len(lines)
        if n == 1:
            del lines[0]  # the header
        yield n + 1 if n == 1 else n, lines, suspect
        if stop < 0:
            return
        n, start = n + count, end


def _lines(text: str) -> list[str]:
    """`text` cut into lines where the csv module ends a record outside quotes: at CR LF, at a
    lone CR and at a lone LF. All line ends alike (LF, or CR LF as Excel writes) is one split."""
    if "\r" not in text:
        return text.split("\n")
    lines = text.split("\r\n")
    if text.count("\r") == text.count("\n") == len(lines) - 1:
        return lines
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _picker(
    delimiter: str, at: int, index: int, shares: int, clean: Callable[[list[str]], list[Any]]
) -> Callable[[int, list[str], bool], Iterator[tuple[int, list[Any]]]]:
    """(number, cells) of the lines of a block whose cell at `at` is in share `index`
    (`share_of`), each unreadable cell an `Unreadable` (`clean`), in C. Further right than the
    first cell, a line is padded with separators, so that a short row's missing cell is "", as
    the row loop reads it."""
    pad = repeat(delimiter * at)
    cut = methodcaller("split", delimiter, at + 1) if at else methodcaller("partition", delimiter)
    take, mine, split = itemgetter(at), index.__eq__, methodcaller("split", delimiter)

    def pick(first: int, lines: list[str], suspect: bool) -> Iterator[tuple[int, list[Any]]]:
        cells = map(take, map(cut, map(add, lines, pad) if at else lines))
        chosen = list(map(mine, map(shares.__rmod__, map(hash, map(str.strip, cells)))))
        rows = map(split, compress(lines, chosen))
        numbers = compress(count(first), chosen)
        return zip(numbers, map(clean, rows) if suspect else rows, strict=True)

    return pick
