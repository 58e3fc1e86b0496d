"""The Exchange target against a fake EWS server that behaves as Exchange really does
(issue 13, part 4): change keys that move by themselves, stale keys refused under
AutoResolve too, "last processed wins" for a task's Status and PercentComplete, throttling
as HTTP 200 answers and ErrorExceededConnectionCount, and ErrorExceededFindCountLimit
(learned once per server and service account, limits.py).

Each behaviour is a switch or an `inject` kind of the fake (tests/fake_ews/server.py); the
fake encodes our understanding of Exchange, not Exchange itself.
"""

from __future__ import annotations

import base64
import logging
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from exchangelib import Task
from exchangelib.errors import ErrorStaleObject
from exchangelib.items import AUTO_RESOLVE
from kontaktsync.sync.core.items import desired_items
from kontaktsync.sync.targets.base import RemoteItem
from kontaktsync.sync.targets.exchange.mapping import split_ref
from kontaktsync.sync.targets.exchange.target import ExchangeTarget, forget_accounts

from tests.cli import run_cli
from tests.configs import exchange_config
from tests.exchange_helpers import (
    AS_OF,
    SERVICE_PASSWORD,
    SERVICE_USER,
    ews_account,
    exchange_settings,
    mailbox_of,
    make_plan,
    run,
)
from tests.fake_ews import FakeEWS, StoredItem
from tests.fake_ews.server import MNS, SOAPNS, TNS

ANNA, BEN = mailbox_of("anna"), mailbox_of("ben")


@pytest.fixture(autouse=True)
def _fresh_accounts() -> None:
    """Each test starts like a new process: no cached Accounts."""
    forget_accounts()


@pytest.fixture
def exchange() -> Iterator[FakeEWS]:
    """The fake with Exchange's own behaviour switched on."""
    with FakeEWS({SERVICE_USER: SERVICE_PASSWORD}, strict_change_keys=True, status_order=True) as fake:
        yield fake


def _ours(fake: FakeEWS, folder: str = "tasks") -> dict[str, StoredItem]:
    """Our items in Anna's folder by case number."""
    return {
        (i.subject or "").rsplit("Kd ", 1)[1]: i
        for i in fake.items(ANNA, folder)
        if i.extended("KontaktsyncUid")
    }


# ----- change keys that move by themselves ---------------------------------------------------
def test_moved_change_keys_are_not_edits_and_real_edits_are_kept(exchange: FakeEWS, tmp_path: Path) -> None:
    settings = exchange_settings(exchange, tmp_path)
    assert run(settings, make_plan(20)).created == 20
    tasks = _ours(exchange)
    for task in tasks.values():  # between two syncs Exchange moves every key
        exchange.touch(ANNA, task.id)
    # ... and again inside the next sync, after it read the items and before it writes:
    later = make_plan(
        20,
        drop={"100008"},
        new_contact={"100006": AS_OF - timedelta(days=2)},
        due_shift={"100002": 3, "100003": 4},
    )
    for case in ("100002", "100003", "100006"):  # two updates, one completion
        exchange.inject("touch", operation="UpdateItem", item_id=tasks[case].id)
    exchange.inject("touch", operation="DeleteItem", item_id=tasks["100008"].id)

    second = run(settings, later)
    assert (second.failed, second.kept_person_edits, second.errors) == (0, 0, [])
    assert (second.updated, second.completed, second.deleted, second.created) == (2, 1, 1, 1)
    assert all(f.fired == 1 for f in exchange.faults)  # each key did move in the window
    after = _ours(exchange)
    assert "100008" not in after and "100008" in _ours(exchange, "deleteditems")
    assert exchange.item(ANNA, tasks["100006"].id).text("Status") == "Completed"
    assert run(settings, later).writes == 0

    # A person's real edit, among moved keys, is still kept.
    for task in after.values():
        exchange.touch(ANNA, task.id)
    exchange.person_set(ANNA, after["100004"].id, Body="Kunde ruft zurück")
    shifted = make_plan(
        20,
        drop={"100008"},
        new_contact={"100006": AS_OF - timedelta(days=2)},
        due_shift={"100002": 3, "100003": 4, "100004": 5},
    )
    third = run(settings, shifted)
    assert (third.failed, third.updated, third.kept_person_edits) == (0, 1, 1)
    assert exchange.item(ANNA, after["100004"].id).text("Body") == "Kunde ruft zurück"


