"""Helpers for the service tests: caseloads, config files, a `kontaktsync daemon` subprocess,
and a read-only look at what a CalDAV calendar holds."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from kontaktsync.sync.config.loading import to_toml

VENV_BIN = Path(sys.executable).parent
KONTAKTSYNC = [str(VENV_BIN / "kontaktsync")]
WAIT_S = 60.0  # guard against hanging only; no test asserts on speed

CASE_COLUMNS = [
    "case_id",
    "counsellor",
    "birth_date",
    "status",
    "profile",
    "registration_date",
    "last_contact",
    "display_name",
]
PROFILES = ["marktprofil", "foerderprofil", "entwicklungsprofil", "aktivierungsprofil"]


def case_rows(
    n: int, counsellors: Iterable[str] = ("anna", "bernd"), start: int = 300000
) -> list[dict[str, str]]:
    """`n` cases that each get one contact obligation under coburg-2016 (adults, with contacts)."""
    who = list(counsellors)
    return [
        {
            "case_id": str(start + i),
            "counsellor": who[i % len(who)],
            "birth_date": "1980-01-01",
            "status": "arbeitslos" if i % 3 else "arbeitsuchend",
            "profile": PROFILES[i % len(PROFILES)],
            "registration_date": "2026-01-05",
            # before today whenever the tests run: a contact after the as-of date is a row error
            "last_contact": (date.today() - timedelta(days=5 + i % 80)).isoformat(),
        }
        for i in range(n)
    ]


def write_cases(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write a cases CSV atomically, as an export job should (the daemon may be reading)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CASE_COLUMNS, restval="")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
    return path


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_toml(_drop_none(data)), encoding="utf-8")
    return path


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _drop_none(v) if isinstance(v, dict) else v for k, v in data.items() if v is not None}


def service_config(
    folder: Path,
    dav_url_template: str,
    *,
    listen: str = "",
    interval_minutes: float = 0.02,
    **sections: dict[str, Any],
) -> dict[str, Any]:
    """A daemon configuration: caseload in `folder/export`, state in `folder/state`."""
    data: dict[str, Any] = {
        "policy": "coburg-2016",
        "source": {"cases": str(folder / "export" / "cases.csv")},
        "target": {"kind": "caldav", "caldav": {"url": dav_url_template}},
        "sync": {"state_path": str(folder / "state" / "state.sqlite3")},
        "schedule": {"interval_minutes": interval_minutes},
        "observability": {"listen": listen, "log_format": "json", "log_level": "debug"},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return data


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child: no KONTAKTSYNC_* from the caller, no /run/secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KONTAKTSYNC_")}
    env.pop("CREDENTIALS_DIRECTORY", None)
    env["KONTAKTSYNC_SECRETS_DIR"] = "/nonexistent-kontaktsync-secrets"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def require_console_script() -> None:
    if not (VENV_BIN / "kontaktsync").exists():
        raise AssertionError(
            f"the console script {VENV_BIN / 'kontaktsync'} is missing; "
            "install the project into this environment: pip install -e ."
        )


def run_cli(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    require_console_script()
    return subprocess.run(
        [*KONTAKTSYNC, *args],
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


class Daemon:
    """`kontaktsync daemon` as a child process; its stderr (JSON lines) goes to a file."""

    def __init__(
        self, config: Path, cwd: Path, name: str = "daemon", env: dict[str, str] | None = None
    ) -> None:
        require_console_script()
        self.log_path = cwd / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [*KONTAKTSYNC, "daemon", "--config", str(config)],
            cwd=cwd,
            env=env if env is not None else clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    def lines(self) -> list[str]:
        return self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for line in self.lines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a traceback line; shown by `describe` on failure
            if event is None or record.get("event") == event:
                out.append(record)
        return out

    def describe(self) -> str:
        return f"daemon log {self.log_path}:\n" + "\n".join(self.lines()[-40:])

    def wait_for(self, predicate: Callable[[Daemon], Any], what: str, timeout: float = WAIT_S) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate(self)
            if value:
                return value
            if self.proc.poll() is not None:
                value = predicate(self)
                if value:
                    return value
                raise AssertionError(
                    f"daemon exited ({self.proc.returncode}) before {what}\n{self.describe()}"
                )
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}\n{self.describe()}")

    def runs(self) -> list[dict[str, Any]]:
        return self.events("run_finished")

    def wait_runs(self, n: int) -> list[dict[str, Any]]:
        return self.wait_for(lambda d: len(d.runs()) >= n and d.runs(), f"{n} finished runs")

    def port(self) -> int:
        event = self.wait_for(lambda d: d.events("http_listening"), "the HTTP endpoint")
        return int(event[0]["port"])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = WAIT_S) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


def http_get(url: str) -> tuple[int, str, str]:
    """(status, content type, body) of a GET; HTTP errors are answers, not exceptions."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


_LIST = b"""<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>"""


def calendar_items(calendar_url: str) -> dict[str, str]:
    """href -> iCalendar text of every item in a calendar (empty when it does not exist)."""
    req = urllib.request.Request(calendar_url, data=_LIST, method="PROPFIND", headers={"Depth": "1"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            root = ET.fromstring(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return {}
        raise
    base = urllib.request.urlparse(calendar_url)
    hrefs = [h.text or "" for h in root.iter("{DAV:}href")]
    items: dict[str, str] = {}
    for href in hrefs:
        if not href.endswith(".ics"):
            continue
        with urllib.request.urlopen(f"{base.scheme}://{base.netloc}{href}", timeout=30) as resp:
            items[href] = resp.read().decode()
    return items


def uids(items: dict[str, str]) -> list[str]:
    out: list[str] = []
    for text in items.values():
        for line in text.splitlines():
            if line.startswith("UID:"):
                out.append(line[4:].strip())
                break
    return out


def mentions(items: dict[str, str], case_id: str) -> list[str]:
    """Items whose text mentions a customer number (the summary carries it)."""
    return [href for href, text in items.items() if case_id in text.replace("\r\n ", "")]
