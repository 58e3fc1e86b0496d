"""The report's numbers, hand-computed on the caseload in report_helpers (see its table)."""

from __future__ import annotations

from datetime import date

import pytest
from builders import plan_rows
from kontaktsync.rules.model import Plan
from kontaktsync.sync.report.figures import AGE_BUCKETS, age_bucket, build_figures
from report_helpers import ANNA, BAD_CONTACT, BERND, T, report_cases

KW48, KW49, KW50, KW51 = (date(2026, 11, 23), date(2026, 11, 30), date(2026, 12, 7), date(2026, 12, 14))


@pytest.fixture
def result(tmp_path) -> Plan:
    return plan_rows(tmp_path, "coburg-2016", T, report_cases(), contacts=[BAD_CONTACT])


def test_per_team_density_overdue_by_age_and_load(result: Plan) -> None:
    f = build_figures(result, capacity=2, weeks=4)
    assert f.weeks == [KW48, KW49, KW50, KW51]
    assert [t.name for t in f.teams] == ["fallmanagement", "standard"]
    fm, std = f.teams
    # standard: 900001-900006; 900005 unmatched; 900003 and 900004 not overdue
    assert (std.cases, std.with_contact_rule, std.density_kept, std.unmatched) == (6, 5, 2, 1)
    assert std.share_kept == pytest.approx(2 / 5)
    assert std.overdue_by_age == {"1–7 days": 1, "8–30 days": 1, "31–90 days": 1, "> 90 days": 0}
    assert std.load == {KW48: 4, KW49: 1, KW50: 0, KW51: 0}  # 3 overdue + 900004; 900003
    assert (fm.cases, fm.with_contact_rule, fm.density_kept, fm.unmatched) == (2, 2, 1, 0)
    assert fm.overdue_by_age == {"1–7 days": 0, "8–30 days": 0, "31–90 days": 0, "> 90 days": 1}
    assert fm.load == {KW48: 1, KW49: 0, KW50: 1, KW51: 0}
    assert (f.total.cases, f.total.with_contact_rule, f.total.density_kept, f.total.overdue) == (8, 7, 3, 4)
    assert f.total.meets_quota(0.9) is False and std.without_contact_rule == 1


def test_capacity_counts_counsellors_by_their_share_of_a_teams_cases(result: Plan) -> None:
    f = build_figures(result, capacity=25)
    fm, std = f.teams
    # ANNA holds 5 planned cases (4 standard, 1 fm), BERND 3 (2 standard, 1 fm)
    assert std.counsellors == pytest.approx(4 / 5 + 2 / 3)
    assert fm.counsellors == pytest.approx(1 / 5 + 1 / 3)
    assert std.capacity == pytest.approx(25 * (4 / 5 + 2 / 3))
    assert (f.total.counsellors, f.total.capacity) == (2, 50)


def test_what_cannot_be_counted_is_counted(result: Plan) -> None:
    nc = build_figures(result).not_counted
    assert nc.rows_in_error == 2
    assert nc.rows_by_file == {"cases.csv": 1, "contacts.csv": 1}
    assert nc.errors_by_column == {("cases.csv", "profile"): 1, ("contacts.csv", "date"): 1}
    assert (nc.cases_held, nc.held_unknown, nc.unmatched, nc.without_contact_rule) == (1, False, 1, 1)
    assert build_figures(result).cases_in_export == 9


def test_no_counsellor_breakdown_unless_asked(result: Plan) -> None:
    f = build_figures(result)
    assert f.counsellors is None and "counsellors" not in f.to_json()
    people = build_figures(result, capacity=25, per_counsellor=True).counsellors
    assert people is not None
    anna, bernd = people
    assert (anna.name, anna.cases, anna.with_contact_rule, anna.density_kept, anna.overdue) == (
        ANNA,
        5,
        5,
        2,
        3,
    )
    assert (bernd.name, bernd.cases, bernd.with_contact_rule, bernd.density_kept, bernd.unmatched) == (
        BERND, 3, 2, 1, 1,
    )  # fmt: skip
    assert list(anna.load.values()) == [3, 1, 1, 0] and list(bernd.load.values()) == [2, 0, 0, 0]
    assert (anna.capacity, bernd.capacity) == (25, 25)


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(1, "1–7 days"), (7, "1–7 days"), (8, "8–30 days"), (30, "8–30 days"), (31, "31–90 days"),
     (90, "31–90 days"), (91, "> 90 days"), (4000, "> 90 days")],
)  # fmt: skip
def test_age_bucket_edges(days: int, bucket: str) -> None:
    assert age_bucket(days) == bucket
    assert bucket in [label for label, _, _ in AGE_BUCKETS]


def test_a_plan_without_cases_has_no_share_and_no_crash() -> None:
    f = build_figures(Plan(as_of=date(2026, 11, 25), policy="coburg-2016"), weeks=2)
    assert f.teams == [] and f.total.share_kept is None and f.total.meets_quota() is None
    assert f.weeks == [KW48, KW49] and f.total.load == {KW48: 0, KW49: 0}


def test_a_bad_row_without_a_readable_customer_number_is_said(tmp_path) -> None:
    from kontaktsync.sync.report.html import render_html

    rows = report_cases()
    rows[1]["case_id"] = "9" * 65  # longer than a customer number may be: unreadable
    f = build_figures(plan_rows(tmp_path, "coburg-2016", T, rows))
    assert f.not_counted.held_unknown is True and f.total.cases == 7
    assert "and more whose customer number could not be read" in render_html(f)
