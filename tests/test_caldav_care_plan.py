"""A care plan task (ams-betreuungsplan) is completed, not deleted, once the plan is recorded."""

from __future__ import annotations

from kontaktsync.sync import item as item_mod
from kontaktsync.sync.core.planning import make_plan
from kontaktsync.sync.core.runner import run_sync

from tests.builders import AS_OF, write_caseload
from tests.calendars import components
from tests.configs import settings_for


def test_recorded_care_plan_completes_its_task(dav_server, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    cases = [{"case_id": "200001", "registration_date": "2026-11-02"},
             {"case_id": "200002", "registration_date": "2026-11-05"}]  # fmt: skip
    write_caseload(src, cases)
    s = settings_for(dav_server.url, tmp_path, src, appointments="none")
    s = s.model_copy(update={"policy": "ams-betreuungsplan"})
    s.source.measures = s.source.contacts = None
    (bp,) = [o for o in make_plan(s, AS_OF).obligations if o.case_id == "200001"]
    assert (bp.kind, bp.due.isoformat()) == ("care_plan", "2026-12-02")
    assert run_sync(s, as_of=AS_OF).created == 2

    cases[0]["care_plan_created"] = "2026-11-20"
    write_caseload(src, cases)
    report = run_sync(s, as_of=AS_OF)
    assert (report.completed, report.deleted, report.failed) == (1, 0, 0)
    uid = item_mod.make_uid(s, "200001", "care_plan", None, bp.cycle, "task")
    (todo,) = [c for c in components(dav_server.calendar_url(bp.counsellor)) if str(c["UID"]) == uid]
    assert str(todo["STATUS"]) == "COMPLETED" and int(todo["PERCENT-COMPLETE"]) == 100
    assert run_sync(s, as_of=AS_OF).writes == 0
