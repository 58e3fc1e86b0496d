"""hamburg-absolventenmanagement (DE-HH): measure talks only, computed by hand."""

from __future__ import annotations

from builders import only, plan_rows

T = "2026-11-23"
CASE = [{"birth_date": "1990-01-01", "last_contact": "2026-08-01"}]


def measure(**kw):
    return {"case_id": "1", "measure_id": "M", **kw}


def test_non_qualifying_measure_one_talk_in_the_window(tmp_path):
    r = plan_rows(
        tmp_path, "hamburg-absolventenmanagement", T, CASE, [measure(start="2026-09-01", end="2026-12-15")]
    )
    o = only(r)
    assert (o.kind, o.tag, o.window_start.isoformat(), o.due.isoformat()) == (
        "measure_window",
        "AM",
        "2026-09-15",
        "2026-12-29",
    )
    assert r.unmatched == []


def test_qualifying_before_and_after_the_end(tmp_path):
    # length 2026-03-01..2026-12-31 = 306 days; last third from start + 204 days = 2026-09-21;
    # E - 91 days = 2026-10-01 -> window 2026-10-01..2026-12-31.
    # after: 2027-01-01 (holiday) .. 2027-01-14 -> window starts on Monday 2027-01-04.
    r = plan_rows(
        tmp_path,
        "hamburg-absolventenmanagement",
        T,
        CASE,
        [measure(start="2026-03-01", end="2026-12-31", qualifying="ja")],
    )
    before, after = only(r, kind="measure_before_end"), only(r, kind="measure_after_end")
    assert (before.tag, before.window_start.isoformat(), before.due.isoformat()) == (
        "AM-V",
        "2026-10-01",
        "2026-12-31",
    )
    assert (after.tag, after.window_start.isoformat(), after.due.isoformat()) == (
        "AM-N",
        "2027-01-04",
        "2027-01-14",
    )


def test_last_third_wins_for_a_shorter_qualifying_measure(tmp_path):
    # 2026-09-01..2026-12-14: 105 days; start + 70 days = 2026-11-10; E - 91 = 2026-09-14
    r = plan_rows(
        tmp_path,
        "hamburg-absolventenmanagement",
        T,
        CASE,
        [measure(start="2026-09-01", end="2026-12-14", qualifying="true")],
    )
    assert only(r, kind="measure_before_end").window_start.isoformat() == "2026-11-10"


def test_short_qualifying_measure_has_no_talk_before_unless_a_follow_up_follows(tmp_path):
    # 2026-10-01..2026-12-29 is 90 days (< 91)
    short = measure(start="2026-10-01", end="2026-12-29", qualifying="1")
    r = plan_rows(tmp_path, "hamburg-absolventenmanagement", T, CASE, [short])
    assert [o.kind for o in r.obligations] == ["measure_after_end"]
    r = plan_rows(tmp_path, "hamburg-absolventenmanagement", T, CASE, [{**short, "follow_up_measure": "ja"}])
    # follow-up: only the talk before, and the task to check that the next measure began
    # (no next measure: the 1st working day after E 2026-12-29, a Tuesday)
    assert [(o.kind, o.due.isoformat()) for o in r.obligations] == [
        ("measure_before_end", "2026-12-29"),
        ("follow_up_start", "2026-12-30"),
    ]


def test_exactly_91_days_is_not_short(tmp_path):
    r = plan_rows(
        tmp_path,
        "hamburg-absolventenmanagement",
        T,
        CASE,
        [measure(start="2026-10-01", end="2026-12-30", qualifying="1")],
    )
    assert {o.kind for o in r.obligations} == {"measure_before_end", "measure_after_end"}


def test_job_start_drops_the_talk_after(tmp_path):
    r = plan_rows(
        tmp_path,
        "hamburg-absolventenmanagement",
        T,
        CASE,
        [measure(start="2026-03-01", end="2026-12-31", qualifying="ja", job_start="ja")],
    )
    assert [o.kind for o in r.obligations] == ["measure_before_end"]


def test_late_completion_moves_the_talk_after(tmp_path):
    # E = 2026-12-31, exam passed 2027-01-20 -> window 2027-01-21..2027-02-03
    r = plan_rows(
        tmp_path,
        "hamburg-absolventenmanagement",
        T,
        CASE,
        [measure(start="2026-03-01", end="2026-12-31", qualifying="ja", completion_date="2027-01-20")],
    )
    after = only(r, kind="measure_after_end")
    assert (after.window_start.isoformat(), after.due.isoformat()) == ("2027-01-21", "2027-02-03")


def test_actual_end_replaces_the_planned_end(tmp_path):
    r = plan_rows(
        tmp_path,
        "hamburg-absolventenmanagement",
        T,
        CASE,
        [measure(start="2026-09-01", end="2027-03-31", actual_end="2026-11-13")],
    )
    o = only(r)
    assert (o.window_start.isoformat(), o.due.isoformat(), o.overdue) == ("2026-08-13", "2026-11-27", False)


def test_window_fulfilled_by_a_video_contact_but_not_by_a_missed_one(tmp_path):
    m = [measure(start="2026-09-01", end="2026-12-15")]
    done = plan_rows(
        tmp_path,
        "hamburg-absolventenmanagement",
        T,
        CASE,
        m,
        [{"case_id": "1", "date": "2026-10-01", "channel": "video"}],
    )
    assert done.obligations == []
    missed = plan_rows(
        tmp_path,
        "hamburg-absolventenmanagement",
        T,
        CASE,
        m,
        [{"case_id": "1", "date": "2026-10-01", "channel": "persoenlich", "outcome": "nicht_erschienen"}],
    )
    assert len(missed.obligations) == 1


def test_no_case_is_ever_unmatched(tmp_path):
    r = plan_rows(
        tmp_path,
        "hamburg-absolventenmanagement",
        T,
        [{"team": "reha"}, {"status": "ohne_status", "profile": "Z"}],
    )
    assert r.obligations == [] and r.unmatched == []