def _target_and_bases(fake: FakeEWS, tmp_path: Path) -> tuple[ExchangeTarget, list[RemoteItem]]:
    """After a first sync of six tasks: a target and the tasks as it reads them."""
    settings = exchange_settings(fake, tmp_path)
    run(settings, make_plan(6))
    target = ExchangeTarget(settings, retry_wait=0.01)
    listing = target.list_ours("anna", None, {})
    got = target.fetch("anna", list(listing.refs.values()))
    bases = [b for b in got.values() if isinstance(b, RemoteItem)]
    assert len(bases) == 6
    return target, sorted(bases, key=lambda b: b.ref.uid)


def _id(base: RemoteItem) -> str:
    return split_ref(base.ref.ref)[1]


def test_the_target_writes_again_when_only_the_key_moved(exchange: FakeEWS, tmp_path: Path) -> None:
    target, bases = _target_and_bases(exchange, tmp_path)
    moved, edited, untouched = bases[:3]
    exchange.touch(ANNA, _id(moved))
    exchange.person_set(ANNA, _id(edited), Body="Termin verschoben")
    exchange.reset_counts()
    results = {r.uid: r for r in target.complete("anna", [untouched, moved, edited])}
    target.close()

    # answered item by item: the untouched task's success is not lost with the others' refusal
    assert results[untouched.ref.uid].ok and not results[untouched.ref.uid].conflict
    assert exchange.item(ANNA, _id(untouched)).text("Status") == "Completed"
    assert results[moved.ref.uid].ok and not results[moved.ref.uid].conflict
    assert exchange.item(ANNA, _id(moved)).text("Status") == "Completed"
    assert results[edited.ref.uid].conflict and not results[edited.ref.uid].ok
    assert exchange.item(ANNA, _id(edited)).text("Status") == "NotStarted"  # not overwritten
    # one refused UpdateItem, one GetItem to read both again, one UpdateItem for the moved key
    assert exchange.counts_by_operation(ANNA) == {"UpdateItem": 2, "GetItem": 1}


def test_a_delete_after_a_moved_key_goes_ahead_a_real_edit_stops_it(
    exchange: FakeEWS, tmp_path: Path
) -> None:
    target, bases = _target_and_bases(exchange, tmp_path)
    moved, in_window, edited = bases[:3]
    exchange.touch(ANNA, _id(moved))  # before the delete reads the item
    exchange.inject("touch", operation="DeleteItem", item_id=_id(in_window))  # after
    exchange.person_set(ANNA, _id(edited), Subject="Nicht löschen")
    exchange.reset_counts()
    results = {r.uid: r for r in target.delete("anna", [moved.ref, in_window.ref, edited.ref])}
    target.close()

    assert results[moved.ref.uid].ok and results[in_window.ref.uid].ok
    assert results[edited.ref.uid].conflict and not results[edited.ref.uid].ok
    left = {i.extended("KontaktsyncUid") for i in exchange.items(ANNA)}
    assert edited.ref.uid in left and not {moved.ref.uid, in_window.ref.uid} & left
    stale = [r for r in exchange.requests if r.operation == "DeleteItem"]
    assert len(stale) == 2  # the one refused for its moved key was sent once more
    # GetItem: the three keys; the two items whose key had moved, whole; the one refused, whole
    assert exchange.counts_by_operation(ANNA)["GetItem"] == 1 + 1 + 1


