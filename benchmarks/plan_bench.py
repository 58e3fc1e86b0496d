"""Speed and memory of `plan` on a synthetic caseload of 100,000 cases.

Prints cases per second, peak memory (max RSS of a fresh process that only plans), and the ratio
to the time Python's csv module alone needs to read the same files. Targets (issue 2):
100,000 cases in under 2 s on a 2-core machine, at most 3x the bare CSV read, under 300 MB.

    python benchmarks/plan_bench.py [--cases 100000] [--policy euskirchen-2011] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

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
TEAMS = ["standard"] * 12 + ["fallmanagement", "50plus", "bjo", "selbststaendige", "reha"]
STATUSES = ["arbeitslos"] * 5 + ["arbeitsuchend"] * 3 + ["ohne_status"]
CHANNELS = ["persoenlich"] * 5 + ["telefonisch"] * 3 + ["video", "schriftlich"]
OUTCOMES = ["erschienen"] * 8 + ["nicht_erschienen", "abgesagt"]
AS_OF = date(2026, 11, 22)


def generate(folder: Path, n: int, seed: int = 7) -> dict[str, Path]:
    """Realistic shares: ~30 % of cases with a measure, ~2 contacts per case on average."""
    rnd = random.Random(seed)
    paths = {t: folder / f"{t}.csv" for t in ("cases", "measures", "contacts")}
    with (
        paths["cases"].open("w", newline="") as fc,
        paths["measures"].open("w", newline="") as fm,
        paths["contacts"].open("w", newline="") as fk,
    ):
        wc, wm, wk = csv.writer(fc), csv.writer(fm), csv.writer(fk)
        wc.writerow(
            [
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
                "individual_interval",
                "needs_interpreter",
                "display_name",
            ]
        )
        wm.writerow(
            [
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
        )
        wk.writerow(["case_id", "date", "channel", "outcome"])
        for i in range(n):
            cid = str(1_000_000 + i)
            birth = AS_OF - timedelta(days=rnd.randint(17 * 365, 64 * 365))
            reg = AS_OF - timedelta(days=rnd.randint(1, 1500))
            profile = rnd.choice(PROFILES)
            last = (AS_OF - timedelta(days=rnd.randint(0, 400))).isoformat() if rnd.random() < 0.7 else ""
            nae = (AS_OF + timedelta(days=rnd.randint(30, 700))).isoformat() if profile == "Z" else ""
            wc.writerow(
                [
                    cid,
                    f"vfk{i % 600:03d}",
                    birth.isoformat(),
                    rnd.choice(STATUSES),
                    profile,
                    rnd.choice(TEAMS),
                    reg.isoformat(),
                    last,
                    nae,
                    "",
                    "ja" if rnd.random() < 0.02 else "",
                    rnd.choice(["", "", "", "6W"]),
                    "",
                    "",
                ]
            )
            if rnd.random() < 0.3:
                start = AS_OF - timedelta(days=rnd.randint(0, 500))
                end = start + timedelta(days=rnd.choice([28, 60, 90, 120, 182, 270, 365, 730]))
                q = rnd.random() < 0.4
                wm.writerow(
                    [
                        cid,
                        f"M{i}",
                        "FbW" if q else "MAG",
                        start.isoformat(),
                        end.isoformat(),
                        "",
                        "ja" if q else "",
                        "ja" if rnd.random() < 0.1 else "",
                        "ja" if rnd.random() < 0.1 else "",
                        "",
                    ]
                )
            for _ in range(rnd.choice([0, 1, 2, 2, 3, 4])):
                wk.writerow(
                    [
                        cid,
                        (AS_OF - timedelta(days=rnd.randint(0, 700))).isoformat(),
                        rnd.choice(CHANNELS),
                        rnd.choice(OUTCOMES),
                    ]
                )
    return paths


def bare_csv_read(paths: dict[str, Path]) -> float:
    t0 = time.perf_counter()
    for p in paths.values():
        with p.open(newline="", encoding="utf-8-sig") as f:
            for _ in csv.reader(f):
                pass
    return time.perf_counter() - t0


def child(folder: Path, policy_id: str, repeat: int) -> None:
    """Plan in a fresh process; print timings and peak RSS as JSON."""
    t_import = time.perf_counter()
    from kontaktsync.rules.engine import plan
    from kontaktsync.rules.policy import load_policy
    from kontaktsync.sync.caseload import read_caseload

    policy = load_policy(policy_id)
    import_s = time.perf_counter() - t_import
    times, read_times, obligations = [], [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        caseload = read_caseload(folder / "cases.csv", folder / "measures.csv", folder / "contacts.csv")
        t1 = time.perf_counter()
        result = plan(caseload, policy, AS_OF)
        t2 = time.perf_counter()
        times.append(t2 - t0)
        read_times.append(t1 - t0)
        obligations = len(result.obligations)
        del caseload, result
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "best_s": min(times),
                "read_s": min(read_times),
                "import_s": import_s,
                "obligations": obligations,
                "peak_mb": peak_mb,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--policy", default="euskirchen-2011")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.policy, args.repeat)
        return
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        paths = generate(folder, args.cases)
        rows = {t: sum(1 for _ in p.open()) - 1 for t, p in paths.items()}
        bare = min(bare_csv_read(paths) for _ in range(args.repeat))
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(folder),
                "--policy",
                args.policy,
                "--repeat",
                str(args.repeat),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout)
    print(
        f"caseload: {rows['cases']:,} cases, {rows['measures']:,} measures, {rows['contacts']:,} contacts; "
        f"policy {args.policy}"
    )
    print(f"bare csv.reader of the three files: {bare:.3f} s")
    print(
        f"plan (read + validate + engine):   {r['best_s']:.3f} s  (read+validate {r['read_s']:.3f} s, "
        f"engine {r['best_s'] - r['read_s']:.3f} s; best of {args.repeat})"
    )
    print(f"cases per second:                  {rows['cases'] / r['best_s']:,.0f}")
    print(f"ratio to bare csv read:            {r['best_s'] / bare:.2f}x   (target <= 3x)")
    print(f"peak memory (max RSS):             {r['peak_mb']:.0f} MB  (target < 300 MB)")
    print(f"obligations:                       {r['obligations']:,}")
    met = r["best_s"] * 100_000 / rows["cases"] < 2
    print(f"target 100,000 cases < 2 s:        {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
