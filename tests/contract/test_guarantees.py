"""The guarantees of a sync run, written once and run against every target (tests/contract).

Each test drives kontaktsync in process (`run_sync`) and checks the outcome with a second
client and the person's own actions (see worlds.py): what a counsellor finds in their calendar,
not what kontaktsync believes it wrote.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kontaktsync.sync import item as item_mod
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.core import items as items_mod
from kontaktsync.sync.core.planning import make_plan
from kontaktsync.sync.core.reconcile import MassDeleteRefused

from tests.contract.caseload import AS_OF, Caseload
from tests.contract.worlds import COUNSELLORS, Seen, World


def desired(settings: Settings) -> dict[str, dict[str, item_mod.DesiredItem]]:
    """counsellor -> uid -> item: what the plan wants, computed without any target."""
    wanted = items_mod.desired_items(make_plan(settings, AS_OF), settings)
    return {c: wanted.get(c, {}) for c in COUNSELLORS}


def seen(world: World) -> dict[str, dict[str, Seen]]:
    return {c: world.items(c) for c in COUNSELLORS}


def uids_of(settings: Settings, case_id: str) -> set[str]:
    return {uid for cal in desired(settings).values() for uid, it in cal.items() if it.case_id == case_id}


def a_case(caseload: Caseload, counsellor: str = COUNSELLORS[0], n: int = 0) -> str:
    return [r["case_id"] for r in caseload.cases() if r["counsellor"] == counsellor][n]


def with_names(settings: Settings) -> Settings:
    """The same settings with customers' names shown: every summary changes (a plan change)."""
    return settings.model_copy(update={"privacy": settings.privacy.model_copy(update={"show_names": True})})


def test_first_sync_creates_exactly_the_desired_items(
    world: World, caseload: Caseload, tmp_path: Path
) -> None:
    s = world.settings(tmp_path)
    want = desired(s)
    assert all(want.values()), f"every counsellor should have work: {want}"
    report = world.sync(s, as_of=AS_OF)
    assert (report.created, report.failed) == (sum(map(len, want.values())), 0), report.errors
    got = seen(world)
    for who in COUNSELLORS:
        assert set(got[who]) == set(want[who]), who
        for uid, item in got[who].items():
            assert item.summary == want[who][uid].summary and not item.completed


def test_a_second_run_writes_nothing(world: World, caseload: Caseload, tmp_path: Path) -> None:
    s = world.settings(tmp_path)
    first = world.sync(s, as_of=AS_OF)
    before = seen(world)
    again = world.sync(s, as_of=AS_OF)
    assert (again.writes, again.failed, again.unchanged) == (0, 0, first.created), again.errors
    assert seen(world) == before


def test_no_duplicates_after_losing_the_state_database(
    world: World, caseload: Caseload, tmp_path: Path
) -> None:
    s = world.settings(tmp_path)
    first = world.sync(s, as_of=AS_OF)
    before = seen(world)
    s.sync.state_path.unlink()
    again = world.sync(s, as_of=AS_OF)
    assert (again.created, again.writes, again.failed) == (0, 0, 0), again.errors
    assert again.unchanged == first.created
    assert seen(world) == before  # items() fails on a UID it finds twice


def test_a_task_a_person_completed_stays_completed(world: World, caseload: Caseload, tmp_path: Path) -> None:
    s = world.settings(tmp_path)
    world.sync(s, as_of=AS_OF)
    who = COUNSELLORS[0]
    (uid,) = uids_of(s, a_case(caseload))
    world.complete(who, uid)
    assert world.items(who)[uid].completed
    # the plan changes every summary; the completed task's summary follows, its completion stays
    report = world.sync(with_names(s), as_of=AS_OF)
    assert report.failed == 0, report.errors
    after = world.items(who)[uid]
    assert after.completed and "Kundin Beispiel" in after.summary
    assert world.sync(with_names(s), as_of=AS_OF).writes == 0


def test_a_persons_changed_field_survives_a_plan_change(
    world: World, caseload: Caseload, tmp_path: Path
) -> None:
    s = world.settings(tmp_path)
    world.sync(s, as_of=AS_OF)
    who = COUNSELLORS[0]
    (uid,) = uids_of(s, a_case(caseload))
    note = "Notiz: Kunde ruft zurück"
    world.edit_description(who, uid, note)
    report = world.sync(with_names(s), as_of=AS_OF)
    assert report.failed == 0, report.errors
    after, want = world.items(who), desired(with_names(s))[who]
    assert after[uid].description == note  # the person's field
    assert after[uid].summary == want[uid].summary  # the field nobody touched follows the plan
    assert "Kundin Beispiel" in want[uid].summary and not after[uid].completed
    assert world.sync(with_names(s), as_of=AS_OF).writes == 0