def test_a_delete_of_unchanged_items_reads_only_their_change_keys(exchange: FakeEWS, tmp_path: Path) -> None:
    target, bases = _target_and_bases(exchange, tmp_path)
    exchange.reset_counts()
    exchange.keep_soap_log = True
    results = list(target.delete("anna", [b.ref for b in bases[:4]]))
    exchange.keep_soap_log = False
    target.close()

    assert sorted(r.uid for r in results if r.ok and not r.gone) == sorted(b.ref.uid for b in bases[:4])
    assert len(exchange.items(ANNA)) == 2 and len(_ours(exchange, "deleteditems")) == 4
    assert exchange.counts_by_operation(ANNA) == {"GetItem": 1, "DeleteItem": 1}
    [read] = [body for body in exchange.soap_log if "<m:GetItem" in body]
    assert "<t:BaseShape>IdOnly</t:BaseShape>" in read and "AdditionalProperties" not in read
    [delete] = [body for body in exchange.soap_log if "<m:DeleteItem" in body]
    assert all(f'ChangeKey="{b.ref.version}"' in delete for b in bases[:4])  # the keys listed


def test_a_persons_edit_stops_a_delete_even_where_the_server_ignores_stale_keys(
    exchange: FakeEWS, tmp_path: Path
) -> None:
    """Why a delete reads the current keys instead of sending the ones listed: the read,
    not the server's key check, finds an edit made since the listing."""
    target, bases = _target_and_bases(exchange, tmp_path)
    exchange.strict_change_keys = False  # DeleteItem takes any key
    edited, untouched = bases[:2]
    exchange.person_set(ANNA, _id(edited), Subject="Nicht löschen")
    results = {r.uid: r for r in target.delete("anna", [edited.ref, untouched.ref])}
    target.close()
    assert results[edited.ref.uid].conflict and results[untouched.ref.uid].ok
    assert exchange.item(ANNA, _id(edited)).text("Subject") == "Nicht löschen"


def test_a_person_editing_an_item_after_its_keys_were_read_stops_its_delete(
    exchange: FakeEWS, tmp_path: Path
) -> None:
    """The change key read before the delete is the one the delete carries: an edit in the
    moment between the two is refused by Exchange and found to be an edit when read again."""
    target, bases = _target_and_bases(exchange, tmp_path)
    edited, untouched = bases[:2]
    edit = exchange.inject(
        "person_edit", operation="DeleteItem", item_id=_id(edited), edit={"Subject": "Nicht löschen"}
    )
    exchange.reset_counts()
    results = {r.uid: r for r in target.delete("anna", [edited.ref, untouched.ref])}
    target.close()
    assert edit.fired == 1
    assert results[edited.ref.uid].conflict and not results[edited.ref.uid].ok
    assert results[untouched.ref.uid].ok
    assert exchange.item(ANNA, _id(edited)).text("Subject") == "Nicht löschen"
    assert [i.id for i in exchange.items(ANNA)].count(_id(edited)) == 1
    # the keys; the delete (the edited one refused); the edited one read whole: an edit
    assert exchange.counts_by_operation(ANNA) == {"GetItem": 2, "DeleteItem": 1}


def test_a_stale_key_is_refused_under_auto_resolve(exchange: FakeEWS) -> None:
    acc = ews_account(exchange, ANNA)
    task = Task(folder=acc.tasks, subject="Anruf")
    task.save()
    exchange.touch(ANNA, task.id)
    task.subject = "Anruf am Montag"
    with pytest.raises(ErrorStaleObject):
        task.save(update_fields=["subject"], conflict_resolution=AUTO_RESOLVE)
    exchange.strict_change_keys = False  # the fake's old, lenient behaviour
    task.save(update_fields=["subject"], conflict_resolution=AUTO_RESOLVE)
    assert exchange.item(ANNA, task.id).subject == "Anruf am Montag"


