"""Client-side cost of `sync` against the in-memory target (issue 11), one child process each.

Two measurements per caseload size, each in its own fresh process (own imports, own peak RSS):
- first sync: empty calendars and state; `run_sync` writes every item. Client-side work per
  item = run_sync time / items written (planning excluded; the in-memory target renders each
  iCalendar body like the CalDAV target, but its "server" is a dict, so all time is client time).
  Beside it, the floor of an ideal client in the same process: `ical.render` of the same items.
- unchanged cycle: a second child loads the calendars (pickled by the first child, untimed) and
  its state database, then runs one more cycle with the same caseload, as the daemon runs it:
  read + plan (make_plan), then run_sync. It must write nothing (the line says so if it did).

    python benchmarks/sync_cycle.py [--sizes 10000,100000] [--policy euskirchen-2011] [--repeat 2]

Caseloads come from plan_bench.generate (cached in benchmarks/.data/), 600 counsellors = 600
calendars. Prints one line per figure with its target; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

from _common import AS_OF, bin_path, caseload, run_child, verdict

PER_ITEM_TARGET_MS = 0.3
UNCHANGED_TARGET_S = 3.0
RENDER_SAMPLE = 5000  # items rendered for the floor: rendering all 100k would add minutes


def _settings(n: int, state: Path, policy: str):  # -> Settings (imported in the child only)
    from kontaktsync.sync.config.models import Settings

    paths = caseload(n)
    return Settings(
        source={k: v for k, v in paths.items()},
        policy=policy,
        target={"kind": "caldav", "caldav": {"url": "https://dav.invalid/{counsellor}/kontaktdichte/"}},
        sync={"state_path": state},
    )


def child_first(n: int, state: Path, policy: str) -> dict[str, float]:
    """Time one first sync into empty in-memory calendars, then the bare render floor."""
    from kontaktsync.sync.core.items import desired_items
    from kontaktsync.sync.core.planning import make_plan
    from kontaktsync.sync.core.runner import run_sync
    from kontaktsync.sync.item import namespace_tag
    from kontaktsync.sync.targets.caldav import ical
    from kontaktsync.sync.targets.memory import MemTarget

    settings = _settings(n, state, policy)
    t0 = time.perf_counter()
    plan = make_plan(settings, AS_OF)
    t_plan = time.perf_counter() - t0
    target = MemTarget(settings.sync.namespace)
    t0, c0 = time.perf_counter(), time.process_time()
    report = run_sync(settings, plan=plan, target=target)
    t_sync, c_sync = time.perf_counter() - t0, time.process_time() - c0
    with _cals_file(state).open("wb") as fh:
        pickle.dump(target.cals, fh, protocol=pickle.HIGHEST_PROTOCOL)
    desired = desired_items(plan, settings)
    tag = namespace_tag(settings.sync.namespace)
    items = [item for cal in desired.values() for item in cal.values()]
    sample = items[:: max(1, len(items) // RENDER_SAMPLE)]
    t0, c0 = time.perf_counter(), time.process_time()
    for item in sample:
        ical.render(item, tag)
    t_render, c_render = time.perf_counter() - t0, time.process_time() - c0
    return {
        "plan_s": t_plan,
        "sync_s": t_sync,
        "sync_cpu_s": c_sync,
        "render_s": t_render,
        "render_cpu_s": c_render,
        "rendered": len(sample),
        "items": len(items),
        "created": report.created,
        "failed": report.failed,
        "calendars": len(target.cals),
    }


def _cals_file(state: Path) -> Path:
    """Where the first-sync child leaves the in-memory calendars for the unchanged-cycle child."""
    return state.with_suffix(".cals.pickle")


def child_unchanged(n: int, state: Path, policy: str, repeat: int) -> dict[str, float]:
    """Calendars and state as the first-sync child left them, then `repeat` unchanged cycles
    (make_plan + run_sync), each timed; loading the calendars is not timed."""
    from kontaktsync.sync.core.planning import make_plan
    from kontaktsync.sync.core.runner import run_sync
    from kontaktsync.sync.targets.memory import MemTarget

    settings = _settings(n, state, policy)
    target = MemTarget(settings.sync.namespace)
    with _cals_file(state).open("rb") as fh:
        target.cals = pickle.load(fh)
    cycles = []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        plan = make_plan(settings, AS_OF)
        t1 = time.perf_counter()
        report = run_sync(settings, plan=plan, target=target)
        t2, c2 = time.perf_counter(), time.process_time()
        cycles.append((t2 - t0, t1 - t0, t2 - t1, report.writes, report.failed, c2 - c0))
    best = min(cycles)
    return {
        "items": sum(len(c) for c in target.cals.values()),
        "cycle_s": best[0],
        "plan_s": best[1],
        "sync_s": best[2],
        "first_cycle_s": cycles[0][0],
        "first_plan_s": cycles[0][1],
        "first_sync_s": cycles[0][2],
        "first_cycle_cpu_s": cycles[0][5],
        "cycle_cpu_s": best[5],
        "writes": max(c[3] for c in cycles),
        "failed": max(c[4] for c in cycles),
    }


def _run(kind: str, n: int, policy: str, repeat: int, tmp: Path) -> tuple[dict[str, float], float]:
    """One child; the first-sync child starts from an empty state, the unchanged one from its."""
    state = tmp / f"state-{n}.sqlite3"
    if kind == "first":
        state.unlink(missing_ok=True)
    out = tmp / f"{kind}-{n}.json"
    argv = [sys.executable, __file__, "--child", kind, "--sizes", str(n), "--policy", policy,
            "--repeat", str(repeat), "--state", str(state)]  # fmt: skip
    run = run_child(argv, stdout=out)
    if run.returncode != 0:
        raise SystemExit(f"child {kind} {n:,} exited with {run.returncode}:\n{run.stderr[-3000:]}")
    return json.loads(out.read_text()), run.peak_mb


def report_first(n: int, r: dict[str, float], peak_mb: float) -> None:
    head = f"sync first     {n:>9,} cases"
    per_ms = 1000 * r["sync_s"] / max(r["created"], 1)
    render_ms = 1000 * r["render_s"] / max(r["rendered"], 1)
    print(f"{head} client/item {per_ms:7.3f} ms  target < {PER_ITEM_TARGET_MS:g} ms  "
          f"{verdict(per_ms < PER_ITEM_TARGET_MS)}  ({r['created']:,} items created in "
          f"{r['calendars']:,} calendars, {r['failed']} failed; run_sync {r['sync_s']:.2f} s, "
          f"cpu {1000 * r.get('sync_cpu_s', 0) / max(r['created'], 1):.3f} ms/item)")  # fmt: skip
    print(f"{head} floor/item  {render_ms:7.3f} ms  ical.render alone, same process, "
          f"{r['rendered']:,} of the items; ratio {per_ms / render_ms:.2f} x; "
          f"cpu {1000 * r.get('render_cpu_s', 0) / max(r['rendered'], 1):.3f} ms/item")  # fmt: skip
    print(
        f"{head} plan        {r['plan_s']:7.2f} s   read + plan before the sync (not in the per-item figure)"
    )
    print(f"{head} peak RSS    {peak_mb:7.0f} MB  no target (child process: plan, sync, state, calendars)")
    sys.stdout.flush()


def report_unchanged(n: int, r: dict[str, float], peak_mb: float, repeat: int) -> None:
    head = f"sync unchanged {n:>9,} cases"
    wrote = "" if r["writes"] == 0 and r["failed"] == 0 else f"  WROTE {r['writes']}, FAILED {r['failed']}!"
    print(f"{head} cycle       {r['cycle_s']:7.2f} s   target < {UNCHANGED_TARGET_S:g} s     "
          f"{verdict(r['cycle_s'] < UNCHANGED_TARGET_S)}  (best of {repeat}; "
          f"cpu {r.get('cycle_cpu_s', 0):.2f} s; {r['items']:,} items in the calendars){wrote}")  # fmt: skip
    print(
        f"{head} of which    {r['plan_s']:7.2f} s   read + plan, "
        f"{r['sync_s']:.2f} s run_sync (list, decide, state)"
    )
    if repeat > 1:  # the daemon's first cycle after a start: no items of a previous run to reuse
        print(
            f"{head} first cycle {r['first_cycle_s']:7.2f} s   read + plan {r['first_plan_s']:.2f} s, "
            f"run_sync {r['first_sync_s']:.2f} s; cpu {r['first_cycle_cpu_s']:.2f} s"
        )
    print(f"{head} peak RSS    {peak_mb:7.0f} MB  no target (child process: loaded calendars + cycles)")
    sys.stdout.flush()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000", help="comma-separated case counts")
    ap.add_argument("--policy", default="euskirchen-2011")
    ap.add_argument("--repeat", type=int, default=2, help="unchanged cycles per child (best is shown)")
    ap.add_argument("--child", choices=["first", "unchanged"], help=argparse.SUPPRESS)
    ap.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())
    if args.child:
        n = sizes[0]
        if args.child == "first":
            result = child_first(n, args.state, args.policy)
        else:
            result = child_unchanged(n, args.state, args.policy, args.repeat)
        print(json.dumps(result))
        return 0
    bin_path("kontaktsync")  # fails early with a clear message when the project is not installed
    target = "in-memory target"
    print(f"as of {AS_OF}; policy {args.policy}; {target}; "
          f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    for n in sizes:
        caseload(n)  # generate outside any timed child
    with tempfile.TemporaryDirectory(prefix="kontaktsync-sync-") as d:
        tmp = Path(d)
        for n in sizes:
            r, peak = _run("first", n, args.policy, args.repeat, tmp)
            report_first(n, r, peak)
            r, peak = _run("unchanged", n, args.policy, args.repeat, tmp)
            report_unchanged(n, r, peak, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
