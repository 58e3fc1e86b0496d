"""`kontaktsync plan` writes byte for byte what it wrote before it was made fast (issue 11).

tests/plan_golden.json was taken from the plan path before issue 11 (`json.dumps(indent=2)`, the
old CSV writer, the old reader and engine):

- `examples`: the whole stdout and stderr of `kontaktsync plan` on the shipped example caseload,
  for every built-in policy and every format (json, csv, table);
- `messy`: SHA-256 of stdout and stderr of the CLI, every format, on one generated caseload with
  bad rows and awkward text (non-ASCII, quotes, control characters, `=` at a cell's start);
- `random`: SHA-256 of the JSON and CSV output for generated caseloads under every policy,
  planned in-process.

On the random caseloads the writers are also compared with `reference_json`/`reference_csv`,
copies of the writers before issue 11, so that a difference shows as text, not only as a hash.
Regenerate the golden file only for a meant change: `python tests/test_plan_identical.py`.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from datetime import date
from pathlib import Path

import pytest
from engine_golden import messy
from kontaktsync.rules.engine import plan
from kontaktsync.rules.model import OBLIGATION_FIELDS, Obligation, ObligationKind, Plan
from kontaktsync.rules.policy import BUILTIN_IDS, load_policy
from kontaktsync.sync.caseload import read_caseload
from kontaktsync.sync.cli import plan_output
from kontaktsync.sync.cli.plan_output import write_csv, write_json
from kontaktsync.sync.report.spreadsheet import SafeCsvWriter

from tests.cli import kontaktsync_cli

HERE = Path(__file__).parent
GOLDEN = HERE / "plan_golden.json"
EXAMPLES = HERE.parent / "sync" / "examples"
AS_OF = "2026-11-22"
FORMATS = ("json", "csv", "table")
# (seed, cases, as-of): generated caseloads, every policy; the last as-of is Good Friday 2027
RANDOM = [(11, 150, date(2026, 11, 22)), (12, 90, date(2027, 3, 26)), (13, 60, date(2026, 1, 2))]
MESSY_SEED = 21


def reference_json(result: Plan) -> bytes:
    """The JSON writer before issue 11."""
    return (json.dumps(result.to_json(), ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def reference_csv(result: Plan) -> str:
    """The CSV writer before issue 11."""
    out = io.StringIO()
    fields = ["case_id", "counsellor", "kind", "tag", "due", "window_start", "overdue", "rule"]
    w = SafeCsvWriter(out, lineterminator="\n")
    w.writerow(fields)
    for o in result.obligations:
        d = o.to_json()
        w.writerow(["" if d[f] is None else str(d[f]).lower() if f == "overdue" else d[f] for f in fields])
    return out.getvalue()


def _sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def _planned(folder: Path, seed: int, n: int, as_of: date, policy_id: str) -> Plan:
    paths = messy(folder, n, as_of, seed)
    return plan(read_caseload(*paths), load_policy(policy_id), as_of)


def new_json(result: Plan) -> bytes:
    out = io.BytesIO()
    write_json(result, out)
    return out.getvalue()


def new_csv(result: Plan) -> str:
    out = io.StringIO()
    write_csv(result, out)
    return out.getvalue()


def _cli(args: list[str]) -> dict[str, object]:
    r = kontaktsync_cli("plan", *args, "--as-of", AS_OF)
    return {"stdout": r.stdout, "stderr": r.stderr, "returncode": r.returncode}


def _example_args(policy: str, fmt: str) -> list[str]:
    return ["--policy", policy, "--cases", str(EXAMPLES), "--format", fmt]


def _messy_args(folder: Path, fmt: str) -> list[str]:
    messy(folder, 120, date.fromisoformat(AS_OF), MESSY_SEED)
    return ["--policy", "coburg-2016", "--cases", str(folder), "--format", fmt]


def _golden() -> dict:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("policy", BUILTIN_IDS)
def test_example_caseload_output_is_unchanged(policy: str, fmt: str) -> None:
    assert _cli(_example_args(policy, fmt)) == _golden()["examples"][policy][fmt]


@pytest.mark.parametrize("fmt", FORMATS)
def test_messy_caseload_cli_output_is_unchanged(tmp_path: Path, fmt: str) -> None:
    got = _cli(_messy_args(tmp_path, fmt))
    has_errors = got["stderr"] if fmt != "json" else '"errors": []' not in str(got["stdout"])
    assert has_errors, "the messy caseload must have rows with errors"
    expected = _golden()["messy"][fmt]
    assert (_sha(got["stdout"]), _sha(got["stderr"]), got["returncode"]) == (
        expected["stdout"],
        expected["stderr"],
        expected["returncode"],
    )


@pytest.mark.parametrize("policy", BUILTIN_IDS)
@pytest.mark.parametrize(("seed", "n", "as_of"), RANDOM)
def test_random_caseload_output_is_unchanged(
    tmp_path: Path, seed: int, n: int, as_of: date, policy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _planned(tmp_path, seed, n, as_of, policy)
    assert result.errors and result.obligations, "a random caseload must hold errors and obligations"
    got_json, got_csv = new_json(result), new_csv(result)
    assert got_json == reference_json(result)
    # the same when each list is written in many slices
    assert len(result.obligations) > 6 and len(result.errors) > 6
    monkeypatch.setattr(plan_output, "SLICE", 3)
    assert new_json(result) == got_json
    assert got_csv == reference_csv(result)
    expected = _golden()["random"][f"{seed}-{policy}"]
    assert {"json": _sha(got_json), "csv": _sha(got_csv)} == expected


def test_the_contract_fields_are_said_once() -> None:
    o = Obligation("1", "c", ObligationKind.CONTACT, "1MM", date(2026, 1, 5), None, False, "p/r", "p", "x")
    assert tuple(o.contract()) == tuple(o.to_json()) == OBLIGATION_FIELDS
    assert list(OBLIGATION_FIELDS) == plan_output.CSV_FIELDS


def regenerate() -> None:
    """Write tests/plan_golden.json from the current plan path (only for a meant change)."""
    import tempfile

    golden: dict = {"examples": {}, "messy": {}, "random": {}}
    for policy in BUILTIN_IDS:
        golden["examples"][policy] = {fmt: _cli(_example_args(policy, fmt)) for fmt in FORMATS}
    for fmt in FORMATS:
        with tempfile.TemporaryDirectory() as tmp:
            got = _cli(_messy_args(Path(tmp), fmt))
        golden["messy"][fmt] = {
            "stdout": _sha(got["stdout"]),
            "stderr": _sha(got["stderr"]),
            "returncode": got["returncode"],
        }
    for seed, n, as_of in RANDOM:
        for policy in BUILTIN_IDS:
            with tempfile.TemporaryDirectory() as tmp:
                result = _planned(Path(tmp), seed, n, as_of, policy)
            golden["random"][f"{seed}-{policy}"] = {
                "json": _sha(reference_json(result)),
                "csv": _sha(reference_csv(result)),
            }
    GOLDEN.write_text(json.dumps(golden, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    regenerate()
