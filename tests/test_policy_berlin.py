"""berlin-lichtenberg-2013 (DE-BE, counting: persoenlich), computed by hand."""

from __future__ import annotations

from tests.builders import only, plan_rows

T = "2026-11-23"


def test_age_bands_on_birthday_edges(tmp_path):
    lc = {"last_contact": "2026-11-02"}
    cases = [
        {"case_id": "40", "birth_date": "1985-11-24", **lc},  # 40 until tomorrow
        {"case_id": "41", "birth_date": "1985-11-23", **lc},  # 41 today
        {"case_id": "55", "birth_date": "1970-11-24", **lc},
        {"case_id": "56", "birth_date": "1970-11-23", **lc},
        {"case_id": "24", "birth_date": "2001-11-24", **lc},
    ]
    r = plan_rows(tmp_path, "berlin-lichtenberg-2013", T, cases)
    got = {
        c: (only(r, c).rule.split("/")[1], only(r, c).tag, only(r, c).due.isoformat())
        for c in ("40", "41", "55", "56", "24")
    }
    assert got == {
        "40": ("lo-25-40", "2MM", "2026-12-31"),  # 2027-01-02 Sat, 01-01 holiday
        "41": ("lo-41-55", "3MM", "2027-02-02"),
        "55": ("lo-41-55", "3MM", "2027-02-02"),
        "56": ("lo-56", "4MM", "2027-03-02"),
        "24": ("u25-lo", "4WM", "2026-11-30"),
    }


def test_berlin_womens_day_is_a_holiday_here(tmp_path):
    # 2027-01-08 + 2M = 2027-03-08, Internationaler Frauentag (Berlin only) -> Friday 2027-03-05
    cases = [{"birth_date": "1990-01-01", "last_contact": "2027-01-08"}]
    assert (
        only(plan_rows(tmp_path, "berlin-lichtenberg-2013", "2027-01-10", cases)).due.isoformat()
        == "2027-03-05"
    )
    # the same date under Coburg (Bavaria) stays on the Monday
    cases = [{"birth_date": "1990-01-01", "last_contact": "2027-02-08", "team": "fallmanagement"}]
    assert only(plan_rows(tmp_path, "coburg-2016", "2027-02-10", cases)).due.isoformat() == "2027-03-08"


def test_fallmanagement_needs_an_individual_interval(tmp_path):
    cases = [
        {
            "case_id": "with",
            "team": "fallmanagement",
            "individual_interval": "6W",
            "last_contact": "2026-11-02",
        },
        {"case_id": "without", "team": "fallmanagement", "last_contact": "2026-11-02"},
    ]
    r = plan_rows(tmp_path, "berlin-lichtenberg-2013", T, cases)
    assert (only(r, "with").tag, only(r, "with").due.isoformat()) == ("6WM", "2026-12-14")
    assert [u.case_id for u in r.unmatched] == ["without"]
    assert "individual_interval" in r.unmatched[0].reason


def test_reha_and_selbststaendige_are_unmatched_with_reason(tmp_path):
    cases = [
        {"case_id": "reha", "team": "reha", "birth_date": "1990-01-01"},
        {"case_id": "selbst", "team": "selbststaendige", "birth_date": "1990-01-01"},
    ]
    r = plan_rows(tmp_path, "berlin-lichtenberg-2013", T, cases)
    assert r.obligations == []
    assert {u.case_id: ("reha" in u.reason or "selbst" in u.reason) for u in r.unmatched} == {
        "reha": True,
        "selbst": True,
    }


def test_z_at_any_age_but_u25_unemployed_comes_first(tmp_path):
    cases = [
        {"case_id": "u25-lo-z", "birth_date": "2005-01-01", "profile": "Z", "last_contact": "2026-11-02"},
        {
            "case_id": "u25-ohne-z",
            "birth_date": "2005-01-01",
            "status": "ohne_status",
            "profile": "Z",
            "last_contact": "2026-11-02",
        },
        {"case_id": "no-age-z", "status": "asu", "profile": "Z", "last_contact": "2026-11-02"},
    ]
    r = plan_rows(tmp_path, "berlin-lichtenberg-2013", T, cases)
    assert only(r, "u25-lo-z", "contact").rule.endswith("/u25-lo")
    assert only(r, "u25-ohne-z", "contact").rule.endswith("/z")
    assert (only(r, "no-age-z", "contact").tag, only(r, "no-age-z", "contact").due.isoformat()) == (
        "12MM",
        "2027-11-02",
    )


