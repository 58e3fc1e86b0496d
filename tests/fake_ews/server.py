"""A stateful fake of Exchange Web Services (EWS) for tests, on 127.0.0.1.

**This encodes our understanding of EWS, not Microsoft's server.** It was written from the
EWS documentation and from what exchangelib 5.6 sends and parses (its `services/*.py`,
`folders/*.py`, `items/*.py`). Where Exchange's behaviour is not documented precisely, the fake
makes a stated assumption (marked ASSUMPTION below). Passing tests against it show that our code
and exchangelib agree with that understanding; only a run against a real Exchange
(`tests/test_exchange_live.py`) shows that Exchange agrees too.

What it does:

- a real `ThreadingHTTPServer` speaking SOAP 1.1 over HTTP/1.1, so exchangelib's transport,
  session pool, authentication and retry handling are exercised unchanged;
- HTTP Basic and/or NTLM authentication (`auth=("basic",)`, `("ntlm",)` or both); NTLM is
  checked by pyspnego's NTLM acceptor, per connection as IIS does;
- the `ExchangeImpersonation` SOAP header: the impersonated mailbox is the one acted on;
  mailboxes listed in `deny_impersonation` get `ErrorImpersonateUserDenied`. Without the header
  (delegate access) the mailbox comes from the `Mailbox` of a distinguished folder id or from
  the item / folder id, which encodes its mailbox;
- a `ServerVersionInfo` header in every answer (so exchangelib can also guess the version via
  `ConvertId`);
- operations GetFolder, FindItem (restrictions `IsEqualTo`, `IsNotEqualTo`, `Exists`, `And`,
  `Or`, `Not` on fields and extended properties, indexed paging, and `CalendarView`: the
  calendar items overlapping a time range, ordered by start), GetItem, CreateItem,
  UpdateItem (`SetItemField`, `DeleteItemField`), DeleteItem, SyncFolderItems (sync states per
  folder, paging by `MaxChangesReturned`) and ConvertId (only to answer version guessing);
- items per mailbox and folder (root, msgfolderroot, tasks, calendar, deleteditems, inbox), each
  with an `ItemId` and a `ChangeKey` that changes on every update; with `change_id_on_update`
  the `ItemId` changes on update too;
- fault injection (`inject`): ErrorServerBusy with BackOffMilliseconds (SOAP fault, HTTP 500),
  the same throttling as HTTP 200 (ErrorInternalServerError wrapping ErrorServerBusy),
  ErrorExceededConnectionCount, HTTP 503, a dropped connection before or after the request
  took effect, ErrorItemNotFound for single items, ErrorImpersonateUserDenied, and a change
  key that moves by itself right before an update or delete (`touch`);
- optionally (`max_restriction_terms`) ErrorRestrictionTooComplex for large restrictions, and
  (`max_find_count`) ErrorExceededFindCountLimit for a FindItem page or SyncFolderItems batch
  larger than that;
- Exchange as it really behaves: change keys that move by themselves (`touch`, and the
  `touch` fault: the ChangeKey changes, the content does not, as when the store re-indexes an
  item or a reminder fires); stale change keys rejected under AutoResolve and on delete too
  (`strict_change_keys`, on by default); "last processed wins" for a task's Status and
  PercentComplete (`status_order`, on by default; off gives the older "PercentComplete 100
  means Completed" rule);
- a log of every SOAP request (`requests`, `count`) and the "person" side: a counsellor who
  completes, edits, moves or deletes an item in Outlook (`person_*`).

ASSUMPTIONS about Exchange encoded here:

- Task `DueDate` / `StartDate`: Exchange converts the `dateTime` it gets into the time zone of
  the request's `TimeZoneContext` (UTC without one), keeps the date, and returns it as local
  midnight with a UTC offset (e.g. `2026-03-10T00:00:00+01:00`). Because we could not check
  which form Exchange answers with, `task_dates` also offers `"utc"` (floating midnight UTC,
  `2026-03-10T00:00:00Z`) and `"instant"` (local midnight as a UTC instant,
  `2026-03-09T23:00:00Z`).
- Setting a task's `Status` to `Completed` sets `PercentComplete` 100, `IsComplete` true and
  `CompleteDate` now; any other status clears `CompleteDate`.
- `DeleteItem` with `MoveToDeletedItems` moves the item to Deleted Items under a new id; the
  source folder's sync state reports a delete.
- An `UpdateItem` with a stale ChangeKey fails with `ErrorIrresolvableConflict` under
  `NeverOverwrite`. Under `AutoResolve` it succeeds, unless `strict_change_keys` is set: then it
  fails with `ErrorStaleObject`, and so does a `DeleteItem` with a stale ChangeKey (real
  Exchange rejects stale keys under AutoResolve too; exchangelib's own live tests work around
  keys that moved by themselves).
- With `status_order`, Status and PercentComplete follow each other in the order the
  request's updates are processed, the later one winning: Status Completed sets
  PercentComplete 100, NotStarted sets 0; PercentComplete 100 sets Completed, 0 sets
  NotStarted (from Completed), anything between sets InProgress (from Completed or
  NotStarted). Without it, a task with PercentComplete 100 after the request is Completed.
- Throttling as HTTP 200: one response message with ResponseCode `ErrorInternalServerError`,
  MessageXml values `InnerErrorResponseCode` = ErrorServerBusy, `InnerErrorMessageText` and
  `BackOffMilliseconds`; the request has no effect. `ErrorExceededConnectionCount` likewise as
  one error response message.
- `max_find_count` stands for the EWSFindCountLimit of a throttling policy: a FindItem asking
  for a larger page (IndexedPageItemView MaxEntriesReturned) or a SyncFolderItems asking for
  more changes (MaxChangesReturned) fails with ErrorExceededFindCountLimit.
- FindItem and SyncFolderItems return extended properties only when asked for them.
- A calendar item's `Start` / `End` are kept as instants and answered in UTC
  (`2026-11-26T08:30:00Z`), whatever offset and time zone they were sent with (a person's edit
  through `person_set` is stored as given). An item created without them gets what Outlook
  shows for a plain appointment: `LegacyFreeBusyStatus` Busy, `IsAllDayEvent` false,
  `CalendarItemType` Single, `IsMeeting` false (no attendees). An `End` before the `Start`
  is refused with `ErrorCalendarEndDateIsEarlierThanStartDate` and changes nothing.
- Booleans are stored and answered as `true` / `false`, whichever xs:boolean form came in
  (exchangelib sends `1` / `0` and reads back only `true` / `false`).
- `CalendarView` returns every calendar item whose [Start, End) overlaps [StartDate, EndDate),
  ordered by Start. The fake does not implement `MaxEntriesReturned` (refused: the target never
  sends it, and how Exchange pages a CalendarView is not tested here). The fake keeps no
  recurring series: Exchange expands a series into occurrences for a CalendarView, so a test
  stores the occurrences (and exceptions) of a series as single items.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import datetime as dt
import itertools
import os
import tempfile
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

SOAPNS = "http://schemas.xmlsoap.org/soap/envelope/"
MNS = "http://schemas.microsoft.com/exchange/services/2006/messages"
TNS = "http://schemas.microsoft.com/exchange/services/2006/types"
ENS = "http://schemas.microsoft.com/exchange/services/2006/errors"
for _prefix, _ns in (("s", SOAPNS), ("m", MNS), ("t", TNS), ("e", ENS)):
    ET.register_namespace(_prefix, _ns)

# Windows time zone ids we may see in TimeZoneContext -> IANA. ASSUMPTION: enough for tests.
WINDOWS_ZONES = {
    "W. Europe Standard Time": "Europe/Berlin",
    "Central Europe Standard Time": "Europe/Budapest",
    "GMT Standard Time": "Europe/London",
    "UTC": "UTC",
    "Eastern Standard Time": "America/New_York",
    "Pacific Standard Time": "America/Los_Angeles",
    "Tokyo Standard Time": "Asia/Tokyo",
}

FOLDERS = {
    # distinguished id: (display name, folder class, element name, parent)
    "root": ("Root", None, "Folder", None),
    "msgfolderroot": ("Top of Information Store", "IPF.Note", "Folder", "root"),
    "inbox": ("Inbox", "IPF.Note", "Folder", "msgfolderroot"),
    "tasks": ("Tasks", "IPF.Task", "TasksFolder", "msgfolderroot"),
    "calendar": ("Calendar", "IPF.Appointment", "CalendarFolder", "msgfolderroot"),
    "deleteditems": ("Deleted Items", "IPF.Note", "Folder", "msgfolderroot"),
}

# Fault kinds (see Fault) answered for the whole request, and those answered in HTTP 200.
IN_200_FAULTS = {"busy_in_200", "connection_count"}
REQUEST_FAULTS = {"server_busy", "http503", "drop", "drop_after", "impersonate_denied"} | IN_200_FAULTS
ITEM_TAGS = {"Task", "CalendarItem", "Message", "Item", "Contact"}
ITEM_CLASSES = {"Task": "IPM.Task", "CalendarItem": "IPM.Appointment", "Message": "IPM.Note"}
DATE_ONLY_TASK_FIELDS = {"DueDate", "StartDate"}
# What Exchange gives a calendar item created without these fields (a single appointment).
CALENDAR_DEFAULTS = {
    "LegacyFreeBusyStatus": "Busy",
    "IsAllDayEvent": "false",
    "CalendarItemType": "Single",
    "IsMeeting": "false",
}
# xs:boolean fields of the items the tests write (answered canonically, see the docstring).
BOOLEAN_FIELDS = {"IsAllDayEvent", "ReminderIsSet", "IsCancelled", "IsComplete", "IsRecurring", "IsMeeting"}


def t(tag: str) -> str:
    return f"{{{TNS}}}{tag}"


def m(tag: str) -> str:
    return f"{{{MNS}}}{tag}"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _unb64(text: str) -> str | None:
    try:
        return base64.b64decode(text.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_dt(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class SoapFault(Exception):
    """Answer the whole request with a SOAP fault carrying an EWS response code."""

    def __init__(self, code: str, text: str, back_off_ms: int | None = None) -> None:
        super().__init__(f"{code}: {text}")
        self.code, self.text, self.back_off_ms = code, text, back_off_ms


class ItemError(Exception):
    """Answer one response message of a request with an error."""

    def __init__(self, code: str, text: str = "") -> None:
        super().__init__(code)
        self.code, self.text = code, text or code


@dataclass
class Fault:
    """One injected fault. `kind` is one of:

    - `server_busy`: SOAP fault ErrorServerBusy with `back_off_ms` (HTTP 500);
    - `http503`: HTTP 503 (with `Retry-After` when `retry_after` is set);
    - `drop`: close the connection without an answer; the request has no effect;
    - `drop_after`: do the request, then close the connection without an answer;
    - `item_not_found`: the first item of the request (or `item_id`) fails ErrorItemNotFound;
    - `impersonate_denied`: SOAP fault ErrorImpersonateUserDenied;
    - `busy_in_200`: HTTP 200, ErrorInternalServerError wrapping ErrorServerBusy with
      `back_off_ms`; the request has no effect;
    - `connection_count`: HTTP 200, ErrorExceededConnectionCount; no effect;
    - `touch`: right before an UpdateItem / DeleteItem acts on an item (`item_id`, or any),
      the item's ChangeKey moves by itself (content unchanged), so the key sent is stale;
    - `person_edit`: the same moment, but a person edits the item (`edit`: element -> text).

    It applies to requests matching `operation` and `mailbox` (None matches any), after
    `skip` matching requests have passed, `times` times.
    """

    kind: str
    operation: str | None = None
    mailbox: str | None = None
    times: int = 1
    skip: int = 0
    back_off_ms: int = 50
    retry_after: int | None = None
    item_id: str | None = None
    edit: dict[str, str] | None = None
    fired: int = 0

    def matches(self, operation: str, mailbox: str | None) -> bool:
        return (self.operation in (None, operation)) and (
            self.mailbox is None or (mailbox or "").lower() == self.mailbox.lower()
        )


@dataclass
class StoredItem:
    id: str
    changekey: str
    folder: str  # distinguished folder name
    mailbox: str
    elem: ET.Element  # the item element (t:Task, t:CalendarItem, ...) without ids
    created: dt.datetime
    modified: dt.datetime

    @property
    def kind(self) -> str:
        return self.elem.tag.split("}")[1]

    def text(self, tag: str) -> str | None:
        child = self.elem.find(t(tag))
        return None if child is None else child.text

    def extended(self, name: str) -> str | None:
        for prop in self.elem.findall(t("ExtendedProperty")):
            uri = prop.find(t("ExtendedFieldURI"))
            if uri is not None and uri.get("PropertyName") == name:
                value = prop.find(t("Value"))
                return None if value is None else value.text
        return None

    @property
    def subject(self) -> str | None:
        return self.text("Subject")

    @property
    def categories(self) -> list[str]:
        cats = self.elem.find(t("Categories"))
        return [] if cats is None else [c.text or "" for c in cats]


@dataclass
class RequestRecord:
    operation: str
    mailbox: str | None
    user: str | None
    outcome: str  # "ok", "fault:<code>", "http<status>", "dropped", "unauthorized"
    answer_bytes: int = 0  # the SOAP answer's size


@dataclass
class _Change:
    seq: int
    folder: str
    item_id: str
    kind: str  # create | update | delete


@dataclass
class _Mailbox:
    address: str
    folder_ids: dict[str, str] = field(default_factory=dict)  # distinguished -> id
    items: dict[str, StoredItem] = field(default_factory=dict)
    changes: list[_Change] = field(default_factory=list)


class FakeEWS:
    """The fake server. Use as a context manager; `url` is the EWS endpoint."""

    def __init__(
        self,
        users: dict[str, str] | None = None,
        *,
        deny_impersonation: set[str] | None = None,
        change_id_on_update: bool = False,
        build: tuple[int, int, int, int] = (15, 1, 2507, 6),
        auth: tuple[str, ...] = ("basic",),
        task_dates: str = "offset",
        max_restriction_terms: int | None = None,
        max_find_count: int | None = None,
        strict_change_keys: bool = True,
        status_order: bool = True,
        ntlm_domain: str = "JOBCENTER",
    ) -> None:
        self.users = users if users is not None else {"svc-kontaktsync": "secret"}
        self.auth = auth
        self.task_dates = task_dates
        self.max_restriction_terms = max_restriction_terms
        self.max_find_count = max_find_count
        self.strict_change_keys = strict_change_keys
        self.status_order = status_order
        self.ntlm_domain = ntlm_domain
        self._ntlm_file: str | None = None
        self._old_ntlm_env: str | None = None
        self.deny_impersonation = {a.lower() for a in deny_impersonation or set()}
        self.change_id_on_update = change_id_on_update
        self.build = build
        self.requests: list[RequestRecord] = []
        self.faults: list[Fault] = []
        self.soap_log: list[str] = []  # raw request bodies, for tests that check the wire format
        self.find_count_refusals: list[int] = []  # the sizes refused for max_find_count, in order
        self.keep_soap_log = False
        self._mailboxes: dict[str, _Mailbox] = {}
        self._lock = threading.RLock()
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----- lifecycle -------------------------------------------------------------------
    def start(self) -> FakeEWS:
        fake = self
        if "ntlm" in self.auth:
            self._setup_ntlm()

        class Handler(_Handler):
            server_state = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._ntlm_file is not None:
            os.unlink(self._ntlm_file)
            self._ntlm_file = None
            if self._old_ntlm_env is None:
                os.environ.pop("NTLM_USER_FILE", None)
            else:
                os.environ["NTLM_USER_FILE"] = self._old_ntlm_env

    def _setup_ntlm(self) -> None:
        """pyspnego's NTLM acceptor reads its users from the file named by NTLM_USER_FILE
        (a process-wide variable: the fake sets it while it runs, for its users only)."""
        fd, path = tempfile.mkstemp(prefix="fake-ews-ntlm-", suffix=".txt")
        lines = []
        for user, password in self.users.items():
            lines.append(f"{self.ntlm_domain}:{user}:{password}")
            lines.append(f":{user}:{password}")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        self._ntlm_file = path
        self._old_ntlm_env = os.environ.get("NTLM_USER_FILE")
        os.environ["NTLM_USER_FILE"] = path

    def __enter__(self) -> FakeEWS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/EWS/Exchange.asmx"

    # ----- test controls ---------------------------------------------------------------
    def inject(self, kind: str, **kwargs: Any) -> Fault:
        fault = Fault(kind=kind, **kwargs)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _requests(self, mailbox: str | None, operation: str | None) -> list[RequestRecord]:
        """The requests so far, of `mailbox` and of `operation` where given."""
        with self._lock:
            return [
                r
                for r in self.requests
                if (mailbox is None or (r.mailbox or "").lower() == mailbox.lower())
                and (operation is None or r.operation == operation)
            ]

    def count(self, *, mailbox: str | None = None, operation: str | None = None) -> int:
        return len(self._requests(mailbox, operation))

    def counts_by_operation(self, mailbox: str | None = None) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self._requests(mailbox, None):
            out[r.operation] = out.get(r.operation, 0) + 1
        return out

    def answer_bytes(self, *, mailbox: str | None = None, operation: str | None = None) -> int:
        """The bytes the server answered to those requests."""
        return sum(r.answer_bytes for r in self._requests(mailbox, operation))

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.find_count_refusals.clear()

    def items(self, mailbox: str, folder: str | None = "tasks") -> list[StoredItem]:
        with self._lock:
            mbx = self._mailbox(mailbox)
            return sorted(
                (i for i in mbx.items.values() if folder is None or i.folder == folder),
                key=lambda i: (i.created, i.id),
            )

    def item(self, mailbox: str, item_id: str) -> StoredItem:
        with self._lock:
            return self._mailbox(mailbox).items[item_id]

    def person_create(self, mailbox: str, folder: str, xml: str) -> StoredItem:
        """A person makes an item in Outlook, e.g. `<t:Task xmlns:t=...><t:Subject>..`."""
        elem = ET.fromstring(xml)
        with self._lock:
            return self._create(self._mailbox(mailbox), folder, elem, tz=None)

    def person_complete(self, mailbox: str, item_id: str) -> StoredItem:
        """The counsellor ticks the task off in Outlook."""
        return self.person_set(mailbox, item_id, Status="Completed")

    def person_set(self, mailbox: str, item_id: str, **fields: str) -> StoredItem:
        """The counsellor edits fields (element name -> text) of an item in Outlook."""
        with self._lock:
            mbx = self._mailbox(mailbox)
            item = mbx.items[item_id]
            for tag, value in fields.items():
                _set_child(item.elem, t(tag), value)
            _task_rules(item.elem)
            return self._touch(mbx, item)

    def touch(self, mailbox: str, item_id: str) -> StoredItem:
        """Exchange itself moves the item's ChangeKey (re-indexing, a reminder firing): the
        content stays as it is; SyncFolderItems reports the item as updated."""
        with self._lock:
            mbx = self._mailbox(mailbox)
            return self._touch(mbx, mbx.items[item_id])

    def person_move(self, mailbox: str, item_id: str, folder: str) -> StoredItem:
        """The counsellor moves an item to another folder (it gets a new id)."""
        with self._lock:
            return self._move(self._mailbox(mailbox), mbx_item_id=item_id, folder=folder)

    def person_delete(self, mailbox: str, item_id: str) -> None:
        """The counsellor deletes an item (it goes to Deleted Items)."""
        with self._lock:
            self._move(self._mailbox(mailbox), mbx_item_id=item_id, folder="deleteditems")

    # ----- state helpers ---------------------------------------------------------------
    def _mailbox(self, address: str) -> _Mailbox:
        key = address.lower()
        mbx = self._mailboxes.get(key)
        if mbx is None:
            mbx = _Mailbox(address=key)
            for name in FOLDERS:
                mbx.folder_ids[name] = _b64(f"F|{key}|{name}")
            self._mailboxes[key] = mbx
        return mbx

    def _new_id(self, mbx: _Mailbox) -> str:
        return _b64(f"I|{mbx.address}|{next(self._ids)}")

    def _new_changekey(self) -> str:
        return _b64(f"CK{next(self._ids)}")

    def _log(self, mbx: _Mailbox, folder: str, item_id: str, kind: str) -> None:
        mbx.changes.append(_Change(next(self._seq), folder, item_id, kind))

    def _create(self, mbx: _Mailbox, folder: str, elem: ET.Element, tz: str | None) -> StoredItem:
        for child in list(elem):
            if child.tag in (t("ItemId"), t("ParentFolderId")):
                elem.remove(child)
        _normalise_dates(elem, tz, self.task_dates)
        _canonical_booleans(elem)
        _task_rules(elem)
        _calendar_rules(elem, defaults=True)
        now = _now()
        item = StoredItem(self._new_id(mbx), self._new_changekey(), folder, mbx.address, elem, now, now)
        mbx.items[item.id] = item
        self._log(mbx, folder, item.id, "create")
        return item

    def _touch(self, mbx: _Mailbox, item: StoredItem, *, new_id: bool = False) -> StoredItem:
        item.changekey = self._new_changekey()
        item.modified = _now()
        if new_id:
            del mbx.items[item.id]
            self._log(mbx, item.folder, item.id, "delete")
            item.id = self._new_id(mbx)
            mbx.items[item.id] = item
            self._log(mbx, item.folder, item.id, "create")
        else:
            self._log(mbx, item.folder, item.id, "update")
        return item

    def _move(self, mbx: _Mailbox, mbx_item_id: str, folder: str) -> StoredItem:
        item = mbx.items.pop(mbx_item_id)
        self._log(mbx, item.folder, item.id, "delete")
        item.id, item.changekey, item.folder = self._new_id(mbx), self._new_changekey(), folder
        item.modified = _now()
        mbx.items[item.id] = item
        self._log(mbx, folder, item.id, "create")
        return item

    def _take_fault(
        self, operation: str, mailbox: str | None, kinds: set[str], item_id: str | None = None
    ) -> Fault | None:
        for fault in self.faults:
            if fault.item_id is not None and fault.item_id != item_id:
                continue
            if fault.kind in kinds and fault.times > 0 and fault.matches(operation, mailbox):
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.times -= 1
                fault.fired += 1
                return fault
        return None


# ----- XML helpers ------------------------------------------------------------------------
def _set_child(elem: ET.Element, tag: str, text: str) -> None:
    child = elem.find(tag)
    if child is None:
        child = ET.SubElement(elem, tag)
    child.text = text


def _normalise_dates(elem: ET.Element, tz: str | None, form: str = "offset") -> None:
    """ASSUMPTION: task dates are kept as the local day in the request's time zone."""
    if elem.tag != t("Task"):
        return
    zone = ZoneInfo(WINDOWS_ZONES.get(tz or "UTC", "UTC"))
    for tag in DATE_ONLY_TASK_FIELDS:
        child = elem.find(t(tag))
        if child is not None and child.text:
            local_day = _parse_dt(child.text).astimezone(zone).date()
            midnight = dt.datetime.combine(local_day, dt.time(0), zone)
            if form == "utc":
                child.text = f"{local_day.isoformat()}T00:00:00Z"
            elif form == "instant":
                child.text = _iso(midnight)
            else:
                child.text = midnight.isoformat()


