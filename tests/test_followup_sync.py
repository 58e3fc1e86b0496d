"""The follow-up tasks in the calendar (Wiedervorlagen): a profile review completes when the
profile was reviewed, a follow-up-start task stays the counsellor's until its measure ages out.

Real caseload files -> real plan (rules) -> the runner against the in-memory target, which
stores the very iCalendar bytes the CalDAV target would write.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.core.planning import make_plan
from kontaktsync.sync.core.runner import run_sync
from kontaktsync.sync.targets.caldav import ical
from kontaktsync.sync.targets.memory import MemTarget

CASES = "case_id,counsellor,birth_date,status,profile,registration_date,last_contact,profile_since\n"
MEASURES = "case_id,measure_id,kind,start,end,follow_up_measure\n"


def _settings(folder: Path, policy: str) -> Settings:
    return Settings(
        source={"cases": folder / "cases.csv", "measures": folder / "measures.csv"},
        policy=policy,
        target={"kind": "caldav", "caldav": {"url": "http://127.0.0.1:1/{counsellor}/k/"}},
        sync={"state_path": folder / "state.sqlite3"},
    )


def _write(folder: Path, cases: str, measures: str = "") -> None:
    (folder / "cases.csv").write_text(CASES + cases, encoding="utf-8")
    (folder / "measures.csv").write_text(MEASURES + measures, encoding="utf-8")


def _tasks(tgt: MemTarget, kind: str) -> list[ical.Parsed]:
    out = []
    for _v, body in tgt.cals.get("anna", {}).values():
        parsed = ical.parse(body)
        if parsed is not None and parsed.marker.get("k") == kind:
            out.append(parsed)
    return out


def _sync(s: Settings, tgt: MemTarget, as_of: date):
    plan = make_plan(s, as_of)
    report = run_sync(s, plan=plan, target=tgt)
    assert report.failed == 0, report.errors
    return plan, report


def test_a_profile_review_completes_when_the_profile_was_reviewed(tmp_path):
    s = _settings(tmp_path, "coburg-2016")
    as_of = date(2026, 11, 22)
    _write(tmp_path, "200001,anna,1980-05-05,arbeitslos,marktnah,2026-01-05,2026-11-02,2026-08-31\n")
    tgt = MemTarget()
    plan, _ = _sync(s, tgt, as_of)
    (review,) = [o for o in plan.obligations if o.kind == "profile_review"]
    assert review.tag == "WV" and review.due == date(2027, 2, 26)  # 28 Feb 2027 is a Sunday
    (task,) = _tasks(tgt, "profile_review")
    assert task.fields["due"] == "2027-02-26" and task.fields["summary"].startswith("WV ")
    # The counsellor reviewed the profile: profile_since moves on. The old review is completed
    # (it happened), a new one is due six months after the new date.
    _write(tmp_path, "200001,anna,1980-05-05,arbeitslos,marktnah,2026-01-05,2026-11-02,2026-11-20\n")
    _, report = _sync(s, tgt, as_of)
    by_due = {t.fields["due"]: t for t in _tasks(tgt, "profile_review")}
    assert by_due["2027-02-26"].completed and not by_due["2027-05-20"].completed
    assert report.completed >= 1 and report.deleted == 0
    # The case no longer matches 2mm-ue25-marktnah (a complex profile): the open review is not
    # asked for any more and goes; the completed one stays as it is.
    _write(tmp_path, "200001,anna,1980-05-05,arbeitslos,nicht_marktnah,2026-01-05,2026-11-02,2026-11-20\n")
    _sync(s, tgt, as_of)
    assert [t.fields["due"] for t in _tasks(tgt, "profile_review")] == ["2027-02-26"]


def test_a_follow_up_start_task_stays_until_its_measure_ages_out(tmp_path):
    s = _settings(tmp_path, "hamburg-absolventenmanagement")
    as_of = date(2026, 11, 22)
    case = "300001,anna,1990-01-01,arbeitslos,marktnah,2026-01-05,2026-11-02,\n"
    _write(tmp_path, case, "300001,M1,FbW,2026-06-01,2026-11-27,ja\n")
    tgt = MemTarget()
    plan, _ = _sync(s, tgt, as_of)
    (start,) = [o for o in plan.obligations if o.kind == "follow_up_start"]
    assert start.tag == "AM-A" and start.due == date(2026, 11, 30)  # first working day after Fri 27th
    assert len(_tasks(tgt, "follow_up_start")) == 1
    # The flag is cleared in the export: no contact can tell that the next measure began, so
    # the task stays as the counsellor left it.
    _write(tmp_path, case, "300001,M1,FbW,2026-06-01,2026-11-27,\n")
    _, report = _sync(s, tgt, as_of)
    assert len(_tasks(tgt, "follow_up_start")) == 1 and report.deleted == 0
    # More than six months after the measure's end it ages out, and its task goes with it.
    _sync(s, tgt, date(2027, 6, 1))
    assert _tasks(tgt, "follow_up_start") == []
