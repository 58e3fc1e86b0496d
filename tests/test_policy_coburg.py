"""coburg-2016 (DE-BY, counting: persoenlich, extension up to 6 months), computed by hand."""

from __future__ import annotations

from builders import only, plan_rows

T = "2026-11-23"  # a Monday


def test_fallmanagement_is_monthly_at_any_age_even_without_birth_date(tmp_path):
    r = plan_rows(tmp_path, "coburg-2016", T, [{"team": "fallmanagement", "last_contact": "2026-11-10"}])
    o = only(r)
    assert (o.tag, o.due.isoformat(), o.rule) == ("1MM", "2026-12-10", "coburg-2016/1mm-bfm")
    assert o.kind == "contact" and o.window_start is None and not o.overdue


def test_month_end_clips_then_sunday_moves_back_to_friday(tmp_path):
    # 2027-01-31 + 1M = 2027-02-28, a Sunday -> Friday 2027-02-26
    r = plan_rows(
        tmp_path, "coburg-2016", "2027-02-01", [{"team": "fallmanagement", "last_contact": "2027-01-31"}]
    )
    assert only(r).due.isoformat() == "2027-02-26"


def test_bavarian_holiday_moves_due_back(tmp_path):
    # 2026-12-06 + 1M = 2027-01-06 (Heilige Drei Könige, a holiday in Bavaria) -> 2027-01-05
    r = plan_rows(tmp_path, "coburg-2016", T, [{"team": "fallmanagement", "last_contact": "2026-11-06"}])
    assert only(r).due.isoformat() == "2026-12-04"  # 2026-12-06 is a Sunday
    r = plan_rows(tmp_path, "coburg-2016", T, [{"team": "fallmanagement", "last_contact": "2026-10-06"}])
    assert only(r).due.isoformat() == "2026-11-06"
    r = plan_rows(
        tmp_path, "coburg-2016", "2026-12-10", [{"team": "fallmanagement", "last_contact": "2026-12-06"}]
    )
    assert only(r).due.isoformat() == "2027-01-05"


def test_job_seeker_in_active_measure_is_3mm_else_6mm(tmp_path):
    cases = [
        {"case_id": "a", "status": "asu", "last_contact": "2026-10-01"},
        {"case_id": "b", "status": "asu", "last_contact": "2026-10-01"},
        {"case_id": "c", "status": "asu", "last_contact": "2026-10-01"},
    ]
    measures = [
        {"case_id": "a", "start": "2026-09-01", "end": "2027-02-28"},
        {"case_id": "c", "start": "2026-05-01", "end": "2026-12-31", "actual_end": "2026-11-20"},
    ]
    r = plan_rows(tmp_path, "coburg-2016", T, cases, measures)
    a, b, c = only(r, "a"), only(r, "b"), only(r, "c")
    assert (a.tag, a.rule, a.due.isoformat()) == ("3MM", "coburg-2016/3mm-asu-measure", "2026-12-31")
    assert (b.tag, b.rule, b.due.isoformat()) == ("6MM", "coburg-2016/6mm-asu", "2027-04-01")
    # c's measure ended early (actual_end before T): not active, so 6MM
    assert c.rule == "coburg-2016/6mm-asu"
    assert [o.kind for o in r.obligations].count("contact") == 3  # no measure rules in Coburg


def test_first_match_wins_ohne_status_and_i_z_before_u25(tmp_path):
    cases = [
        {"case_id": "u25-z", "birth_date": "2005-01-01", "profile": "Z", "last_contact": "2026-11-02"},
        {"case_id": "ohne", "status": "ohne", "birth_date": "1980-01-01", "last_contact": "2026-11-02"},
        {"case_id": "u25", "birth_date": "2005-01-01", "last_contact": "2026-11-02"},
    ]
    r = plan_rows(tmp_path, "coburg-2016", T, cases)
    assert only(r, "u25-z").rule == "coburg-2016/6mm-ohne-status"
    assert only(r, "ohne").tag == "6MM"
    assert only(r, "u25").rule == "coburg-2016/1mm-u25"


def test_age_edge_on_the_25th_birthday(tmp_path):
    cases = [
        {"case_id": "turns-25-today", "birth_date": "2001-11-23", "last_contact": "2026-11-02"},
        {"case_id": "turns-25-tomorrow", "birth_date": "2001-11-24", "last_contact": "2026-11-02"},
    ]
    r = plan_rows(tmp_path, "coburg-2016", T, cases)
    assert only(r, "turns-25-today").rule == "coburg-2016/2mm-ue25-marktnah"
    assert only(r, "turns-25-tomorrow").rule == "coburg-2016/1mm-u25"


def test_market_near_and_complex_profiles_over_25(tmp_path):
    cases = [
        {"case_id": "nah", "birth_date": "1980-05-05", "profile": "marktnah", "last_contact": "2026-11-02"},
        {
            "case_id": "foerder",
            "birth_date": "1980-05-05",
            "profile": "förderprofil",
            "last_contact": "2026-11-02",
        },
        {
            "case_id": "fern",
            "birth_date": "1980-05-05",
            "profile": "nicht_marktnah",
            "last_contact": "2026-11-02",
        },
        {
            "case_id": "stab",
            "birth_date": "1980-05-05",
            "profile": "Stabilisierungsprofil",
            "last_contact": "2026-11-02",
        },
    ]
    r = plan_rows(tmp_path, "coburg-2016", T, cases)
    assert (only(r, "nah").tag, only(r, "nah").due.isoformat()) == ("2MM", "2026-12-31")
    assert only(r, "foerder").tag == "2MM"
    assert (only(r, "fern").tag, only(r, "fern").due.isoformat()) == ("3MM", "2027-02-02")
    assert only(r, "stab").tag == "3MM"