def _calendar_rules(elem: ET.Element, *, defaults: bool = False) -> None:
    """ASSUMPTION: how Exchange keeps a calendar item's times (see module docstring)."""
    if elem.tag != t("CalendarItem"):
        return
    if defaults:
        for tag, value in CALENDAR_DEFAULTS.items():
            if elem.find(t(tag)) is None:
                _set_child(elem, t(tag), value)
    moments = {}
    for tag in ("Start", "End"):
        child = elem.find(t(tag))
        if child is not None and child.text:
            moments[tag] = _parse_dt(child.text)
            child.text = _iso(moments[tag])
    if len(moments) == 2 and moments["End"] < moments["Start"]:
        raise ItemError("ErrorCalendarEndDateIsEarlierThanStartDate", "End is before Start")


def _canonical_booleans(elem: ET.Element) -> None:
    for child in elem:
        if child.tag in {t(name) for name in BOOLEAN_FIELDS} and child.text in ("1", "0"):
            child.text = "true" if child.text == "1" else "false"


def _task_rules(elem: ET.Element) -> None:
    """ASSUMPTION: how Exchange completes a task (see module docstring)."""
    if elem.tag != t("Task"):
        return
    status = elem.find(t("Status"))
    percent = elem.find(t("PercentComplete"))
    if status is None:
        status = ET.SubElement(elem, t("Status"))
        status.text = "NotStarted"
    if percent is not None and percent.text and float(percent.text) >= 100:
        status.text = "Completed"
    done = status.text == "Completed"
    if done:
        _set_child(elem, t("PercentComplete"), "100")
        if elem.find(t("CompleteDate")) is None:
            _set_child(elem, t("CompleteDate"), _iso(_now()))
    else:
        old = elem.find(t("CompleteDate"))
        if old is not None:
            elem.remove(old)
    _set_child(elem, t("IsComplete"), "true" if done else "false")


