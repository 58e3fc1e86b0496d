"""`kontaktsync daemon` as a real process against a real Radicale.

Every test starts the daemon with the console script, reads its JSON log lines from stderr,
and looks at the calendars over HTTP. Waits have generous time-outs as a guard against a hang;
nothing asserts on speed.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections import Counter
from datetime import date
from pathlib import Path

from kontaktsync.rules.engine import plan
from kontaktsync.rules.policy import load_policy
from kontaktsync.sync.caseload import read_caseload
from kontaktsync.sync.core.lock import SyncLock

from tests.builders import case_rows, write_cases
from tests.calendars import calendar_items, mentions, uids
from tests.cli import clean_env
from tests.configs import service_config, write_config
from tests.faultproxy import FaultProxy, Seen
from tests.servers import DavServer
from tests.service_helpers import Daemon, http_get

SECRET = "Daemon-Secret-0815-xyz"
NAMES = ("Erika Mustermann", "Zoran Beispielname")


def _with_names(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Give two customers a name, which must never show in a log line."""
    for row, name in zip(rows, NAMES, strict=False):
        row["display_name"] = name
    return rows


def _all_items(server: DavServer, counsellors: tuple[str, ...] = ("anna", "bernd")) -> dict[str, str]:
    items: dict[str, str] = {}
    for who in counsellors:
        items.update(calendar_items(server.calendar_url(who)))
    return items


def _overdue(cases: Path) -> int:
    """How many obligations of the caseload are overdue today, by the rules engine directly."""
    result = plan(read_caseload(cases), load_policy("coburg-2016"), date.today())
    return sum(1 for o in result.obligations if o.overdue)


def _metric(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name + (f"{{{labels}}}" if labels else "")) + r" ([0-9.e+-]+)$"
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"{name}{{{labels}}} missing in /metrics:\n{text}"
    return float(match.group(1))


def _secrets_env(folder: Path) -> dict[str, str]:
    secrets = folder / "secrets"
    secrets.mkdir(exist_ok=True)
    (secrets / "kontaktsync_target__caldav__password").write_text(SECRET)
    return clean_env(KONTAKTSYNC_SECRETS_DIR=str(secrets))


def test_daemon_runs_follows_the_caseload_and_serves_health_and_metrics(
    tmp_path: Path,
    radicale_server: DavServer,
) -> None:
    rows = _with_names(case_rows(10))
    rows[3]["last_contact"] = "2026-01-10"  # long ago: this case's contact is overdue
    cases = write_cases(tmp_path / "export" / "cases.csv", rows)
    overdue = _overdue(cases)
    assert overdue >= 1, "the caseload must have an overdue case for the metric to mean something"
    data = service_config(tmp_path, radicale_server.url_template, listen="127.0.0.1:0")
    data["target"]["caldav"]["username"] = "svc"  # Radicale (auth none) takes any password
    config = write_config(tmp_path / "kontaktsync.toml", data)
    daemon = Daemon(config, tmp_path, env=_secrets_env(tmp_path))
    try:
        first, second = daemon.wait_runs(2)[:2]
        assert first["outcome"] == "success" and first["counts"]["created"] == 10, daemon.describe()
        assert first["run_id"] and first["run_id"] != second["run_id"]
        assert second["counts"]["created"] == 0 and second["counts"]["unchanged"] == 10
        items = _all_items(radicale_server)
        assert len(items) == 10 and len(set(uids(items))) == 10

        port = daemon.port()
        status, ctype, body = http_get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and '"status": "ok"' in body and "json" in ctype
        status, ctype, metrics = http_get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and ctype.startswith("text/plain")
        assert _metric(metrics, "kontaktsync_runs_total", 'outcome="success"') >= 2
        assert _metric(metrics, "kontaktsync_items_total", 'action="created"') == 10
        assert _metric(metrics, "kontaktsync_items_total", 'action="failed"') == 0
        assert _metric(metrics, "kontaktsync_obligations_due") == 10
        assert _metric(metrics, "kontaktsync_obligations_overdue") == overdue
        assert _metric(metrics, "kontaktsync_last_success_timestamp_seconds") > 1.7e9
        assert _metric(metrics, "kontaktsync_run_duration_seconds_count") >= 2
        assert http_get(f"http://127.0.0.1:{port}/nothing")[0] == 404

        # The export changes: one case leaves, one comes. The calendar follows.
        gone, new = rows[0]["case_id"], "309999"
        changed = [*rows[1:], {**rows[1], "case_id": new, "display_name": ""}]
        assert mentions(items, gone)
        write_cases(cases, changed)
        followed = daemon.wait_for(
            lambda d: [r for r in d.runs() if r["counts"]["deleted"] + r["counts"]["completed"] >= 1],
            "a run that follows the changed caseload",
        )[0]
        assert followed["counts"]["created"] == 1, daemon.describe()
        items = _all_items(radicale_server)
        open_items = {h: t for h, t in items.items() if "STATUS:COMPLETED" not in t}
        assert not mentions(open_items, gone) and len(mentions(items, new)) == 1
        assert len(open_items) == 10
    finally:
        code = daemon.stop(signal.SIGTERM)
    assert code == 0, daemon.describe()
    assert daemon.events("daemon_stopped")
    log = "\n".join(daemon.lines())
    assert SECRET not in log
    assert not any(name in log for name in NAMES)
    assert all(line.startswith("{") for line in daemon.lines())  # JSON: stderr is no terminal