def test_a_task_a_person_deleted_is_not_recreated(world: World, caseload: Caseload, tmp_path: Path) -> None:
    s = world.settings(tmp_path)
    world.sync(s, as_of=AS_OF)
    who = COUNSELLORS[0]
    (uid,) = uids_of(s, a_case(caseload))
    world.delete(who, uid)
    assert uid not in world.items(who)
    report = world.sync(s, as_of=AS_OF)
    assert (report.created, report.failed) == (0, 0), report.errors
    assert uid not in world.items(who) and set(world.items(who)) == set(desired(s)[who]) - {uid}


def test_a_fulfilled_task_is_completed_and_a_case_that_left_is_deleted(
    world: World, caseload: Caseload, tmp_path: Path
) -> None:
    s = world.settings(tmp_path)
    world.sync(s, as_of=AS_OF)
    who = COUNSELLORS[0]
    fulfilled, left = a_case(caseload, who, 0), a_case(caseload, who, 1)
    (done_uid,), left_uids = uids_of(s, fulfilled), uids_of(s, left)
    caseload.contact_today(fulfilled)
    caseload.keep_only({r["case_id"] for r in caseload.cases()} - {left})
    report = world.sync(s, as_of=AS_OF)
    assert (report.completed, report.deleted, report.failed) == (1, len(left_uids), 0), report.errors
    after = world.items(who)
    assert after[done_uid].completed
    assert not left_uids & set(after)
    assert set(desired(s)[who]) <= set(after)  # the fulfilled case's next task is there too


def test_a_bad_case_row_freezes_its_items(world: World, caseload: Caseload, tmp_path: Path) -> None:
    s = world.settings(tmp_path)
    world.sync(s, as_of=AS_OF)
    who, case_id = COUNSELLORS[0], a_case(caseload)
    (uid,) = uids_of(s, case_id)
    before = world.items(who)[uid]
    # a typo in the row, and a contact that would fulfil the task: nothing of the case moves
    caseload.set(case_id, profile="markt")
    caseload.contact_today(case_id)
    bad = world.sync(with_names(s), as_of=AS_OF)
    assert any("cases.csv" in e and "profile" in e and "markt" in e for e in bad.errors), bad.errors
    assert world.items(who)[uid] == before
    assert (bad.completed, bad.deleted, bad.failed) == (0, 0, 0)
    # readable again: the contact fulfils the task
    caseload.set(case_id, profile="marktprofil")
    fixed = world.sync(s, as_of=AS_OF)
    assert fixed.failed == 0 and world.items(who)[uid].completed, fixed.errors


def test_two_counsellors_share_one_calendar(sharing_world: World, caseload: Caseload, tmp_path: Path) -> None:
    world = sharing_world
    s = world.settings(tmp_path, shared=True)
    want = set().union(*(set(cal) for cal in desired(s).values()))
    first = world.sync(s, as_of=AS_OF)
    assert (first.created, first.failed) == (len(want), 0), first.errors
    assert set(world.items(COUNSELLORS[0])) == want  # the shared calendar holds everyone's
    assert world.sync(s, as_of=AS_OF).writes == 0
    # one counsellor's case leaves: only its items go, the other counsellor's stay
    left = a_case(caseload, COUNSELLORS[1])
    left_uids = uids_of(s, left)
    caseload.keep_only({r["case_id"] for r in caseload.cases()} - {left})
    report = world.sync(s, as_of=AS_OF)
    assert (report.deleted, report.created, report.failed) == (len(left_uids), 0, 0), report.errors
    assert left_uids and set(world.items(COUNSELLORS[0])) == want - left_uids


def test_the_mass_delete_guard_stops_a_truncated_export(
    world: World, caseload: Caseload, tmp_path: Path
) -> None:
    s = world.settings(tmp_path, mass_delete_min=1)
    world.sync(s, as_of=AS_OF)
    before = seen(world)
    caseload.keep_only({a_case(caseload, c) for c in COUNSELLORS})  # one case each is left
    with pytest.raises(MassDeleteRefused, match="truncated"):
        world.sync(s, as_of=AS_OF)
    assert seen(world) == before
    allowed = world.sync(s, as_of=AS_OF, allow_mass_delete=True)
    assert allowed.failed == 0 and allowed.deleted == sum(map(len, before.values())) - len(COUNSELLORS)
