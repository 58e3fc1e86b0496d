"""An outage is a failure: a server that is down or refuses the credentials never counts as a
successful run, neither for the daemon (/healthz, /metrics, the log) nor for `kontaktsync sync`
(exit code 5).

Real processes throughout: the daemon and the CLI as subprocesses, Radicale as a subprocess
(stopped mid-test, or with htpasswd users), a fault proxy for a single failing item.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

from kontaktsync.sync.service.exit_codes import ExitCode

from tests.builders import case_rows, write_cases
from tests.cli import clean_env, run_cli
from tests.configs import service_config, write_config
from tests.faultproxy import FaultProxy
from tests.servers import free_port, start_radicale, stop
from tests.service_helpers import Daemon, http_get

RIGHT = "Right-Password-4711-abc"
WRONG = "Wrong-Password-0815-xyz"
FAST_RETRIES = {"retries": 1, "retry_backoff_seconds": 0.01}


def _metric(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name + (f"{{{labels}}}" if labels else "")) + r" ([0-9.e+-]+)$"
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"{name}{{{labels}}} missing in /metrics:\n{text}"
    return float(match.group(1))


def _config(folder: Path, url_template: str, username: str | None = None) -> Path:
    data = service_config(folder, url_template, listen="127.0.0.1:0", sync=FAST_RETRIES)
    data["observability"]["healthy_within_minutes"] = 0.01  # 0.6 s without success is stale
    data["target"]["caldav"]["username"] = username
    return write_config(folder / "kontaktsync.toml", data)


def _password_env(folder: Path, password: str) -> dict[str, str]:
    secrets = folder / "secrets"
    secrets.mkdir(exist_ok=True)
    (secrets / "kontaktsync_target__caldav__password").write_text(password)
    return clean_env(KONTAKTSYNC_SECRETS_DIR=str(secrets))


def _failed_runs(daemon: Daemon) -> list[dict[str, Any]]:
    return [r for r in daemon.runs() if r["outcome"] == "failed"]


def _wait_503(daemon: Daemon, port: int) -> dict[str, Any]:
    import json

    _, _, body = daemon.wait_for(
        lambda d: (r := http_get(f"http://127.0.0.1:{port}/healthz"))[0] == 503 and r,
        "/healthz to answer 503",
    )
    return json.loads(body)


def test_server_down_fails_the_run_turns_healthz_503_and_keeps_last_success(tmp_path: Path) -> None:
    server = start_radicale(tmp_path / "radicale")
    rows = case_rows(4)
    rows[3]["profile"] = "markt"  # one bad row: counted as rejected, the others go on
    write_cases(tmp_path / "export" / "cases.csv", rows)
    config = _config(tmp_path, server.url_template)
    daemon = Daemon(config, tmp_path)
    try:
        ok_run = daemon.wait_for(
            lambda d: [r for r in d.runs() if r["outcome"] == "success"], "a successful run"
        )[0]
        assert ok_run["counts"]["created"] == 3 and ok_run["rows_rejected"] == 1, daemon.describe()
        port = daemon.port()
        metrics = http_get(f"http://127.0.0.1:{port}/metrics")[2]
        assert _metric(metrics, "kontaktsync_rows_rejected", 'file="cases.csv"') == 1

        stop(server)  # the outage
        seen = len(_failed_runs(daemon))
        daemon.wait_for(lambda d: len(_failed_runs(d)) >= seen + 2, "two runs during the outage")
        metrics = http_get(f"http://127.0.0.1:{port}/metrics")[2]
        last_success = _metric(metrics, "kontaktsync_last_success_timestamp_seconds")
        failed_before = _metric(metrics, "kontaktsync_runs_total", 'outcome="failed"')
        assert last_success > 1.7e9 and failed_before >= 2

        body = _wait_503(daemon, port)
        assert body["status"] == "stale" and body["last_outcome"] == "failed", body
        assert body["last_run_failed"] is True
        assert "could not be reached" in body["last_failure"] and "anna" in body["last_failure"]
        assert body["last_success"] is not None

        daemon.wait_for(lambda d: len(_failed_runs(d)) >= seen + 3, "one more run during the outage")
        metrics = http_get(f"http://127.0.0.1:{port}/metrics")[2]
        assert _metric(metrics, "kontaktsync_last_success_timestamp_seconds") == last_success
        assert _metric(metrics, "kontaktsync_runs_total", 'outcome="failed"') > failed_before
        assert _metric(metrics, "kontaktsync_items_total", 'action="created"') == 3

        failed = [e for e in daemon.events("run_failed") if e.get("error_type") == "unreachable"]
        assert failed and failed[-1]["level"] == "error", daemon.describe()
        assert sorted(failed[-1]["calendars_unreachable"]) == ["anna", "bernd"]
        assert "could not be reached" in failed[-1]["msg"]

        # The server comes back on the same port: the next run succeeds, the failure is cleared.
        server = start_radicale(tmp_path / "radicale", port=server.port)
        recovered = len(daemon.runs())
        daemon.wait_for(
            lambda d: [r for r in d.runs()[recovered:] if r["outcome"] == "success"],
            "a successful run after the outage",
        )
        body = http_get(f"http://127.0.0.1:{port}/healthz")[2]
        assert '"last_failure": null' in body and '"last_run_failed": false' in body
    finally:
        code = daemon.stop(signal.SIGTERM)
        stop(server)
    assert code == 0, daemon.describe()


def test_refused_credentials_fail_every_run_and_never_show_the_password(tmp_path: Path) -> None:
    server = start_radicale(tmp_path / "radicale", users={"sync": RIGHT})
    write_cases(tmp_path / "export" / "cases.csv", case_rows(3))
    config = _config(tmp_path, server.url_template, username="sync")
    daemon = Daemon(config, tmp_path, env=_password_env(tmp_path, WRONG))
    try:
        daemon.wait_for(lambda d: len(_failed_runs(d)) >= 2, "two failed runs")
        assert not [r for r in daemon.runs() if r["outcome"] != "failed"], daemon.describe()
        port = daemon.port()
        body = _wait_503(daemon, port)
        assert body["last_run_failed"] is True and "refused the credentials" in body["last_failure"]
        assert body["last_success"] is None
        metrics = http_get(f"http://127.0.0.1:{port}/metrics")[2]
        assert _metric(metrics, "kontaktsync_runs_total", 'outcome="failed"') >= 2
        assert _metric(metrics, "kontaktsync_runs_total", 'outcome="success"') == 0
        assert _metric(metrics, "kontaktsync_last_success_timestamp_seconds") == 0
        everything = "\n".join(daemon.lines()) + str(body) + metrics
        assert WRONG not in everything and RIGHT not in everything
    finally:
        code = daemon.stop(signal.SIGTERM)
        stop(server)
    assert code == 0, daemon.describe()


def test_sync_exits_5_when_nothing_can_be_reached(tmp_path: Path) -> None:
    write_cases(tmp_path / "export" / "cases.csv", case_rows(3))
    nobody = f"http://127.0.0.1:{free_port()}/{{counsellor}}/kontaktdichte/"  # nothing listens
    config = _config(tmp_path, nobody)
    out = run_cli(["sync", "--config", str(config)], tmp_path)
    assert out.returncode == ExitCode.UNREACHABLE == 5, out.stdout + out.stderr
    assert "run failed: 2 calendar(s) could not be reached: anna, bernd" in out.stderr
    assert "connection failed" in out.stderr


def test_sync_exits_5_on_refused_credentials_without_showing_them(tmp_path: Path) -> None:
    server = start_radicale(tmp_path / "radicale", users={"sync": RIGHT})
    try:
        write_cases(tmp_path / "export" / "cases.csv", case_rows(3))
        config = _config(tmp_path, server.url_template, username="sync")
        out = run_cli(["sync", "--config", str(config)], tmp_path, _password_env(tmp_path, WRONG))
        assert out.returncode == 5, out.stdout + out.stderr
        assert "run failed" in out.stderr and "refused the credentials" in out.stderr
        assert WRONG not in out.stdout + out.stderr

        good = run_cli(["sync", "--config", str(config)], tmp_path, _password_env(tmp_path, RIGHT))
        assert good.returncode == 0, good.stdout + good.stderr
        assert "3 created" in good.stdout and "run failed" not in good.stderr
    finally:
        stop(server)


def test_one_failing_item_keeps_the_run_partial_exit_1(tmp_path: Path) -> None:
    server = start_radicale(tmp_path / "radicale")
    try:
        rows = case_rows(4)
        write_cases(tmp_path / "export" / "cases.csv", rows)
        bad = rows[0]["case_id"].encode()
        with FaultProxy(server.url) as proxy:
            proxy.fault = lambda seen: "503" if seen.method == "PUT" and bad in seen.body else None
            config = _config(tmp_path, proxy.url + "{counsellor}/kontaktdichte/")
            out = run_cli(["sync", "--config", str(config)], tmp_path)
        assert out.returncode == ExitCode.PARTIAL == 1, out.stdout + out.stderr
        assert "3 created" in out.stdout and "1 failed" in out.stdout
        assert "run failed" not in out.stderr
    finally:
        stop(server)


def test_sync_exits_5_when_every_write_fails_on_a_reachable_server(tmp_path: Path) -> None:
    server = start_radicale(tmp_path / "radicale")
    try:
        write_cases(tmp_path / "export" / "cases.csv", case_rows(3))
        with FaultProxy(server.url) as proxy:
            proxy.fault = lambda seen: "503" if seen.method == "PUT" else None
            config = _config(tmp_path, proxy.url + "{counsellor}/kontaktdichte/")
            out = run_cli(["sync", "--config", str(config)], tmp_path)
        assert out.returncode == 5, out.stdout + out.stderr
        assert "run failed: nothing could be written: all 3 items failed" in out.stderr
        assert "3 failed" in out.stdout
    finally:
        stop(server)