def test_bjo_teams_and_job_seekers(tmp_path):
    lc = {"birth_date": "1980-01-01", "last_contact": "2026-11-02"}
    cases = [
        {"case_id": "bjo-m", "team": "bjo", "profile": "aktivierungsprofil", **lc},
        {"case_id": "bjo-e", "team": "bjo", "profile": "entwicklungsprofil", **lc},
        {"case_id": "bjo-s", "team": "bjo", "profile": "stabilisierungsprofil", **lc},
        {"case_id": "asu", "status": "asu", **lc},
        {"case_id": "umschueler", "status": "asu", "umschueler": "x", **lc},
        {"case_id": "i", "status": "asu", "profile": "I", **lc},
    ]
    r = plan_rows(tmp_path, "berlin-lichtenberg-2013", T, cases)
    assert (only(r, "bjo-m").tag, only(r, "bjo-m").due.isoformat()) == ("4WM", "2026-11-30")
    assert (only(r, "bjo-e").tag, only(r, "bjo-e").due.isoformat()) == ("6WM", "2026-12-14")
    assert only(r, "bjo-s").rule.endswith("/lo-41-55")  # falls through to the age band
    assert (only(r, "asu").tag, only(r, "asu").due.isoformat()) == ("6MM", "2027-04-30")
    assert only(r, "i").rule.endswith("/i")
    assert [u.case_id for u in r.unmatched] == ["umschueler"]


def test_profile_review_for_z_is_the_earlier_of_both_limits(tmp_path):
    base = {"profile": "Z", "status": "ohne_status", "last_contact": "2026-11-02"}
    cases = [
        {"case_id": "both", "profile_since": "2026-06-10", "non_activation_end": "2027-01-20", **base},
        {"case_id": "since", "profile_since": "2026-06-10", **base},
        {"case_id": "neither", **base},
    ]
    r = plan_rows(tmp_path, "berlin-lichtenberg-2013", T, cases)
    both = only(r, "both", "profile_review")
    assert (both.tag, both.due.isoformat(), both.overdue) == ("WV", "2026-10-20", True)
    assert only(r, "since", "profile_review").due.isoformat() == "2026-12-10"
    assert [o.kind for o in r.obligations if o.case_id == "neither"] == ["contact"]


def test_profile_review_cycle_is_profile_since_so_a_moved_limit_updates_the_same_task(tmp_path):
    base = {"profile": "Z", "status": "ohne_status", "last_contact": "2026-11-02"}
    cases = [
        {"case_id": "a", "profile_since": "2026-06-10", "non_activation_end": "2027-01-20", **base},
        {"case_id": "b", "profile_since": "2026-06-10", "non_activation_end": "2027-02-20", **base},
        {"case_id": "only-end", "non_activation_end": "2027-02-20", **base},
    ]
    r = plan_rows(tmp_path, "berlin-lichtenberg-2013", T, cases)
    a, b = only(r, "a", "profile_review"), only(r, "b", "profile_review")
    assert (a.due.isoformat(), b.due.isoformat()) == ("2026-10-20", "2026-11-20")
    assert a.cycle == b.cycle == "2026-06-10"
    assert only(r, "only-end", "profile_review").cycle == "none"


def test_phone_contacts_do_not_count(tmp_path):
    cases = [{"birth_date": "1990-01-01", "last_contact": "2026-09-01"}]
    contacts = [{"case_id": "1", "date": "2026-11-02", "channel": "telefonisch"}]
    o = only(plan_rows(tmp_path, "berlin-lichtenberg-2013", T, cases, contacts=contacts))
    assert o.anchor.isoformat() == "2026-09-01"
