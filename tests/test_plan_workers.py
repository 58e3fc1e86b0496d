"""`plan --jobs N` (sync/cli/plan_workers.py): several processes, each planning one share of the
cases, write byte for byte what one process writes, on caseloads full of what makes shares
tricky: rows with errors, duplicate case ids, measures and contacts of unknown or rejected
cases, case ids with spaces around them, contacts after the as-of date, unmatched cases."""

from __future__ import annotations

import csv
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from engine_golden import messy
from kontaktsync.rules.engine import plan, plan_order
from kontaktsync.rules.policy import BUILTIN_IDS, load_policy
from kontaktsync.sync.caseload import Share, read_caseload
from kontaktsync.sync.cli import plan_workers
from kontaktsync.sync.cli.inputs import Resolved
from kontaktsync.sync.service.exit_codes import ExitCode

from tests.builders import AS_OF
from tests.cli import clean_env, kontaktsync_cli, require_console_script

TRICKY_CASES = [
    # a duplicate of a valid case (its second row is an error), and of a rejected one
    ["DUP1", "vfk001", "", "arbeitslos", "marktnah", "", "2026-01-05", "2026-09-01"],
    ["DUP1", "vfk002", "", "arbeitslos", "marktnah", "", "2026-01-05", "2026-09-01"],
    ["BAD1", "vfk001", "", "kein_status", "marktnah", "", "2026-01-05", ""],
    ["BAD1", "vfk001", "", "arbeitslos", "marktnah", "", "2026-01-05", ""],
    # a case id with spaces around it: its measures and contacts name it without them
    ["  SPACED  ", "vfk003", "", "arbeitsuchend", "marktnah", "", "2026-02-01", ""],
    # no case id at all, and a blank line
    ["", "vfk003", "", "arbeitslos", "marktnah", "", "2026-02-01", ""],
    [],
    # a last contact after the as-of date: left out with an error
    ["LATE1", "vfk004", "", "arbeitslos", "marktnah", "", "2026-02-01", "2027-05-01"],
    # case ids that cannot be read (a NUL byte; far too long): errors, each in one share only
    ["NUL\x00ID", "vfk004", "", "arbeitslos", "marktnah", "", "2026-02-01", ""],
    ["L" * 10_001, "vfk004", "", "arbeitslos", "marktnah", "", "2026-02-01", ""],
]
TRICKY_CONTACTS = [
    ["SPACED", "2026-10-01", "persoenlich", "erschienen"],
    ["BAD1", "2026-10-01", "persoenlich", "erschienen"],  # of a rejected case: quiet
    ["NOSUCH", "2026-10-01", "persoenlich", "erschienen"],  # of no case: an error
    ["DUP1", "2027-01-01", "persoenlich", "erschienen"],  # after the as-of date: an error
    [" DUP1", "2026-10-20", "telefonisch", "erschienen"],
    ["NUL\x00ID", "2026-10-02", "persoenlich", "erschienen"],
    ["L" * 10_001, "2026-10-02", "persoenlich", "erschienen"],
]


def tricky(folder: Path, n: int, seed: int, layout: str = "quoted") -> Path:
    """A messy generated caseload (engine_golden.messy) with the TRICKY_ rows added.

    layout: "quoted", as the csv module writes it (cells with quotes, commas, line breaks
    quoted), which a share parses whole; "plain", the same cells without quotes, commas and
    line breaks, cases and measures with CR LF line ends, contacts with LF and their case_id in
    the last column, which a share reads line by line (formats/csvfile `share_rows`); "mixed",
    the measures quoted and the rest plain, so that the two ways must put every case id in the
    same share."""
    paths = messy(folder, n, AS_OF, seed)
    for path, extra in ((paths[0], TRICKY_CASES), (paths[2], TRICKY_CONTACTS)):
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        width = len(rows[0])
        rows += [r + [""] * (width - len(r)) if r else [] for r in extra]
        with path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(rows)
    plain = {"quoted": (), "plain": paths, "mixed": (paths[0], paths[2])}[layout]
    for path in plain:
        with path.open(newline="", encoding="utf-8") as f:
            rows = [[_plain(c) for c in r] for r in csv.reader(f)]
        if path.name == "contacts.csv":
            rows = [r[1:] + r[:1] for r in rows]  # case_id last
        ends = "\n" if path.name == "contacts.csv" else "\r\n"
        with path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator=ends).writerows(rows)
        assert b'"' not in path.read_bytes()
    return folder


def _plain(cell: str) -> str:
    return cell.replace('"', "'").replace(",", ";").replace("\r", " ").replace("\n", " ")


def _plan(folder: Path, policy: str, fmt: str, jobs: int) -> tuple[str, str, int]:
    r = kontaktsync_cli(
        "plan", "--policy", policy, "--cases", str(folder), "--as-of", AS_OF.isoformat(), "--format", fmt,
        "--strict", "--jobs", str(jobs),
    )  # fmt: skip
    return r.stdout, r.stderr, r.returncode


@pytest.mark.parametrize("fmt", ["json", "csv"])
@pytest.mark.parametrize("policy", BUILTIN_IDS)
def test_several_processes_write_what_one_writes(tmp_path: Path, policy: str, fmt: str) -> None:
    layout = ["quoted", "plain", "mixed"][BUILTIN_IDS.index(policy) % 3]  # each at least twice
    folder = tricky(tmp_path, 300, seed=31, layout=layout)
    one = _plan(folder, policy, fmt, 1)
    assert one[2] == ExitCode.PARTIAL, one[1]  # --strict: rows with errors
    for needle in (
        "DUP1 appears twice",
        "no case NOSUCH",
        "lies after the as-of date",
        "NUL byte",
        "10001 characters",
    ):
        assert needle in (one[0] if fmt == "json" else one[1]), needle
    for jobs in (2, 3, 5):
        assert _plan(folder, policy, fmt, jobs) == one, f"--jobs {jobs}"


