"""Helpers for the CalDAV guarantee tests: caseloads, settings, the CLI, a second client.

The "second client" (`read_calendar`) is deliberately not kontaktsync code: plain urllib
PROPFIND + GET, so what it sees is what any client would see.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import icalendar
from kontaktsync.sync.config.models import Settings

EXAMPLES = Path(__file__).resolve().parent.parent / "sync" / "examples"
AS_OF = date(2026, 11, 22)
DAV = "{DAV:}"


def caseload(
    folder: Path,
    keep: Callable[[dict[str, str]], bool] | None = None,
    extra_contacts: Iterable[dict[str, str]] = (),
) -> Path:
    """Copy the example caseload into `folder`, keeping the cases `keep` accepts."""
    folder.mkdir(parents=True, exist_ok=True)
    with (EXAMPLES / "cases.csv").open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        rows = [r for r in reader if keep is None or keep(r)]
    with (folder / "cases.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fields)
        writer.writeheader()
        writer.writerows(rows)
    shutil.copy(EXAMPLES / "measures.csv", folder / "measures.csv")
    shutil.copy(EXAMPLES / "contacts.csv", folder / "contacts.csv")
    extra = list(extra_contacts)
    if extra:
        with (folder / "contacts.csv").open("a", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, ["case_id", "date", "channel", "outcome"])
            writer.writerows(extra)
    return folder


def example_case_ids() -> list[str]:
    with (EXAMPLES / "cases.csv").open(newline="", encoding="utf-8") as fh:
        return [r["case_id"] for r in csv.DictReader(fh)]


def settings_for(url: str, tmp: Path, source: Path, *, appointments: str = "marker", **sync: Any) -> Settings:
    """Settings for a server (or proxy) at `url`, state in `tmp`."""
    return Settings(
        source={
            "cases": source / "cases.csv",
            "measures": source / "measures.csv",
            "contacts": source / "contacts.csv",
        },
        target={"kind": "caldav", "caldav": {"url": url + "{counsellor}/kontaktdichte/"}},
        items={"appointments": appointments},
        sync={"state_path": tmp / "state.sqlite3", "retry_backoff_seconds": 0.01, **sync},
    )


def write_config(settings: Settings, path: Path) -> Path:
    """The settings as a TOML file for `kontaktsync sync --config`."""
    s = settings
    assert s.target.caldav is not None
    text = f"""policy = "{s.policy}"

[source]
cases = "{s.source.cases}"
measures = "{s.source.measures}"
contacts = "{s.source.contacts}"

[target]
kind = "caldav"

[target.caldav]
url = "{s.target.caldav.url}"

[items]
appointments = "{s.items.appointments}"

[privacy]
show_names = {str(s.privacy.show_names).lower()}

[sync]
state_path = "{s.sync.state_path}"
retry_backoff_seconds = {s.sync.retry_backoff_seconds}
mass_delete_min = {s.sync.mass_delete_min}
"""
    path.write_text(text, encoding="utf-8")
    return path


def run_cli(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `kontaktsync` as a separate process (the console script of this venv)."""
    exe = Path(sys.executable).with_name("kontaktsync")
    cmd = (
        [str(exe)]
        if exe.exists()
        else [sys.executable, "-c", "from kontaktsync.sync.cli import main; main()"]
    )
    secrets = cwd / "no-secrets"
    secrets.mkdir(exist_ok=True)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KONTAKTSYNC_")} | {
        "KONTAKTSYNC_SECRETS_DIR": str(secrets),
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    full_env |= env or {}
    return subprocess.run(cmd + args, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)


def _propfind(url: str) -> list[tuple[str, str]]:
    body = b'<?xml version="1.0"?><propfind xmlns="DAV:"><prop><getetag/></prop></propfind>'
    req = urllib.request.Request(
        url, data=body, method="PROPFIND", headers={"Depth": "1", "Content-Type": "application/xml"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            root = ET.fromstring(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise
    out = []
    for r in root.findall(f"{DAV}response"):
        href = r.findtext(f"{DAV}href") or ""
        etag = r.findtext(f"{DAV}propstat/{DAV}prop/{DAV}getetag") or ""
        if href.endswith(".ics"):
            out.append((href, etag))
    return out


def read_calendar(url: str) -> dict[str, bytes]:
    """href -> body of every object in the calendar at `url` (a second, independent client)."""
    out = {}
    for href, _ in _propfind(url):
        with urllib.request.urlopen(urljoin(url, href), timeout=30) as resp:
            out[href] = resp.read()
    return out


def etags(url: str) -> dict[str, str]:
    return dict(_propfind(url))


def components(url: str) -> list[icalendar.cal.Component]:
    comps = []
    for body in read_calendar(url).values():
        cal = icalendar.Calendar.from_ical(body)
        comps.extend(c for c in cal.subcomponents if c.name in ("VTODO", "VEVENT"))
    return comps


def server_uids(base_url: str, counsellors: Iterable[str]) -> list[str]:
    """Every UID on the server in the given counsellors' calendars (duplicates kept)."""
    uids = []
    for who in counsellors:
        uids.extend(str(c["UID"]) for c in components(f"{base_url}{who}/kontaktdichte/"))
    return uids


def put_object(url: str, body: bytes, etag: str | None = None) -> int:
    headers = {"Content-Type": "text/calendar; charset=utf-8"}
    if etag:
        headers["If-Match"] = etag
    req = urllib.request.Request(url, data=body, method="PUT", headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status