def _follow(elem: ET.Element, new: ET.Element) -> None:
    """ "Last processed wins": a task's Status and PercentComplete follow the one just set."""
    if elem.tag != t("Task"):
        return
    status, percent = elem.find(t("Status")), elem.find(t("PercentComplete"))
    old_status = status.text if status is not None else "NotStarted"
    if new.tag == t("Status"):
        follow = {"Completed": "100", "NotStarted": "0"}.get(new.text or "")
        if follow is None and percent is not None and float(percent.text or 0) >= 100:
            follow = "0"  # no longer complete
        if follow is not None:
            _set_child(elem, t("PercentComplete"), follow)
    elif new.tag == t("PercentComplete"):
        value = float(new.text or 0)
        if value >= 100:
            _set_child(elem, t("Status"), "Completed")
        elif value == 0 and old_status == "Completed":
            _set_child(elem, t("Status"), "NotStarted")
        elif value > 0 and old_status in ("Completed", "NotStarted"):
            _set_child(elem, t("Status"), "InProgress")


def _uri_key(uri: ET.Element) -> tuple[str, ...]:
    """Identify a FieldURI / ExtendedFieldURI for matching."""
    if uri.tag == t("ExtendedFieldURI"):
        return (
            "ext",
            (uri.get("DistinguishedPropertySetId") or uri.get("PropertySetId") or "").lower(),
            uri.get("PropertyName") or uri.get("PropertyTag") or uri.get("PropertyId") or "",
        )
    return ("field", (uri.get("FieldURI") or "").split(":", 1)[-1])


