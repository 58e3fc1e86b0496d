"""Team-leader view: density kept per counsellor and the load of the coming weeks."""

from __future__ import annotations

from datetime import date

from kontaktsync.sync.report.figures import build_figures

from tests.builders import plan_rows, write_caseload
from tests.cli import kontaktsync_cli

T = "2026-11-23"  # Monday of KW 48


def test_density_kept_and_weekly_load(tmp_path):
    ue25 = {"birth_date": "1980-01-01"}
    cases = [
        {"case_id": "a1", "counsellor": "a", "last_contact": "2026-09-01", **ue25},  # 2MM due 30.10.: overdue
        {"case_id": "a2", "counsellor": "a", "last_contact": "2026-10-01", **ue25},  # due 01.12.: KW 49
        {"case_id": "a3", "counsellor": "a", "last_contact": "2026-09-25", **ue25},  # due 25.11.: KW 48
        {"case_id": "a4", "counsellor": "a", **ue25, "team": "reha", "last_contact": "2026-11-20"},  # 2MM
        {"case_id": "b1", "counsellor": "b"},  # no birth date: unmatched, not counted
    ]
    result = plan_rows(tmp_path, "coburg-2016", T, cases)
    counsellors = build_figures(result, weeks=3, per_counsellor=True).counsellors
    assert counsellors is not None
    a, b = sorted(counsellors, key=lambda g: g.name)
    assert (a.name, a.cases, a.with_contact_rule, a.density_kept, a.overdue) == ("a", 4, 4, 3, 1)
    assert a.share_kept == 0.75
    assert a.load == {date(2026, 11, 23): 2, date(2026, 11, 30): 1, date(2026, 12, 7): 0}
    assert (b.with_contact_rule, b.share_kept) == (0, None)


def test_report_command(tmp_path):
    paths = write_caseload(tmp_path, [{"birth_date": "1980-01-01", "last_contact": "2026-09-01"}])
    args = ("--policy", "coburg-2016", "--cases", str(paths["cases"]), "--as-of", T, "--per-counsellor")
    r = kontaktsync_cli("report", *args)
    assert r.returncode == 0, r.stderr
    assert "m.mueller" in r.stdout and "0% (0/1)" in r.stdout and "KW 48" in r.stdout
