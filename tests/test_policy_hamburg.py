"""hamburg-absolventenmanagement (DE-HH): measure talks only, computed by hand."""

from __future__ import annotations

import json

from tests.builders import only, plan_rows, write_caseload
from tests.cli import kontaktsync_cli

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


# -- follow_up_start (AM-A): "Der Antritt der neuen Maßnahme ist aktiv nachzuhalten" ----------

# E = 2026-12-31 (a Thursday); the next measure counts when it starts in [2027-01-01, 2027-01-14]
FOLLOWED = measure(start="2026-06-01", end="2026-12-31", follow_up_measure="ja")


def next_one(measure_id: str, start: str, case_id: str = "1") -> dict:
    return {"case_id": case_id, "measure_id": measure_id, "start": start, "end": "2027-06-30"}


def follow_up(tmp_path, measures, cases=CASE, contacts=None, case_id="1"):
    r = plan_rows(tmp_path, "hamburg-absolventenmanagement", T, cases, measures, contacts)
    return only(r, case_id, kind="follow_up_start")


def test_follow_up_start_next_measure_on_the_14th_day_counts(tmp_path):
    # S = 2027-01-14 (E + 14, a Thursday) -> the 1st working day after S is Friday 2027-01-15
    o = follow_up(tmp_path, [FOLLOWED, next_one("N", "2027-01-14")])
    assert (o.tag, o.due.isoformat(), o.window_start, o.overdue) == ("AM-A", "2027-01-15", None, False)
    assert o.rule == "hamburg-absolventenmanagement/am-a-anschlussfoerderung"
    assert (o.cycle, o.measure_key) == ("M", "M")  # one task per measure, as for the other talks


def test_follow_up_start_next_measure_on_the_15th_day_or_on_the_end_day_does_not(tmp_path):
    # neither counts: S = E = 2026-12-31; the 1st working day after it skips New Year's Day
    # (Friday) and the weekend -> Monday 2027-01-04
    o = follow_up(tmp_path, [FOLLOWED, next_one("N15", "2027-01-15"), next_one("N0", "2026-12-31")])
    assert o.due.isoformat() == "2027-01-04"


def test_follow_up_start_two_candidates_the_earliest_start_wins(tmp_path):
    # S = 2027-01-05 (Tuesday) -> Wednesday 2027-01-06: Epiphany is no holiday in Hamburg
    o = follow_up(tmp_path, [FOLLOWED, next_one("N2", "2027-01-11"), next_one("N1", "2027-01-05")])
    assert o.due.isoformat() == "2027-01-06"


def test_follow_up_start_skips_hamburg_holidays(tmp_path):
    cases = [{**CASE[0], "case_id": "easter"}, {**CASE[0], "case_id": "reformation"}]
    measures = [
        # E = Thursday 2027-03-25: Good Friday, the weekend and Easter Monday -> Tuesday 2027-03-30
        {"case_id": "easter", "start": "2027-01-04", "end": "2027-03-25", "follow_up_measure": "ja"},
        # E = Monday 2028-10-30: Reformation Day (a holiday in Hamburg) -> Wednesday 2028-11-01
        {"case_id": "reformation", "start": "2028-01-03", "end": "2028-10-30", "follow_up_measure": "ja"},
    ]
    r = plan_rows(tmp_path, "hamburg-absolventenmanagement", T, cases, measures)
    assert only(r, "easter", "follow_up_start").due.isoformat() == "2027-03-30"
    assert only(r, "reformation", "follow_up_start").due.isoformat() == "2028-11-01"
    assert only(r, "easter", "follow_up_start").cycle == "2027-01-04_2027-03-25"  # key without a number


ENDED_EARLY = measure(start="2026-06-01", end="2027-03-31", actual_end="2026-11-13", follow_up_measure="ja")


def test_follow_up_start_counts_from_the_actual_end(tmp_path):
    ended_early = ENDED_EARLY
    # no next measure: 1st working day after Friday 2026-11-13 is Monday 2026-11-16, overdue on T
    o = follow_up(tmp_path, [ended_early])
    assert (o.due.isoformat(), o.overdue) == ("2026-11-16", True)
    # a next measure from Friday 2026-11-20 (within 14 days of the actual end) -> Monday 2026-11-23 = T
    o = follow_up(tmp_path, [ended_early, next_one("N", "2026-11-20")])
    assert (o.due.isoformat(), o.overdue) == ("2026-11-23", False)