def test_failing_runs_are_survived_and_healthz_turns_503(
    tmp_path: Path,
    radicale_server: DavServer,
) -> None:
    data = service_config(tmp_path, radicale_server.url_template, listen="127.0.0.1:0")
    data["observability"]["healthy_within_minutes"] = 0.01  # 0.6 s without success is stale
    config = write_config(tmp_path / "kontaktsync.toml", data)  # the caseload file is missing
    daemon = Daemon(config, tmp_path)
    try:
        failed = daemon.wait_for(
            lambda d: len(d.events("run_failed")) >= 2 and d.events("run_failed"), "two failed runs"
        )
        assert "caseload" in failed[0]["msg"] and failed[0]["error_type"] == "SourceError"
        port = daemon.port()
        _, _, body = daemon.wait_for(
            lambda d: (r := http_get(f"http://127.0.0.1:{port}/healthz"))[0] == 503 and r,
            "/healthz to report the stale service",
        )
        assert '"status": "stale"' in body and '"last_outcome": "failed"' in body
        metrics = http_get(f"http://127.0.0.1:{port}/metrics")[2]
        assert _metric(metrics, "kontaktsync_runs_total", 'outcome="failed"') >= 2

        write_cases(tmp_path / "export" / "cases.csv", case_rows(3))  # the export arrives
        daemon.wait_for(lambda d: any(r["outcome"] == "success" for r in d.runs()), "a successful run")
        assert daemon.proc.poll() is None  # still running after the failures
        # Healthy right after a success; it may turn stale again 0.6 s later, so look at the
        # body's last outcome rather than racing the clock.
        body = http_get(f"http://127.0.0.1:{port}/healthz")[2]
        assert '"last_success": null' not in body
    finally:
        code = daemon.stop(signal.SIGINT)
    assert code == 0, daemon.describe()
    assert len(_all_items(radicale_server)) == 3


