"""Test helpers: write small caseloads as real CSV files and plan them through the reader."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

from kontaktsync.rules.engine import plan
from kontaktsync.rules.model import Obligation, Plan
from kontaktsync.rules.policy import load_policy
from kontaktsync.sync.caseload import read_caseload

CASE_DEFAULTS = {"counsellor": "m.mueller", "status": "arbeitslos", "profile": "marktprofil"}


def write_csv(path: Path, rows: list[dict[str, Any]], delimiter: str = ",", bom: bool = False) -> Path:
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, delimiter=delimiter)
        w.writeheader()
        w.writerows(rows)
    return path


def write_caseload(
    folder: Path,
    cases: list[dict[str, Any]],
    measures: list[dict[str, Any]] | None = None,
    contacts: list[dict[str, Any]] | None = None,
) -> dict[str, Path]:
    """Write cases (filled with defaults), measures and contacts; return their paths."""
    full = [{"case_id": str(i + 1), **CASE_DEFAULTS, **c} for i, c in enumerate(cases)]
    paths = {"cases": write_csv(folder / "cases.csv", full)}
    if measures:
        paths["measures"] = write_csv(folder / "measures.csv", measures)
    if contacts:
        paths["contacts"] = write_csv(folder / "contacts.csv", contacts)
    return paths


def plan_rows(
    folder: Path,
    policy: str,
    as_of: str | date,
    cases: list[dict[str, Any]],
    measures: list[dict[str, Any]] | None = None,
    contacts: list[dict[str, Any]] | None = None,
) -> Plan:
    paths = write_caseload(folder, cases, measures, contacts)
    caseload = read_caseload(paths["cases"], paths.get("measures"), paths.get("contacts"))
    day = as_of if isinstance(as_of, date) else date.fromisoformat(as_of)
    return plan(caseload, load_policy(policy), day)


def only(result: Plan, case_id: str = "1", kind: str | None = None) -> Obligation:
    """The single obligation of a case (of a kind); fails loudly when there are more or none."""
    found = [o for o in result.obligations if o.case_id == case_id and (kind is None or o.kind == kind)]
    assert len(found) == 1, f"expected one obligation for case {case_id} ({kind}), got {found}"
    return found[0]


def kontaktsync_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed console script as a user would."""
    exe = Path(sys.executable).with_name("kontaktsync")
    cmd = (
        [str(exe)]
        if exe.exists()
        else [sys.executable, "-c", "from kontaktsync.sync.cli import main; main()"]
    )
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120, check=False
    )
