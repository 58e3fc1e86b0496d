"""EWS requests per mailbox for a first sync and an unchanged re-sync, against the fake EWS
server of the tests (tests/fake_ews), plus the wall time of each run on this machine.

The counts are what our code and exchangelib send; the times say nothing about a real
Exchange (the fake answers in microseconds).

    python benchmarks/exchange_requests.py [--cases 150] [--mailboxes 1] [--markers]
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
    args = parser.parse_args()
    counsellors = tuple(f"berater{i}" for i in range(args.mailboxes))
    plan = make_plan(args.cases, counsellors)
    figures: dict[str, object] = {"cases": args.cases, "mailboxes": args.mailboxes}
    with FakeEWS({SERVICE_USER: SERVICE_PASSWORD}) as fake, tempfile.TemporaryDirectory() as tmp:
        settings = exchange_settings(fake, Path(tmp), appointments="marker" if args.markers else "none")
        for label, fresh in (
            ("first_sync", True),
            ("unchanged_resync_new_process", True),
            ("unchanged_resync_same_process", False),
        ):
            if fresh:
                forget_accounts()
            fake.reset_counts()
            started = time.perf_counter()
            report = run(settings, plan)
            seconds = time.perf_counter() - started
            per_mailbox = {mailbox_of(c): fake.counts_by_operation(mailbox_of(c)) for c in counsellors}
            figures[label] = {
                "seconds": round(seconds, 3),
                "writes": report.writes,
                "failed": report.failed,
                "requests_without_mailbox": fake.count(mailbox=None)
                - sum(sum(v.values()) for v in per_mailbox.values()),
                "per_mailbox": per_mailbox[mailbox_of(counsellors[0])],
                "per_mailbox_total": sum(per_mailbox[mailbox_of(counsellors[0])].values()),
            }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
