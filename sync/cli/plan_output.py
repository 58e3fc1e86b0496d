"""The plan for machines: `plan --format json` (the contract of docs/index.md) and `--format csv`."""

from __future__ import annotations

import json
from typing import BinaryIO, TextIO

from kontaktsync.rules.model import Plan
from kontaktsync.sync.report.spreadsheet import SafeCsvWriter

CSV_FIELDS = ["case_id", "counsellor", "kind", "tag", "due", "window_start", "overdue", "rule"]


def write_json(result: Plan, out: BinaryIO) -> None:
    """The plan as indented JSON (UTF-8, non-ASCII as it is), with a trailing newline."""
    out.write((json.dumps(result.to_json(), ensure_ascii=False, indent=2) + "\n").encode("utf-8"))


def write_csv(result: Plan, out: TextIO) -> None:
    """One row per obligation, safe to open in a spreadsheet (see SafeCsvWriter)."""
    w = SafeCsvWriter(out, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for o in result.obligations:
        d = o.to_json()
        w.writerow(
            ["" if d[f] is None else str(d[f]).lower() if f == "overdue" else d[f] for f in CSV_FIELDS]
        )
