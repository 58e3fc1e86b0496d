"""`kontaktsync demo`: a local Radicale with the example caseload synced into it.

Starts Radicale on 127.0.0.1 (a free port, a temporary folder, no authentication, nothing
reachable from elsewhere), syncs the shipped example caseload (sync/examples/) under three
built-in policies - recurring contacts (coburg-2016), talks around measures
(hamburg-absolventenmanagement) and care plans (ams-betreuungsplan) - into one calendar per
counsellor and policy, and says what was written and how to open it in a client.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.core.planning import make_plan
from kontaktsync.sync.core.runner import SyncReport, run_sync
from kontaktsync.sync.targets.caldav.target import CalDAVTarget

EXAMPLES = Path(__file__).parents[1] / "examples"


@dataclass
class LocalServer:
    url: str
    folder: Path
    proc: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_radicale(folder: Path, port: int = 0) -> Iterator[LocalServer]:
    """Radicale on 127.0.0.1 storing into `folder`; stopped when the block ends."""
    port = port or _free_port()
    (folder / "collections").mkdir(parents=True, exist_ok=True)
    log = (folder / "radicale.log").open("wb")
    cmd = [
        sys.executable, "-m", "radicale", "--config", "",
        "--server-hosts", f"127.0.0.1:{port}",
        "--storage-filesystem-folder", str(folder / "collections"),
        "--auth-type", "none", "--rights-type", "authenticated",
        "--web-type", "none", "--logging-level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"Radicale did not start; see {folder / 'radicale.log'}")
            try:
                urllib.request.urlopen(urllib.request.Request(url, method="OPTIONS"), timeout=2)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("Radicale did not answer within 30 s") from None
                time.sleep(0.05)
        yield LocalServer(url, folder, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


DEMO_POLICIES = ("coburg-2016", "hamburg-absolventenmanagement", "ams-betreuungsplan")


def demo_settings(server_url: str, folder: Path, policy: str = DEMO_POLICIES[0]) -> Settings:
    return Settings(
        source={
            "cases": EXAMPLES / "cases.csv",
            "measures": EXAMPLES / "measures.csv",
            "contacts": EXAMPLES / "contacts.csv",
        },
        policy=policy,
        target={"kind": "caldav", "caldav": {"url": server_url + "{counsellor}/" + policy + "/"}},
        items={"appointments": "marker"},
        sync={"state_path": folder / f"state-{policy}.sqlite3", "namespace": f"kontaktsync-demo-{policy}"},
    )


def how_to_open(urls: dict[str, str]) -> str:
    first = next(iter(urls.values()), "http://127.0.0.1:PORT/<counsellor>/<policy>/")
    lines = ["Calendars (one per counsellor and policy):"]
    lines += [f"  {who:<44} {url}" for who, url in urls.items()]
    lines += [
        "",
        "Open them in a client (any user name and password are accepted):",
        "  Thunderbird: Calendar > New Calendar > On the Network > paste a URL above;",
        "               tasks appear under Tasks, the appointments in the month view.",
        "  khal/todoman: point vdirsyncer at a URL above (type caldav), sync, then run",
        "               `todo list` or `khal list`.",
        f"  curl: curl -X PROPFIND -H 'Depth: 1' {first}",
    ]
    return "\n".join(lines)


def _total(reports: list[SyncReport]) -> SyncReport:
    """One report for the exit code: the counts and failures of every policy's run."""
    total = SyncReport(run_id=reports[0].run_id, started=reports[0].started)
    for r in reports:
        for name in ("created", "updated", "completed", "deleted", "failed", "unchanged"):
            setattr(total, name, getattr(total, name) + getattr(r, name))
        total.unreachable.extend(r.unreachable)
        total.errors.extend(r.errors)
    return total


def _wait_for_stop(server: LocalServer) -> None:
    """Serve until Ctrl-C or SIGTERM; either way the caller's clean-up stops Radicale."""

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        while server.proc.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopped.")
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_demo(
    *, serve: bool = False, folder: Path | None = None, port: int = 0, as_of: date | None = None
) -> tuple[SyncReport, dict[str, str]]:
    """Start Radicale, sync the examples under each demo policy, say what was written and where
    to look; with `serve` keep Radicale running until Ctrl-C or SIGTERM."""
    keep = folder is not None
    folder = folder or Path(tempfile.mkdtemp(prefix="kontaktsync-demo-"))
    try:
        with local_radicale(folder, port) as server:
            reports, urls = [], {}
            for policy in DEMO_POLICIES:
                settings = demo_settings(server.url, folder, policy)
                plan = make_plan(settings, as_of)
                report = run_sync(settings, plan=plan, progress=True)
                reports.append(report)
                tasks = len(plan.obligations)
                print(
                    f"{policy}: {tasks} tasks and {tasks} appointments for {len(plan.cases)} cases "
                    f"({report.created} items created, {report.updated} updated, "
                    f"{report.unchanged} unchanged, {report.failed} failed)"
                )
                kinds = sorted({str(o.kind) for o in plan.obligations})
                print(f"  kinds: {', '.join(kinds)}")
                tgt = CalDAVTarget(settings)
                urls |= {f"{cal} ({policy})": tgt.address(cal) for cal in sorted(report.per_calendar)}
                tgt.close()
            print(f"Radicale at {server.url}" + (f" keeps the calendars in {folder}." if keep else "."))
            if serve:
                print(how_to_open(urls))
                print("\nServing until Ctrl-C ...", flush=True)
                _wait_for_stop(server)
            else:
                print(
                    "The demo server stops now, so these calendars are not reachable after this "
                    "command. To browse them in a client, run `kontaktsync demo --serve`"
                    + (f" --folder {folder}" if keep else "")
                    + "."
                )
            return _total(reports), urls
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