# ----- Status and PercentComplete --------------------------------------------------------------
def _update_raw(fake: FakeEWS, item: StoredItem, fields: list[tuple[str, str]]) -> None:
    """One UpdateItem with these task fields in this order (exchangelib always sends
    PercentComplete before Status, so the order is written by hand here)."""
    sets = "".join(
        f'<t:SetItemField><t:FieldURI FieldURI="task:{tag}"/><t:Task><t:{tag}>{value}</t:{tag}>'
        "</t:Task></t:SetItemField>"
        for tag, value in fields
    )
    body = (
        f'<s:Envelope xmlns:s="{SOAPNS}" xmlns:m="{MNS}" xmlns:t="{TNS}"><s:Body>'
        '<m:UpdateItem ConflictResolution="AlwaysOverwrite"><m:ItemChanges><t:ItemChange>'
        f'<t:ItemId Id="{item.id}"/><t:Updates>{sets}</t:Updates>'
        "</t:ItemChange></m:ItemChanges></m:UpdateItem></s:Body></s:Envelope>"
    )
    auth = base64.b64encode(f"{SERVICE_USER}:{SERVICE_PASSWORD}".encode()).decode()
    request = urllib.request.Request(
        fake.url,
        data=body.encode(),
        headers={"Content-Type": "text/xml; charset=utf-8", "Authorization": f"Basic {auth}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        text = answer.read().decode()
    assert "NoError" in text, text


@pytest.mark.parametrize(
    ("fields", "status", "percent"),
    [
        ([("Status", "Completed")], "Completed", "100"),
        ([("PercentComplete", "100")], "Completed", "100"),
        ([("PercentComplete", "100"), ("Status", "InProgress")], "InProgress", "0"),
        ([("Status", "InProgress"), ("PercentComplete", "100")], "Completed", "100"),
        ([("Status", "Completed"), ("PercentComplete", "50")], "InProgress", "50"),
        ([("Status", "Completed"), ("Status", "NotStarted")], "NotStarted", "0"),
    ],
)
def test_status_and_percent_complete_last_processed_wins(
    exchange: FakeEWS, fields: list[tuple[str, str]], status: str, percent: str
) -> None:
    item = exchange.person_create(
        ANNA, "tasks", f'<t:Task xmlns:t="{TNS}"><t:Subject>Rückruf</t:Subject></t:Task>'
    )
    _update_raw(exchange, item, fields)
    now = exchange.item(ANNA, item.id)
    assert (now.text("Status"), now.text("PercentComplete")) == (status, percent)
    assert (now.text("IsComplete") == "true") == (status == "Completed")


def test_the_target_completes_and_reopens_consistently(exchange: FakeEWS, tmp_path: Path) -> None:
    """The target sends Status and PercentComplete together; in exchangelib's order the
    later one agrees with the earlier, so the task ends as meant under "last wins"."""
    settings = exchange_settings(exchange, tmp_path)
    run(settings, make_plan(6))
    run(settings, make_plan(6, new_contact={"100001": AS_OF - timedelta(days=2)}))
    done = [i for i in exchange.items(ANNA) if i.text("Status") == "Completed"]
    assert len(done) == 1 and done[0].text("PercentComplete") == "100"
    assert all(i.text("PercentComplete") == "0" for i in exchange.items(ANNA) if i is not done[0])


# ----- throttling ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["server_busy", "busy_in_200", "connection_count"])
def test_each_throttling_answer_is_waited_out_then_succeeds(
    exchange: FakeEWS, tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = exchange_settings(exchange, tmp_path)
    exchange.inject(kind, operation="CreateItem", mailbox=ANNA, back_off_ms=300)
    with caplog.at_level(logging.INFO, logger="kontaktsync"):
        report = run(settings, make_plan(20))
    assert (report.created, report.failed) == (20, 0)
    creates = [r.outcome for r in exchange.requests if r.operation == "CreateItem"]
    assert len(creates) == 2 and creates[1] == "ok"  # refused once, then done
    assert len(exchange.items(ANNA)) == 20
    if kind == "connection_count":  # exchangelib gives it up at one connection: our retry
        assert "create chunk failed (ErrorExceededConnectionCount); attempt 2" in caplog.text
    else:  # exchangelib waits as long as the server asked, in either form
        assert "waiting 0.30 s as asked" in caplog.text


def test_find_count_limit_is_learned_once_for_every_mailbox_call_and_run(
    exchange: FakeEWS, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = exchange_settings(exchange, tmp_path)
    plan = make_plan(30, ("anna", "ben"))
    exchange.max_find_count = 8  # the server's throttling policy allows 8 items per request
    with caplog.at_level(logging.INFO, logger="kontaktsync"):
        first = run(settings, plan)
    assert (first.created, first.failed, first.errors) == (30, 0, [])
    # the first listing is refused from 512 down to 16 and accepted at 8; the second mailbox's
    # listing and every FindItem before creating start from 8: nothing else is refused
    assert exchange.find_count_refusals == [512, 256, 128, 64, 32, 16]
    assert "listing in pages of 8" in caplog.text and "UIDs at a time" not in caplog.text
    for mailbox in (ANNA, BEN):
        assert exchange.counts_by_operation(mailbox)["FindItem"] == 2  # 15 UIDs: 8 + 7
        assert len(exchange.items(mailbox)) == 15

    exchange.reset_counts()
    again = run(settings, plan)  # the daemon's next run: a new target, the same process
    assert (again.writes, again.failed) == (0, 0)
    assert exchange.find_count_refusals == []
    # per mailbox, the first run's own 15 creates come back as changes: pages of 8 and 7
    assert exchange.count(operation="SyncFolderItems") == 4

    target = ExchangeTarget(settings, retry_wait=0.01)
    paged = target.list_ours("anna", None, {})  # in full: 15 changes in pages of 8
    syncs = exchange.count(operation="SyncFolderItems") - 4
    forget_accounts()
    exchange.max_find_count = None
    whole = target.list_ours("anna", None, {})
    target.close()
    assert paged.refs == whole.refs and len(paged.refs) == 15
    assert syncs == 2 and exchange.find_count_refusals == []


def test_a_find_count_limit_met_before_creating_is_where_the_listing_starts(
    exchange: FakeEWS, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = exchange_settings(exchange, tmp_path)
    desired = desired_items(make_plan(60, ("anna", "ben")), settings)
    exchange.max_find_count = 8
    target = ExchangeTarget(settings, retry_wait=0.01)
    with caplog.at_level(logging.INFO, logger="kontaktsync"):
        results = list(target.create("anna", list(desired["anna"].values())))
    assert len(results) == 30 and all(r.ok for r in results)
    assert "looking up 7 UIDs at a time" in caplog.text  # FindItem before creating: 30 -> 15 -> 7
    assert exchange.find_count_refusals == [30, 15]  # no size asked for again once refused

    listing = target.list_ours("anna", None, {})  # starts from the 7 accepted
    results = list(target.create("ben", list(desired["ben"].values())))  # another mailbox
    target.close()
    assert exchange.find_count_refusals == [30, 15]
    assert len(listing.refs) == 30 and {r.uid for r in results} == set(desired["ben"])
    assert exchange.counts_by_operation(BEN)["FindItem"] == 5  # 30 UIDs: 7 + 7 + 7 + 7 + 2
    assert len(exchange.items(ANNA)) == len(exchange.items(BEN)) == 30


# ----- the CLI ---------------------------------------------------------------------------------
def test_the_cli_rides_out_throttling_and_moved_keys(exchange: FakeEWS, tmp_path: Path) -> None:
    config, env = exchange_config(
        tmp_path, exchange.url, SERVICE_USER, SERVICE_PASSWORD, retry_backoff_seconds=0.05
    )
    exchange.inject("busy_in_200", operation="CreateItem", back_off_ms=200)
    exchange.inject("connection_count", operation="SyncFolderItems")

    first = run_cli(["sync", "--config", str(config)], cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    mailboxes = {r.mailbox for r in exchange.requests if r.mailbox}
    written = sum(len(exchange.items(m)) for m in mailboxes)
    assert written > 0 and f"{written} created" in first.stdout and " 0 failed;" in first.stdout
    assert all(f.fired == 1 for f in exchange.faults)

    for mailbox in mailboxes:  # Exchange moves every key before the next run
        for item in exchange.items(mailbox):
            exchange.touch(mailbox, item.id)
    second = run_cli(["sync", "--config", str(config)], cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "0 created, 0 updated, 0 completed, 0 deleted" in second.stdout
    assert "0 person edits kept, 0 failed;" in second.stdout
