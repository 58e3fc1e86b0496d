"""A CSV file's rows of one share read line by line (formats/csvfile `share_rows`) are the rows
the csv module parses whose case_id cell falls in that share (`share_of`), with the same numbers
and cells; a file that cannot be read so is parsed by the csv module."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from kontaktsync.sync.caseload import Share, read_caseload
from kontaktsync.sync.caseload.formats import csvfile
from kontaktsync.sync.caseload.formats.csvfile import read_csv
from kontaktsync.sync.caseload.raw import share_of

CELLS = [
    "4711",
    " 4711 ",
    "4711\t",
    "A-1",
    "Ä-ß",
    "🙂",
    "",
    " ",
    "x;y",
    "NUL\x00",
    "\u00a0N\u00a0",
    "L" * 300,
    "L" * 10_001,  # longer than a cell may be
    # what str.splitlines would break a line at, and the csv module does not
    "v\x0bf\x0c",
    "\x1c\x1d\x1e",
    "\x85",
    "\u2028\u2029",
    "\ufeff",
]


def _parsed_share(path: Path, at: int, index: int, count: int, encoding: str) -> list[tuple[int, list[str]]]:
    """What the csv module reads, chosen and cleaned as the row loop does (blank rows left out)."""
    raw = read_csv(path, encoding)
    out = []
    for n, cells in raw.rows:
        if any(cells) and share_of(cells[at] if at < len(cells) else "", count) == index:
            out.append((n, raw.clean(cells) if raw.clean else cells))
    return out


def _random_file(rnd: random.Random, path: Path, delimiter: str, ends: list[str], encoding: str) -> int:
    """A CSV file without quotes: random cells, short and long rows, blank lines; the width."""
    width = rnd.randint(1, 6)
    lines = [delimiter.join(f"col{i}" for i in range(width))]
    for _ in range(rnd.randint(0, 120)):
        r = rnd.random()
        if r < 0.05:
            lines.append("")
        else:
            cells = [rnd.choice(CELLS).replace(delimiter, "") for _ in range(rnd.randint(1, width + 2))]
            lines.append(delimiter.join(cells))
    text = "".join(line + rnd.choice(ends) for line in lines)
    text = text if rnd.random() < 0.7 else text.rstrip("\r\n")
    data = text.encode(encoding, "replace")
    if rnd.random() < 0.5:  # a byte its encoding does not know, somewhere in a line
        at = rnd.randint(0, len(data))
        at = data.rfind(b"\n", 0, at) + 1 if b"\n" in data[:at] else at
        data = data[:at] + (b"\x81" if encoding == "cp1252" else b"\xff") + data[at:]
    if rnd.random() < 0.2:
        data = b"\xef\xbb\xbf" + data if encoding == "utf-8" else data  # a BOM
    path.write_bytes(data)
    return width


@pytest.mark.parametrize("seed", range(40))
def test_the_rows_of_a_share_are_those_the_csv_module_parses(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rnd = random.Random(seed)
    monkeypatch.setattr(csvfile, "BLOCK", rnd.choice([1, 2, 7, 50, csvfile.BLOCK]))  # blocks end anywhere
    path = tmp_path / "t.csv"
    delimiter = rnd.choice([",", ";"])
    encoding = rnd.choice(["utf-8", "cp1252"])
    ends = rnd.choice([["\n"], ["\r\n"], ["\r\n"], ["\r"], ["\n", "\r\n"], ["\n", "\r\n", "\r"]])
    width = _random_file(rnd, path, delimiter, ends, encoding)
    read_as = rnd.choice(["auto", encoding])
    raw = read_csv(path, read_as)
    assert raw.share_rows is not None
    for count in (1, 2, 3):
        for at in range(width):
            for index in range(count):
                mine = [(n, cells) for n, cells in raw.share_rows(at, index, count) if any(cells)]
                assert mine == _parsed_share(path, at, index, count, read_as), (count, at, index)


@pytest.mark.parametrize(
    "body",
    [
        b'case_id,name\r\n1,"a, b"\r\n2,c\r\n',  # a quoted cell
        b'case_id,name\n1,a "b" c\n',  # a quote inside a cell
    ],
)
def test_a_file_with_quotes_is_parsed_by_the_csv_module(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "cases.csv"
    path.write_bytes(body)
    assert read_csv(path).share_rows is None
    whole = read_caseload(path)
    shares = [read_caseload(path, share=Share(i, 2)) for i in range(2)]
    assert Counter(e for s in shares for e in s.errors) == Counter(whole.errors)
    assert {e.row for e in whole.errors} == {n for n, _ in read_csv(path).rows}  # required columns missing


@pytest.mark.parametrize(
    ("body", "rows"),
    [
        (b"case_id,name\r1,a\r2,b\r", [(2, ["1", "a"]), (3, ["2", "b"]), (4, [""])]),  # lone CRs end records
        (b"case_id,name\r\n1,a\n2,b\r\n", [(2, ["1", "a"]), (3, ["2", "b"]), (4, [""])]),  # line ends mixed
        (b"case_id,name\n1,a\rb\n", [(2, ["1", "a"]), (3, ["b"]), (4, [""])]),  # a CR inside a line
        (b"case_id,name\r\n1,a\r\r\n2\n\r", [(2, ["1", "a"]), (3, [""]), (4, ["2"]), (5, [""]), (6, [""])]),
    ],
)
def test_every_line_end_the_csv_module_knows_ends_a_row(
    tmp_path: Path, body: bytes, rows: list[tuple[int, list[str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for block in (1, 3, csvfile.BLOCK):
        monkeypatch.setattr(csvfile, "BLOCK", block)
        path = tmp_path / "cases.csv"
        path.write_bytes(body)
        got = sorted(r for i in range(2) for r in read_csv(path).share_rows(0, i, 2))  # type: ignore[union-attr]
        assert got == rows, block
        parsed = [(n, cells or [""]) for n, cells in read_csv(path).rows]  # the csv module's [] is a blank
        assert [r for r in got if r[0] <= len(parsed) + 1] == parsed


def test_a_plain_file_is_read_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"name;case_id\r\nA; 7 \r\n\r\nB\r\nC;8;extra\r\n")
    raw = read_csv(path)
    rows = [r for i in range(2) for r in raw.share_rows(1, i, 2)]  # type: ignore[union-attr]
    # blank lines (3, and 6 after the last line end) are the row loop's to leave out
    assert sorted(rows) == [(2, ["A", " 7 "]), (3, [""]), (4, ["B"]), (5, ["C", "8", "extra"]), (6, [""])]


def test_a_share_of_a_plain_caseload_is_read_line_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`read_rows` takes the rows `share_rows` picks (the others are never parsed), and reads
    the same share as from the csv module's rows."""
    (tmp_path / "cases.csv").write_text(
        "case_id,counsellor,status,profile,registration_date\r\n"
        + "".join(f" {n} ,vfk001,arbeitslos,marktnah,2026-01-05\r\n" for n in range(100, 160)),
        encoding="utf-8",
    )
    (tmp_path / "contacts.csv").write_text(
        "date,channel,outcome,case_id\n"
        + "".join(f"2026-10-01,persoenlich,erschienen,{n}\n" for n in range(100, 170)),
        encoding="utf-8",
    )
    picked: list[int] = []  # blocks whose lines a share's rows were picked from
    real = csvfile._picker

    def counting(*args: Any) -> Any:
        pick = real(*args)

        def counted(*block: Any) -> Any:
            picked.append(1)
            return pick(*block)

        return counted

    shares = []
    for share_rows in (True, False):
        monkeypatch.setattr(csvfile, "_picker", counting)
        if not share_rows:  # the csv module's rows, filtered by the row loop
            monkeypatch.setattr(csvfile, "_share_rows", lambda *a: None)
        shares.append([read_caseload(tmp_path, share=Share(i, 2)) for i in range(2)])
    assert len(picked) == 4  # cases.csv and contacts.csv, each in two shares
    assert shares[0] == shares[1]
    assert sorted(len(s.cases) for s in shares[0]) != [0, 60]  # both shares hold cases
    assert sum(len(s.errors) for s in shares[0]) == 10  # contacts of no case: each once
