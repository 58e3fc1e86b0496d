"""`kontaktsync demo`: a local Radicale with the example caseload synced into it.

Starts Radicale on 127.0.0.1 (a free port, a temporary folder, no authentication, nothing
reachable from elsewhere), syncs the shipped example caseload (sync/examples/) into one
calendar per counsellor, and prints the calendar URLs and how to open them in a client.
"""

from __future__ import annotations

import shutil
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
from kontaktsync.sync.core.runner import SyncReport, run_sync

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


def demo_settings(server_url: str, folder: Path) -> Settings:
    return Settings(
        source={
            "cases": EXAMPLES / "cases.csv",
            "measures": EXAMPLES / "measures.csv",
            "contacts": EXAMPLES / "contacts.csv",
        },
        target={"kind": "caldav", "caldav": {"url": server_url + "{counsellor}/kontaktdichte/"}},
        items={"appointments": "marker"},
        sync={"state_path": folder / "state.sqlite3", "namespace": "kontaktsync-demo"},
    )


def how_to_open(urls: dict[str, str]) -> str:
    first = next(iter(urls.values()), "http://127.0.0.1:PORT/<counsellor>/kontaktdichte/")
    lines = ["Calendars (one per counsellor):"]
    lines += [f"  {who:<12} {url}" for who, url in urls.items()]
    lines += [
        "",
        "Open them in a client (any user name and password are accepted):",
        "  Thunderbird: Calendar > New Calendar > On the Network > paste a URL above;",
        "               tasks appear under Tasks, the markers in the month view.",
        "  khal/todoman: point vdirsyncer at a URL above (type caldav), sync, then run",
        "               `todo list` or `khal list`.",
        f"  curl: curl -X PROPFIND -H 'Depth: 1' {first}",
    ]
    return "\n".join(lines)


def run_demo(
    *, serve: bool = False, folder: Path | None = None, port: int = 0, as_of: date | None = None
) -> tuple[SyncReport, dict[str, str]]:
    """Start Radicale, sync the examples, print where to look; with `serve` wait for Ctrl-C."""
    keep = folder is not None
    folder = folder or Path(tempfile.mkdtemp(prefix="kontaktsync-demo-"))
    try:
        with local_radicale(folder, port) as server:
            settings = demo_settings(server.url, folder)
            report = run_sync(settings, as_of=as_of, progress=True)
            from kontaktsync.sync.targets.caldav.target import CalDAVTarget

            tgt = CalDAVTarget(settings)
            urls = {cal: tgt.address(cal) for cal in sorted(report.per_calendar)}
            tgt.close()
            print(
                f"Synced the example caseload into Radicale at {server.url}: "
                f"{report.created} created, {report.updated} updated, "
                f"{report.unchanged} unchanged, {report.failed} failed."
            )
            print(how_to_open(urls))
            if serve:
                print("\nServing until Ctrl-C ...", flush=True)
                try:
                    while server.proc.poll() is None:
                        time.sleep(0.5)
                except KeyboardInterrupt:
                    print("stopped.")
            else:
                print("\nThe server stops now; run `kontaktsync demo --serve` to keep it running.")
            return report, urls
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
