"""EWS requests per mailbox for a first sync, an unchanged re-sync and a run in which a third
of the cases left (their items deleted), against the fake EWS server of the tests
(tests/fake_ews), plus the wall time of each run on this machine.

The counts are what our code and exchangelib send; the times say nothing about a real
Exchange (the fake answers in microseconds). `--find-count-limit N` gives the fake a throttling
policy that allows N items per request (ErrorExceededFindCountLimit); `refused` counts the
requests it refused for it, over all mailboxes. `get_item_answer_bytes` is the size of the
GetItem answers of the first mailbox.

    python benchmarks/exchange_requests.py [--cases 150] [--mailboxes 1] [--markers]
        [--find-count-limit N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kontaktsync.sync.targets.exchange.target import forget_accounts

from tests.exchange_helpers import (
    SERVICE_PASSWORD,
    SERVICE_USER,
    exchange_settings,
    mailbox_of,
    make_plan,
    run,
)
from tests.fake_ews import FakeEWS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=150)
    parser.add_argument("--mailboxes", type=int, default=1)
    parser.add_argument("--markers", action="store_true", help="also write marker appointments")
    parser.add_argument("--find-count-limit", type=int, default=None, metavar="N")
    args = parser.parse_args()
    counsellors = tuple(f"berater{i}" for i in range(args.mailboxes))
    first = mailbox_of(counsellors[0])  # the mailbox whose GetItem answers are counted
    plan = make_plan(args.cases, counsellors)
    left = [str(100000 + i) for i in range(args.cases) if i // args.mailboxes % 3 == 0]  # in each mailbox
    shrunk = make_plan(args.cases, counsellors, drop=left)
    figures: dict[str, object] = {
        "cases": args.cases,
        "mailboxes": args.mailboxes,
        "find_count_limit": args.find_count_limit,
    }
    with FakeEWS({SERVICE_USER: SERVICE_PASSWORD}) as fake, tempfile.TemporaryDirectory() as tmp:
        fake.max_find_count = args.find_count_limit
        settings = exchange_settings(fake, Path(tmp), appointments="marker" if args.markers else "none")
        for label, fresh, this_plan in (
            ("first_sync", True, plan),
            ("unchanged_resync_new_process", True, plan),
            ("unchanged_resync_same_process", False, plan),
            ("a_third_left_same_process", False, shrunk),
        ):
            if fresh:
                forget_accounts()
            fake.reset_counts()
            started = time.perf_counter()
            report = run(settings, this_plan, allow_mass_delete=True)  # a third is above the guard
            seconds = time.perf_counter() - started
            per_mailbox = {mailbox_of(c): fake.counts_by_operation(mailbox_of(c)) for c in counsellors}
            figures[label] = {
                "seconds": round(seconds, 3),
                "writes": report.writes,
                "failed": report.failed,
                "refused": len(fake.find_count_refusals),
                "get_item_answer_bytes": fake.answer_bytes(mailbox=first, operation="GetItem"),
                "requests_without_mailbox": fake.count(mailbox=None)
                - sum(sum(v.values()) for v in per_mailbox.values()),
                "per_mailbox": per_mailbox[first],
                "per_mailbox_total": sum(per_mailbox[first].values()),
            }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
