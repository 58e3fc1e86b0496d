"""The Exchange target against the fake EWS server: the guarantees of calendar.md.

Idempotent second run, no duplicates after a crash between writes or after losing the state
database, counsellors' edits survive, faults lose nothing; plus the Outlook specifics of
issue 4 (tag-first subject, dates on the local day, private, high importance when overdue,
morning reminder, completion as Outlook does it, markers without invitations).

The fake encodes our understanding of EWS (tests/fake_ews/server.py); these tests show that
the target, exchangelib and that understanding agree, not that Exchange does.
"""

from __future__ import annotations

import json
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
from kontaktsync.sync.core.runner import FAULT_ENV, FAULT_EXIT_CODE
from kontaktsync.sync.item import uid_prefix
from kontaktsync.sync.targets.base import TargetError
from kontaktsync.sync.targets.exchange.target import ExchangeTarget, forget_accounts

from tests.cli import run_cli
from tests.configs import exchange_config
from tests.exchange_helpers import (
    AS_OF,
    SERVICE_PASSWORD,
    SERVICE_USER,
    exchange_settings,
    mailbox_of,
    make_plan,
    run,
    run_child,
)
from tests.fake_ews import FakeEWS, StoredItem

PERSONAL_APPOINTMENT = (
    '<t:CalendarItem xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
    "<t:Subject>Zahnarzt</t:Subject></t:CalendarItem>"
)
ANNA = mailbox_of("anna")
BERND = mailbox_of("bernd")


@pytest.fixture(autouse=True)
def _fresh_accounts() -> None:
    """Each test starts like a new process: no cached Accounts."""
    forget_accounts()


def _ours(fake: FakeEWS, mailbox: str, folder: str | None = "tasks") -> list[StoredItem]:
    return [i for i in fake.items(mailbox, folder) if i.extended("KontaktsyncUid")]


def _by_case(fake: FakeEWS, mailbox: str) -> dict[str, StoredItem]:
    out: dict[str, StoredItem] = {}
    for item in _ours(fake, mailbox):
        case = (item.subject or "").rsplit("Kd ", 1)[1]
        assert case not in out, f"duplicate task for case {case}"
        out[case] = item
    return out


def _assert_no_duplicates(fake: FakeEWS, mailbox: str) -> None:
    uids = [i.extended("KontaktsyncUid") for i in _ours(fake, mailbox)]
    assert len(uids) == len(set(uids)), "duplicate items"


