"""A generated caseload that reaches every branch of the engine, and a canonical dump of what the
engine makes of it, for the byte-identity check of tests/test_engine_golden.py.

The caseload is drawn from a seeded random generator (stable across Python versions), so the
test commits only the generator and the hashes of the dumps, not the files. `dump` writes every
field of every obligation, the case facts, unmatched reasons, errors and the explain trace of
every case: more than `plan --format json` shows, so that a change in any of them is noticed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections.abc import Mapping
from dataclasses import fields
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from kontaktsync.rules.engine import explain, plan
from kontaktsync.rules.policy import load_policy
from kontaktsync.sync.caseload import read_caseload

PROFILES = [
    "marktprofil",
    "aktivierungsprofil",
    "foerderprofil",
    "entwicklungsprofil",
    "stabilisierungsprofil",
    "unterstuetzungsprofil",
    "marktnah",
    "nicht_marktnah",
    "I",
    "Z",
]
TEAMS = ["standard"] * 6 + ["fallmanagement", "50plus", "bjo", "selbststaendige", "reha"]
STATUSES = ["arbeitslos", "arbeitslos", "arbeitsuchend", "ohne_status"]
CHANNELS = ["persoenlich", "persoenlich", "telefonisch", "video", "schriftlich"]
OUTCOMES = ["erschienen"] * 6 + ["nicht_erschienen", "abgesagt"]
CASE_COLUMNS = [
    "case_id",
    "counsellor",
    "birth_date",
    "status",
    "profile",
    "team",
    "registration_date",
    "last_contact",
    "non_activation_end",
    "profile_since",
    "buergerarbeit",
    "umschueler",
    "individual_interval",
    "extension_months",
    "extension_reason",
    "care_plan_created",
    "care_plan_valid_until",
    "needs_interpreter",
    "display_name",
]
MEASURE_COLUMNS = [
    "case_id",
    "measure_id",
    "kind",
    "start",
    "end",
    "actual_end",
    "qualifying",
    "follow_up_measure",
    "job_start",
    "completion_date",
]


def _day(rnd: random.Random, around: date, lo: int, hi: int) -> str:
    return (around + timedelta(days=rnd.randint(lo, hi))).isoformat()


def _maybe(rnd: random.Random, share: float, value: str) -> str:
    return value if rnd.random() < share else ""


def _case(rnd: random.Random, i: int, as_of: date) -> list[str]:
    profile = rnd.choice(PROFILES)
    extension = rnd.random() < 0.08
    return [
        str(500_000 + i),
        f"vfk{i % 7}",
        _maybe(rnd, 0.9, _day(rnd, as_of, -67 * 365, -15 * 365)),
        rnd.choice(STATUSES),
        profile,
        rnd.choice(TEAMS),
        _maybe(rnd, 0.9, _day(rnd, as_of, -1200, 0)),
        _maybe(rnd, 0.6, _day(rnd, as_of, *((1, 3) if rnd.random() < 0.03 else (-400, 0)))),
        _maybe(rnd, 0.7 if profile == "Z" else 0.05, _day(rnd, as_of, -60, 400)),
        _maybe(rnd, 0.5, _day(rnd, as_of, -900, 0)),
        _maybe(rnd, 0.05, "ja"),
        _maybe(rnd, 0.05, "ja"),
        rnd.choice(["", "", "", "6W", "2M", "14D", "3M"]),
        str(rnd.randint(1, 6)) if extension else "",
        "Krankheit" if extension else "",
        _maybe(rnd, 0.3, _day(rnd, as_of, -400, 0)),
        _maybe(rnd, 0.3, _day(rnd, as_of, -100, 300)),
        _maybe(rnd, 0.05, "ja"),
        f"Kunde {i}",
    ]


def _measure(rnd: random.Random, case_id: str, j: int, as_of: date) -> list[str]:
    start = as_of + timedelta(days=rnd.randint(-500, 60))
    end = start + timedelta(days=rnd.choice([13, 27, 28, 60, 90, 120, 182, 270, 365, 730]))
    actual = start + timedelta(days=rnd.randint(0, (end - start).days)) if rnd.random() < 0.15 else None
    completion = end + timedelta(days=rnd.randint(0, 60)) if rnd.random() < 0.1 else None
    qualifying = rnd.random() < 0.4
    return [
        case_id,
        _maybe(rnd, 0.8, f"M{case_id}-{j}"),
        "FbW" if qualifying else rnd.choice(["MAG", "AGH", "AVGS-MAT", ""]),
        start.isoformat(),
        end.isoformat(),
        actual.isoformat() if actual else "",
        "ja" if qualifying else "",
        _maybe(rnd, 0.1, "ja"),
        _maybe(rnd, 0.1, "ja"),
        completion.isoformat() if completion else "",
    ]


def generate(folder: Path, n: int, as_of: date, seed: int) -> tuple[Path, Path, Path]:
    """Write cases.csv, measures.csv, contacts.csv of `n` generated cases into `folder`."""
    rnd = random.Random(seed)
    cases, measures, contacts = [CASE_COLUMNS], [MEASURE_COLUMNS], [["case_id", "date", "channel", "outcome"]]
    for i in range(n):
        row = _case(rnd, i, as_of)
        cases.append(row)
        measures += [_measure(rnd, row[0], j, as_of) for j in range(rnd.choice([0, 0, 1, 1, 2, 3]))]
        for _ in range(rnd.choice([0, 1, 2, 3, 5])):
            when = _day(rnd, as_of, *((1, 4) if rnd.random() < 0.03 else (-700, 0)))
            contacts.append([row[0], when, rnd.choice(CHANNELS), rnd.choice(OUTCOMES)])
    paths = tuple(folder / f"{t}.csv" for t in ("cases", "measures", "contacts"))
    for path, rows in zip(paths, (cases, measures, contacts), strict=True):
        with path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(rows)
    return paths  # type: ignore[return-value]


def _fields(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=json.dumps) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, date):
        return value.isoformat()
    return value if value is None or isinstance(value, (bool, int, float)) else str(value)


def dump(paths: tuple[Path, Path, Path], policy_id: str, as_of: date, explained: bool = True) -> str:
    """Everything the engine says about the caseload under one policy, as canonical JSON lines
    (with the explain trace of every case unless `explained` is false)."""
    caseload = read_caseload(*paths)
    policy = load_policy(policy_id)
    result = plan(caseload, policy, as_of)
    lines = [json.dumps(_jsonable(result.to_json()), sort_keys=True)]
    lines += [json.dumps(_jsonable(_fields(o)), sort_keys=True) for o in result.obligations]
    lines += [json.dumps(_jsonable(_fields(f)), sort_keys=True) for f in result.cases.values()]
    lines.append(json.dumps(_jsonable({"held": result.held, "held_unknown": result.held_unknown})))
    for case in caseload.cases if explained else ():
        ex = explain(case, policy, as_of, caseload.files)
        shown = {
            "case": case.case_id,
            "trace": ex.trace,
            "obligations": [_fields(o) for o in ex.obligations],
            "unmatched": ex.unmatched,
            "errors": [e.to_json() for e in ex.errors],
        }
        lines.append(json.dumps(_jsonable(shown), sort_keys=True))
    return "\n".join(lines) + "\n"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# Text a caseload export may hold: each is put into some cells of the generated caseloads.
AWKWARD = [
    "Müller-Lüdenscheidt",
    'Anna "Ann" Smith',
    "=HYPERLINK(1)",
    "+49 170",
    "-5",
    "@home",
    "\tTab",
    "line\u2028sep",
    "O'Brien; Jr.",
    "emoji 🙂",
    "Ελένη",
    "back\\slash",
    "bell\x07",
    "del\x7f",
    "ß",
]


def messy(folder: Path, n: int, as_of: date, seed: int) -> tuple[Path, Path, Path]:
    """A generated caseload (engine_golden.generate) with awkward text in case ids, display
    names and measure kinds, and some broken cells, so that rows fail with errors."""
    paths = generate(folder, n, as_of, seed)
    rnd = random.Random(seed)
    renamed: dict[str, str] = {}  # case id -> awkward case id; cases.csv comes first
    for path in paths:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        header = rows[0]
        for row in rows[1:]:
            for i, name in enumerate(header):
                r = rnd.random()
                if name in {"display_name", "kind", "extension_reason"} and r < 0.3:
                    row[i] = rnd.choice(AWKWARD)
                elif r < 0.015:  # a bad cell: its error message quotes it
                    row[i] = rnd.choice(["31.02.2026", "morgen", "x" * 70, "2M", "ja", *AWKWARD])
        for row in rows[1:]:
            if path.name == "cases.csv" and rnd.random() < 0.1:
                # an awkward case id; its measures and contacts follow it
                renamed[row[0]] = f"{row[0]}-{rnd.choice(['Ä', '=1', ';x', 'ü ß', '🙂'])}"
            row[0] = renamed.get(row[0], row[0])
        with path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(rows)
    return paths
