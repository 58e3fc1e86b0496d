"""ams-betreuungsplan (AT): care plan, agreed contact rhythm, review; computed by hand."""

from __future__ import annotations

from tests.builders import only, plan_rows

T = "2026-11-23"


def test_care_plan_due_one_month_after_registration(tmp_path):
    r = plan_rows(tmp_path, "ams-betreuungsplan", T, [{"registration_date": "2026-10-30"}])
    o = only(r)
    assert (o.kind, o.tag, o.due.isoformat(), o.rule) == (
        "care_plan",
        "BP",
        "2026-11-30",
        "ams-betreuungsplan/bp",
    )
    assert r.unmatched == []  # no care plan yet and no interval: not one of the two unmatched kinds


def test_without_registration_date_unmatched(tmp_path):
    r = plan_rows(
        tmp_path, "ams-betreuungsplan", T, [{"individual_interval": "6W", "last_contact": "2026-11-02"}]
    )
    assert [u.case_id for u in r.unmatched] == ["1"]
    assert "registration" in r.unmatched[0].reason
    assert only(r).tag == "6WM"  # the agreed rhythm still follows


def test_agreed_interval_and_review_window(tmp_path):
    cases = [
        {
            "registration_date": "2026-06-01",
            "care_plan_created": "2026-06-20",
            "individual_interval": "6W",
            "last_contact": "2026-11-02",
            "care_plan_valid_until": "2027-01-08",
        }
    ]
    r = plan_rows(tmp_path, "ams-betreuungsplan", T, cases)
    c, rv = only(r, kind="contact"), only(r, kind="care_plan_review")
    assert (c.tag, c.due.isoformat()) == ("6WM", "2026-12-14")
    # window from 2026-12-08 (Mariä Empfängnis, holiday in Austria) -> 2026-12-09
    assert (rv.tag, rv.window_start.isoformat(), rv.due.isoformat()) == ("BP-R", "2026-12-09", "2027-01-08")
    assert r.unmatched == []


def test_care_plan_without_interval_is_unmatched_even_with_a_review(tmp_path):
    cases = [
        {
            "registration_date": "2026-06-01",
            "care_plan_created": "2026-06-20",
            "care_plan_valid_until": "2027-06-30",
        }
    ]
    r = plan_rows(tmp_path, "ams-betreuungsplan", T, cases)
    assert [u.case_id for u in r.unmatched] == ["1"]
    assert [o.kind for o in r.obligations] == ["care_plan_review"]


def test_austrian_holidays_apply(tmp_path):
    # registration 2026-12-06 + 1M = 2027-01-06, Epiphany (holiday in Austria) -> 2027-01-05
    r = plan_rows(tmp_path, "ams-betreuungsplan", T, [{"registration_date": "2026-12-06"}])
    assert only(r).due.isoformat() == "2027-01-05"
