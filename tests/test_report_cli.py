"""`kontaktsync report` run as a user runs it: formats, --output, --per-counsellor, rows in error."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from report_helpers import ANNA, BERND, CASE_IDS, T, write_report_caseload

from tests.cli import kontaktsync_cli
from tests.configs import write_config


def _report(tmp_path: Path, *extra: str):
    paths = write_report_caseload(tmp_path / "export")
    return kontaktsync_cli(
        "report", "--policy", "coburg-2016", "--cases", str(paths["cases"]),
        "--contacts", str(paths["contacts"]), "--as-of", T, *extra,
    )  # fmt: skip


def test_table_is_per_team_and_names_the_rows_it_left_out(tmp_path: Path) -> None:
    r = _report(tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Standard" in r.stdout and "Fallmanagement" in r.stdout and "All teams" in r.stdout
    assert "40% (2/5)" in r.stdout  # standard: 2 of 5 cases with a recurring contact kept
    assert "9 cases in the export, 8 counted" in r.stdout
    assert "2 rows in error (1 cases left out), 1 cases unmatched" in r.stdout
    assert "cases.csv, row 10, column profile: unknown profile 'markt'" in r.stderr
    assert "contacts.csv, row 2, column date" in r.stderr
    for secret in (ANNA, BERND, *CASE_IDS):
        assert secret not in r.stdout


def test_per_counsellor_table_only_with_the_flag(tmp_path: Path) -> None:
    r = _report(tmp_path, "--per-counsellor")
    assert r.returncode == 0, r.stderr
    assert "Per counsellor" in r.stdout and ANNA in r.stdout and BERND in r.stdout
    assert "40% (2/5)" in r.stdout  # ANNA: 2 of 5 kept


def test_html_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    r = _report(tmp_path, "--format", "html", "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and 'id="chart-density"' in page
    assert "23.11.2026" in page and "coburg-2016" in page
    assert ANNA not in page and not list(tmp_path.glob(".report.html.tmp"))


def test_json_and_csv_on_stdout(tmp_path: Path) -> None:
    r = _report(tmp_path, "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [t["name"] for t in doc["teams"]] == ["fallmanagement", "standard"]
    assert doc["not_counted"]["rows_in_error"] == 2 and "counsellors" not in doc
    r = _report(tmp_path, "--format", "csv", "--weeks", "2", "--capacity", "3")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    load = [
        x["period"]
        for x in rows
        if x["scope"] == "team" and x["name"] == "standard" and x["measure"] == "load"
    ]
    assert load == ["2026-W48", "2026-W49"]
    cap = next(x for x in rows if x["scope"] == "all" and x["measure"] == "capacity_per_week")
    assert cap["value"] == "6"  # 3 talks x 2 counsellors


def test_an_unwritable_output_is_a_message_and_exit_2(tmp_path: Path) -> None:
    target = tmp_path / "no-such-folder" / "report.html"
    r = _report(tmp_path, "--format", "html", "--output", str(target))
    assert r.returncode == 2
    assert f"cannot write the report to {target}" in " ".join(r.stderr.split())
    assert not target.parent.exists()


def test_the_weekly_capacity_comes_from_the_configuration_else_the_policy(tmp_path: Path) -> None:
    """The same capacity the proposals use: items.talks_per_week, else the policy's office
    value (berlin-lichtenberg-2013: 25), else 25; --capacity wins over both."""
    paths = write_report_caseload(tmp_path)
    config = write_config(
        tmp_path / "kontaktsync.toml",
        {
            "policy": "coburg-2016",
            "source": {"cases": str(paths["cases"])},
            "items": {"talks_per_week": 7},
        },
    )
    common = ("--as-of", T, "--format", "json")

    def capacity(*args: str) -> int:
        out = kontaktsync_cli("report", *args, *common)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)["capacity_per_counsellor_and_week"]

    assert capacity("--config", str(config)) == 7
    assert capacity("--config", str(config), "--capacity", "9") == 9
    assert capacity("--policy", "berlin-lichtenberg-2013", "--cases", str(paths["cases"])) == 25
