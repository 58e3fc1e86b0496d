"""Shared fixtures for the Exchange tests: the fake EWS server and exchangelib accounts on it.

The `fake_ews` fixture (a started fake with the service account) is in tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    Account,
    Build,
    Configuration,
    Credentials,
    EWSTimeZone,
    FailFast,
    FaultTolerance,
    Version,
)
from kontaktsync.rules.model import CaseFacts, Obligation, ObligationKind, Plan
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.core.runner import SyncReport, run_sync
from kontaktsync.sync.targets.exchange.target import ExchangeTarget

from tests.fake_ews import SERVICE_PASSWORD, SERVICE_USER, FakeEWS

EXCHANGE_2016 = Build(15, 1, 2507, 6)


def ews_account(
    fake: FakeEWS,
    mailbox: str,
    *,
    access: str = IMPERSONATION,
    password: str = SERVICE_PASSWORD,
    tz: str = "Europe/Berlin",
    fail_fast: bool = False,
    max_wait: float = 5,
    pin_version: bool = True,
    **config: Any,
) -> Account:
    """An exchangelib Account on the fake, the way the Exchange target makes one."""
    cfg = Configuration(
        service_endpoint=fake.url,
        credentials=Credentials(SERVICE_USER, password),
        auth_type=BASIC,
        version=Version(build=EXCHANGE_2016) if pin_version else None,
        retry_policy=FailFast() if fail_fast else FaultTolerance(max_wait=max_wait),
        **config,
    )
    return Account(
        mailbox,
        config=cfg,
        autodiscover=False,
        access_type=access if access in (IMPERSONATION, DELEGATE) else IMPERSONATION,
        default_timezone=EWSTimeZone(tz),
    )


# ----- plans and settings for the ExchangeTarget tests -------------------------------------
AS_OF = date(2026, 11, 20)
DOMAIN = "jobcenter.example"


def mailbox_of(counsellor: str) -> str:
    return f"{counsellor}@{DOMAIN}"


def make_plan(
    n: int,
    counsellors: Sequence[str] = ("anna",),
    *,
    as_of: date = AS_OF,
    drop: Iterable[str] = (),
    new_contact: Mapping[str, date] | None = None,
    due_shift: Mapping[str, int] | None = None,
) -> Plan:
    """`n` cases, each with one `contact` obligation (2MM), spread over `counsellors`.

    Every seventh case is overdue. `drop` removes cases (they left the caseload);
    `new_contact` gives a case a new counting contact (a new cycle: the old task is
    fulfilled); `due_shift` moves a case's due date within its cycle (days).
    """
    new_contact = dict(new_contact or {})
    due_shift = dict(due_shift or {})
    dropped = set(drop)
    obligations: list[Obligation] = []
    cases: dict[str, CaseFacts] = {}
    for i in range(n):
        cid = str(100000 + i)
        if cid in dropped:
            continue
        counsellor = counsellors[i % len(counsellors)]
        anchor = as_of - timedelta(days=20 + i % 40)
        if i % 7 == 0:
            anchor = as_of - timedelta(days=75)
        contacts = (anchor,)
        if cid in new_contact:
            anchor = new_contact[cid]
            contacts = (*contacts, anchor)
        due = anchor + timedelta(days=61 + due_shift.get(cid, 0))
        obligations.append(
            Obligation(
                case_id=cid,
                counsellor=counsellor,
                kind=ObligationKind.CONTACT,
                tag="2MM",
                due=due,
                window_start=due - timedelta(days=14),
                overdue=due < as_of,
                rule="coburg-2016 §2 marktnah",
                policy="coburg-2016",
                cycle=f"contact:{anchor.isoformat()}",
                anchor=anchor,
                last_contact=anchor,
                interval="2M",
            )
        )
        cases[cid] = CaseFacts(cid, counsellor, counting_contacts=contacts)
    return Plan(as_of=as_of, policy="coburg-2016", obligations=obligations, cases=cases)


def exchange_settings(
    fake: FakeEWS,
    tmp: Path,
    *,
    appointments: str = "none",
    password: str = SERVICE_PASSWORD,
    timezone: str = "Europe/Berlin",
    access: str = "impersonation",
    auth: str = "basic",
    username: str = SERVICE_USER,
    **sync: Any,
) -> Settings:
    return Settings(
        source={"cases": tmp / "cases.csv"},
        target={
            "kind": "exchange",
            "exchange": {
                "endpoint": fake.url,
                "auth": auth,
                "username": username,
                "password": password,
                "access": access,
                "mailbox": "{counsellor}@" + DOMAIN,
                "timezone": timezone,
                "max_throttle_wait_seconds": 5,
            },
        },
        items={"appointments": appointments},
        sync={"state_path": tmp / "state.sqlite3", "retry_backoff_seconds": 0.01, **sync},
    )


def run(settings: Settings, plan: Plan, **kwargs: Any) -> SyncReport:
    """One sync run in this process with a fresh ExchangeTarget (a new process would also
    make new Accounts; exchangelib's Protocol, and so its version, is cached per process)."""
    target = ExchangeTarget(settings, retry_wait=0.01)
    try:
        return run_sync(settings, plan=plan, target=target, **kwargs)
    finally:
        target.close()


def child_run(args_json: str) -> None:
    """Entry point for a sync in a separate process (crash tests): `python -c ...`."""
    args = json.loads(args_json)
    fake_url = args["url"]

    class _Remote:
        url = fake_url

    settings = exchange_settings(_Remote(), Path(args["tmp"]))  # type: ignore[arg-type]
    plan = make_plan(args["n"], tuple(args["counsellors"]), **_plan_kwargs(args.get("plan", {})))
    report = run(settings, plan)
    print(json.dumps({"created": report.created, "failed": report.failed}))


def _plan_kwargs(raw: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(raw)
    if "new_contact" in out:
        out["new_contact"] = {k: date.fromisoformat(v) for k, v in out["new_contact"].items()}
    return out


def run_child(
    fake: FakeEWS,
    tmp: Path,
    n: int,
    counsellors: Sequence[str],
    env: dict[str, str],
    plan: Mapping[str, Any] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`child_run` in a separate process, with `env` added (e.g. the runner's fault hook).
    `plan` holds `make_plan` keywords (dates as ISO strings)."""
    args = {
        "url": fake.url,
        "tmp": str(tmp),
        "n": n,
        "counsellors": list(counsellors),
        "plan": dict(plan or {}),
    }
    code = f"from tests.exchange_helpers import child_run; child_run({json.dumps(json.dumps(args))})"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KONTAKTSYNC_")}
    full_env |= env
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=str(REPO),
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


REPO = Path(__file__).resolve().parent.parent


# The live tests (tests/test_exchange_live.py) run when these are set.
LIVE_REQUIRED = (
    "KONTAKTSYNC_EWS_ENDPOINT",
    "KONTAKTSYNC_EWS_USERNAME",
    "KONTAKTSYNC_EWS_PASSWORD",
    "KONTAKTSYNC_EWS_MAILBOX",
)
LIVE = all(os.environ.get(name) for name in LIVE_REQUIRED)
NOT_RUN = (
    f"live Exchange tests not run: set {', '.join(LIVE_REQUIRED)} (see tests/test_exchange_live.py) "
    "to run them against a real Exchange"
)
