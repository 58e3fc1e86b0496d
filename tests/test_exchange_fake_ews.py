"""The fake EWS server, driven by the real exchangelib: it answers in the shapes exchangelib
parses, keeps state per mailbox, checks impersonation and injects faults.

These tests pin our understanding of EWS (see tests/fake_ews/server.py); they do not prove
that Exchange behaves the same way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from decimal import Decimal

import pytest
from exchangelib import DELEGATE, ExtendedProperty
from exchangelib.errors import (
    ErrorImpersonateUserDenied,
    ErrorItemNotFound,
    ErrorTimeoutExpired,
    UnauthorizedError,
)
from exchangelib.items import SEND_TO_NONE, CalendarItem, Task

from tests.exchange_helpers import SERVICE_PASSWORD, SERVICE_USER, ews_account
from tests.fake_ews import FakeEWS

MAILBOX = "anna.beraterin@jobcenter.example"


class _TestKey(ExtendedProperty):
    distinguished_property_set_id = "PublicStrings"
    property_name = "KontaktsyncFakeTestKey"
    property_type = "String"


for _cls in (Task, CalendarItem):
    with contextlib.suppress(ValueError):  # already registered by an earlier import
        _cls.register("fake_test_key", _TestKey)


def _task(account, key: str, **kw) -> Task:
    return Task(folder=account.tasks, subject=f"2MM Kontakt fällig – Kd {key}", fake_test_key=key, **kw)


def test_account_setup_costs_two_getfolder_requests(fake_ews: FakeEWS) -> None:
    account = ews_account(fake_ews, MAILBOX)
    folder = account.tasks
    assert folder.name == "Tasks"
    assert fake_ews.counts_by_operation(MAILBOX) == {"GetFolder": 2}
    _ = account.tasks  # cached on the Account: no further request
    assert fake_ews.count(mailbox=MAILBOX) == 2


def test_create_find_update_delete_task(fake_ews: FakeEWS) -> None:
    account = ews_account(fake_ews, MAILBOX)
    task = _task(account, "100234", due_date=dt.date(2026, 3, 10), sensitivity="Private")
    task.save()
    first_ck = task.changekey
    [stored] = fake_ews.items(MAILBOX)
    assert stored.subject == "2MM Kontakt fällig – Kd 100234"
    assert stored.extended("KontaktsyncFakeTestKey") == "100234"

    found = list(account.tasks.filter(fake_test_key="100234").only("subject", "fake_test_key"))
    assert [f.id for f in found] == [task.id]
    assert found[0].fake_test_key == "100234"
    assert list(account.tasks.filter(fake_test_key="other")) == []

    task.subject = "2MM Kontakt fällig – Kd 100234 (neu)"
    task.save(update_fields=["subject"])
    assert task.changekey != first_ck
    assert fake_ews.item(MAILBOX, task.id).subject.endswith("(neu)")

    task.move_to_trash()  # DeleteType MoveToDeletedItems
    assert fake_ews.items(MAILBOX) == []
    [trashed] = fake_ews.items(MAILBOX, "deleteditems")
    trashed_item = account.trash.get(id=trashed.id)
    trashed_item.delete()  # HardDelete
    assert fake_ews.items(MAILBOX, None) == []


def test_due_date_lands_on_the_local_day(fake_ews: FakeEWS) -> None:
    """exchangelib sends a task date as midnight UTC plus the mailbox zone as TimeZoneContext;
    for Europe/Berlin and Europe/Vienna (UTC+1/+2) that instant is on the intended local day."""
    fake_ews.keep_soap_log = True
    for tz in ("Europe/Berlin", "Europe/Vienna"):
        account = ews_account(fake_ews, f"{tz.split('/')[1].lower()}@jobcenter.example", tz=tz)
        for day in (dt.date(2026, 1, 1), dt.date(2026, 3, 29), dt.date(2026, 10, 25)):
            task = _task(account, f"{tz}{day}", due_date=day, start_date=day)
            task.save()
            wire = fake_ews.soap_log[-1]
            assert f"<t:DueDate>{day.isoformat()}T00:00:00Z</t:DueDate>" in wire
            assert '<t:TimeZoneDefinition Id="W. Europe Standard Time"/>' in wire
            [back] = list(account.tasks.filter(fake_test_key=f"{tz}{day}").only("due_date"))
            assert back.due_date == day
            assert (
                fake_ews.item(account.primary_smtp_address, task.id)
                .text("DueDate")
                .startswith(day.isoformat())
            )


def test_completing_like_outlook(fake_ews: FakeEWS) -> None:
    account = ews_account(fake_ews, MAILBOX)
    task = _task(account, "1")
    task.save()
    task.status, task.percent_complete = Task.COMPLETED, Decimal(100)
    task.save(update_fields=["status", "percent_complete"])
    back = account.tasks.get(id=task.id)
    assert back.status == "Completed" and back.is_complete
    assert back.percent_complete == Decimal(100) and back.complete_date is not None


def test_calendar_marker_never_invites(fake_ews: FakeEWS) -> None:
    fake_ews.keep_soap_log = True
    account = ews_account(fake_ews, MAILBOX)
    item = CalendarItem(
        folder=account.calendar,
        subject="2MM Kontakt fällig – Kd 1",
        start=dt.date(2026, 3, 10),
        end=dt.date(2026, 3, 11),
        is_all_day=True,
        legacy_free_busy_status="Free",
        fake_test_key="m1",
    )
    item.save(send_meeting_invitations=SEND_TO_NONE)
    assert 'SendMeetingInvitations="SendToNone"' in fake_ews.soap_log[-1]
    assert len(fake_ews.items(MAILBOX, "calendar")) == 1


def test_basic_auth_is_checked(fake_ews: FakeEWS) -> None:
    account = ews_account(fake_ews, MAILBOX, password="wrong", fail_fast=True)
    with pytest.raises(UnauthorizedError):
        _ = account.tasks
    assert fake_ews.requests[-1].outcome == "unauthorized"


def test_ntlm_authenticates_the_connection_once() -> None:
    from exchangelib import NTLM, Account, Configuration, Credentials, FailFast

    with FakeEWS({SERVICE_USER: SERVICE_PASSWORD}, auth=("ntlm",)) as fake:

        def account(password: str, mailbox: str) -> Account:
            cfg = Configuration(
                service_endpoint=fake.url,
                credentials=Credentials("JOBCENTER\\svc-kontaktsync", password),
                auth_type=NTLM,
                retry_policy=FailFast(),
            )
            return Account(mailbox, config=cfg, autodiscover=False, access_type="impersonation")

        _task(account(SERVICE_PASSWORD, MAILBOX), "1").save()
        outcomes = [r.outcome for r in fake.requests]
        # 401, NEGOTIATE -> CHALLENGE, AUTHENTICATE + first request; then the connection is in
        assert outcomes[:2] == ["unauthorized", "unauthorized"]
        assert "unauthorized" not in outcomes[2:] and len(outcomes) >= 5
        assert len(fake.items(MAILBOX)) == 1
        with pytest.raises(UnauthorizedError):
            _ = account("wrong", "other@jobcenter.example").tasks


def test_impersonation_header_and_denial() -> None:
    with FakeEWS({SERVICE_USER: SERVICE_PASSWORD}, deny_impersonation={"chef@jobcenter.example"}) as fake:
        ok = ews_account(fake, MAILBOX)
        _task(ok, "1").save()
        assert len(fake.items(MAILBOX)) == 1
        denied = ews_account(fake, "chef@jobcenter.example")
        with pytest.raises(ErrorImpersonateUserDenied):
            _ = denied.tasks
        assert fake.items("chef@jobcenter.example") == []


def test_delegate_access_finds_the_mailbox_without_impersonation(fake_ews: FakeEWS) -> None:
    fake_ews.keep_soap_log = True
    account = ews_account(fake_ews, MAILBOX, access=DELEGATE)
    _task(account, "1").save()
    assert "ExchangeImpersonation" not in fake_ews.soap_log[-1]
    assert len(fake_ews.items(MAILBOX)) == 1


def test_version_guessing_via_convertid(fake_ews: FakeEWS) -> None:
    from exchangelib.protocol import close_connections

    # exchangelib caches a Protocol (with its version) per endpoint: an earlier test's fake on
    # the same, reused port would answer from that cache instead of guessing again.
    close_connections()
    account = ews_account(fake_ews, MAILBOX, pin_version=False)
    assert account.version.build.major_version == 15
    assert fake_ews.count(operation="ConvertId") >= 1


def test_sync_folder_items_sees_person_edits(fake_ews: FakeEWS) -> None:
    account = ews_account(fake_ews, MAILBOX)
    folder = account.tasks
    tasks = [_task(account, str(i)) for i in range(5)]
    account.bulk_create(folder=folder, items=tasks)
    fields = ["subject", "status", "fake_test_key"]
    first = list(folder.sync_items(only_fields=fields, max_changes_returned=2))
    assert sorted(i.fake_test_key for kind, i in first if kind == "create") == ["0", "1", "2", "3", "4"]
    state = folder.item_sync_state
    assert fake_ews.count(operation="SyncFolderItems") == 3  # pages of 2

    ids = [i.id for _, i in first]
    fake_ews.person_complete(MAILBOX, ids[0])
    moved = fake_ews.person_move(MAILBOX, ids[1], "inbox")
    fake_ews.person_delete(MAILBOX, ids[2])
    changes = list(folder.sync_items(sync_state=state, only_fields=["status", "fake_test_key"]))
    kinds = {(kind, i.id) for kind, i in changes}
    assert ("update", ids[0]) in kinds
    assert ("delete", ids[1]) in kinds and ("delete", ids[2]) in kinds
    assert moved.folder == "inbox"
    [(_, done)] = [c for c in changes if c[0] == "update"]
    assert done.status == "Completed"

    state = folder.item_sync_state
    assert list(folder.sync_items(sync_state=state, only_fields=["status"])) == []


def test_change_key_and_optionally_id_change_on_update() -> None:
    with FakeEWS({SERVICE_USER: SERVICE_PASSWORD}, change_id_on_update=True) as fake:
        account = ews_account(fake, MAILBOX)
        task = _task(account, "1")
        task.save()
        old_id = task.id
        task.subject = "neu"
        task.save(update_fields=["subject"])
        assert task.id != old_id  # exchangelib takes the id UpdateItem returns
        assert [i.id for i in fake.items(MAILBOX)] == [task.id]


def test_server_busy_is_retried_after_its_back_off(fake_ews: FakeEWS) -> None:
    account = ews_account(fake_ews, MAILBOX)
    _ = account.tasks
    fault = fake_ews.inject("server_busy", operation="CreateItem", back_off_ms=50)
    _task(account, "1").save()
    assert fault.fired == 1
    assert len(fake_ews.items(MAILBOX)) == 1
    outcomes = [r.outcome for r in fake_ews.requests if r.operation == "CreateItem"]
    assert outcomes == ["fault:ErrorServerBusy", "ok"]


def test_server_busy_beyond_max_wait_fails(fake_ews: FakeEWS) -> None:
    from exchangelib.errors import RateLimitError

    account = ews_account(fake_ews, MAILBOX, max_wait=1)
    _ = account.tasks
    fake_ews.inject("server_busy", operation="CreateItem", back_off_ms=60_000)
    with pytest.raises(RateLimitError):
        _task(account, "1").save()
    assert fake_ews.items(MAILBOX) == []


def test_http_503_is_retried(fake_ews: FakeEWS) -> None:
    account = ews_account(fake_ews, MAILBOX)
    _ = account.tasks
    fake_ews.inject("http503", operation="CreateItem", retry_after=1)
    _task(account, "1").save()
    assert [r.outcome for r in fake_ews.requests if r.operation == "CreateItem"] == ["http503", "ok"]


def test_dropped_connection_surfaces_and_leaves_no_item(fake_ews: FakeEWS) -> None:
    account = ews_account(fake_ews, MAILBOX)
    _ = account.tasks
    fake_ews.inject("drop", operation="CreateItem")
    with pytest.raises(ErrorTimeoutExpired):
        _task(account, "1").save()
    assert fake_ews.items(MAILBOX) == []


def test_dropped_after_apply_leaves_the_item(fake_ews: FakeEWS) -> None:
    account = ews_account(fake_ews, MAILBOX)
    _ = account.tasks
    fake_ews.inject("drop_after", operation="CreateItem")
    with pytest.raises(ErrorTimeoutExpired):
        _task(account, "1").save()
    assert len(fake_ews.items(MAILBOX)) == 1  # the server did it; the client never heard


def test_item_not_found_fails_only_that_item(fake_ews: FakeEWS) -> None:
    account = ews_account(fake_ews, MAILBOX)
    tasks = [_task(account, str(i)) for i in range(3)]
    account.bulk_create(folder=account.tasks, items=tasks)
    ids = [i.id for i in fake_ews.items(MAILBOX)]
    fake_ews.inject("item_not_found", operation="DeleteItem", item_id=ids[1])
    results = account.bulk_delete([(i, None) for i in ids])
    assert results[0] is True and results[2] is True
    assert isinstance(results[1], ErrorItemNotFound)
    assert [i.id for i in fake_ews.items(MAILBOX)] == [ids[1]]


def test_requests_are_counted_per_mailbox(fake_ews: FakeEWS) -> None:
    a = ews_account(fake_ews, "a@jobcenter.example")
    b = ews_account(fake_ews, "b@jobcenter.example")
    _task(a, "1").save()
    _task(b, "2").save()
    _task(b, "3").save()
    assert fake_ews.counts_by_operation("a@jobcenter.example") == {"GetFolder": 2, "CreateItem": 1}
    assert fake_ews.counts_by_operation("b@jobcenter.example") == {"GetFolder": 2, "CreateItem": 2}
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/EWS/Exchange\.asmx", fake_ews.url)
