"""coburg-2016 (DE-BY, counting: persoenlich, extension up to 6 months), computed by hand."""

from __future__ import annotations

from tests.builders import only, plan_rows, write_caseload
from tests.cli import kontaktsync_cli

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


# -- follow-up task (Wiedervorlage) of section 2.2.2: profile review after 6 months ------------

MARKTNAH = {"birth_date": "1980-05-05", "last_contact": "2026-11-02"}  # Ü25, arbeitslos, marktprofil


def test_profile_review_month_end_clips_then_sunday_moves_back(tmp_path):
    # 2026-08-31 + 6M = 2027-02-28 (clipped), a Sunday -> Friday 2027-02-26
    r = plan_rows(tmp_path, "coburg-2016", T, [{**MARKTNAH, "profile_since": "2026-08-31"}])
    wv = only(r, kind="profile_review")
    assert (wv.tag, wv.due.isoformat(), wv.window_start, wv.overdue) == ("WV", "2027-02-26", None, False)
    assert (wv.rule, wv.cycle) == ("coburg-2016/wv-2mm-profiling", "2026-08-31")
    assert any("prognostizierten 6 Monate" in g and "Profiling" in g for g in wv.guidance)
    assert only(r, kind="contact").rule == "coburg-2016/2mm-ue25-marktnah"  # the 2MM contact stays


def test_profile_review_on_epiphany_moves_to_the_previous_working_day(tmp_path):
    # 2026-07-06 + 6M = 2027-01-06, Heilige Drei Könige (a holiday in Bavaria) -> Tuesday 2027-01-05
    r = plan_rows(tmp_path, "coburg-2016", T, [{**MARKTNAH, "profile_since": "2026-07-06"}])
    assert only(r, kind="profile_review").due.isoformat() == "2027-01-05"


def test_profile_review_past_its_date_is_overdue(tmp_path):
    # 2026-03-15 + 6M = 2026-09-15 (a Tuesday), before T
    r = plan_rows(tmp_path, "coburg-2016", T, [{**MARKTNAH, "profile_since": "2026-03-15"}])
    wv = only(r, kind="profile_review")
    assert (wv.due.isoformat(), wv.overdue) == ("2026-09-15", True)


def test_profile_review_only_for_cases_matched_by_2mm_ue25_marktnah(tmp_path):
    since = {"profile_since": "2026-08-31"}
    cases = [
        {"case_id": "nah", **MARKTNAH, **since},
        {"case_id": "fern", **MARKTNAH, **since, "profile": "entwicklungsprofil"},  # 3mm-ue25-marktfern
        {"case_id": "u25", **MARKTNAH, **since, "birth_date": "2005-01-01"},  # 1mm-u25
        {"case_id": "bfm", **MARKTNAH, **since, "team": "fallmanagement"},  # 1mm-bfm comes first
        {"case_id": "asu", **MARKTNAH, **since, "status": "arbeitsuchend"},  # 6mm-asu
        {"case_id": "no-age", **since, "last_contact": "2026-11-02"},  # unmatched: no birth date
    ]
    r = plan_rows(tmp_path, "coburg-2016", T, cases)
    assert [o.case_id for o in r.obligations if o.kind == "profile_review"] == ["nah"]
    assert {o.case_id for o in r.obligations if o.kind == "contact"} == {"nah", "fern", "u25", "bfm", "asu"}
    assert [u.case_id for u in r.unmatched] == ["no-age"]


def test_no_profile_review_without_profile_since(tmp_path):
    r = plan_rows(tmp_path, "coburg-2016", T, [MARKTNAH])
    assert [o.kind for o in r.obligations] == ["contact"]
    assert r.unmatched == []  # an unknown profile_since is no reason to list the case


def test_explain_shows_why_a_case_gets_the_profile_review_or_not(tmp_path):
    cases = [
        {"case_id": "nah", **MARKTNAH, "profile_since": "2026-07-06"},
        {"case_id": "fern", **MARKTNAH, "profile": "entwicklungsprofil", "profile_since": "2026-07-06"},
        {"case_id": "ohne", **MARKTNAH},
    ]
    paths = write_caseload(tmp_path, cases)
    args = ["--policy", "coburg-2016", "--cases", str(paths["cases"]), "--as-of", T]
    nah = kontaktsync_cli("explain", "nah", *args)
    assert nah.returncode == 0, nah.stderr
    for line in [
        "rule wv-2mm-profiling: due profile_since + 6M = 2027-01-06",
        "due 2027-01-06 is no working day (Epiphany): moved back to 2027-01-05",
        "rule wv-2mm-profiling: WV due 2027-01-05",
    ]:
        assert line in nah.stdout
    assert "WV profile_review: due 2027-01-05 — rule coburg-2016/wv-2mm-profiling" in nah.stdout
    fern = kontaktsync_cli("explain", "fern", *args)
    assert (
        "rule wv-2mm-profiling: does not apply, contact rule 3mm-ue25-marktfern matched, "
        "not 2mm-ue25-marktnah" in fern.stdout
    )
    assert "profile_review" not in fern.stdout.split("Result")[1]
    ohne = kontaktsync_cli("explain", "ohne", *args)
    assert "rule wv-2mm-profiling: no date can be computed (profile_since is empty)" in ohne.stdout