def test_follow_up_start_is_not_fulfilled_by_a_contact(tmp_path):
    ended_early = ENDED_EARLY
    contacts = [{"case_id": "1", "date": "2026-11-20", "channel": "persoenlich"}]
    r = plan_rows(tmp_path, "hamburg-absolventenmanagement", T, CASE, [ended_early], contacts)
    # the contact fulfils the AM window [E - 3M, E + 14 days], but not the check of the new start
    assert [o.kind for o in r.obligations] == ["follow_up_start"]


def test_no_follow_up_start_without_the_flag_or_for_an_aged_out_measure(tmp_path):
    cases = [{**CASE[0], "case_id": "plain"}, {**CASE[0], "case_id": "old"}]
    measures = [
        {"case_id": "plain", "start": "2026-06-01", "end": "2026-12-31"},
        # ended 2026-05-20, more than 6 months before T: produces nothing at all
        {"case_id": "old", "start": "2026-01-05", "end": "2026-05-20", "follow_up_measure": "ja"},
    ]
    r = plan_rows(tmp_path, "hamburg-absolventenmanagement", T, cases, measures)
    assert [(o.case_id, o.kind) for o in r.obligations] == [("plain", "measure_window")]


def test_follow_up_start_task_text_quotes_the_document(tmp_path):
    from kontaktsync.sync.core.items import SUBJECTS, description_for

    o = follow_up(tmp_path, [FOLLOWED])
    text = description_for(o)
    assert "- Der Antritt der neuen Maßnahme ist aktiv nachzuhalten." in text.splitlines()
    assert "Fällig: 04.01.2027" in text and "Zeitfenster" not in text
    assert SUBJECTS[o.kind] == "Antritt Folgemaßnahme prüfen"


def test_plan_json_lists_follow_up_start(tmp_path):
    paths = write_caseload(tmp_path, CASE, [FOLLOWED, next_one("N", "2027-01-14")])
    r = kontaktsync_cli(
        "plan", "--policy", "hamburg-absolventenmanagement", "--cases", str(paths["cases"]),
        "--measures", str(paths["measures"]), "--as-of", T, "--format", "json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    tasks = [o for o in doc["obligations"] if o["kind"] == "follow_up_start"]
    assert tasks == [
        {
            "case_id": "1",
            "counsellor": "m.mueller",
            "kind": "follow_up_start",
            "tag": "AM-A",
            "due": "2027-01-15",
            "window_start": None,
            "overdue": False,
            "rule": "hamburg-absolventenmanagement/am-a-anschlussfoerderung",
        }
    ]
    keys = [(o["due"], o["case_id"], o["kind"]) for o in doc["obligations"]]
    assert keys == sorted(keys) and doc["errors"] == [] and doc["unmatched"] == []


def test_explain_shows_the_follow_up_start(tmp_path):
    measures = [FOLLOWED, next_one("N15", "2027-01-15"), next_one("N", "2027-01-14")]
    paths = write_caseload(tmp_path, CASE, measures)
    r = kontaktsync_cli(
        "explain", "1", "--policy", "hamburg-absolventenmanagement", "--cases", str(paths["cases"]),
        "--measures", str(paths["measures"]), "--as-of", T,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    for line in [
        "measure M, rule am-a-anschlussfoerderung: next measure N starts 2027-01-14, "
        "within 14D after the end 2026-12-31",
        "measure M, rule am-a-anschlussfoerderung: working day 1 after the next measure's start "
        "(within 14D after the end, else the end) = 2027-01-15",
        "measure M, rule am-a-anschlussfoerderung: AM-A due 2027-01-15 (no contact fulfils it)",
        "measure N, rule am-a-anschlussfoerderung: left out: follow_up_measure is not set",
        "AM-A follow_up_start: due 2027-01-15 — rule hamburg-absolventenmanagement/am-a-anschlussfoerderung",
    ]:
        assert line in r.stdout, line