def test_first_sync_and_unchanged_resync_of_150_cases(
    fake_ews: FakeEWS, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    settings = exchange_settings(fake_ews, tmp_path)
    plan = make_plan(150)
    first = run(settings, plan)
    assert (first.created, first.failed, first.errors) == (150, 0, [])
    first_counts = fake_ews.counts_by_operation(ANNA)
    version_guess = fake_ews.count(operation="ConvertId")

    fake_ews.reset_counts()
    forget_accounts()  # a new process (e.g. `kontaktsync sync` from cron)
    second = run(settings, plan)
    assert second.writes == 0 and second.failed == 0 and second.unchanged == 150
    new_process = fake_ews.counts_by_operation(ANNA)
    assert set(new_process) == {"GetFolder", "SyncFolderItems"}

    fake_ews.reset_counts()  # the same process again (the service's next run)
    third = run(settings, plan)
    assert third.writes == 0 and third.unchanged == 150
    same_process = fake_ews.counts_by_operation(ANNA)
    assert same_process == {"SyncFolderItems": 1}
    assert len(_ours(fake_ews, ANNA)) == 150

    figures = {
        "cases": 150,
        "mailboxes": 1,
        "first_sync_per_mailbox": first_counts,
        "first_sync_per_mailbox_total": sum(first_counts.values()),
        "version_guess_per_process": version_guess,
        "unchanged_resync_new_process_per_mailbox": new_process,
        "unchanged_resync_new_process_total": sum(new_process.values()),
        "unchanged_resync_same_process_per_mailbox": same_process,
        "unchanged_resync_same_process_total": sum(same_process.values()),
    }
    record_property("ews_request_counts", json.dumps(figures))
    print("\nEWS requests per mailbox, 150 cases:", json.dumps(figures, indent=1))


def test_tasks_look_as_outlook_wants_them(fake_ews: FakeEWS, tmp_path: Path) -> None:
    settings = exchange_settings(fake_ews, tmp_path)
    plan = make_plan(14)
    run(settings, plan)
    tasks = _by_case(fake_ews, ANNA)
    for ob in plan.obligations:
        task = tasks[ob.case_id]
        assert task.subject == f"2MM Kontakt fällig – Kd {ob.case_id}"
        assert task.text("DueDate").startswith(f"{ob.due.isoformat()}T00:00:00+0")
        assert task.text("StartDate").startswith(f"{ob.window_start.isoformat()}T00:00:00+0")
        assert task.categories == ["Kontaktdichte", "2MM"]
        assert task.text("Sensitivity") == "Private"
        assert task.text("Importance") == ("High" if ob.overdue else "Normal")
        assert task.text("ReminderIsSet") in ("true", "1")
        assert task.text("ReminderDueBy").startswith(f"{ob.due.isoformat()}T08:00:00+0")
        assert task.text("Status") == "NotStarted"
        body = task.text("Body") or ""
        assert "coburg-2016" in body and "Automatisch angelegt" in body
        assert task.extended(
            "KontaktsyncUid",
        ).startswith(uid_prefix(settings))
    assert any(ob.overdue for ob in plan.obligations)


def test_no_duplicates_after_losing_the_state_database(fake_ews: FakeEWS, tmp_path: Path) -> None:
    settings = exchange_settings(fake_ews, tmp_path)
    plan = make_plan(40)
    run(settings, plan)
    settings.sync.state_path.unlink()
    forget_accounts()
    fake_ews.reset_counts()
    again = run(settings, plan)
    assert again.created == 0 and again.failed == 0 and again.writes == 0
    assert len(_ours(fake_ews, ANNA)) == 40
    # found again through the UID property, in full listing + reads, without writing
    assert fake_ews.count(operation="CreateItem") == 0
    assert fake_ews.count(operation="UpdateItem") == 0
    # and the rebuilt state makes the next run cheap again
    fake_ews.reset_counts()
    assert run(settings, plan).writes == 0
    assert fake_ews.counts_by_operation(ANNA) == {"SyncFolderItems": 1}


@pytest.mark.parametrize("crash_after", [1, 99, 101, 150])
def test_no_duplicates_after_a_crash_between_writes(
    fake_ews: FakeEWS, tmp_path: Path, crash_after: int
) -> None:
    """The runner's fault hook kills the process right after the k-th write reached the
    server and before its state is recorded; creates go in chunks of 100, so most of a
    chunk is on the server and unknown to the state."""
    proc = run_child(fake_ews, tmp_path, 150, ["anna"], {FAULT_ENV: str(crash_after)})
    assert proc.returncode == FAULT_EXIT_CODE, proc.stderr[-2000:]
    on_server = len(_ours(fake_ews, ANNA))
    assert on_server >= crash_after
    settings = exchange_settings(fake_ews, tmp_path)
    after = run(settings, make_plan(150))
    assert after.failed == 0, after.errors
    assert after.created == 150 - on_server
    _assert_no_duplicates(fake_ews, ANNA)
    assert len(_ours(fake_ews, ANNA)) == 150
    assert run(settings, make_plan(150)).writes == 0


@pytest.mark.parametrize("crash_after", [1, 5, 12])
def test_no_duplicates_or_losses_after_a_crash_among_updates_completions_deletes(
    fake_ews: FakeEWS, tmp_path: Path, crash_after: int
) -> None:
    settings = exchange_settings(fake_ews, tmp_path)
    run(settings, make_plan(30))
    variant = {
        "due_shift": {str(100000 + i): 2 for i in range(0, 30, 3)},  # 10 updates
        "drop": ["100001", "100004"],  # 2 deletes
        "new_contact": {"100002": (AS_OF - timedelta(days=1)).isoformat()},  # complete + create
    }
    proc = run_child(fake_ews, tmp_path, 30, ["anna"], {FAULT_ENV: str(crash_after)}, variant)
    assert proc.returncode == FAULT_EXIT_CODE, proc.stderr[-2000:]
    plan = make_plan(
        30,
        due_shift=variant["due_shift"],
        drop=variant["drop"],
        new_contact={"100002": AS_OF - timedelta(days=1)},
    )
    after = run(settings, plan)
    assert after.failed == 0, after.errors
    _assert_no_duplicates(fake_ews, ANNA)
    tasks = _ours(fake_ews, ANNA)
    cases = sorted(t.subject.rsplit("Kd ", 1)[1] for t in tasks)
    assert len(tasks) == 29 and cases.count("100002") == 2
    assert "100001" not in cases and "100004" not in cases
    due = {o.case_id: o.due for o in plan.obligations}
    open_tasks = [t for t in tasks if t.text("Status") != "Completed"]
    assert len(open_tasks) == 28
    for task in open_tasks:
        assert task.text("DueDate").startswith(due[task.subject.rsplit("Kd ", 1)[1]].isoformat())
    assert run(settings, plan).writes == 0


def test_a_lost_create_answer_is_adopted_not_repeated(fake_ews: FakeEWS, tmp_path: Path) -> None:
    """The server did the CreateItem, the answer never arrived (connection dropped after the
    write): the retry finds the items by their UID property and does not create them again."""
    settings = exchange_settings(fake_ews, tmp_path)
    fake_ews.inject("drop_after", operation="CreateItem", mailbox=ANNA)
    report = run(settings, make_plan(30))
    assert (report.created, report.failed) == (30, 0)
    assert fake_ews.count(operation="CreateItem") == 1  # the retry had nothing left to create
    _assert_no_duplicates(fake_ews, ANNA)
    assert len(_ours(fake_ews, ANNA)) == 30


def test_a_restriction_too_complex_for_the_server_is_split(tmp_path: Path) -> None:
    with FakeEWS({SERVICE_USER: SERVICE_PASSWORD}, max_restriction_terms=16) as fake:
        settings = exchange_settings(fake, tmp_path)
        report = run(settings, make_plan(40))
        assert (report.created, report.failed) == (40, 0)
        outcomes = [r.outcome for r in fake.requests if r.operation == "FindItem"]
        assert len(outcomes) == 1 + 2 + 4  # 40 -> 2 x 20 -> 4 x 10
        assert len(_ours(fake, ANNA)) == 40


def test_counsellor_edits_survive(fake_ews: FakeEWS, tmp_path: Path) -> None:
    settings = exchange_settings(fake_ews, tmp_path)
    plan = make_plan(20)
    run(settings, plan)
    tasks = _by_case(fake_ews, ANNA)
    fake_ews.person_complete(ANNA, tasks["100001"].id)
    fake_ews.person_delete(ANNA, tasks["100002"].id)
    fake_ews.person_move(ANNA, tasks["100003"].id, "inbox")
    fake_ews.person_set(ANNA, tasks["100004"].id, Body="Kunde ruft zurück")
    fake_ews.person_set(ANNA, tasks["100005"].id, ReminderDueBy="2026-12-01T10:00:00+01:00")

    fake_ews.reset_counts()
    report = run(settings, plan)
    assert report.created == 0 and report.deleted == 0 and report.failed == 0
    assert fake_ews.count(operation="SyncFolderItems") == 1  # asked for changes only
    after = _by_case(fake_ews, ANNA)
    assert after["100001"].text("Status") == "Completed"
    assert "100002" not in after and "100003" not in after  # not recreated
    assert len(fake_ews.items(ANNA, "inbox")) == 1
    # a note the counsellor wrote into the description is theirs: the three-way merge keeps it
    assert after["100004"].text("Body") == "Kunde ruft zurück"
    assert after["100005"].text("ReminderDueBy") == "2026-12-01T10:00:00+01:00"

    # A later run that moves the completed task's due date keeps the completion.
    moved = make_plan(20, due_shift={"100001": 7})
    run(settings, moved)
    done = _by_case(fake_ews, ANNA)["100001"]
    assert done.text("Status") == "Completed"
    new_due = next(o.due for o in moved.obligations if o.case_id == "100001")
    assert done.text(
        "DueDate",
    ).startswith(new_due.isoformat())
    assert run(settings, moved).writes == 0
    # ... and the note survives a plan change of that task's other fields.
    shifted = make_plan(20, due_shift={"100001": 7, "100004": 3})
    run(settings, shifted)
    noted = _by_case(fake_ews, ANNA)["100004"]
    assert noted.text("Body") == "Kunde ruft zurück"
    new_due = next(o.due for o in shifted.obligations if o.case_id == "100004")
    assert noted.text("DueDate").startswith(new_due.isoformat())


def test_fulfilled_obligation_completes_like_outlook_and_left_cases_are_deleted(
    fake_ews: FakeEWS, tmp_path: Path
) -> None:
    settings = exchange_settings(fake_ews, tmp_path)
    run(settings, make_plan(20))
    old = _by_case(fake_ews, ANNA)["100006"]
    later = make_plan(20, drop={"100008"}, new_contact={"100006": AS_OF - timedelta(days=2)})
    report = run(settings, later)
    assert (report.completed, report.deleted, report.created) == (1, 1, 1)
    done = fake_ews.item(ANNA, _find_id(fake_ews, old))
    assert done.text("Status") == "Completed"
    assert done.text("PercentComplete") == "100" and done.text("CompleteDate")
    assert done.text("Importance") == "Normal"
    cases = [i.subject.rsplit("Kd ", 1)[1] for i in _ours(fake_ews, ANNA)]
    assert cases.count("100006") == 2  # the completed round and the new one
    assert "100008" not in cases
    trashed = _ours(fake_ews, ANNA, "deleteditems")
    assert [t.subject.rsplit("Kd ", 1)[1] for t in trashed] == ["100008"]
    assert run(settings, later).writes == 0


def _find_id(fake: FakeEWS, item: StoredItem) -> str:
    uid = item.extended("KontaktsyncUid")
    [now] = [i for i in _ours(fake, ANNA) if i.extended("KontaktsyncUid") == uid]
    return now.id


def test_faults_lose_nothing(fake_ews: FakeEWS, tmp_path: Path) -> None:
    settings = exchange_settings(fake_ews, tmp_path)
    plan = make_plan(60, ("anna", "bernd"))
    fake_ews.inject("server_busy", operation="CreateItem", mailbox=ANNA, back_off_ms=20)
    fake_ews.inject("http503", operation="SyncFolderItems", mailbox=BERND)
    first = run(settings, plan)  # both waited out by exchangelib's FaultTolerance
    assert (first.created, first.failed) == (60, 0)

    # Now faults that outlast the retries, on some requests only.
    changed = make_plan(60, ("anna", "bernd"), due_shift={str(100000 + i): 3 for i in range(60)})
    fake_ews.inject("drop", operation="UpdateItem", mailbox=ANNA, times=10)  # every attempt
    fake_ews.inject("item_not_found", operation="GetItem", mailbox=BERND, times=1)
    second = run(settings, changed)
    assert second.updated == 30 - 1  # bernd: all but the one that could not be read
    assert second.failed == 30 + 1
    assert SERVICE_PASSWORD not in " ".join(second.errors)

    fake_ews.clear_faults()
    third = run(settings, changed)
    assert third.failed == 0 and third.updated == 31
    for mailbox in (ANNA, BERND):
        _assert_no_duplicates(fake_ews, mailbox)
        assert len(_ours(fake_ews, mailbox)) == 30
    due = {o.case_id: o.due for o in changed.obligations}
    for mailbox in (ANNA, BERND):
        for case, task in _by_case(fake_ews, mailbox).items():
            assert task.text("DueDate").startswith(due[case].isoformat())
    assert run(settings, changed).writes == 0


def test_throttling_beyond_the_bounded_wait_fails_only_that_chunk(fake_ews: FakeEWS, tmp_path: Path) -> None:
    settings = exchange_settings(fake_ews, tmp_path)  # max_throttle_wait_seconds = 5
    fake_ews.inject("server_busy", operation="CreateItem", mailbox=ANNA, back_off_ms=600_000)
    report = run(settings, make_plan(20, ("anna", "bernd")))
    assert report.per_calendar["anna"]["failed"] == 10
    assert report.per_calendar["bernd"]["created"] == 10
    assert run(settings, make_plan(20, ("anna", "bernd"))).created == 10


def test_denied_impersonation_fails_that_mailbox_only(tmp_path: Path) -> None:
    with FakeEWS({SERVICE_USER: SERVICE_PASSWORD}, deny_impersonation={ANNA}) as fake:
        settings = exchange_settings(fake, tmp_path)
        report = run(settings, make_plan(20, ("anna", "bernd")))
        assert report.per_calendar["bernd"]["created"] == 10
        assert report.per_calendar["anna"]["failed"] == 10
        assert any("impersonate" in e and ANNA in e for e in report.errors)
        assert fake.items(ANNA) == []


def test_wrong_password_fails_fast_and_says_so(fake_ews: FakeEWS, tmp_path: Path) -> None:
    settings = exchange_settings(fake_ews, tmp_path, password="wrong")
    report = run(settings, make_plan(4))
    assert report.created == 0 and report.failed == 4
    assert any("credentials refused" in e for e in report.errors)
    assert "wrong" not in " ".join(report.errors)


def test_ntlm_auth(tmp_path: Path) -> None:
    with FakeEWS({SERVICE_USER: SERVICE_PASSWORD}, auth=("ntlm",)) as fake:
        settings = exchange_settings(fake, tmp_path, auth="ntlm", username="JOBCENTER\\" + SERVICE_USER)
        assert run(settings, make_plan(5)).created == 5
        assert len(_ours(fake, ANNA)) == 5
        bad = exchange_settings(fake, tmp_path / "bad", auth="ntlm", password="wrong")
        report = run(bad, make_plan(5))
        assert report.failed == 5 and any("credentials refused" in e for e in report.errors)


def test_delegate_access(fake_ews: FakeEWS, tmp_path: Path) -> None:
    fake_ews.keep_soap_log = True
    settings = exchange_settings(fake_ews, tmp_path, access="delegate")
    assert run(settings, make_plan(5)).created == 5
    assert not any("ExchangeImpersonation" in body for body in fake_ews.soap_log)
    assert len(_ours(fake_ews, ANNA)) == 5


def test_item_ids_that_change_on_update_are_followed(tmp_path: Path) -> None:
    with FakeEWS({SERVICE_USER: SERVICE_PASSWORD}, change_id_on_update=True) as fake:
        settings = exchange_settings(fake, tmp_path)
        run(settings, make_plan(10))
        before = {i.extended("KontaktsyncUid"): i.id for i in _ours(fake, ANNA)}
        shifted = make_plan(10, due_shift={"100003": 5})
        assert run(settings, shifted).updated == 1
        after = {i.extended("KontaktsyncUid"): i.id for i in _ours(fake, ANNA)}
        assert len(after) == 10 and sum(before[u] != after[u] for u in after) == 1
        again = run(settings, shifted)
        assert again.writes == 0 and again.failed == 0
        # and a completion after the id changed finds the item
        done = make_plan(10, new_contact={"100003": AS_OF - timedelta(days=1)})
        assert run(settings, done).completed == 1


def test_marker_appointments_never_invite(fake_ews: FakeEWS, tmp_path: Path) -> None:
    fake_ews.keep_soap_log = True
    settings = exchange_settings(fake_ews, tmp_path, appointments="marker")
    plan = make_plan(6)
    report = run(settings, plan)
    assert report.created == 12 and report.failed == 0
    markers = _ours(fake_ews, ANNA, "calendar")
    assert len(markers) == 6
    for m in markers:
        assert m.text("IsAllDayEvent") in ("true", "1")
        assert m.text("LegacyFreeBusyStatus") == "Free"
        assert m.text("Sensitivity") == "Private"
    creates = [b for b in fake_ews.soap_log if "<m:CreateItem" in b]
    assert creates and all('SendMeetingInvitations="SendToNone"' in b for b in creates)
    assert run(settings, plan).writes == 0
    # a counsellor moves a marker: it stays where they put it
    first = markers[0]
    fake_ews.person_set(ANNA, first.id, Start="2026-12-24T00:00:00+01:00", End="2026-12-25T00:00:00+01:00")
    run(settings, plan)
    assert fake_ews.item(ANNA, first.id).text("Start") == "2026-12-24T00:00:00+01:00"

    # switching markers off removes the program's markers, and only those
    fake_ews.person_create(ANNA, "calendar", PERSONAL_APPOINTMENT)
    off = exchange_settings(fake_ews, tmp_path, appointments="none")
    report = run(off, plan)
    assert report.deleted == 6 and report.failed == 0
    assert _ours(fake_ews, ANNA, "calendar") == [] and len(fake_ews.items(ANNA, "calendar")) == 1
    assert len(_ours(fake_ews, ANNA)) == 6


def test_dry_run_changes_nothing(fake_ews: FakeEWS, tmp_path: Path) -> None:
    settings = exchange_settings(fake_ews, tmp_path)
    report = run(settings, make_plan(8), dry_run=True)
    assert report.created == 8 and len(report.dry_run_actions) == 8
    assert fake_ews.count(operation="CreateItem") == 0 and fake_ews.items(ANNA) == []


def test_time_zones_west_of_utc_are_refused(fake_ews: FakeEWS, tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="west of UTC"):
        ExchangeTarget(exchange_settings(fake_ews, tmp_path, timezone="America/New_York"))
    ExchangeTarget(exchange_settings(fake_ews, tmp_path, timezone="Europe/Vienna"))


@pytest.mark.parametrize("form", ["offset", "utc", "instant"])
def test_due_dates_read_back_on_the_local_day_in_every_form(tmp_path: Path, form: str) -> None:
    """Whichever form Exchange answers a task date in (see the fake's docstring), the target
    reads the intended day: a run after losing the state reads every task and writes nothing."""
    with FakeEWS({SERVICE_USER: SERVICE_PASSWORD}, task_dates=form) as fake:
        settings = exchange_settings(fake, tmp_path)
        plan = make_plan(20)
        run(settings, plan)
        sample = _ours(fake, ANNA)[0].text("DueDate")
        assert sample.endswith({"offset": ":00", "utc": "T00:00:00Z", "instant": ":00:00Z"}[form])
        settings.sync.state_path.unlink()
        forget_accounts()
        again = run(settings, plan)
        assert again.writes == 0 and again.failed == 0 and again.unchanged == 20


def test_vienna_due_dates_on_the_local_day(fake_ews: FakeEWS, tmp_path: Path) -> None:
    settings = exchange_settings(fake_ews, tmp_path, timezone="Europe/Vienna")
    plan = make_plan(5, as_of=date(2026, 3, 1))
    run(settings, plan)
    due = {o.case_id: o.due for o in plan.obligations}
    for case, task in _by_case(fake_ews, ANNA).items():
        assert task.text("DueDate").startswith(due[case].isoformat())
    assert run(settings, plan).writes == 0


def test_credentials_and_configuration(fake_ews: FakeEWS, tmp_path: Path) -> None:
    from exchangelib import OAUTH2, OAuth2Credentials
    from pydantic import SecretStr

    settings = exchange_settings(fake_ews, tmp_path)
    ex = settings.target.exchange
    assert ex is not None
    oauth = ex.model_copy(
        update={"auth": "oauth2", "client_id": "app", "client_secret": SecretStr("s3"), "tenant_id": "t"}
    )
    target = ExchangeTarget(
        settings.model_copy(update={"target": settings.target.model_copy(update={"exchange": oauth})})
    )
    config = target._configuration()
    assert config.auth_type == OAUTH2 and isinstance(config.credentials, OAuth2Credentials)
    missing = ex.model_copy(update={"auth": "oauth2"})
    with pytest.raises(TargetError, match="client_id"):
        ExchangeTarget(
            settings.model_copy(update={"target": settings.target.model_copy(update={"exchange": missing})})
        )._configuration()


def test_a_mailbox_template_without_address_fails_that_calendar_only(
    fake_ews: FakeEWS, tmp_path: Path
) -> None:
    settings = exchange_settings(fake_ews, tmp_path)
    assert settings.target.exchange is not None
    settings.target.exchange.mailbox = "{counsellor}"
    settings.target.exchange.mailboxes = {"bernd": BERND}
    report = run(settings, make_plan(10, ("anna", "bernd")))
    assert report.per_calendar["bernd"]["created"] == 5
    assert report.per_calendar["anna"]["failed"] == 5
    assert any("not an e-mail address" in e for e in report.errors)


def test_read_only_check_for_config_check(tmp_path: Path) -> None:
    with FakeEWS({SERVICE_USER: SERVICE_PASSWORD}, deny_impersonation={BERND}) as fake:
        target = ExchangeTarget(exchange_settings(fake, tmp_path))
        try:
            results = [target.probe(who) for who in ("anna", "bernd", None)]
        finally:
            target.close()
        assert [r.ok for r in results] == [True, False, True]
        assert results[0].label == f"anna <{ANNA}>" and results[1].label == "bernd"
        assert "Tasks: 0 items" in results[0].detail and "impersonate" in results[1].detail
        assert "not probed" in results[2].detail
        assert {r.operation for r in fake.requests} <= {"ConvertId", "GetFolder"}
        assert fake.items(ANNA) == []


def test_the_cli_syncs_to_exchange_from_a_config_file(fake_ews: FakeEWS, tmp_path: Path) -> None:
    """`kontaktsync sync` and `config check` as a user runs them, password in a secret file."""
    config, secret_env = exchange_config(tmp_path, fake_ews.url, SERVICE_USER, SERVICE_PASSWORD)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli([*args, "--config", str(config)], tmp_path, secret_env)

    first = cli("sync")
    assert first.returncode == 0, first.stdout + first.stderr
    written = sum(len(_ours(fake_ews, m)) for m in {r.mailbox for r in fake_ews.requests if r.mailbox})
    assert written > 0 and f"{written} created" in first.stdout
    second = cli("sync")
    assert second.returncode == 0 and "0 created, 0 updated" in second.stdout
    check = cli("config", "check")
    assert check.returncode == 0 and "Tasks:" in check.stdout, check.stdout + check.stderr
    assert SERVICE_PASSWORD not in first.stdout + first.stderr + check.stdout + check.stderr