def _ext_props(elem: ET.Element) -> Iterator[tuple[tuple[str, ...], ET.Element]]:
    for prop in elem.findall(t("ExtendedProperty")):
        uri = prop.find(t("ExtendedFieldURI"))
        if uri is not None:
            yield _uri_key(uri), prop


def _field_value(item: StoredItem, uri: ET.Element) -> str | None:
    key = _uri_key(uri)
    if key[0] == "ext":
        for k, prop in _ext_props(item.elem):
            if k == key:
                value = prop.find(t("Value"))
                return None if value is None else (value.text or "")
        return None
    name = key[1]
    if name == "ItemClass":
        return ITEM_CLASSES.get(item.kind, "IPM.Item")
    child = item.elem.find(t(name))
    return None if child is None else (child.text or "")


def _matches(item: StoredItem, cond: ET.Element) -> bool:
    tag = cond.tag.split("}")[1]
    if tag == "And":
        return all(_matches(item, c) for c in cond)
    if tag == "Or":
        return any(_matches(item, c) for c in cond)
    if tag == "Not":
        return not _matches(item, cond[0])
    if tag == "Exists":
        return _field_value(item, cond[0]) is not None
    if tag in ("IsEqualTo", "IsNotEqualTo"):
        uri = cond[0]
        const = cond.find(f"{t('FieldURIOrConstant')}/{t('Constant')}")
        if const is None:
            raise SoapFault("ErrorInvalidRestriction", "only constants are supported by the fake")
        equal = _field_value(item, uri) == const.get("Value")
        return equal if tag == "IsEqualTo" else not equal
    raise SoapFault("ErrorUnsupportedQueryFilter", f"fake does not support restriction {tag}")


