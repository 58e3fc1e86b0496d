"""The report's HTML, CSV, JSON and table: self-contained, per team by default, names only when asked."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from builders import plan_rows
from kontaktsync.rules.model import Plan
from kontaktsync.sync.report.figures import build_figures
from kontaktsync.sync.report.output import ReportFormat, render
from report_helpers import ANNA, BAD_CONTACT, BERND, CASE_IDS, T, report_cases

FORMATS = list(ReportFormat)


@pytest.fixture
def result(tmp_path) -> Plan:
    return plan_rows(tmp_path, "coburg-2016", T, report_cases(), contacts=[BAD_CONTACT])


@pytest.mark.parametrize("fmt", FORMATS)
def test_per_team_by_default_no_counsellor_and_no_customer_in_any_format(result: Plan, fmt) -> None:
    text = render(build_figures(result), fmt)
    assert "fallmanagement" in text.lower()  # the team breakdown is there
    for secret in (ANNA, BERND, *CASE_IDS):
        assert secret not in text, f"{secret} in the {fmt} report"


@pytest.mark.parametrize("fmt", FORMATS)
def test_per_counsellor_when_asked_still_no_customer(result: Plan, fmt) -> None:
    text = render(build_figures(result, per_counsellor=True), fmt)
    assert ANNA in text and BERND in text
    for case_id in CASE_IDS:
        assert case_id not in text


def test_html_is_self_contained_with_accessible_charts(result: Plan) -> None:
    page = render(build_figures(result), ReportFormat.html)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for loader in ("<script", "src=", "href=", "@import", "url(", "<link", "<iframe", "<object"):
        assert loader not in page.lower(), f"{loader} would need a network or a script"
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"] * page.count("<svg ")
    charts = re.findall(r'<svg [^>]*id="([^"]+)"[^>]*role="img"[^>]*aria-labelledby="\1-t \1-d"', page)
    assert {"chart-density", "chart-overdue", "chart-load"} <= set(charts)
    for chart in charts:
        assert f'<title id="{chart}-t">' in page and f'<desc id="{chart}-d">' in page
    assert page.count("<table>") >= 3 and page.count('<th scope="row">') >= 9
    # numbers next to the bars: standard 2 of 5 kept, 40 %; the 90 % line
    assert "40 % (2 of 5)" in page and "target 90 %" in page and "4 overdue" in page


def test_html_says_what_it_cannot_count(result: Plan) -> None:
    page = render(build_figures(result), ReportFormat.html)
    section = page.split("What this report cannot count", 1)[1].split("</section>", 1)[0]
    assert "<b>2 rows</b> in error" in section and "cases.csv: 1, contacts.csv: 1" in section
    assert "<b>1 case</b> missing" in section and "<b>1 case</b> covered by no rule" in section
    assert "2 cases not in the density share" not in page  # the card shows the number apart
    assert "1 case left out for 2 rows in error, 1 case without a recurring contact" in page
    assert "cases.csv, column profile" in section and "contacts.csv, column date" in section


def test_csv_is_one_number_per_row_and_formula_safe(tmp_path) -> None:
    rows = report_cases()
    rows[0]["counsellor"] = "@anna"  # a login that a spreadsheet would read as a formula
    plan = plan_rows(tmp_path, "coburg-2016", T, rows, contacts=[BAD_CONTACT])
    text = render(build_figures(plan, per_counsellor=True), ReportFormat.csv)
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["as_of", "scope", "name", "measure", "period", "value"]
    cells = {(r[1], r[2], r[3], r[4]): r[5] for r in table[1:]}
    assert cells[("team", "standard", "share_kept", "")] == "0.4000"
    assert cells[("team", "standard", "load", "2026-W48")] == "4"
    assert cells[("team", "fallmanagement", "overdue", "> 90 days")] == "1"
    assert cells[("not_counted", "", "rows_in_error", "")] == "2"
    assert cells[("not_counted", "contacts.csv", "rows_in_error", "")] == "1"
    assert cells[("counsellor", "'@anna", "cases", "")] == "1"
    assert all(r[0] == T for r in table[1:])


def test_json_numbers(result: Plan) -> None:
    doc = json.loads(render(build_figures(result, capacity=25), ReportFormat.json))
    assert doc["as_of"] == T and doc["quota"] == 0.9 and doc["cases_in_export"] == 9
    std = next(t for t in doc["teams"] if t["name"] == "standard")
    assert (std["share_kept"], std["load"]["2026-11-23"], std["overdue_by_age"]["31–90 days"]) == (0.4, 4, 1)
    assert doc["not_counted"]["rows_in_error_by_file"] == {"cases.csv": 1, "contacts.csv": 1}
    assert doc["weeks"][0] == {"monday": "2026-11-23", "iso_week": 48}
