"""Proposals (slot mode, issue 12) on Exchange, against the fake EWS server through the target.

A proposal is a timed calendar item shown as Tentative, private, without attendees and never
sent; read back, it has exactly the fields `DesiredItem.fields()` wrote (so an untouched one
hashes equal); what a counsellor changed (accepting it as Busy, moving it) survives the
three-way merge; an untouched one follows the plan; it is deleted like a marker.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from kontaktsync.sync.item import DesiredItem, three_way, uid_prefix
from kontaktsync.sync.targets.base import RemoteItem, Write
from kontaktsync.sync.targets.exchange.target import ExchangeTarget, forget_accounts

from tests.exchange_helpers import exchange_settings, mailbox_of, make_plan, run
from tests.fake_ews import FakeEWS, StoredItem
from tests.fake_ews.server import TNS, ItemError

BERLIN = ZoneInfo("Europe/Berlin")
ANNA = "anna"
MAILBOX = mailbox_of(ANNA)
PERSONAL_APPOINTMENT = (
    f'<t:CalendarItem xmlns:t="{TNS}"><t:Subject>Zahnarzt</t:Subject>'
    "<t:Start>2026-11-26T08:00:00Z</t:Start><t:End>2026-11-26T09:00:00Z</t:End></t:CalendarItem>"
)


@pytest.fixture(autouse=True)
def _fresh_accounts() -> None:
    forget_accounts()


@pytest.fixture
def target(fake_ews: FakeEWS, tmp_path: Path) -> Iterator[ExchangeTarget]:
    settings = exchange_settings(fake_ews, tmp_path, appointments="slot")
    tgt = ExchangeTarget(settings, retry_wait=0.01)
    try:
        yield tgt
    finally:
        tgt.close()


def proposal(target: ExchangeTarget, start: datetime, minutes: int = 60, case: str = "100001") -> DesiredItem:
    """A proposal as the planner makes one (summary with the tag and "Terminvorschlag")."""
    prefix = uid_prefix(target.settings)
    return DesiredItem(
        uid=f"{prefix}{case}p",
        calendar=ANNA,
        item_type="proposal",
        case_id=case,
        case_key=case,
        kind="contact",
        cycle="contact:2026-10-01",
        measure_key=None,
        summary=f"2MM Terminvorschlag Kd {case}",
        description="Vorgeschlagener Termin für das Gespräch.\nFällig bis 2026-12-01.",
        categories=("kontaktsync", "2MM"),
        priority=None,
        private=True,
        due=date(2026, 12, 1),
        start=start,
        window_start=date(2026, 11, 17),
        overdue=False,
        status="tentative",
        end=start + timedelta(minutes=minutes),
        related=f"{prefix}{case}t",
    )


def write(target: ExchangeTarget, item: DesiredItem) -> RemoteItem:
    [res] = list(target.create(ANNA, [item]))
    assert res.ok and res.ref is not None, res
    return read(target, item.uid)


def read(target: ExchangeTarget, uid: str) -> RemoteItem:
    listing = target.list_ours(ANNA, None, {})
    got = target.fetch(ANNA, [listing.refs[uid]])[uid]
    assert isinstance(got, RemoteItem), got
    return got


def stored(fake: FakeEWS, remote: RemoteItem) -> StoredItem:
    return fake.item(MAILBOX, remote.ref.ref.partition(":")[2])


def _keep_of(want: DesiredItem, have: RemoteItem) -> frozenset[str]:
    return three_way(want.fields(), have.fields, have.marker).keep


@pytest.mark.parametrize(
    ("start", "offset"),
    [
        (datetime(2026, 11, 26, 9, 30, tzinfo=BERLIN), "+01:00"),
        (datetime(2027, 6, 3, 14, 0, tzinfo=BERLIN), "+02:00"),
    ],
)
def test_a_proposal_is_a_tentative_private_appointment_read_back_as_written(
    fake_ews: FakeEWS, target: ExchangeTarget, start: datetime, offset: str
) -> None:
    fake_ews.keep_soap_log = True
    fake_ews.person_create(MAILBOX, "calendar", PERSONAL_APPOINTMENT)
    item = proposal(target, start, minutes=45)
    got = write(target, item)

    assert target.list_ours(ANNA, None, {}).refs.keys() == {item.uid}  # not the person's own
    assert got.item_type == "proposal"
    assert got.fields == item.fields()
    assert got.fields["start"].endswith(offset) and got.fields["end"].endswith(offset)
    assert got.current_hash == item.managed_hash == got.written_hash
    assert got.marker["t"] == "proposal" and not got.edited_by_person

    on_server = stored(fake_ews, got)
    assert on_server.folder == "calendar" and on_server.kind == "CalendarItem"
    assert on_server.text("LegacyFreeBusyStatus") == "Tentative"
    assert on_server.text("Sensitivity") == "Private"
    assert on_server.text("IsAllDayEvent") == "false"
    assert on_server.text("ReminderIsSet") == "false"
    # Exchange answers in UTC: the instant is the one planned.
    assert on_server.text("Start") == start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert on_server.text("End") == (start + timedelta(minutes=45)).astimezone(UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert on_server.elem.find(f"{{{TNS}}}RequiredAttendees") is None
    creates = [b for b in fake_ews.soap_log if "<m:CreateItem" in b]
    assert creates and all('SendMeetingInvitations="SendToNone"' in b for b in creates)


def test_a_counsellors_acceptance_and_move_survive_the_merge(
    fake_ews: FakeEWS, target: ExchangeTarget
) -> None:
    item = proposal(target, datetime(2026, 11, 26, 9, 30, tzinfo=BERLIN))
    written = write(target, item)
    # Anna accepts the proposal (Busy) and moves it to Friday 11:00 in Outlook.
    fake_ews.person_set(
        MAILBOX,
        written.ref.ref.partition(":")[2],
        LegacyFreeBusyStatus="Busy",
        Start="2026-11-27T10:00:00Z",
        End="2026-11-27T11:00:00Z",
    )
    theirs = read(target, item.uid)
    assert theirs.fields["status"] == "confirmed"
    assert (theirs.fields["start"], theirs.fields["end"]) == (
        "2026-11-27T11:00:00+01:00",
        "2026-11-27T12:00:00+01:00",
    )
    assert theirs.fields["due"] == "2026-11-27" and theirs.edited_by_person

    # The plan meanwhile wants another slot and a new text: times and status stay Anna's.
    plan = replace(
        item,
        start=datetime(2026, 11, 30, 8, 0, tzinfo=BERLIN),
        end=datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN),
        summary="2MM Terminvorschlag (Dolmetscher) Kd 100001",
    )
    keep = _keep_of(plan, theirs)
    assert {"start", "status"} <= keep and "summary" not in keep
    [res] = list(target.update(ANNA, [Write(plan, theirs, keep)]))
    assert res.ok and not res.unchanged, res
    after = read(target, item.uid)
    assert after.fields == {
        **plan.fields(),
        **{k: theirs.fields[k] for k in ("start", "end", "due", "status")},
    }
    assert stored(fake_ews, after).text("LegacyFreeBusyStatus") == "Busy"
    # ... and so they stay on the next run.
    [again] = list(target.update(ANNA, [Write(plan, after, _keep_of(plan, after))]))
    assert again.ok and again.unchanged, again


def test_a_proposal_anna_only_lengthened_keeps_its_times(fake_ews: FakeEWS, target: ExchangeTarget) -> None:
    item = proposal(target, datetime(2026, 11, 26, 9, 30, tzinfo=BERLIN))
    written = write(target, item)
    # Anna drags the end of the tentative proposal from 10:30 to 11:15; nothing else.
    fake_ews.person_set(MAILBOX, written.ref.ref.partition(":")[2], End="2026-11-26T10:15:00Z")
    theirs = read(target, item.uid)
    assert theirs.fields["start"] == written.fields["start"] and theirs.fields["status"] == "tentative"
    day = datetime(2026, 11, 26, tzinfo=BERLIN)
    [own] = target.busy(ANNA, day, day + timedelta(days=1)).own
    assert own.confirmed  # the placer takes it as Anna's: it stays and counts where it is
    assert theirs.fields["end"] == "2026-11-26T11:15:00+01:00" and theirs.edited_by_person
    # The plan wants another slot: the times stay Anna's, start and end together.
    plan = replace(
        item,
        start=datetime(2026, 11, 30, 8, 0, tzinfo=BERLIN),
        end=datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN),
    )
    keep = _keep_of(plan, theirs)
    assert keep == {"start"}
    [res] = list(target.update(ANNA, [Write(plan, theirs, keep)]))
    assert res.ok, res
    after = read(target, item.uid)
    assert (after.fields["start"], after.fields["end"]) == (theirs.fields["start"], theirs.fields["end"])


def test_other_free_busy_states_read_as_their_names(fake_ews: FakeEWS, target: ExchangeTarget) -> None:
    written = write(target, proposal(target, datetime(2026, 11, 26, 9, 30, tzinfo=BERLIN)))
    fake_ews.person_set(MAILBOX, written.ref.ref.partition(":")[2], LegacyFreeBusyStatus="OOF")
    assert read(target, written.ref.uid).fields["status"] == "oof"


def test_an_untouched_proposal_moves_with_the_plan(fake_ews: FakeEWS, target: ExchangeTarget) -> None:
    item = proposal(target, datetime(2026, 11, 26, 9, 30, tzinfo=BERLIN))
    written = write(target, item)
    # A busy item took the slot: the plan moves the proposal and makes it shorter.
    moved = replace(
        item,
        start=datetime(2026, 11, 30, 13, 0, tzinfo=BERLIN),
        end=datetime(2026, 11, 30, 13, 30, tzinfo=BERLIN),
    )
    assert _keep_of(moved, written) == frozenset()
    [res] = list(target.update(ANNA, [Write(moved, written)]))
    assert res.ok and not res.unchanged and res.written_hash == moved.managed_hash, res
    after = read(target, item.uid)
    assert after.fields == moved.fields() and after.current_hash == moved.managed_hash
    assert not after.edited_by_person
    assert stored(fake_ews, after).text("Start") == "2026-11-30T12:00:00Z"
    assert stored(fake_ews, after).text("LegacyFreeBusyStatus") == "Tentative"
    [again] = list(target.update(ANNA, [Write(moved, after)]))
    assert again.ok and again.unchanged, again

    # Only the length changes (an interpreter joins), then the plan takes it as confirmed.
    longer = replace(moved, end=datetime(2026, 11, 30, 14, 0, tzinfo=BERLIN))
    [res] = list(target.update(ANNA, [Write(longer, after)]))
    assert res.ok and not res.unchanged, res
    after = read(target, item.uid)
    assert after.fields == longer.fields() and stored(fake_ews, after).text("End") == "2026-11-30T13:00:00Z"
    confirmed = replace(longer, status="confirmed")
    [res] = list(target.update(ANNA, [Write(confirmed, after)]))
    assert res.ok and not res.unchanged, res
    after = read(target, item.uid)
    assert (
        after.fields == confirmed.fields() and stored(fake_ews, after).text("LegacyFreeBusyStatus") == "Busy"
    )


def test_a_proposal_is_deleted_like_a_marker(fake_ews: FakeEWS, target: ExchangeTarget) -> None:
    written = write(target, proposal(target, datetime(2026, 11, 26, 9, 30, tzinfo=BERLIN)))
    [res] = list(target.delete(ANNA, [written.ref]))
    assert res.ok and not res.gone, res
    assert target.list_ours(ANNA, None, {}).refs == {}
    assert [i.folder for i in fake_ews.items(MAILBOX, None) if i.extended("KontaktsyncUid")] == [
        "deleteditems"
    ]


def test_the_fake_keeps_calendar_times_as_exchange_does(fake_ews: FakeEWS) -> None:
    """The fake's side of this: times as UTC instants, a plain appointment's defaults, and an
    end before the start refused (exchangelib refuses that before sending, so a person's
    client stands in for a careless EWS client)."""
    mine = fake_ews.person_create(
        MAILBOX,
        "calendar",
        f'<t:CalendarItem xmlns:t="{TNS}"><t:Start>2027-06-03T14:00:00+02:00</t:Start>'
        "<t:End>2027-06-03T15:00:00+02:00</t:End></t:CalendarItem>",
    )
    assert (mine.text("Start"), mine.text("End")) == ("2027-06-03T12:00:00Z", "2027-06-03T13:00:00Z")
    assert [
        mine.text(n) for n in ("LegacyFreeBusyStatus", "IsAllDayEvent", "CalendarItemType", "IsMeeting")
    ] == [
        "Busy",
        "false",
        "Single",
        "false",
    ]
    with pytest.raises(ItemError, match="ErrorCalendarEndDateIsEarlierThanStartDate"):
        fake_ews.person_create(
            MAILBOX,
            "calendar",
            f'<t:CalendarItem xmlns:t="{TNS}"><t:Start>2027-06-03T14:00:00Z</t:Start>'
            "<t:End>2027-06-03T13:00:00Z</t:End></t:CalendarItem>",
        )
    assert fake_ews.items(MAILBOX, "calendar") == [mine]


def test_busy_time_shows_a_proposal_as_the_programs_own(fake_ews: FakeEWS, target: ExchangeTarget) -> None:
    """What the placer reads back: the written proposal at its planned instant, as our own."""
    fake_ews.person_create(MAILBOX, "calendar", PERSONAL_APPOINTMENT)
    item = proposal(target, datetime(2026, 11, 26, 13, 0, tzinfo=BERLIN), minutes=30)
    write(target, item)
    busy = target.busy(
        ANNA, datetime(2026, 11, 26, 0, 0, tzinfo=BERLIN), datetime(2026, 11, 27, 0, 0, tzinfo=BERLIN)
    )
    assert busy.ok, busy.error
    assert [(i.start, i.end, i.own_uid, i.confirmed) for i in busy.own] == [
        (item.start, item.end, item.uid, False)
    ]
    assert [(i.start, i.end) for i in busy.others] == [
        (datetime(2026, 11, 26, 8, 0, tzinfo=UTC), datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    ]


def test_slot_mode_end_to_end_on_exchange(fake_ews: FakeEWS, tmp_path: Path) -> None:
    """A whole run in slot mode against the fake EWS server: every talk gets a tentative
    appointment in the mailbox's calendar beside its task (busy time read through a
    CalendarView), and a second run writes nothing."""
    settings = exchange_settings(fake_ews, tmp_path, appointments="slot")
    settings.items.opening_hours = "08:00-12:00,13:00-16:00"
    settings.items.buffer_minutes = 0
    settings.items.talks_per_day = 4
    settings.items.talks_per_week = 20
    settings.items.follow_up_minutes = 30
    plan = make_plan(12)
    mailbox = mailbox_of("anna")
    first = run(settings, plan)
    assert first.failed == 0 and first.proposals is not None, first.errors
    assert first.proposals.placed == 12 and first.created == 24, first.errors
    placed = [
        i for i in fake_ews.items(mailbox, folder="calendar") if i.text("LegacyFreeBusyStatus") == "Tentative"
    ]
    assert len(placed) == 12
    second = run(settings, plan)
    assert (second.created, second.updated, second.deleted, second.failed) == (0, 0, 0, 0), second.errors
