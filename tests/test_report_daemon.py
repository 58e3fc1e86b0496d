"""The daemon's /report and report gauges, over HTTP from a real `kontaktsync daemon` process
syncing into a real Radicale. Names of counsellors reach neither /report nor /metrics unless
`report.per_counsellor` is on."""

from __future__ import annotations

import re
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from builders import write_caseload
from kontaktsync.rules.engine import plan
from kontaktsync.rules.policy import load_policy
from kontaktsync.sync.caseload import read_caseload
from kontaktsync.sync.core.planning import today_in
from kontaktsync.sync.report.figures import build_figures
from report_helpers import ANNA, BERND

from tests.configs import service_config, write_config
from tests.servers import DavServer
from tests.service_helpers import Daemon, http_get

ADULT = {"birth_date": "1980-01-01"}


def _caseload(folder: Path) -> Path:
    """Cases relative to the daemon's today: kept, overdue, unmatched, a row in error."""
    today = today_in(load_policy("coburg-2016"))
    ago = lambda days: (today - timedelta(days=days)).isoformat()  # noqa: E731
    cases = [
        {"case_id": "700001", "counsellor": ANNA, **ADULT, "last_contact": ago(20)},
        {"case_id": "700002", "counsellor": ANNA, **ADULT, "last_contact": ago(100)},
        {"case_id": "700003", "counsellor": BERND, **ADULT, "last_contact": ago(10)},
        {
            "case_id": "700004",
            "counsellor": BERND,
            **ADULT,
            "team": "fallmanagement",
            "last_contact": ago(50),
        },
        {"case_id": "700005", "counsellor": BERND, "birth_date": "", "last_contact": ago(5)},
        {"case_id": "700006", "counsellor": ANNA, **ADULT, "profile": "markt", "last_contact": ago(5)},
    ]
    folder.mkdir(parents=True, exist_ok=True)
    return write_caseload(folder, cases)["cases"]


def _metric(text: str, name: str, labels: str) -> float:
    match = re.search(re.escape(f"{name}{{{labels}}}") + r" ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, f"{name}{{{labels}}} missing in /metrics:\n{text}"
    return float(match.group(1))


def _start(tmp_path: Path, server: DavServer, **sections: dict) -> tuple[Daemon, int, Path]:
    cases = _caseload(tmp_path / "export")
    data = service_config(tmp_path, server.url_template, listen="127.0.0.1:0", **sections)
    daemon = Daemon(write_config(tmp_path / "kontaktsync.toml", data), tmp_path)
    port = daemon.port()
    daemon.wait_runs(1)
    return daemon, port, cases


def test_report_off_by_default_but_team_gauges_without_names(
    tmp_path: Path,
    radicale_server: DavServer,
) -> None:
    daemon, port, cases = _start(tmp_path, radicale_server)
    try:
        code, _, body = http_get(f"http://127.0.0.1:{port}/report")
        assert code == 404 and "set observability.report = true" in body
        code, _, metrics = http_get(f"http://127.0.0.1:{port}/metrics")
        assert code == 200
        result = plan(read_caseload(cases), load_policy("coburg-2016"), today_in(load_policy("coburg-2016")))
        expected = build_figures(result)
        std = next(t for t in expected.teams if t.name == "standard")
        assert _metric(metrics, "kontaktsync_report_team_cases", 'team="standard"') == std.cases == 4
        assert _metric(metrics, "kontaktsync_report_team_density_kept_ratio", 'team="standard"') == (
            pytest.approx(std.share_kept)
        )
        assert _metric(metrics, "kontaktsync_report_team_overdue", 'age="> 90 days",team="standard"') == 0
        assert _metric(metrics, "kontaktsync_report_not_counted", 'reason="rows_in_error"') == 1
        assert _metric(metrics, "kontaktsync_report_not_counted", 'reason="unmatched"') == 1
        assert _metric(metrics, "kontaktsync_report_team_capacity_per_week", 'team="all teams"') == 50
        assert ANNA not in metrics and BERND not in metrics and "kontaktsync_report_counsellor" not in metrics
    finally:
        assert daemon.stop() == 0, daemon.describe()


def test_report_served_per_team_with_a_strict_page_policy(
    tmp_path: Path,
    radicale_server: DavServer,
) -> None:
    daemon, port, _ = _start(tmp_path, radicale_server, observability={"report": True})
    try:
        code, ctype, page = http_get(f"http://127.0.0.1:{port}/report")
        assert code == 200 and ctype == "text/html; charset=utf-8", page[:500]
        assert 'id="chart-density"' in page and "Fallmanagement" in page
        assert "6 cases in the export, 5 counted" in page
        assert ANNA not in page and BERND not in page and "700001" not in page
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/report", timeout=10) as resp:
            assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'")
            assert resp.headers["Cache-Control"] == "no-store"
    finally:
        assert daemon.stop() == 0, daemon.describe()


def test_per_counsellor_only_with_the_setting(
    tmp_path: Path,
    radicale_server: DavServer,
) -> None:
    daemon, port, _ = _start(
        tmp_path, radicale_server, observability={"report": True}, report={"per_counsellor": True}
    )
    try:
        _, _, page = http_get(f"http://127.0.0.1:{port}/report")
        assert "Per counsellor" in page and ANNA in page and BERND in page
        _, _, metrics = http_get(f"http://127.0.0.1:{port}/metrics")
        assert _metric(metrics, "kontaktsync_report_counsellor_cases", f'counsellor="{ANNA}"') == 2
        assert _metric(metrics, "kontaktsync_report_counsellor_cases", f'counsellor="{BERND}"') == 3
    finally:
        assert daemon.stop() == 0, daemon.describe()


def test_before_the_first_run_read_the_caseload_report_is_503() -> None:
    from kontaktsync.sync.service.observability import Health, Metrics, start_status_server

    page: list[bytes] = []
    status = start_status_server(
        "127.0.0.1:0", Metrics(), Health(healthy_within_s=60), lambda: page[0] if page else None
    )
    try:
        url = f"http://127.0.0.1:{status.address[1]}/report"
        code, _, body = http_get(url)
        assert code == 503 and "no report yet" in body
        page.append(b"<!DOCTYPE html><p>ok</p>")
        assert http_get(url)[:3:2] == (200, "<!DOCTYPE html><p>ok</p>")
    finally:
        status.close()