def _in_view(items: list[StoredItem], view: ET.Element) -> list[StoredItem]:
    """The calendar items of a CalendarView (see the module docstring)."""
    start, end = _parse_dt(view.get("StartDate") or ""), _parse_dt(view.get("EndDate") or "")
    found = [
        i
        for i in items
        if i.kind == "CalendarItem"
        and _parse_dt(i.text("Start") or "") < end
        and _parse_dt(i.text("End") or "") > start
    ]
    if view.get("MaxEntriesReturned") is not None:
        raise ItemError("ErrorInvalidRequest", "fake: CalendarView with MaxEntriesReturned not implemented")
    return sorted(found, key=lambda i: (_parse_dt(i.text("Start") or ""), i.id))


# Fields computed by the server, returned when asked for.
def _computed(item: StoredItem, mbx: _Mailbox, name: str) -> ET.Element | None:
    if name == "ParentFolderId":
        e = ET.Element(t("ParentFolderId"), Id=mbx.folder_ids[item.folder], ChangeKey="AQAAAA==")
        return e
    if name == "TextBody":  # ASSUMPTION: the text rendering of a text body is the body
        body = item.elem.find(t("Body"))
        if body is None:
            return None
        e = ET.Element(t("TextBody"), BodyType="Text")
        e.text = body.text
        return e
    value = {
        "ItemClass": ITEM_CLASSES.get(item.kind, "IPM.Item"),
        "DateTimeCreated": _iso(item.created),
        "LastModifiedTime": _iso(item.modified),
    }.get(name)
    if value is None:
        return None
    e = ET.Element(t(name))
    e.text = value
    return e


def _shaped(item: StoredItem, mbx: _Mailbox, shape: ET.Element | None) -> ET.Element:
    """The item as the server returns it for an ItemShape."""
    out = ET.Element(item.elem.tag)
    ET.SubElement(out, t("ItemId"), Id=item.id, ChangeKey=item.changekey)
    base = "IdOnly"
    wanted: list[ET.Element] = []
    if shape is not None:
        base_elem = shape.find(t("BaseShape"))
        base = base_elem.text if base_elem is not None and base_elem.text else "IdOnly"
        props = shape.find(t("AdditionalProperties"))
        wanted = list(props) if props is not None else []
    if base != "IdOnly":
        for child in item.elem:
            if child.tag != t("ExtendedProperty"):
                out.append(child)
        for name in ("ParentFolderId", "ItemClass", "DateTimeCreated", "LastModifiedTime"):
            if out.find(t(name)) is None and (extra := _computed(item, mbx, name)) is not None:
                out.append(extra)
    for uri in wanted:
        key = _uri_key(uri)
        if key[0] == "ext":
            for k, prop in _ext_props(item.elem):
                if k == key:
                    out.append(prop)
            continue
        name = key[1]
        if name in ("ItemId", "ChangeKey") or out.find(t(name)) is not None:
            continue
        child = item.elem.find(t(name))
        if child is None:
            child = _computed(item, mbx, name)
        if child is not None:
            out.append(child)
    return out


