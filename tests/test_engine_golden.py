"""The engine's output stays byte-identical across refactorings (issue 9).

tests/engine_golden.json holds the SHA-256 of `engine_golden.dump` (every obligation field, case
facts, unmatched reasons, errors and the explain trace of every case) for the shipped examples
and two generated caseloads under every built-in policy, taken from the engine before it was cut
into modules. A change in what the engine decides or says changes a hash. When a change is
meant, regenerate with `python tests/test_engine_golden.py` and say why in the commit.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from datetime import date
from functools import cache
from pathlib import Path

import pytest
from engine_golden import digest, dump, generate
from kontaktsync.rules.model import ObligationKind
from kontaktsync.rules.policy import BUILTIN_IDS

HERE = Path(__file__).parent
EXPECTED = HERE / "engine_golden.json"
EXAMPLES = HERE.parent / "sync" / "examples"
# (name, cases, as-of, seed): an ordinary Sunday, and Good Friday 2027 (a holiday everywhere)
GENERATED = [("gen-2026-11-22", 200, date(2026, 11, 22), 1), ("gen-2027-03-26", 120, date(2027, 3, 26), 2)]

TRACE_MARKS = (
    "lies after the as-of date",
    "allows no extension",
    "no rule of",
    "sets the contact interval per case, and this case has no individual_interval",
    "moved back to",
    "moved on to",
    "fulfilled by the contact",
    "no later than",
    "'no later than' does not apply",
    "does not count (channel",
    "does not count (outcome",
    "no date can be computed",
    "extension by",
    "more than 6M before the as-of date",
    "no measure starts within",
    "within 14D after the end",
    "none of: ",
)


def _caseloads(folder: Path) -> dict[str, tuple[tuple[Path, Path, Path], date]]:
    found = {
        "examples": (
            (EXAMPLES / "cases.csv", EXAMPLES / "measures.csv", EXAMPLES / "contacts.csv"),
            date(2026, 11, 22),
        )
    }
    for name, n, as_of, seed in GENERATED:
        (folder / name).mkdir()
        found[name] = (generate(folder / name, n, as_of, seed), as_of)
    return found


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], str]:
    """The dump of a caseload under a policy, made once per module."""
    caseloads = _caseloads(tmp_path_factory.mktemp("golden"))

    @cache
    def get(caseload: str, policy_id: str) -> str:
        paths, as_of = caseloads[caseload]
        return dump(paths, policy_id, as_of)

    return get


@pytest.mark.parametrize("policy_id", BUILTIN_IDS)
@pytest.mark.parametrize("caseload", ["examples", *(g[0] for g in GENERATED)])
def test_engine_output_is_unchanged(dumps, caseload, policy_id, tmp_path):
    text = dumps(caseload, policy_id)
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))[f"{caseload}/{policy_id}"]
    if digest(text) != expected:
        out = tmp_path / "dump.txt"
        out.write_text(text, encoding="utf-8")
        pytest.fail(f"the engine's output for {caseload} under {policy_id} changed; it is in {out}")


def test_the_generated_caseloads_reach_every_kind_of_outcome(dumps):
    """The hashes only guard what the caseloads exercise: every obligation kind, unmatched
    cases, engine errors, working-day shifts and the contact-rule steps must occur."""
    wanted = [f'"kind": "{k}"' for k in ObligationKind] + list(TRACE_MARKS)
    texts = [dumps(name, policy_id) for name, *_ in GENERATED for policy_id in BUILTIN_IDS]
    missing = [w for w in wanted if not any(w in text for text in texts)]
    assert not missing, f"the generated caseloads never reach: {missing}"


def main() -> None:
    """Write the hashes of the current engine's output (only when a change is meant)."""
    with tempfile.TemporaryDirectory() as d:
        hashes = {
            f"{name}/{pid}": digest(dump(paths, pid, as_of))
            for name, (paths, as_of) in _caseloads(Path(d)).items()
            for pid in BUILTIN_IDS
        }
    EXPECTED.write_text(json.dumps(hashes, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {len(hashes)} hashes to {EXPECTED}", file=sys.stderr)


if __name__ == "__main__":
    main()
