"""Sync speed against a local Radicale: 50 counsellors x 150 cases (issue 3, Speed).

Measures, in one run and against one server process:
1. the first sync (calendars created, every task written);
2. a second, unchanged sync (must write nothing; requests per calendar);
3. the floor (before and after the syncs, averaged): a bare loop of HTTP PUTs of the same
   iCalendar bodies into fresh calendars, on one session of the same HTTP library
   (no planning, no state, no checks).

Usage: python benchmarks/sync_bench.py [--counsellors 50] [--cases 150] [--keep]
Prints the figures; asserts nothing (tests hold the guarantees, this holds the numbers).
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from caldav.lib.http_sync import requests as http
from kontaktsync.sync.cli.demo import local_radicale
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.core.items import desired_items
from kontaktsync.sync.core.planning import make_plan
from kontaktsync.sync.core.runner import run_sync
from kontaktsync.sync.item import namespace_tag
from kontaktsync.sync.targets.caldav import ical
from kontaktsync.sync.targets.caldav.target import MKCALENDAR_BODY

AS_OF = date(2026, 11, 20)
PROFILES = ["marktprofil", "aktivierungsprofil", "foerderprofil", "entwicklungsprofil"]


def write_caseload(folder: Path, counsellors: int, cases: int) -> None:
    rnd = random.Random(42)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "cases.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["case_id", "counsellor", "birth_date", "status", "profile", "registration_date",
                    "last_contact"])  # fmt: skip
        n = 100000
        for c in range(counsellors):
            for _ in range(cases):
                n += 1
                born = date(1960, 1, 1) + timedelta(days=rnd.randrange(0, 365 * 38))
                last = AS_OF - timedelta(days=rnd.randrange(1, 120))
                w.writerow([n, f"berater{c:02d}", born.isoformat(), "arbeitslos",
                            rnd.choice(PROFILES), "2024-01-15", last.isoformat()])  # fmt: skip
    (folder / "measures.csv").write_text(
        "case_id,measure_id,kind,start,end,actual_end,qualifying,follow_up_measure,job_start,"
        "completion_date\n",
        encoding="utf-8",
    )
    (folder / "contacts.csv").write_text("case_id,date,channel,outcome\n", encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--counsellors", type=int, default=50)
    ap.add_argument("--cases", type=int, default=150)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kontaktsync-bench-"))
    try:
        src = tmp / "src"
        write_caseload(src, args.counsellors, args.cases)
        with local_radicale(tmp / "radicale") as server:
            settings = Settings(
                source={"cases": src / "cases.csv", "measures": src / "measures.csv",
                        "contacts": src / "contacts.csv"},
                target={"kind": "caldav",
                        "caldav": {"url": server.url + "{counsellor}/kontaktdichte/"}},
                sync={"state_path": tmp / "state.sqlite3"},
            )  # fmt: skip
            t0 = time.perf_counter()
            plan = make_plan(settings, AS_OF)
            t_plan = time.perf_counter() - t0

            desired = desired_items(plan, settings)
            tag = namespace_tag(settings.sync.namespace)
            session = http.Session()

            def floor(prefix: str) -> tuple[float, int]:
                """PUT the same bodies one after the other into fresh calendars."""
                bodies = [
                    (f"{server.url}{prefix}-{cal}/kontaktdichte/{uid}.ics", ical.render(item, tag))
                    for cal, items in desired.items()
                    for uid, item in items.items()
                ]
                for cal in desired:
                    session.request("MKCOL", f"{server.url}{prefix}-{cal}/")
                    session.request("MKCALENDAR", f"{server.url}{prefix}-{cal}/kontaktdichte/",
                                    data=MKCALENDAR_BODY)  # fmt: skip
                t0 = time.perf_counter()
                for url, body in bodies:
                    r = session.put(url, data=body, headers={"Content-Type": "text/calendar"})
                    assert r.status_code in (200, 201, 204), r.status_code
                return time.perf_counter() - t0, len(bodies)

            # Floor before and after the sync, so a server that slows as it fills (or a busy
            # machine) does not favour either side.
            t_floor1, n_floor = floor("floor1")

            t0 = time.perf_counter()
            first = run_sync(settings, as_of=AS_OF)
            t_first = time.perf_counter() - t0

            t0 = time.perf_counter()
            second = run_sync(settings, as_of=AS_OF)
            t_second = time.perf_counter() - t0

            t0 = time.perf_counter()
            third = run_sync(settings, as_of=AS_OF)
            t_third = time.perf_counter() - t0

            t_floor2, _ = floor("floor2")
            session.close()
            t_floor = (t_floor1 + t_floor2) / 2

        cals = len(first.per_calendar)
        print(f"caseload: {args.counsellors} counsellors x {args.cases} cases; "
              f"{len(plan.obligations)} obligations -> {first.created} tasks; "
              f"planning alone {t_plan:.2f} s")  # fmt: skip
        print(f"first sync:        {t_first:7.2f} s  {first.requests} requests "
              f"({first.created} created, {first.failed} failed)")  # fmt: skip
        print(f"bare PUT loop:     {t_floor:7.2f} s  {n_floor} requests  (floor; mean of "
              f"{t_floor1:.2f} s before and {t_floor2:.2f} s after the syncs)")  # fmt: skip
        print(f"  first sync / floor = {t_first / t_floor:.2f}  (target <= 1.3)")
        for name, rep, t in (("unchanged re-sync", second, t_second), ("third sync", third, t_third)):
            print(f"{name}: {t:7.2f} s  {rep.requests} requests = "
                  f"{rep.requests / cals:.1f} per calendar, {rep.writes} writes; "
                  f"{100 * t / t_first:.1f} % of the first sync (target < 5 %)")  # fmt: skip
        return 0
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