@pytest.mark.parametrize("layout", ["quoted", "plain", "mixed"])
def test_every_row_is_in_exactly_one_share(tmp_path: Path, layout: str) -> None:
    folder = tricky(tmp_path, 200, seed=32, layout=layout)
    whole = read_caseload(folder)
    spaced = next(c for c in whole.cases if c.case_id == "SPACED")
    assert [c.date for c in spaced.contacts] == [date(2026, 10, 1)]  # named without the spaces
    for count in (2, 3):
        shares = [read_caseload(folder, share=Share(i, count)) for i in range(count)]
        ids = Counter(c.case_id for s in shares for c in s.cases)
        assert ids == Counter(c.case_id for c in whole.cases)
        by_id = {c.case_id: c for c in whole.cases}
        for s in shares:
            for c in s.cases:  # each case with all of its measures and contacts
                assert c == by_id[c.case_id]
        assert Counter(e for s in shares for e in s.errors) == Counter(whole.errors)
        assert set().union(*(s.held for s in shares)) == whole.held
        assert all(len(s.cases) < len(whole.cases) for s in shares)


def test_a_plan_gives_its_sort_keys_in_its_order(tmp_path: Path) -> None:
    folder = tricky(tmp_path, 300, seed=34)
    policy = load_policy("euskirchen-2011")
    alone = plan(read_caseload(folder), policy, AS_OF)
    keys: list[str] = []
    with_keys = plan(read_caseload(folder), policy, AS_OF, keys=keys)
    assert with_keys.obligations == alone.obligations
    assert keys == [plan_order(o) for o in alone.obligations]
    assert keys == sorted(keys)


def test_the_default_is_one_process_for_a_small_or_excel_caseload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan_workers, "usable_cpus", lambda: 8)
    policy = load_policy("coburg-2016")

    def jobs(cases: Path) -> int:
        return plan_workers.default_jobs(
            Resolved(policy, (cases, None, None), {}, "auto", None, date(2026, 1, 1))
        )

    small = tmp_path / "small.csv"
    small.write_text("case_id\n1\n")
    large = tmp_path / "large.csv"
    large.write_text("case_id\n" + "1234567\n" * (plan_workers.MIN_BYTES // 8))
    book = tmp_path / "large.xlsx"
    book.write_bytes(large.read_bytes())
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "cases.csv").write_bytes(large.read_bytes())
    assert (jobs(small), jobs(large), jobs(book), jobs(tmp_path / "folder")) == (1, 4, 1, 4)
    monkeypatch.setattr(plan_workers, "usable_cpus", lambda: 1)
    assert jobs(large) == 1


_THREADS = """
import threading
from kontaktsync.sync.cli.plan_workers import can_fork
alone = can_fork()
stop = threading.Event()
t = threading.Thread(target=stop.wait)
t.start()
print(alone, can_fork())
stop.set()
t.join()
"""


def test_a_process_that_runs_threads_plans_in_one() -> None:
    argv = [sys.executable, "-c", _THREADS]
    r = subprocess.run(argv, capture_output=True, text=True, env=clean_env(), timeout=60, check=True)
    assert r.stdout.split() == ["True", "False"]


# A process that fails sends its error; one that dies is named with its end. Run in a child
# interpreter that replaces the planning of share 2 (the fork inherits the replacement).
_FAILING = """
import os, signal, sys
from datetime import date
from pathlib import Path
from kontaktsync.rules.policy import load_policy
from kontaktsync.sync.cli import plan_workers
from kontaktsync.sync.cli.inputs import Resolved

real = plan_workers._plan_share
def failing(resolved, share, kind):
    if share.index == 1 and sys.argv[2] != "none":
        if sys.argv[2] == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        raise ValueError("share 2 cannot be planned")
    return real(resolved, share, kind)
plan_workers._plan_share = failing
files = (Path(sys.argv[1]), None, None)
r = Resolved(load_policy("coburg-2016"), files, {}, "auto", None, date(2026, 11, 22))
try:
    merged = plan_workers.plan_in_processes(r, 3, "json")
    print("planned", len(list(merged.items)) > 0)
    merged.end()  # reaps the other processes
except BaseException as exc:
    print(type(exc).__name__, exc)
print("children left:", len([p for p in os.listdir("/proc") if p.isdigit()
      and open(f"/proc/{p}/stat").read().split()[3] == str(os.getpid())]))
"""


DIED = (
    "RuntimeError plan process 2 ended without its part of the plan (killed by signal 9); "
    "--jobs 1 plans in one process"
)


@pytest.mark.parametrize(
    ("how", "said"),
    [("raise", "ValueError share 2 cannot be planned"), ("die", DIED), ("none", "planned True")],
)
def test_the_other_processes_are_reaped_and_a_failing_one_stops_the_plan_with_its_reason(
    tmp_path: Path, how: str, said: str
) -> None:
    folder = tricky(tmp_path, 60, seed=33)
    require_console_script()
    r = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_FAILING), str(folder / "cases.csv"), how],
        capture_output=True, text=True, env=clean_env(), timeout=120, check=False,
    )  # fmt: skip
    assert r.stdout.splitlines() == [said, "children left: 0"], r.stderr