class SlowWrites:
    """Fault hook for the proxy: PUTs take `delay` seconds while `slow` is set."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.slow = threading.Event()
        self.slow.set()

    def __call__(self, seen: Seen) -> None:
        if seen.method == "PUT" and self.slow.is_set():
            time.sleep(self.delay)
        return None


def test_sigterm_mid_run_exits_0_and_the_next_start_loses_and_duplicates_nothing(
    tmp_path: Path,
    radicale_server: DavServer,
) -> None:
    n = 40
    write_cases(tmp_path / "export" / "cases.csv", case_rows(n))
    with FaultProxy(radicale_server.url) as proxy:
        slow = SlowWrites(0.1)
        proxy.fault = slow
        url = proxy.url + "{counsellor}/kontaktdichte/"
        config = write_config(tmp_path / "kontaktsync.toml", service_config(tmp_path, url))
        daemon = Daemon(config, tmp_path, name="first")
        try:
            daemon.wait_for(lambda d: proxy.count("PUT") >= 5, "the first run to be writing")
        finally:
            code = daemon.stop(signal.SIGTERM)
        assert code == 0, daemon.describe()
        interrupted = daemon.runs()
        assert len(interrupted) == 1 and interrupted[0]["stopped_early"], daemon.describe()
        done_before = interrupted[0]["counts"]["created"]
        assert 0 < done_before < n
        on_server = len(_all_items(radicale_server))
        assert on_server >= done_before  # what the run recorded is there

        slow.slow.clear()
        again = Daemon(config, tmp_path, name="second")
        try:
            run = again.wait_runs(1)[0]
        finally:
            assert again.stop(signal.SIGTERM) == 0, again.describe()
    assert run["outcome"] == "success", again.describe()
    assert run["counts"]["created"] + run["counts"]["unchanged"] + run["counts"]["updated"] == n, run[
        "counts"
    ]
    # what the first run wrote (recorded or not) is adopted, only the rest is created
    assert run["counts"]["created"] == n - on_server, run["counts"]
    items = _all_items(radicale_server)
    assert len(items) == n
    assert len(set(uids(items))) == n
    per_case = Counter(row["case_id"] for row in case_rows(n) for _ in mentions(items, row["case_id"]))
    assert set(per_case.values()) == {1}  # every case once: nothing lost, nothing twice


def test_a_second_daemon_on_the_same_state_refuses_while_the_first_writes(
    tmp_path: Path,
    radicale_server: DavServer,
) -> None:
    n = 20
    write_cases(tmp_path / "export" / "cases.csv", case_rows(n))
    with FaultProxy(radicale_server.url) as proxy:
        slow = SlowWrites(0.2)
        proxy.fault = slow
        url = proxy.url + "{counsellor}/kontaktdichte/"
        config = write_config(tmp_path / "kontaktsync.toml", service_config(tmp_path, url))
        first = Daemon(config, tmp_path, name="first")
        second = None
        try:
            first.wait_for(lambda d: proxy.count("PUT") >= 1, "the first daemon to be writing")
            writes_before = proxy.count("PUT")
            second = Daemon(config, tmp_path, name="second")
            # The first daemon's run stays slow until the second has met the lock.
            skipped = second.wait_for(lambda d: d.events("run_skipped"), "the second daemon to skip")
            assert "lock" in skipped[0]["msg"]
            assert not first.runs()  # the first was still in its run meanwhile
            assert proxy.count("PUT") >= writes_before
            slow.slow.clear()
            first.wait_runs(1)
            later = second.wait_for(
                lambda d: [r for r in d.runs() if r["outcome"] == "success"],
                "the second daemon to run once the lock is free",
            )[0]
            assert later["counts"]["created"] == 0 and later["counts"]["unchanged"] == n
        finally:
            codes = [first.stop(signal.SIGTERM)]
            if second is not None:
                codes.append(second.stop(signal.SIGTERM))
        assert codes == [0] * len(codes), first.describe() + (second.describe() if second else "")
    items = _all_items(radicale_server)
    assert len(items) == n and len(set(uids(items))) == n


def test_a_run_is_skipped_while_another_process_holds_the_lock(
    tmp_path: Path,
    radicale_server: DavServer,
) -> None:
    write_cases(tmp_path / "export" / "cases.csv", case_rows(4))
    config = write_config(
        tmp_path / "kontaktsync.toml", service_config(tmp_path, radicale_server.url_template)
    )
    lock = SyncLock(tmp_path / "state" / "state.sqlite3")
    lock.acquire()  # as a manual `kontaktsync sync` would
    daemon = Daemon(config, tmp_path)
    try:
        daemon.wait_for(lambda d: len(d.events("run_skipped")) >= 2, "two skipped runs")
        assert not daemon.runs() and not _all_items(radicale_server)
        lock.release()
        daemon.wait_for(lambda d: d.runs(), "a run once the lock is free")
    finally:
        lock.release()
        code = daemon.stop(signal.SIGTERM)
    assert code == 0, daemon.describe()
    assert len(_all_items(radicale_server)) == 4


def test_item_failures_make_a_partial_run_that_logs_no_names(
    tmp_path: Path,
    radicale_server: DavServer,
) -> None:
    rows = _with_names(case_rows(6))
    write_cases(tmp_path / "export" / "cases.csv", rows)
    with FaultProxy(radicale_server.url) as proxy:
        # The server refuses every write of one customer's item (its summary holds the name).
        proxy.fault = lambda seen: "503" if seen.method == "PUT" and NAMES[0].encode() in seen.body else None
        data = service_config(tmp_path, proxy.url + "{counsellor}/kontaktdichte/", listen="127.0.0.1:0")
        data["privacy"] = {"show_names": True}
        config = write_config(tmp_path / "kontaktsync.toml", data)
        daemon = Daemon(config, tmp_path)
        try:
            run = daemon.wait_runs(1)[0]
            assert run["outcome"] == "partial" and run["counts"]["failed"] >= 1, daemon.describe()
            assert run["counts"]["created"] == 5
            port = daemon.port()
            assert http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200  # the run went through
            metrics = http_get(f"http://127.0.0.1:{port}/metrics")[2]
            assert _metric(metrics, "kontaktsync_items_total", 'action="failed"') >= 1
            assert _metric(metrics, "kontaktsync_runs_total", 'outcome="partial"') >= 1
            assert daemon.events("run_error")
        finally:
            assert daemon.stop(signal.SIGTERM) == 0, daemon.describe()
    log = "\n".join(daemon.lines())
    assert not any(name in log for name in NAMES), log
    # The items that were written do carry the names, as configured.
    assert NAMES[1] in "".join(_all_items(radicale_server).values()).replace("\r\n ", "")
