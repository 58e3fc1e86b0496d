"""Top functions by own time from a py-spy raw (collapsed-stack) profile.

py-spy is not a project dependency; install it into your venv only:

    .venv/bin/pip install py-spy
    D=benchmarks/.data/100000-*   # made by plan_process.py
    .venv/bin/py-spy record -F -r 200 -f raw -o plan.raw -- .venv/bin/kontaktsync plan \\
        --policy euskirchen-2011 --cases $D/cases.csv --measures $D/measures.csv \\
        --contacts $D/contacts.csv --as-of 2026-11-22 --format json > /dev/null
    python benchmarks/own_time.py plan.raw [--top 15]

Own time of a function = samples in which it is the innermost frame (`-F` folds line numbers
into the function's first line, so one function is one row).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def own_time(raw: Path) -> tuple[Counter[str], int]:
    """Samples per innermost frame, and all samples."""
    leaves: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaves[stack.rsplit(";", 1)[-1]] += int(count)
        total += int(count)
    return leaves, total


def inclusive(raw: Path, names: list[str]) -> Counter[str]:
    """Samples whose stack holds a frame of each named function (e.g. read_caseload): its phase."""
    found: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = {f.split(" (", 1)[0].rsplit(".", 1)[-1] for f in stack.split(";")}
        for name in names:
            if name in frames:
                found[name] += int(count)
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("raw", type=Path, help="py-spy record -f raw output")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument(
        "--phases",
        default="_find_and_load,read_caseload,plan,to_json,dumps",
        help="functions whose inclusive share to print (innermost name, comma-separated)",
    )
    args = ap.parse_args()
    leaves, total = own_time(args.raw)
    print(f"{total} samples; top {args.top} functions by own time")
    for frame, n in leaves.most_common(args.top):
        print(f"  {100 * n / total:5.1f} %  {n:6d}  {frame}")
    phases = [p for p in args.phases.split(",") if p]
    if phases:
        print("inclusive share (samples with the function anywhere on the stack)")
        found = inclusive(args.raw, phases)
        for name in phases:
            print(f"  {100 * found[name] / total:5.1f} %  {found[name]:6d}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
