"""`kontaktsync plan` measured as a user runs it (issue 11): whole process, beside its floor.

For each caseload size and policy, in one run and interleaved so a busy machine hits both alike:
- the program: `kontaktsync plan --policy P --cases ... --format json > file` as a child process;
- the floor: a child `python -c` that only passes `csv.DictReader` over the same three files.
Wall time is start to reaped (interpreter start, imports, reading, planning, writing JSON); peak
memory is the child's own max RSS (os.wait4, see _common.py). Best of --repeat for time; the
peak is the largest seen. Then `kontaktsync --help` wall time and the slowest imports
(`python -X importtime`).

    python benchmarks/plan_process.py [--sizes 10000,100000,1000000] [--policies all|id,id]
                                      [--repeat 3] [--import-top 12] [--jobs N]

Caseloads are generated once (plan_bench.generate) and kept in benchmarks/.data/.
Prints one line per figure with its target; asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
from pathlib import Path

from _common import AS_OF, Run, bin_path, caseload, installed_env, run_child, verdict

# Targets of issue 11 (2-core machine): cases -> (seconds, peak MB).
TARGETS: dict[int, tuple[float, float]] = {100_000: (1.5, 250), 1_000_000: (15, 1024)}
RATIO_TARGET = 3.0
HELP_TARGET_S = 0.15
DEFAULT_POLICY = "euskirchen-2011"
# Below this size start-up (interpreter, imports: ~0.3 s) hides the per-case time, so 10k -> 100k looks better
# than linear; the linearity target is about 100k -> 1M.
LINEAR_FROM = 100_000

FLOOR_CODE = """
import csv, sys
for name in sys.argv[1:]:
    with open(name, newline="", encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            pass
"""


def policies(arg: str) -> list[str]:
    from kontaktsync.rules.policy import BUILTIN_IDS

    if arg == "all":
        return list(BUILTIN_IDS)
    chosen = [p.strip() for p in arg.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in BUILTIN_IDS]
    if unknown:
        raise SystemExit(f"--policies: unknown {', '.join(unknown)}; built-in: {', '.join(BUILTIN_IDS)}")
    return chosen


def _checked(run: Run, what: str) -> Run:
    if run.returncode != 0:
        raise SystemExit(f"{what} exited with {run.returncode}:\n{run.stderr[-2000:]}")
    return run


def measure_plan(n: int, policy: str, repeat: int, out: Path, jobs: int | None) -> tuple[Run, Run]:
    """Best program run and best floor run (time), each with the largest peak seen. CPU time
    and peak include the processes `plan` forks (a child's rusage holds those it reaped)."""
    paths = caseload(n)
    plan_argv = [
        bin_path("kontaktsync"), "plan", "--policy", policy, "--cases", str(paths["cases"]),
        "--measures", str(paths["measures"]), "--contacts", str(paths["contacts"]),
        "--as-of", AS_OF.isoformat(), "--format", "json", *(["--jobs", str(jobs)] if jobs else []),
    ]  # fmt: skip
    floor_argv = [sys.executable, "-c", FLOOR_CODE, *map(str, paths.values())]
    plans: list[Run] = []
    floors: list[Run] = []
    for _ in range(repeat):
        floors.append(_checked(run_child(floor_argv), "csv.DictReader floor"))
        plans.append(_checked(run_child(plan_argv, stdout=out), f"kontaktsync plan ({policy}, {n:,})"))
        if out.stat().st_size == 0:
            raise SystemExit(f"kontaktsync plan ({policy}, {n:,}) wrote nothing")
    return _best(plans), _best(floors)


def _best(runs: list[Run]) -> Run:
    fastest = min(runs, key=lambda r: r.wall_s)
    return Run(fastest.wall_s, max(r.peak_mb for r in runs), 0, "", min(r.cpu_s for r in runs))


def print_plan(n: int, policy: str, prog: Run, floor: Run, repeat: int, out_mb: float) -> None:
    target_s, target_mb = TARGETS.get(n, (None, None))
    head = f"plan {n:>9,} cases {policy:<32}"
    ratio = prog.wall_s / floor.wall_s
    t_note = f"target < {target_s:g} s" if target_s else "no target"
    m_note = f"target < {target_mb:g} MB" if target_mb else "no target"
    print(f"{head} wall      {prog.wall_s:8.3f} s   {t_note:<17} "
          f"{verdict(prog.wall_s < target_s if target_s else None)}"
          f"  (best of {repeat}; cpu {prog.cpu_s:.3f} s; JSON {out_mb:.0f} MB)")  # fmt: skip
    print(
        f"{head} floor     {floor.wall_s:8.3f} s   csv.DictReader pass, same files, same run "
        f"(cpu {floor.cpu_s:.3f} s)"
    )
    print(f"{head} ratio     {ratio:8.2f} x   target <= {RATIO_TARGET:g} x     "
          f"{verdict(ratio <= RATIO_TARGET)}  (cpu time ratio {prog.cpu_s / floor.cpu_s:.2f} x)")  # fmt: skip
    print(f"{head} peak RSS  {prog.peak_mb:8.0f} MB  {m_note:<17} "
          f"{verdict(prog.peak_mb < target_mb if target_mb else None)}"
          f"  (floor {floor.peak_mb:.0f} MB)")  # fmt: skip
    sys.stdout.flush()


def print_linearity(policy: str, walls: dict[int, float]) -> None:
    """Time per case between consecutive sizes: linear means the time ratio equals the size ratio."""
    sizes = sorted(walls)
    for a, b in itertools.pairwise(sizes):
        k = b / a
        t = walls[b] / walls[a]
        ok = t <= k * 1.1 if a >= LINEAR_FROM else None  # no target where start-up dominates
        print(f"plan linearity {policy:<32} {a:,} -> {b:,} cases: time x{t:.2f} for cases x{k:g} "
              f"({1e6 * walls[a] / a:.1f} -> {1e6 * walls[b] / b:.1f} us per case; "
              f"linear: time ratio <= size ratio)  {verdict(ok) or 'no target'}")  # fmt: skip


def measure_help(repeat: int) -> None:
    argv = [bin_path("kontaktsync"), "--help"]
    runs = [_checked(run_child(argv), "kontaktsync --help") for _ in range(repeat)]
    best = min(r.wall_s for r in runs)
    median = sorted(r.wall_s for r in runs)[len(runs) // 2]
    cpu = min(r.cpu_s for r in runs)
    print(f"kontaktsync --help wall  {best:8.3f} s   target < {HELP_TARGET_S:g} s  "
          f"{verdict(best < HELP_TARGET_S)}  (best of {repeat}, median {median:.3f} s, "
          f"cpu {cpu:.3f} s)")  # fmt: skip
    bare = [run_child([sys.executable, "-c", "pass"]) for _ in range(repeat)]
    floor = min(r.wall_s for r in bare)
    print(
        f"python -c pass wall      {floor:8.3f} s   floor: interpreter start with the same venv "
        f"(cpu {min(r.cpu_s for r in bare):.3f} s)"
    )


def measure_imports(top: int) -> None:
    """`python -X importtime -c 'import kontaktsync.sync.cli'` (what the console script imports)."""
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import kontaktsync.sync.cli"],
        capture_output=True,
        text=True,
        check=True,
        env=installed_env(),
    )
    rows: list[tuple[int, int, str]] = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line.removeprefix("import time:").split("|", 2)
        rows.append((int(self_us), int(cum_us), name.rstrip()))
    total = sum(r[0] for r in rows)
    print(
        f"imports of kontaktsync.sync.cli: {total / 1e6:.3f} s in {len(rows)} modules "
        "(one run, -X importtime)"
    )
    print(f"  top {top} by cumulative time (a package includes what it imports):")
    for self_us, cum_us, name in sorted(rows, key=lambda r: -r[1])[:top]:
        print(f"    {cum_us / 1000:7.1f} ms cumulative {self_us / 1000:6.1f} ms self  {name.strip()}")
    print(f"  top {top} by own time:")
    for self_us, cum_us, name in sorted(rows, key=lambda r: -r[0])[:top]:
        print(f"    {self_us / 1000:7.1f} ms self       {cum_us / 1000:6.1f} ms cumul. {name.strip()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000", help="comma-separated case counts")
    ap.add_argument("--policies", default=DEFAULT_POLICY, help="'all' or comma-separated built-in ids")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (best time is shown)")
    ap.add_argument("--import-top", type=int, default=12, help="slowest imports to list")
    ap.add_argument("--jobs", type=int, help="plan --jobs (default: the program's own choice)")
    ap.add_argument("--no-help", action="store_true", help="skip the --help and import-time figures")
    args = ap.parse_args()
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())
    chosen = policies(args.policies)
    print(f"as of {AS_OF}; {len(chosen)} policies x sizes {', '.join(f'{n:,}' for n in sizes)}; "
          f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f}; "
          f"plan --jobs {args.jobs or 'as the program chooses'}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="kontaktsync-plan-") as tmp:
        out = Path(tmp) / "plan.json"
        for policy in chosen:
            walls: dict[int, float] = {}
            for n in sizes:
                prog, floor = measure_plan(n, policy, args.repeat, out, args.jobs)
                print_plan(n, policy, prog, floor, args.repeat, out.stat().st_size / 2**20)
                walls[n] = prog.wall_s
            print_linearity(policy, walls)
    if not args.no_help:
        measure_help(max(args.repeat, 5))
        measure_imports(args.import_top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