def test_extension_is_added_after_the_interval(tmp_path):
    # 2026-10-15 + 2M = 2026-12-15, + 3 months extension = 2027-03-15 (Monday)
    cases = [
        {
            "birth_date": "1980-05-05",
            "last_contact": "2026-10-15",
            "extension_months": "3",
            "extension_reason": "Pflege eines Angehörigen",
        }
    ]
    o = only(plan_rows(tmp_path, "coburg-2016", T, cases))
    assert (o.due.isoformat(), o.extension_months) == ("2027-03-15", 3)


def test_extension_without_reason_is_a_row_error_and_other_rows_still_plan(tmp_path):
    cases = [
        {"case_id": "x", "birth_date": "1980-05-05", "last_contact": "2026-10-15", "extension_months": "3"},
        {"case_id": "y", "birth_date": "1980-05-05", "last_contact": "2026-10-15"},
    ]
    r = plan_rows(tmp_path, "coburg-2016", T, cases)
    assert [(e.file, e.row, e.column) for e in r.errors] == [("cases.csv", 2, "extension_reason")]
    assert [o.case_id for o in r.obligations] == ["y"]


def test_only_personal_attended_contacts_count(tmp_path):
    cases = [{"birth_date": "1980-05-05", "registration_date": "2026-01-10"}]
    contacts = [
        {"case_id": "1", "date": "2026-09-01", "channel": "persoenlich"},
        {"case_id": "1", "date": "2026-10-01", "channel": "telefonisch"},  # does not count in Coburg
        {"case_id": "1", "date": "2026-10-20", "channel": "persoenlich", "outcome": "nicht_erschienen"},
        {"case_id": "1", "date": "2026-10-21", "channel": "persoenlich", "outcome": "abgesagt"},
    ]
    o = only(plan_rows(tmp_path, "coburg-2016", T, cases, contacts=contacts))
    assert (o.anchor.isoformat(), o.due.isoformat()) == ("2026-09-01", "2026-10-30")  # 11-01 is Sunday
    assert o.overdue


def test_contact_after_as_of_is_a_row_error_and_is_ignored(tmp_path):
    cases = [{"birth_date": "1980-05-05", "last_contact": "2026-09-01"}]
    contacts = [
        {"case_id": "1", "date": "2026-11-01", "channel": "persoenlich"},
        {"case_id": "1", "date": "2026-12-01", "channel": "persoenlich"},
    ]
    r = plan_rows(tmp_path, "coburg-2016", T, cases, contacts=contacts)
    assert [(e.file, e.row, e.column) for e in r.errors] == [("contacts.csv", 3, "date")]
    assert "2026-12-01" in r.errors[0].message and "left out" in r.errors[0].message
    assert only(r).anchor.isoformat() == "2026-11-01"
    assert r.held == set()  # only the contact row is left out: its case is planned


def test_last_contact_after_as_of_leaves_the_case_row_out_and_holds_it(tmp_path):
    cases = [
        {"case_id": "typo", "birth_date": "1980-05-05", "last_contact": "2026-12-01"},
        {"case_id": "today", "birth_date": "1980-05-05", "last_contact": T},
    ]
    contacts = [{"case_id": "typo", "date": "2026-09-01", "channel": "persoenlich"}]
    r = plan_rows(tmp_path, "coburg-2016", T, cases, contacts=contacts)
    assert [(e.file, e.row, e.column) for e in r.errors] == [("cases.csv", 2, "last_contact")]
    assert "2026-12-01" in r.errors[0].message and "left out" in r.errors[0].message
    # not planned from the contacts either: the row is left out as a whole
    assert [o.case_id for o in r.obligations] == ["today"] and set(r.cases) == {"today"}
    assert r.held == {"typo"} and not r.unmatched
    # 2026-11-23 + 2M = 2027-01-23, a Saturday -> Friday 2027-01-22
    assert only(r, "today").due.isoformat() == "2027-01-22"


def test_registration_date_is_the_anchor_without_contacts_and_no_anchor_means_due_now(tmp_path):
    cases = [
        {"case_id": "reg", "birth_date": "1980-05-05", "registration_date": "2026-10-05"},
        {"case_id": "none", "birth_date": "1980-05-05"},
    ]
    r = plan_rows(tmp_path, "coburg-2016", T, cases)
    assert only(r, "reg").due.isoformat() == "2026-12-04"  # 12-05 is a Saturday
    now = only(r, "none")
    assert (now.due.isoformat(), now.overdue, now.cycle) == (T, False, "none")


def test_age_rule_needs_birth_date_otherwise_unmatched_with_reason(tmp_path):
    r = plan_rows(tmp_path, "coburg-2016", T, [{"last_contact": "2026-11-02"}])
    assert r.obligations == []
    assert [u.case_id for u in r.unmatched] == ["1"]
    assert "birth_date" in r.unmatched[0].reason and "coburg-2016" in r.unmatched[0].reason
