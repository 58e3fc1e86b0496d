"""The plan for machines: `plan --format json` (the contract of docs/index.md) and `--format csv`.

The JSON is byte for byte what `json.dumps(plan.to_json(), ensure_ascii=False, indent=2)` gives
(tests/test_plan_identical.py), but made by orjson and written a slice of items at a time, so
the document never sits in memory whole (and never twice: as objects and as text). orjson's
OPT_INDENT_2 indents as `json.dumps(indent=2)` does; a slice of a list dumped at the top level
is moved to its depth in the document by indenting every line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from typing import Any, BinaryIO, TextIO, TypeVar

import orjson
from kontaktsync.rules.model import OBLIGATION_FIELDS, Obligation, Plan
from kontaktsync.sync.report.spreadsheet import SafeCsvWriter

CSV_FIELDS = list(OBLIGATION_FIELDS)
SLICE = 4096  # items dumped at a time: large enough for orjson's speed, small for memory

T = TypeVar("T")


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2)


def _write_list(out: BinaryIO, items: Sequence[T], to_json: Callable[[T], Any]) -> None:
    """`items` as the value of a key of the top-level object (depth 1 of the document)."""
    if not items:
        out.write(b"[]")
        return
    out.write(b"[\n")
    it = iter(items)
    first = True
    while chunk := [to_json(i) for i in islice(it, SLICE)]:
        text = _dumps(chunk)[2:-2]  # without the list's own "[\n" and "\n]"
        out.write((b"  " if first else b",\n  ") + text.replace(b"\n", b"\n  "))
        first = False
    out.write(b"\n  ]")


def write_json(result: Plan, out: BinaryIO) -> None:
    """The plan as indented JSON (UTF-8, non-ASCII as it is), with a trailing newline."""
    write_json_document(out, result, lambda: _write_list(out, result.obligations, Obligation.contract))


def json_item(o: Obligation) -> bytes:
    """One obligation as `write_json` writes it in the list (without the separator): for output
    merged from several processes (sync/cli/plan_workers.py), each item made where it was
    planned. An item is a little dearer made alone than in a slice."""
    return b"    " + _dumps(o.contract()).replace(b"\n", b"\n    ")


def write_json_items(out: BinaryIO, head: Plan, items: Iterable[bytes]) -> None:
    """The document of `write_json` with the obligations as `json_item`s, in plan order; `head`
    gives the rest (as_of, policy, unmatched, errors; its obligations are not read)."""

    def obligations() -> None:
        it = iter(items)
        first = True
        while chunk := list(islice(it, SLICE)):
            out.write((b"[\n" if first else b",\n") + b",\n".join(chunk))
            first = False
        out.write(b"[]" if first else b"\n  ]")

    write_json_document(out, head, obligations)


def write_json_document(out: BinaryIO, head: Plan, obligations: Callable[[], None]) -> None:
    """The plan document; `obligations` writes the value of its key."""
    out.write(b'{\n  "as_of": ' + _dumps(head.as_of.isoformat()))
    out.write(b',\n  "policy": ' + _dumps(head.policy) + b',\n  "obligations": ')
    obligations()
    out.write(b',\n  "unmatched": ')
    _write_list(out, head.unmatched, lambda u: u.to_json())
    out.write(b',\n  "errors": ')
    _write_list(out, head.errors, lambda e: e.to_json())
    out.write(b"\n}\n")


def _csv_row(o: Obligation) -> list[Any]:
    d = o.to_json()
    return ["" if d[f] is None else str(d[f]).lower() if f == "overdue" else d[f] for f in CSV_FIELDS]


def write_csv(result: Plan, out: TextIO) -> None:
    """One row per obligation, safe to open in a spreadsheet (see SafeCsvWriter)."""
    w = SafeCsvWriter(out, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for o in result.obligations:
        w.writerow(_csv_row(o))


class _Lines(list[str]):
    write = list.append  # the csv writer writes each row in one call


def csv_lines(obligations: Iterable[Obligation]) -> list[str]:
    """The rows `write_csv` writes for `obligations`, one string each (see `json_item`)."""
    lines = _Lines()
    w = SafeCsvWriter(lines, lineterminator="\n")  # type: ignore[arg-type]  # has .write
    for o in obligations:
        w.writerow(_csv_row(o))
    return lines


def write_csv_lines(out: TextIO, lines: Iterable[str]) -> None:
    """The CSV of `write_csv` from `csv_lines`, in plan order."""
    SafeCsvWriter(out, lineterminator="\n").writerow(CSV_FIELDS)
    out.writelines(lines)
