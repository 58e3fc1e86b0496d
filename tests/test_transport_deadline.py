"""Every request has a total deadline: a server answering one byte a second fails that request
(retried per sync.retries, then the item or calendar fails) instead of hanging the run.

The servers are real (Radicale, the fake EWS server) behind tests/faultproxy.py in "drip" mode,
and `kontaktsync sync` runs as a subprocess, as a user or the daemon's timer runs it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.builders import AS_OF, case_rows, caseload, write_cases
from tests.calendars import read_calendar
from tests.cli import clean_env, run_cli
from tests.configs import write_config
from tests.faultproxy import FaultProxy, Seen
from tests.servers import start_radicale, stop

DEADLINE_S = 2
RETRIES = 1


def _caldav_config(tmp: Path, src: Path, url: str) -> Path:
    data: dict[str, Any] = {
        "policy": "coburg-2016",
        "source": {
            "cases": str(src / "cases.csv"),
            "measures": str(src / "measures.csv"),
            "contacts": str(src / "contacts.csv"),
        },
        "target": {
            "kind": "caldav",
            # the per-read timeout stays long: only the total deadline can end a dripping answer
            "caldav": {"url": url + "{counsellor}/kontaktdichte/", "deadline_seconds": DEADLINE_S},
        },
        "sync": {
            "state_path": str(tmp / "state.sqlite3"),
            "retries": RETRIES,
            "retry_backoff_seconds": 0.01,
        },
    }
    return write_config(tmp / "kontaktsync.toml", data)


def _sync(config: Path, cwd: Path, env: dict[str, str] | None = None) -> tuple[Any, float]:
    start = time.monotonic()
    result = run_cli(["sync", "--config", str(config), "--as-of", AS_OF.isoformat()], cwd, env)
    return result, time.monotonic() - start


@pytest.mark.parametrize("mode", ["drip", "drip-body"])
def test_a_dripping_caldav_server_fails_the_run_within_the_deadline(tmp_path: Path, mode: str) -> None:
    """ "drip": the whole answer (status line first) 1 byte/s; "drip-body": headers at once."""
    server = start_radicale(tmp_path / "radicale")
    try:
        src = caseload(tmp_path / "src")
        with FaultProxy(server.url) as proxy:
            proxy.fault = lambda req: mode  # every answer
            result, elapsed = _sync(_caldav_config(tmp_path, src, proxy.url), tmp_path)
            sizes = list(proxy.answer_sizes)
        out = result.stdout + result.stderr
        assert result.returncode != 0, out
        assert "deadline of 2 s" in out and "target.caldav.deadline_seconds" in out, out
        assert "Traceback" not in out
        # Each calendar's listing was tried 1 + sync.retries times, and then given up.
        assert len(sizes) >= RETRIES + 1
        # Dripping even the shortest answer would take min(sizes) seconds (hundreds).
        assert min(sizes) > 100
        assert elapsed < min(sizes) / 3 and elapsed < 60, (elapsed, sizes)
    finally:
        stop(server)


def test_one_dripping_write_fails_that_item_only(tmp_path: Path) -> None:
    """Only the PUT of one item drips (both attempts): that item fails, everything else is
    written, and the run ends with exit 1 (items failed, retried next run)."""
    server = start_radicale(tmp_path / "radicale")
    try:
        src = caseload(tmp_path / "src")
        chosen: list[str] = []

        def drip_one_put(req: Seen) -> str | None:
            if req.method != "PUT" or "/k.schmidt/" not in req.path:
                return None
            if not chosen:
                chosen.append(req.path)
            return "drip" if req.path == chosen[0] else None

        with FaultProxy(server.url) as proxy:
            proxy.fault = drip_one_put
            result, elapsed = _sync(_caldav_config(tmp_path, src, proxy.url), tmp_path)
            attempts = [s for s in proxy.seen if s.path == chosen[0]]
            sizes = list(proxy.answer_sizes)
        out = result.stdout + result.stderr
        assert result.returncode == 1, out
        assert "deadline of 2 s" in out and ", 1 failed;" in out, out
        assert len(attempts) == RETRIES + 1  # retried as a transient failure, then given up
        assert elapsed < min(sizes) / 3 and elapsed < 60, (elapsed, sizes)
        # Everything else landed: the other counsellors' calendars and the rest of k.schmidt's.
        assert read_calendar(server.calendar_url("m.mueller"))
        assert len(read_calendar(server.calendar_url("k.schmidt"))) > 1
    finally:
        stop(server)


def test_a_dripping_exchange_server_fails_the_run_within_the_deadline(tmp_path: Path) -> None:
    from tests.exchange_helpers import SERVICE_PASSWORD, SERVICE_USER
    from tests.fake_ews import FakeEWS

    write_cases(tmp_path / "export" / "cases.csv", case_rows(3, counsellors=("anna",)))
    with FakeEWS({SERVICE_USER: SERVICE_PASSWORD}) as fake, FaultProxy(fake.url) as proxy:
        proxy.fault = lambda req: "drip"
        endpoint = proxy.url
        data = {
            "policy": "coburg-2016",
            "source": {"cases": str(tmp_path / "export" / "cases.csv")},
            "target": {
                "kind": "exchange",
                "exchange": {
                    "endpoint": endpoint,
                    "auth": "basic",
                    "username": SERVICE_USER,
                    "mailbox": "{counsellor}@jobcenter.example",
                    "deadline_seconds": DEADLINE_S,
                    "max_throttle_wait_seconds": 1,
                },
            },
            "sync": {
                "state_path": str(tmp_path / "state.sqlite3"),
                "retries": RETRIES,
                "retry_backoff_seconds": 0.01,
            },
        }
        config = write_config(tmp_path / "kontaktsync.toml", data)
        env = clean_env(KONTAKTSYNC_TARGET__EXCHANGE__PASSWORD=SERVICE_PASSWORD)
        result, elapsed = _sync(config, tmp_path, env)
        sizes = list(proxy.answer_sizes)
        created = fake.items("anna@jobcenter.example")
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "deadline of 2 s" in out and "target.exchange.deadline_seconds" in out, out
    assert SERVICE_PASSWORD not in out
    assert sizes and min(sizes) > 100
    assert elapsed < min(sizes) / 3 and elapsed < 90, (elapsed, sizes)
    assert created == []


def test_config_check_probe_has_the_deadline_too(tmp_path: Path) -> None:
    server = start_radicale(tmp_path / "radicale")
    try:
        src = caseload(tmp_path / "src")
        with FaultProxy(server.url) as proxy:
            proxy.fault = lambda req: "drip"
            config = _caldav_config(tmp_path, src, proxy.url)
            start = time.monotonic()
            result = run_cli(["config", "check", "--config", str(config)], tmp_path)
            elapsed = time.monotonic() - start
            sizes = list(proxy.answer_sizes)
    finally:
        stop(server)
    assert result.returncode == 1, result.stdout + result.stderr
    failed = [line for line in result.stdout.splitlines() if ": FAILED — no complete answer" in line]
    assert len(failed) == 4 and all("deadline of 2 s" in line for line in failed), result.stdout
    assert sizes and elapsed < min(sizes) / 3 and elapsed < 60, (elapsed, sizes)