# ----- the HTTP side ----------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: FakeEWS

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # a browser or a probe: EWS answers only POST
        self._send(405, b"", "text/plain")

    def do_POST(self) -> None:
        fake = self.server_state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        user, challenge = self._authenticate()
        if user is None:
            with fake._lock:
                fake.requests.append(RequestRecord("?", None, None, "unauthorized"))
            if challenge is not None:
                offers = [challenge]
            else:
                offers = [{"basic": 'Basic realm="fake"', "ntlm": "NTLM"}[a] for a in fake.auth]
            self._send(401, b"401 Unauthorized", "text/plain", {"WWW-Authenticate": offers})
            return
        try:
            envelope = ET.fromstring(body)
        except ET.ParseError:
            self._send(400, b"bad xml", "text/plain")
            return
        if fake.keep_soap_log:
            fake.soap_log.append(body.decode("utf-8", "replace"))
        op_elem = envelope.find(f"{{{SOAPNS}}}Body")
        op_elem = op_elem[0] if op_elem is not None and len(op_elem) else None
        operation = op_elem.tag.split("}")[1] if op_elem is not None else "?"
        header = envelope.find(f"{{{SOAPNS}}}Header")
        ctx = _Context(fake, header, user, self.headers.get("X-AnchorMailbox"))
        mailbox = ctx.mailbox_hint(op_elem)
        record = RequestRecord(operation, mailbox, user, "ok")
        with fake._lock:
            fake.requests.append(record)
            fault = fake._take_fault(operation, mailbox, REQUEST_FAULTS)
        if fault is not None and fault.kind == "drop":
            record.outcome = "dropped"
            self._drop()
            return
        if fault is not None and fault.kind == "http503":
            record.outcome = "http503"
            extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            self._send(503, b"Service Unavailable", "text/plain", extra)
            return
        try:
            if fault is not None and fault.kind == "server_busy":
                raise SoapFault(
                    "ErrorServerBusy", "The server cannot service this request right now.", fault.back_off_ms
                )
            if fault is not None and fault.kind == "impersonate_denied":
                raise SoapFault(
                    "ErrorImpersonateUserDenied",
                    "The account does not have permission to impersonate the requested user.",
                )
            if fault is not None and fault.kind in IN_200_FAULTS:
                record.outcome = f"error:{fault.kind}"
                response = _error_response(operation, fault)
            else:
                with fake._lock:
                    response = ctx.dispatch(operation, op_elem)
            payload, status = _envelope(ctx, response), 200
        except SoapFault as e:
            record.outcome = f"fault:{e.code}"
            payload, status = _fault_envelope(ctx, e), 500
        if fault is not None and fault.kind == "drop_after":
            record.outcome = "dropped-after"
            self._drop()
            return
        record.answer_bytes = len(payload)
        self._send(status, payload, "text/xml; charset=utf-8")

    _ntlm_ctx: Any = None
    _ntlm_user: str | None = None  # NTLM authenticates the connection, not the request

    def _authenticate(self) -> tuple[str | None, str | None]:
        """(user, None) when authenticated, (None, challenge header) mid-NTLM, else (None, None)."""
        fake = self.server_state
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Basic ") and "basic" in fake.auth:
            decoded = _unb64(auth[6:].strip()) or ""
            user, _, password = decoded.partition(":")
            user = user.split("\\")[-1]
            expected = fake.users.get(user)
            return (user if expected is not None and expected == password else None), None
        if auth.startswith("NTLM ") and "ntlm" in fake.auth:
            return self._ntlm_step(base64.b64decode(auth[5:].strip()))
        if self._ntlm_user is not None:
            return self._ntlm_user, None
        return None, None

    def _ntlm_step(self, token: bytes) -> tuple[str | None, str | None]:
        import spnego  # pyspnego, installed with exchangelib (requests_ntlm)
        from spnego.exceptions import SpnegoError

        if token[8:9] == b"\x01" or self._ntlm_ctx is None:  # NEGOTIATE starts a handshake
            self._ntlm_ctx, self._ntlm_user = spnego.server(protocol="ntlm"), None
        try:
            out = self._ntlm_ctx.step(token)
        except SpnegoError:
            self._ntlm_ctx = None
            return None, None
        if not self._ntlm_ctx.complete:
            return None, "NTLM " + base64.b64encode(out or b"").decode()
        user = (self._ntlm_ctx.client_principal or "").split("\\")[-1]
        self._ntlm_ctx = None
        if user not in self.server_state.users:
            return None, None
        self._ntlm_user = user
        return user, None

    def _send(self, status: int, payload: bytes, ctype: str, extra: dict[str, Any] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (extra or {}).items():
            for value in v if isinstance(v, list) else [v]:
                self.send_header(k, value)
        self.end_headers()
        self.wfile.write(payload)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(2)


def _error_response(operation: str, fault: Fault) -> ET.Element:
    """A whole request refused in an HTTP 200 answer: one error response message."""
    resp = ET.Element(m(f"{operation}Response"))
    messages = ET.SubElement(resp, m("ResponseMessages"))
    msg = ET.SubElement(messages, m(f"{operation}ResponseMessage"), ResponseClass="Error")
    if fault.kind == "busy_in_200":
        code, text = "ErrorInternalServerError", "An internal server error occurred. The operation failed."
        values = {
            "InnerErrorResponseCode": "ErrorServerBusy",
            "InnerErrorMessageText": "The server cannot service this request right now. Try again later.",
            "BackOffMilliseconds": str(fault.back_off_ms),
        }
    else:
        code, text = "ErrorExceededConnectionCount", "You have exceeded the available concurrent connections."
        values = {}
    ET.SubElement(msg, m("MessageText")).text = text
    ET.SubElement(msg, m("ResponseCode")).text = code
    ET.SubElement(msg, m("DescriptiveLinkKey")).text = "0"
    if values:
        xml = ET.SubElement(msg, m("MessageXml"))
        for name, value in values.items():
            ET.SubElement(xml, t("Value"), Name=name).text = value
    return resp


def _envelope(ctx: _Context, response: ET.Element) -> bytes:
    env = ET.Element(f"{{{SOAPNS}}}Envelope")
    header = ET.SubElement(env, f"{{{SOAPNS}}}Header")
    header.append(ctx.version_info())
    body = ET.SubElement(env, f"{{{SOAPNS}}}Body")
    body.append(response)
    return ET.tostring(env, encoding="utf-8", xml_declaration=True)


def _fault_envelope(ctx: _Context, e: SoapFault) -> bytes:
    env = ET.Element(f"{{{SOAPNS}}}Envelope")
    header = ET.SubElement(env, f"{{{SOAPNS}}}Header")
    header.append(ctx.version_info())
    body = ET.SubElement(env, f"{{{SOAPNS}}}Body")
    fault = ET.SubElement(body, f"{{{SOAPNS}}}Fault")
    ET.SubElement(fault, "faultcode").text = "a:" + e.code
    ET.SubElement(fault, "faultstring").text = e.text
    detail = ET.SubElement(fault, "detail")
    ET.SubElement(detail, f"{{{ENS}}}ResponseCode").text = e.code
    ET.SubElement(detail, f"{{{ENS}}}Message").text = e.text
    if e.back_off_ms is not None:
        xml = ET.SubElement(detail, t("MessageXml"))
        value = ET.SubElement(xml, t("Value"), Name="BackOffMilliseconds")
        value.text = str(e.back_off_ms)
    return ET.tostring(env, encoding="utf-8", xml_declaration=True)


class _Context:
    """One request: who is acting on which mailbox, in which time zone."""

    def __init__(self, fake: FakeEWS, header: ET.Element | None, user: str, anchor: str | None) -> None:
        self.fake = fake
        self.user = user
        self.anchor = anchor
        self.api_version = "Exchange2016"
        self.impersonated: str | None = None
        self.tz: str | None = None
        if header is not None:
            rsv = header.find(t("RequestServerVersion"))
            if rsv is not None:
                self.api_version = rsv.get("Version") or self.api_version
            imp = header.find(f"{t('ExchangeImpersonation')}/{t('ConnectingSID')}")
            if imp is not None and len(imp):
                self.impersonated = (imp[0].text or "").strip().lower()
            tzd = header.find(f"{t('TimeZoneContext')}/{t('TimeZoneDefinition')}")
            if tzd is not None:
                self.tz = tzd.get("Id")

    def version_info(self) -> ET.Element:
        major, minor, mbuild, nbuild = self.fake.build
        return ET.Element(
            t("ServerVersionInfo"),
            MajorVersion=str(major),
            MinorVersion=str(minor),
            MajorBuildNumber=str(mbuild),
            MinorBuildNumber=str(nbuild),
            Version=self.api_version,
        )

    # -- mailbox resolution --
    def mailbox_hint(self, op: ET.Element | None) -> str | None:
        if self.impersonated:
            return self.impersonated
        if op is not None:
            email = op.find(f".//{t('DistinguishedFolderId')}/{t('Mailbox')}/{t('EmailAddress')}")
            if email is not None and email.text:
                return email.text.strip().lower()
            for tag in ("ItemId", "FolderId"):
                ref = op.find(f".//{t(tag)}")
                if ref is not None:
                    decoded = _unb64(ref.get("Id") or "")
                    if decoded and decoded.count("|") == 2:
                        return decoded.split("|")[1]
        return (self.anchor or "").lower() or None

    def mailbox(self, op: ET.Element) -> _Mailbox:
        if self.impersonated and self.impersonated in self.fake.deny_impersonation:
            raise SoapFault(
                "ErrorImpersonateUserDenied",
                "The account does not have permission to impersonate the requested user.",
            )
        address = self.mailbox_hint(op)
        if not address:
            raise SoapFault("ErrorNonExistentMailbox", "No mailbox could be determined.")
        return self.fake._mailbox(address)

    def folder_name(self, mbx: _Mailbox, ref: ET.Element) -> str:
        if ref.tag == t("DistinguishedFolderId"):
            name = ref.get("Id") or ""
            if name not in FOLDERS:
                raise ItemError("ErrorFolderNotFound", f"folder {name} not found")
            return name
        for name, fid in mbx.folder_ids.items():
            if fid == ref.get("Id"):
                return name
        raise ItemError("ErrorFolderNotFound", "folder id not found")

    def item(self, mbx: _Mailbox, ref: ET.Element, operation: str) -> StoredItem:
        fault = self.fake._take_fault(operation, mbx.address, {"item_not_found"}, ref.get("Id"))
        if fault is not None:
            raise ItemError("ErrorItemNotFound", "The specified object was not found in the store.")
        item = mbx.items.get(ref.get("Id") or "")
        if item is None:
            raise ItemError("ErrorItemNotFound", "The specified object was not found in the store.")
        fault = self.fake._take_fault(operation, mbx.address, {"touch", "person_edit"}, item.id)
        if fault is not None and fault.kind == "person_edit":
            for tag, value in (fault.edit or {}).items():  # a person's edit just before
                _set_child(item.elem, t(tag), value)
            _task_rules(item.elem)
        if fault is not None:
            self.fake._touch(mbx, item)  # the key moves before this request acts
        return item

    def check_key(self, item: StoredItem, ref: ET.Element, resolution: str) -> None:
        """Refuse a stale ChangeKey the way Exchange does (see module docstring)."""
        if ref.get("ChangeKey") in (None, item.changekey):
            return
        if resolution == "NeverOverwrite":
            raise ItemError("ErrorIrresolvableConflict", "The item was changed on the server.")
        if self.fake.strict_change_keys:
            raise ItemError(
                "ErrorStaleObject",
                "The change key passed in the request does not match the current change key for the item.",
            )

    def check_find_count(self, asked: int) -> None:
        limit = self.fake.max_find_count
        if limit is not None and asked > limit:
            self.fake.find_count_refusals.append(asked)
            raise ItemError(
                "ErrorExceededFindCountLimit",
                f"The count of items requested exceeds the maximum allowed ({limit}); use paging.",
            )

    # -- dispatch --
    def dispatch(self, operation: str, op: ET.Element | None) -> ET.Element:
        handler: Callable[[ET.Element], ET.Element] | None = getattr(self, f"op_{operation}", None)
        if op is None or handler is None:
            raise SoapFault("ErrorInvalidRequest", f"operation {operation} not implemented by the fake")
        return handler(op)

    def _response(self, operation: str) -> tuple[ET.Element, ET.Element]:
        resp = ET.Element(m(f"{operation}Response"))
        return resp, ET.SubElement(resp, m("ResponseMessages"))

    @staticmethod
    def _message(messages: ET.Element, operation: str, error: ItemError | None = None) -> ET.Element:
        msg = ET.SubElement(
            messages, m(f"{operation}ResponseMessage"), ResponseClass="Error" if error else "Success"
        )
        if error:
            ET.SubElement(msg, m("MessageText")).text = error.text
        ET.SubElement(msg, m("ResponseCode")).text = error.code if error else "NoError"
        if error:
            ET.SubElement(msg, m("DescriptiveLinkKey")).text = "0"
        return msg

    def op_ConvertId(self, op: ET.Element) -> ET.Element:
        resp, messages = self._response("ConvertId")
        for _ in op.iter(t("AlternateId")):
            self._message(messages, "ConvertId", ItemError("ErrorInvalidIdMalformed", "Id is malformed."))
        return resp

    def op_GetFolder(self, op: ET.Element) -> ET.Element:
        mbx = self.mailbox(op)
        resp, messages = self._response("GetFolder")
        ids = op.find(m("FolderIds"))
        for ref in list(ids) if ids is not None else []:
            try:
                name = self.folder_name(mbx, ref)
            except ItemError as e:
                self._message(messages, "GetFolder", e)
                continue
            display, cls, elem_name, parent = FOLDERS[name]
            msg = self._message(messages, "GetFolder")
            folders = ET.SubElement(msg, m("Folders"))
            f = ET.SubElement(folders, t(elem_name))
            ET.SubElement(f, t("FolderId"), Id=mbx.folder_ids[name], ChangeKey="AQAAAA==")
            if parent:
                ET.SubElement(f, t("ParentFolderId"), Id=mbx.folder_ids[parent], ChangeKey="AQAAAA==")
            if cls:
                ET.SubElement(f, t("FolderClass")).text = cls
            ET.SubElement(f, t("DisplayName")).text = display
            count = sum(1 for i in mbx.items.values() if i.folder == name)
            ET.SubElement(f, t("TotalCount")).text = str(count)
            children = sum(1 for v in FOLDERS.values() if v[3] == name)
            ET.SubElement(f, t("ChildFolderCount")).text = str(children)
            ET.SubElement(f, t("UnreadCount")).text = "0"
        return resp

    def op_CreateItem(self, op: ET.Element) -> ET.Element:
        mbx = self.mailbox(op)
        resp, messages = self._response("CreateItem")
        target = op.find(m("SavedItemFolderId"))
        folder = self.folder_name(mbx, target[0]) if target is not None and len(target) else "drafts"
        if op.get("SendMeetingInvitations") not in (None, "SendToNone"):
            # We never want invitations; the fake records it as an error so a test notices.
            raise SoapFault("ErrorInvalidRequest", "fake: SendMeetingInvitations must be SendToNone")
        for elem in list(op.find(m("Items")) or []):
            try:
                item = self.fake._create(mbx, folder, elem, self.tz)
            except ItemError as e:
                self._message(messages, "CreateItem", e)
                continue
            msg = self._message(messages, "CreateItem")
            items = ET.SubElement(msg, m("Items"))
            out = ET.SubElement(items, elem.tag)
            ET.SubElement(out, t("ItemId"), Id=item.id, ChangeKey=item.changekey)
        return resp

    def op_GetItem(self, op: ET.Element) -> ET.Element:
        mbx = self.mailbox(op)
        resp, messages = self._response("GetItem")
        shape = op.find(m("ItemShape"))
        for ref in list(op.find(m("ItemIds")) or []):
            try:
                item = self.item(mbx, ref, "GetItem")
            except ItemError as e:
                self._message(messages, "GetItem", e)
                continue
            msg = self._message(messages, "GetItem")
            ET.SubElement(msg, m("Items")).append(_shaped(item, mbx, shape))
        return resp

    def op_UpdateItem(self, op: ET.Element) -> ET.Element:
        mbx = self.mailbox(op)
        resp, messages = self._response("UpdateItem")
        resolution = op.get("ConflictResolution", "AutoResolve")
        for change in list(op.find(m("ItemChanges")) or []):
            ref = change.find(t("ItemId"))
            try:
                if ref is None:
                    raise ItemError("ErrorInvalidIdMalformed", "no ItemId")
                item = self.item(mbx, ref, "UpdateItem")
                self.check_key(item, ref, resolution)
                self._apply_updates(item, change.find(t("Updates")))
                self.fake._touch(mbx, item, new_id=self.fake.change_id_on_update)
            except ItemError as e:
                self._message(messages, "UpdateItem", e)
                continue
            msg = self._message(messages, "UpdateItem")
            items = ET.SubElement(msg, m("Items"))
            out = ET.SubElement(items, item.elem.tag)
            ET.SubElement(out, t("ItemId"), Id=item.id, ChangeKey=item.changekey)
            conflicts = ET.SubElement(msg, m("ConflictResults"))
            ET.SubElement(conflicts, t("Count")).text = "0"
        return resp

    def _apply_updates(self, item: StoredItem, updates: ET.Element | None) -> None:
        """Apply to a copy, so a refused update changes nothing."""
        elem = copy.deepcopy(item.elem)
        for upd in list(updates if updates is not None else []):
            kind = upd.tag.split("}")[1]
            uri = upd[0]
            key = _uri_key(uri)
            # Remove the old value in both Set and Delete.
            if key[0] == "ext":
                for k, prop in list(_ext_props(elem)):
                    if k == key:
                        elem.remove(prop)
            else:
                old = elem.find(t(key[1]))
                if old is not None:
                    elem.remove(old)
            if kind == "SetItemField":
                wrapper = upd[1]
                for new in list(wrapper):
                    elem.append(new)
                    if self.fake.status_order:
                        _follow(elem, new)
            elif kind != "DeleteItemField":
                raise ItemError("ErrorInvalidRequest", f"fake does not support {kind}")
        _normalise_dates(elem, self.tz, self.fake.task_dates)
        _canonical_booleans(elem)
        _task_rules(elem)
        _calendar_rules(elem)
        item.elem = elem

    def op_DeleteItem(self, op: ET.Element) -> ET.Element:
        mbx = self.mailbox(op)
        resp, messages = self._response("DeleteItem")
        delete_type = op.get("DeleteType", "MoveToDeletedItems")
        for ref in list(op.find(m("ItemIds")) or []):
            try:
                item = self.item(mbx, ref, "DeleteItem")
                self.check_key(item, ref, "AutoResolve")
            except ItemError as e:
                self._message(messages, "DeleteItem", e)
                continue
            if delete_type == "MoveToDeletedItems" and item.folder != "deleteditems":
                self.fake._move(mbx, item.id, "deleteditems")
            else:
                del mbx.items[item.id]
                self.fake._log(mbx, item.folder, item.id, "delete")
            self._message(messages, "DeleteItem")
        return resp

    def op_FindItem(self, op: ET.Element) -> ET.Element:
        mbx = self.mailbox(op)
        resp, messages = self._response("FindItem")
        shape = op.find(m("ItemShape"))
        restriction = op.find(m("Restriction"))
        view = op.find(m("IndexedPageItemView"))
        limit = int(view.get("MaxEntriesReturned", "1000")) if view is not None else 1000
        offset = int(view.get("Offset", "0")) if view is not None else 0
        calendar_view = op.find(m("CalendarView"))
        terms = 0 if restriction is None else sum(1 for _ in restriction.iter(t("IsEqualTo")))
        too_big = self.fake.max_restriction_terms is not None and terms > self.fake.max_restriction_terms
        for ref in list(op.find(m("ParentFolderIds")) or []):
            try:
                name = self.folder_name(mbx, ref)
                if too_big:
                    raise ItemError("ErrorRestrictionTooComplex", "Restriction contains too many elements.")
                if view is not None:  # the find count limit holds for paged finds (a CalendarView is not)
                    self.check_find_count(limit)
            except ItemError as e:
                self._message(messages, "FindItem", e)
                continue
            found = [
                i
                for i in sorted(mbx.items.values(), key=lambda i: (i.created, i.id))
                if i.folder == name
                and (restriction is None or not len(restriction) or _matches(i, restriction[0]))
            ]
            if calendar_view is not None:
                try:
                    page = found = _in_view(found, calendar_view)
                except ItemError as e:
                    self._message(messages, "FindItem", e)
                    continue
            else:
                page = found[offset : offset + limit]
            last = offset + len(page) >= len(found)
            msg = self._message(messages, "FindItem")
            root = ET.SubElement(
                msg,
                m("RootFolder"),
                IndexedPagingOffset=str(offset + len(page)),
                TotalItemsInView=str(len(found)),
                IncludesLastItemInRange="true" if last else "false",
            )
            items = ET.SubElement(root, t("Items"))
            for item in page:
                items.append(_shaped(item, mbx, shape))
        return resp

    def op_SyncFolderItems(self, op: ET.Element) -> ET.Element:
        mbx = self.mailbox(op)
        resp, messages = self._response("SyncFolderItems")
        shape = op.find(m("ItemShape"))
        ref = op.find(m("SyncFolderId"))
        try:
            if ref is None or not len(ref):
                raise ItemError("ErrorInvalidRequest", "no SyncFolderId")
            name = self.folder_name(mbx, ref[0])
        except ItemError as e:
            self._message(messages, "SyncFolderItems", e)
            return resp
        state_elem = op.find(m("SyncState"))
        since = 0
        if state_elem is not None and state_elem.text:
            decoded = _unb64(state_elem.text) or ""
            prefix, _, number = decoded.rpartition("|")
            if prefix != f"S|{mbx.address}|{name}" or not number.isdigit():
                err = ItemError("ErrorInvalidSyncStateData", "Sync state data is invalid.")
                self._message(messages, "SyncFolderItems", err)
                return resp
            since = int(number)
        max_changes = int(op.findtext(m("MaxChangesReturned")) or "512")
        try:
            self.check_find_count(max_changes)
        except ItemError as e:
            self._message(messages, "SyncFolderItems", e)
            return resp
        ignore = {i.get("Id") for i in op.iterfind(f"{m('Ignore')}/{t('ItemId')}")}
        # Collapse the log since `since` into one change per item, ordered by its last change.
        first: dict[str, str] = {}
        last_seq: dict[str, int] = {}
        for change in mbx.changes:
            if change.seq <= since or change.folder != name:
                continue
            first.setdefault(change.item_id, change.kind)
            last_seq[change.item_id] = change.seq
        pending: list[tuple[int, str, str]] = []
        for item_id, seq in last_seq.items():
            exists = item_id in mbx.items and mbx.items[item_id].folder == name
            created_now = first[item_id] == "create"
            if exists:
                pending.append((seq, item_id, "Create" if created_now else "Update"))
            elif not created_now:
                pending.append((seq, item_id, "Delete"))
        pending.sort()
        pending = [p for p in pending if p[1] not in ignore]
        page = pending[:max_changes]
        done = len(page) == len(pending)
        new_state = mbx.changes[-1].seq if mbx.changes else 0
        if not done:
            new_state = page[-1][0]
        new_state = max(new_state, since)
        msg = self._message(messages, "SyncFolderItems")
        ET.SubElement(msg, m("SyncState")).text = _b64(f"S|{mbx.address}|{name}|{new_state}")
        ET.SubElement(msg, m("IncludesLastItemInRange")).text = "true" if done else "false"
        changes = ET.SubElement(msg, m("Changes"))
        for _, item_id, kind in page:
            change = ET.SubElement(changes, t(kind))
            if kind == "Delete":
                ET.SubElement(change, t("ItemId"), Id=item_id, ChangeKey="AQAAAA==")
            else:
                change.append(_shaped(mbx.items[item_id], mbx, shape))
        return resp
