"""`rules.fulfilment.fate`: what becomes of a task whose obligation left the plan.

The unit tests give the facts by hand; the tests at the end take them from real plans of the
built-in policies, so that the cycles the engine writes and the facts it fills fit `fate`.
"""

from __future__ import annotations

from datetime import date

import pytest
from kontaktsync.rules.fulfilment import fate
from kontaktsync.rules.model import CaseFacts

from tests.builders import only, plan_rows

D = date.fromisoformat
AS_OF = D("2026-11-23")


def facts(**kw) -> CaseFacts:
    return CaseFacts("1", "m.mueller", **kw)


# -- the rules the reconciler had: contacts, windowed talks, the care plan ----------------------


@pytest.mark.parametrize(
    ("contacts", "expected"),
    [
        ((), "delete"),
        ((D("2026-09-01"),), "delete"),  # the anchor itself is no new contact
        ((D("2026-08-15"), D("2026-09-02")), "complete"),
    ],
)
def test_contact_completes_on_a_counting_contact_after_its_anchor(contacts, expected):
    assert fate("contact", "2026-09-01", None, None, facts(counting_contacts=contacts)) == expected


def test_contact_without_an_anchor_is_deleted():
    f = facts(counting_contacts=(D("2026-11-01"),))
    assert fate("contact", "none", None, None, f) == "delete"


@pytest.mark.parametrize(
    "kind", ["measure_window", "measure_before_end", "measure_after_end", "care_plan_review"]
)
def test_windowed_talk_completes_on_a_contact_from_the_window_start(kind):
    ws = D("2026-10-01")
    on_start = facts(counting_contacts=(D("2026-10-01"),))
    before = facts(counting_contacts=(D("2026-09-30"),))
    assert fate(kind, "M1", ws, "M1", on_start) == "complete"
    assert fate(kind, "M1", ws, "M1", before) == "delete"
    assert fate(kind, "M1", None, "M1", on_start) == "delete"  # no window: nothing to tell


def test_care_plan_completes_when_the_plan_is_recorded():
    assert fate("care_plan", "2026-12-01", None, None, facts(care_plan_created=D("2026-11-20"))) == (
        "complete"
    )
    assert fate("care_plan", "2026-12-01", None, None, facts()) == "delete"


# -- profile review: the cycle is profile_since ------------------------------------------------


def test_profile_review_completes_when_profile_since_moved_on():
    moved = facts(profile_since=D("2027-02-01"))
    same = facts(profile_since=D("2026-08-31"))
    assert fate("profile_review", "2026-08-31", None, None, moved) == "complete"
    assert fate("profile_review", "2026-08-31", None, None, same) == "delete"
    assert fate("profile_review", "2026-08-31", None, None, facts()) == "delete"  # emptied


def test_profile_review_is_not_completed_by_a_contact():
    f = facts(profile_since=D("2026-08-31"), counting_contacts=(D("2026-11-20"),))
    assert fate("profile_review", "2026-08-31", None, None, f) == "delete"


# -- follow-up start: stays until its measure ages out -----------------------------------------


def test_follow_up_start_stays_while_its_measure_is_in_the_caseload():
    f = facts(measures=frozenset({"M1"}), counting_contacts=(D("2026-11-20"),))
    assert fate("follow_up_start", "M1", None, "M1", f) == "keep"


def test_follow_up_start_goes_with_its_measure():
    """`facts.measures` lists only the measures inside the policy's horizon: one that aged out is
    gone as one that left (the age-out across runs is shown with real plans below)."""
    assert fate("follow_up_start", "M1", None, "M1", facts(measures=frozenset({"M2"}))) == ("delete")
    assert fate("follow_up_start", "M1", None, "M1", facts()) == "delete"


def test_follow_up_start_without_measure_key_uses_the_cycle():
    f = facts(measures=frozenset({"M1"}))
    assert fate("follow_up_start", "M1", None, None, f) == "keep"


# -- with facts and cycles from real plans ------------------------------------------------------

MARKTNAH = {"birth_date": "1980-05-05", "last_contact": "2026-11-02", "profile_since": "2026-08-31"}


def test_coburg_profile_review_across_runs(tmp_path):
    first = only(plan_rows(tmp_path, "coburg-2016", AS_OF, [MARKTNAH]), kind="profile_review")
    assert first.cycle == "2026-08-31"

    reviewed = plan_rows(tmp_path, "coburg-2016", AS_OF, [{**MARKTNAH, "profile_since": "2026-11-20"}])
    assert only(reviewed, kind="profile_review").cycle == "2026-11-20"  # a new review, a new task
    assert fate(first.kind, first.cycle, None, None, reviewed.cases["1"]) == "complete"

    now_complex = plan_rows(tmp_path, "coburg-2016", AS_OF, [{**MARKTNAH, "profile": "entwicklungsprofil"}])
    assert [o.kind for o in now_complex.obligations] == ["contact"]
    assert fate(first.kind, first.cycle, None, None, now_complex.cases["1"]) == "delete"


def test_hamburg_follow_up_start_across_runs(tmp_path):
    case = [{"birth_date": "1990-01-01"}]
    m = {
        "case_id": "1",
        "measure_id": "M",
        "start": "2026-06-01",
        "end": "2026-12-31",
        "follow_up_measure": "ja",
    }
    task = only(
        plan_rows(tmp_path, "hamburg-absolventenmanagement", AS_OF, case, [m]), kind="follow_up_start"
    )

    def fate_in(plan_):
        return fate(task.kind, task.cycle, task.window_start, task.measure_key, plan_.cases["1"])

    unflagged = plan_rows(
        tmp_path, "hamburg-absolventenmanagement", AS_OF, case, [{**m, "follow_up_measure": ""}]
    )
    assert [o.kind for o in unflagged.obligations] == ["measure_window"]
    assert fate_in(unflagged) == "keep"  # the counsellor's task now

    gone = plan_rows(tmp_path, "hamburg-absolventenmanagement", AS_OF, case, [{**m, "measure_id": "X"}])
    assert fate_in(gone) == "delete"

    # E = 2026-12-31: on 2027-06-30 (E + 6M) the engine still plans it; a day later neither
    last_day, aged = D("2027-06-30"), D("2027-07-01")
    assert only(
        plan_rows(tmp_path, "hamburg-absolventenmanagement", last_day, case, [m]), kind="follow_up_start"
    )
    later = plan_rows(tmp_path, "hamburg-absolventenmanagement", aged, case, [m])
    assert later.obligations == []
    assert fate_in(later) == "delete"
