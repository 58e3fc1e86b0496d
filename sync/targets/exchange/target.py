"""The Exchange target: Outlook tasks (and optional all-day marker appointments) through EWS.

Implements the `Target` protocol of target.py with exchangelib. Everything EWS-specific lives
here; plan, desired items and reconcile are shared with CalDAV.

- One calendar per counsellor = the Tasks folder (tasks) and the Calendar folder (markers) of
  their mailbox, written by one service account through impersonation (default) or delegate
  access; one exchangelib `Account` per mailbox, made once and reused.
- Identity: two named extended properties in the PublicStrings property set
  ({00020329-0000-0000-C000-000000000046}): `KontaktsyncUid` holds `DesiredItem.uid` (the same
  deterministic UID the CalDAV target uses), `KontaktsyncMarker` holds `ical.marker_value`.
  Only items carrying our UID property (with this deployment's namespace prefix) are touched.
- Listing: `SyncFolderItems` per folder; its sync states are the listing token, so an
  unchanged run asks for changes only. Without a (valid) state, one full SyncFolderItems pass
  lists the folder: that is how items are found again when the state database is lost.
- Writes: `bulk_create` / `bulk_update` / `bulk_delete` in chunks, checking each result.
  Before creating, a FindItem restricted to the chunk's UIDs makes sure none exists already
  (the EWS counterpart of CalDAV's If-None-Match); a chunk retried after a dropped connection
  adopts what the lost attempt created instead of creating it twice. Updates use
  `NeverOverwrite` with the change key read last, so a person's concurrent edit is a conflict,
  never overwritten. Deletes check the change key first and move the item to Deleted Items.
- Dates: exchangelib sends a task date as midnight UTC; the mailbox time zone goes with every
  request (`TimeZoneContext`), in which Exchange takes the date. For the zones this targets
  (Europe/Berlin, Europe/Vienna: UTC+1/+2) midnight UTC falls on the intended local day; zones
  west of UTC are refused (they would shift due dates a day back). Reading back, a task date
  in UTC form is taken in the mailbox zone (see `_read_task_dates_in_mailbox_zone`).
- Faults: exchangelib's `FaultTolerance` waits out ErrorServerBusy back-offs up to
  `max_throttle_wait_seconds`; connection-level failures are retried here `sync.retries`
  times with back-off; what still fails becomes that chunk's `Result.error`. Every HTTP
  request ends within `deadline_seconds` (connect, send, whole answer: the adapter below runs
  it under transport.send_with_deadline); one past it counts as a connection-level failure.
- Safety: a mailbox made from the template must be one plain address
  (transport.mail_address); credentials go over plain http:// only to loopback unless
  `allow_insecure_http` is set.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

import requests
from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Account,
    Configuration,
    Credentials,
    EWSDateTime,
    EWSTimeZone,
    ExtendedProperty,
    FaultTolerance,
    OAuth2Credentials,
)
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorFolderNotFound,
    ErrorImpersonateUserDenied,
    ErrorInternalServerTransientError,
    ErrorInvalidSyncStateData,
    ErrorIrresolvableConflict,
    ErrorItemNotFound,
    ErrorNonExistentMailbox,
    ErrorQueryFilterTooLong,
    ErrorRestrictionTooComplex,
    ErrorServerBusy,
    ErrorTimeoutExpired,
    RateLimitError,
    UnauthorizedError,
)
from exchangelib.ewsdatetime import EWSDate
from exchangelib.folders import Folder
from exchangelib.items import (
    MOVE_TO_DELETED_ITEMS,
    NEVER_OVERWRITE,
    SEND_TO_NONE,
    CalendarItem,
    Task,
)
from exchangelib.properties import Body
from exchangelib.protocol import BaseProtocol, NoVerifyHTTPAdapter
from kontaktsync.sync.config.loading import mask_userinfo
from kontaktsync.sync.config.models import ExchangeSettings, Settings
from kontaktsync.sync.core.items import (
    DesiredItem,
    completed_marker,
    completion_keeps,
    hash_fields,
    namespace_tag,
    uid_prefix,
)
from kontaktsync.sync.targets.base import (
    AuthError,
    CalendarMissing,
    Listing,
    RemoteItem,
    RemoteRef,
    Result,
    TargetError,
    Write,
)
from kontaktsync.sync.targets.caldav.ical import marker_value
from kontaktsync.sync.targets.transport import (
    insecure_http_problem,
    mail_address,
    send_with_deadline,
)

log = logging.getLogger(__name__)

CHUNK = 100  # items per CreateItem/UpdateItem/DeleteItem/GetItem/FindItem request
SYNC_PAGE = 512  # changes per SyncFolderItems request (the EWS maximum)
REMINDER_TIME = dt.time(8, 0)  # "the morning of the due date", mailbox local time
TASKS, MARKERS = "t", "c"  # ref prefixes: which folder an item id lives in


class KontaktsyncUid(ExtendedProperty):
    """The item's deterministic UID (items.make_uid)."""

    distinguished_property_set_id = "PublicStrings"
    property_name = "KontaktsyncUid"
    property_type = "String"


class KontaktsyncMarker(ExtendedProperty):
    """`ical.marker_value`: hash written, case key, kind, cycle, type, due, window, measure."""

    distinguished_property_set_id = "PublicStrings"
    property_name = "KontaktsyncMarker"
    property_type = "String"


UID_FIELD, MARKER_FIELD = "kontaktsync_uid", "kontaktsync_marker"
for _cls in (Task, CalendarItem):
    for _name, _prop in ((UID_FIELD, KontaktsyncUid), (MARKER_FIELD, KontaktsyncMarker)):
        with contextlib.suppress(ValueError):  # registered already (module reloaded)
            _cls.register(_name, _prop)


def _read_task_dates_in_mailbox_zone() -> None:
    """Make exchangelib read a task's DueDate/StartDate as the day in the mailbox time zone.

    exchangelib takes the date part of a value with a UTC offset as it stands (right), but
    turns a value in UTC ("...Z") into a UTC date. Whether Exchange answers with local
    midnight plus offset, with floating midnight UTC, or with local midnight as a UTC instant
    (e.g. 2026-03-09T23:00:00Z for 10 March in Berlin) is not something we could check
    here; reading the UTC forms in the mailbox zone (the Account's default_timezone) gives
    the intended day in all three for zones at or east of UTC. Only these two fields of
    exchangelib's Task class are changed, and only for UTC forms.
    """
    for name in ("due_date", "start_date"):
        field = Task.get_field_by_fieldname(name)
        if getattr(field, "_kontaktsync_local_day", False):
            continue
        original = field.from_xml

        def from_xml(elem: Any, account: Any, _f: Any = field, _orig: Any = original) -> Any:
            val = _f._get_val_from_elem(elem)
            if val is None or len(val) == 25 or account is None:
                return _orig(elem, account)
            res = _f._datetime_field.from_xml(elem=elem, account=account)
            return None if res is None else res.astimezone(account.default_timezone).date()

        field.from_xml = from_xml
        field._kontaktsync_local_day = True


_read_task_dates_in_mailbox_zone()

TASK_FIELDS = [
    "subject",
    "body",
    "text_body",
    "categories",
    "importance",
    "sensitivity",
    "due_date",
    "start_date",
    "status",
    "percent_complete",
    "reminder_is_set",
    "reminder_due_by",
    UID_FIELD,
    MARKER_FIELD,
]
LIST_FIELDS = [UID_FIELD]

RETRYABLE = (
    ErrorTimeoutExpired,
    ErrorInternalServerTransientError,
    ErrorServerBusy,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
)
T = TypeVar("T")


class _Policy(FaultTolerance):
    """FaultTolerance, except that HTTP 401 fails at once (exchangelib would wait it out as
    throttling for up to max_wait, which hides a wrong password for minutes)."""

    def raise_response_errors(self, response: requests.Response) -> None:
        if response.status_code == 401:
            raise UnauthorizedError(f"credentials refused by {response.url}")
        return super().raise_response_errors(response)


def _short(exc: BaseException) -> str:
    """An error message for reports: type and text, no credentials (exchangelib never puts
    passwords into exception texts; URLs carry none)."""
    text = mask_userinfo(str(exc).replace("\n", " "))
    return f"{type(exc).__name__}: {text}"[:300]


def _marker_dict(raw: str | None) -> dict[str, str]:
    return dict(parse_qsl(raw, keep_blank_values=True)) if raw else {}


def _split_ref(ref: str) -> tuple[str, str]:
    folder, _, item_id = ref.partition(":")
    return folder, item_id


class ExchangeTarget:
    """The `Target` for Exchange (EWS). See the module docstring."""

    kind = "exchange"
    # exchangelib keeps one HTTP connection per endpoint by default (polite to Exchange, one
    # NTLM handshake): threads would only queue for it, so the runner goes mailbox by mailbox.
    parallel_safe = False

    def __init__(
        self,
        settings: Settings,
        *,
        retry_wait: float | None = None,
        chunk_size: int = CHUNK,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        ex = settings.target.exchange
        if ex is None:
            raise TargetError("target.kind is 'exchange' but the [target.exchange] section is missing")
        if not ex.endpoint and not ex.autodiscover:
            raise TargetError("target.exchange needs an endpoint (or autodiscover = true)")
        why = insecure_http_problem(
            ex.endpoint, True, ex.allow_insecure_http, "target.exchange.allow_insecure_http"
        )
        if why:
            raise TargetError(f"target.exchange.endpoint: {why}")
        self.settings = settings
        self.ex: ExchangeSettings = ex
        self.ns_tag = namespace_tag(settings.sync.namespace)
        self.prefix = uid_prefix(settings)
        self.markers = settings.items.appointments != "none"
        self.retries = max(0, settings.sync.retries)
        self.retry_wait = settings.sync.retry_backoff_seconds if retry_wait is None else retry_wait
        self.chunk_size = chunk_size
        self._sleep = sleep
        self.tz = self._mailbox_zone(ex.timezone)
        self._accounts: dict[str, Account] = {}
        self._config: Configuration | None = None
        _configure_http(ex.verify_tls, ex.deadline_seconds)
        self._counted_from = sum(REQUESTS.values())

    # ----- setup ----------------------------------------------------------------------
    @staticmethod
    def _mailbox_zone(name: str) -> EWSTimeZone:
        try:
            zone = ZoneInfo(name)
            tz = EWSTimeZone(name)
        except Exception as e:  # unknown IANA name or no Windows equivalent
            raise TargetError(f"target.exchange.timezone {name!r} is not usable: {e}") from e
        # Midnight UTC must be on the same local day all year (see module docstring).
        for month in (1, 7):
            offset = dt.datetime(2026, month, 1, tzinfo=zone).utcoffset() or dt.timedelta(0)
            if offset < dt.timedelta(0):
                raise TargetError(
                    f"target.exchange.timezone {name!r} is west of UTC: exchangelib sends task "
                    "dates as midnight UTC, which Exchange would put on the previous day there"
                )
        return tz

    def _credentials(self) -> Credentials | OAuth2Credentials:
        ex = self.ex
        if ex.auth == "oauth2":
            if not (ex.client_id and ex.client_secret and ex.tenant_id):
                raise TargetError("oauth2 needs target.exchange.client_id, client_secret and tenant_id")
            return OAuth2Credentials(
                client_id=ex.client_id,
                client_secret=ex.client_secret.get_secret_value(),
                tenant_id=ex.tenant_id,
            )
        if not ex.username or ex.password is None:
            raise TargetError(f"{ex.auth} needs target.exchange.username and password")
        return Credentials(ex.username, ex.password.get_secret_value())

    def _configuration(self) -> Configuration:
        if self._config is None:
            self._config = Configuration(
                service_endpoint=self.ex.endpoint,
                credentials=self._credentials(),
                auth_type={"ntlm": NTLM, "basic": BASIC, "oauth2": OAUTH2}[self.ex.auth],
                retry_policy=_Policy(max_wait=self.ex.max_throttle_wait_seconds),
            )
        return self._config

    def _mailbox_text(self, calendar: str) -> str:
        text = self.ex.mailboxes.get(calendar) or self.ex.mailbox.replace("{counsellor}", calendar)
        return text.strip().lower()

    def mailbox(self, calendar: str) -> str:
        """The counsellor's mailbox address (TargetError when it is not one plain address)."""
        explicit = self.ex.mailboxes.get(calendar)
        return mail_address(explicit or self.ex.mailbox, calendar)

    def address(self, calendar: str) -> str:
        """Where the calendar lives, for the runner's token bookkeeping (never raises)."""
        where = self.ex.endpoint or "autodiscover"
        return f"{where}#{self._mailbox_text(calendar)}"

    def _cache_key(self, address: str) -> tuple[str, ...]:
        ex = self.ex
        secret = ex.password or ex.client_secret
        digest = hashlib.sha256(secret.get_secret_value().encode()).hexdigest() if secret else ""
        return (
            ex.endpoint or "autodiscover",
            ex.auth,
            ex.username or "",
            ex.client_id or "",
            ex.tenant_id or "",
            digest,
            ex.access,
            ex.timezone,
            address,
        )

    def account(self, calendar: str) -> Account:
        """The one Account of this counsellor's mailbox: made on first use, then reused by
        every later target of this process with the same settings (a service's runs), so its
        folders need not be looked up again."""
        address = self.mailbox(calendar)
        acc = self._accounts.get(address)
        if acc is None:
            acc = _ACCOUNTS.get(self._cache_key(address))
        if acc is None:
            access = IMPERSONATION if self.ex.access == "impersonation" else DELEGATE
            config = self._configuration()
            if self.ex.endpoint:
                acc = Account(
                    address,
                    config=config,
                    autodiscover=False,
                    access_type=access,
                    default_timezone=self.tz,
                )
            else:  # autodiscover; exchangelib caches the answer on disk
                acc = Account(
                    address,
                    config=config,
                    credentials=config.credentials,
                    autodiscover=True,
                    access_type=access,
                    default_timezone=self.tz,
                )
            _ACCOUNTS[self._cache_key(address)] = acc
        acc.protocol.RETRY_WAIT = self.retry_wait
        self._accounts[address] = acc
        return acc

    def folder(self, calendar: str, which: str) -> Folder:
        """The Tasks or Calendar folder (exchangelib caches it on the Account: two GetFolder
        requests, root and the folder, on first use)."""
        acc = self.account(calendar)
        return acc.tasks if which == TASKS else acc.calendar

    def _whole(self, calendar: str, what: Callable[[], T]) -> T:
        """Run a calendar-wide call; failures become TargetError (the runner skips the
        calendar), with connection-level ones retried first."""
        try:
            return self._retrying(what)
        except (UnauthorizedError, ErrorAccessDenied) as e:
            raise AuthError(f"Exchange refused access for {self.mailbox(calendar)}: {_short(e)}") from e
        except ErrorImpersonateUserDenied as e:
            raise AuthError(
                f"the service account may not impersonate {self.mailbox(calendar)}: {_short(e)}"
            ) from e
        except (ErrorNonExistentMailbox, ErrorFolderNotFound) as e:
            raise CalendarMissing(f"{self.mailbox(calendar)}: {_short(e)}") from e
        except TargetError:
            raise
        except Exception as e:
            raise TargetError(f"{self.mailbox(calendar)}: {_short(e)}") from e

    def _retrying(self, what: Callable[[], T]) -> T:
        wait = self.retry_wait
        for attempt in range(self.retries + 1):
            try:
                return what()
            except RateLimitError:
                raise  # exchangelib waited max_wait already
            except RETRYABLE as e:
                if attempt == self.retries:
                    raise
                log.info("retrying after %s (attempt %d)", _short(e), attempt + 1)
                self._sleep(min(wait, self.ex.max_throttle_wait_seconds))
                wait *= 2
        raise AssertionError("unreachable")

    # ----- listing ----------------------------------------------------------------------
    def create_calendar(self, calendar: str) -> None:
        """Mailbox folders exist by themselves; only check that we can reach them."""
        self._whole(calendar, lambda: self.folder(calendar, TASKS))

    def _which(self) -> list[str]:
        return [TASKS, MARKERS] if self.markers else [TASKS]

    def list_ours(self, calendar: str, token: str | None, known: Mapping[str, RemoteRef]) -> Listing:
        try:
            states: dict[str, str] = json.loads(token) if token else {}
        except ValueError:
            states = {}
        refs: dict[str, RemoteRef] = {}
        new_states: dict[str, str] = {}
        full = False
        whiches = self._which()
        if MARKERS not in whiches and any(_split_ref(r.ref)[0] == MARKERS for r in known.values()):
            whiches.append(MARKERS)  # markers written before appointments were switched off
        for which in whiches:
            folder = self._whole(calendar, lambda w=which: self.folder(calendar, w))
            state = states.get(which)
            mine = {u: r for u, r in known.items() if _split_ref(r.ref)[0] == which}
            part: dict[str, RemoteRef] | None = None
            if state:
                try:
                    part, new_state = self._whole_sync(calendar, folder, which, state, mine)
                except TargetError as e:
                    if not isinstance(e.__cause__, ErrorInvalidSyncStateData):
                        raise
                    log.info("sync state of %s refused; listing it in full", self.mailbox(calendar))
            if part is None:
                part, new_state = self._whole_sync(calendar, folder, which, None, {})
                full = True
            refs.update(part)
            new_states[which] = new_state
        return Listing(refs=refs, token=json.dumps(new_states, sort_keys=True), full=full)

    def _whole_sync(
        self,
        calendar: str,
        folder: Folder,
        which: str,
        state: str | None,
        known: Mapping[str, RemoteRef],
    ) -> tuple[dict[str, RemoteRef], str]:
        return self._whole(calendar, lambda: self._sync(folder, which, state, known))

    def _sync(
        self, folder: Folder, which: str, state: str | None, known: Mapping[str, RemoteRef]
    ) -> tuple[dict[str, RemoteRef], str]:
        """SyncFolderItems from `state` (None: everything), applied to `known`.

        exchangelib pages through the changes itself until IncludesLastItemInRange."""
        refs = dict(known)
        by_id = {_split_ref(r.ref)[1]: u for u, r in refs.items()}
        changes = list(
            folder.sync_items(sync_state=state, only_fields=LIST_FIELDS, max_changes_returned=SYNC_PAGE)
        )
        for change, item in changes:
            if change == "read_flag_change":
                continue
            old = by_id.pop(item.id, None)
            if old is not None:
                refs.pop(old, None)
            if change == "delete":
                continue
            uid = getattr(item, UID_FIELD, None)
            if uid and uid.startswith(self.prefix):
                refs[uid] = RemoteRef(uid, f"{which}:{item.id}", item.changekey)
                by_id[item.id] = uid
        return refs, folder.item_sync_state

    # ----- reading ----------------------------------------------------------------------
    def fetch(self, calendar: str, refs: Sequence[RemoteRef]) -> dict[str, RemoteItem | Result]:
        out: dict[str, RemoteItem | Result] = {}
        acc = self._whole(calendar, lambda: self.account(calendar))
        for which in (TASKS, MARKERS):
            mine = [r for r in refs if _split_ref(r.ref)[0] == which]
            for chunk in _chunks(mine, self.chunk_size):
                try:
                    got = self._retrying(lambda c=chunk, w=which: self._get(acc, c, w))
                except Exception as e:
                    for r in chunk:
                        out[r.uid] = Result(r.uid, ok=False, error=_short(e))
                    continue
                for r, item in zip(chunk, got, strict=True):
                    if isinstance(item, ErrorItemNotFound):
                        continue  # gone: simply missing from the answer
                    if isinstance(item, Exception):
                        out[r.uid] = Result(r.uid, ok=False, error=_short(item))
                        continue
                    out[r.uid] = self._remote(item, which)
        return out

    def _get(self, acc: Account, refs: Sequence[RemoteRef], which: str) -> list[Any]:
        ids = [(_split_ref(r.ref)[1], None) for r in refs]
        if which == TASKS:
            return list(acc.fetch(ids=ids, only_fields=TASK_FIELDS))
        return list(acc.fetch(ids=ids))  # markers: all fields, so time zones come along

    def _remote(self, item: Any, which: str) -> RemoteItem:
        uid = getattr(item, UID_FIELD, None) or ""
        marker = _marker_dict(getattr(item, MARKER_FIELD, None))
        if not uid.startswith(self.prefix):
            marker = {}
        return RemoteItem(
            ref=RemoteRef(uid, f"{which}:{item.id}", item.changekey),
            item_type="task" if isinstance(item, Task) else "marker",
            fields=self._fields_of(item),
            marker=marker,
            payload=item,
        )

    def _fields_of(self, item: Any) -> dict[str, Any]:
        """The managed fields as `DesiredItem.fields()` has them, read from an EWS item."""
        text = getattr(item, "text_body", None)
        if text is None:
            text = str(item.body) if item.body is not None else ""
        base = {
            "summary": item.subject or "",
            "description": str(text),
            "categories": list(item.categories or []),
            "priority": 1 if item.importance == "High" else None,
            "private": item.sensitivity == "Private",
        }
        if isinstance(item, Task):
            return {
                "type": "task",
                **base,
                "due": item.due_date.isoformat() if item.due_date else None,
                "start": item.start_date.isoformat() if item.start_date else None,
                "status": "completed" if item.status == Task.COMPLETED else "open",
            }
        start = item.start
        if isinstance(start, dt.datetime):
            start = start.astimezone(self.tz).date()
        day = start.isoformat() if start else None
        return {"type": "marker", **base, "due": day, "start": day, "status": "open"}

    # ----- writing: building items ------------------------------------------------------
    def _values(self, item: DesiredItem, keep: frozenset[str] = frozenset()) -> dict[str, Any]:
        """Field name -> value for an EWS item; `keep` (managed fields a person owns, see
        `items.three_way`) leaves those fields out."""
        values: dict[str, Any] = {
            UID_FIELD: item.uid,
            MARKER_FIELD: marker_value(item, self.ns_tag),
        }
        plain = {
            "summary": ("subject", item.summary),
            "description": ("body", Body(item.description)),
            "categories": ("categories", list(item.categories) or None),
            "priority": ("importance", "High" if item.priority else "Normal"),
            "private": ("sensitivity", "Private" if item.private else "Normal"),
        }
        for key, (name, value) in plain.items():
            if key not in keep:
                values[name] = value
        if item.item_type == "task":
            done = item.status == "completed"
            if "due" not in keep:
                values["due_date"] = EWSDate.from_date(item.due)
                values["reminder_due_by"] = EWSDateTime.combine(item.due, REMINDER_TIME).replace(
                    tzinfo=self.tz
                )
            if "start" not in keep:
                values["start_date"] = EWSDate.from_date(item.start) if item.start else None
            if "status" not in keep:
                values["status"] = Task.COMPLETED if done else Task.NOT_STARTED
                values["percent_complete"] = Decimal(100) if done else Decimal(0)
                values["reminder_is_set"] = not done
        else:
            day = item.start or item.due
            if not keep & {"start", "due"}:
                values["start"] = EWSDate.from_date(day)
                values["end"] = EWSDate.from_date(day)  # all day: exchangelib adds the day
                values["is_all_day"] = True
            values["legacy_free_busy_status"] = "Free"
            values["reminder_is_set"] = False
        return values

    def _new_item(self, acc: Account, folder: Folder, item: DesiredItem) -> Any:
        cls = Task if item.item_type == "task" else CalendarItem
        return cls(account=acc, folder=folder, **self._values(item))

    # ----- writing: create --------------------------------------------------------------
    def create(self, calendar: str, items: Sequence[DesiredItem]) -> Iterator[Result]:
        try:
            acc = self._whole(calendar, lambda: self.account(calendar))
        except TargetError as e:
            for item in items:
                yield Result(item.uid, ok=False, error=str(e))
            return
        for which, cls_items in _by_folder(items):
            try:
                folder = self._whole(calendar, lambda w=which: self.folder(calendar, w))
            except TargetError as e:
                for item in cls_items:
                    yield Result(item.uid, ok=False, error=str(e))
                continue
            for chunk in _chunks(cls_items, self.chunk_size):
                yield from self._create_chunk(acc, folder, which, chunk)

    def _find_uids(self, folder: Folder, uids: Sequence[str]) -> dict[str, Any]:
        """FindItem restricted to these UIDs (extended property): uid -> item.

        A server that finds the restriction too large gets it in halves."""
        found: dict[str, Any] = {}
        query = folder.filter(**{f"{UID_FIELD}__in": list(uids)}).only(UID_FIELD)
        query.page_size = max(len(uids), 1)
        try:
            items = list(query)
        except (ErrorRestrictionTooComplex, ErrorQueryFilterTooLong):
            if len(uids) < 2:
                raise
            half = len(uids) // 2
            return self._find_uids(folder, uids[:half]) | self._find_uids(folder, uids[half:])
        for item in items:
            uid = getattr(item, UID_FIELD, None)
            if uid:
                found.setdefault(uid, item)
        return found

    def _create_chunk(
        self, acc: Account, folder: Folder, which: str, chunk: Sequence[DesiredItem]
    ) -> Iterator[Result]:
        pending = list(chunk)
        wait = self.retry_wait
        for attempt in range(self.retries + 1):
            try:
                existing = self._find_uids(folder, [i.uid for i in pending])
            except RETRYABLE as e:
                if attempt == self.retries:
                    for item in pending:
                        yield Result(item.uid, ok=False, error=_short(e))
                    return
                self._sleep(wait)
                wait *= 2
                continue
            except Exception as e:
                for item in pending:
                    yield Result(item.uid, ok=False, error=_short(e))
                return
            todo = []
            for item in pending:
                there = existing.get(item.uid)
                if there is None:
                    todo.append(item)
                    continue
                ref = RemoteRef(item.uid, f"{which}:{there.id}", there.changekey)
                if attempt == 0:
                    yield Result(item.uid, ok=False, ref=ref, conflict=True)
                else:  # made by our own attempt whose answer was lost
                    yield Result(item.uid, ok=True, ref=ref, written_hash=item.managed_hash)
            if not todo:
                return
            try:
                results = acc.bulk_create(
                    folder=folder,
                    items=[self._new_item(acc, folder, i) for i in todo],
                    send_meeting_invitations=SEND_TO_NONE,
                    chunk_size=self.chunk_size,
                )
            except RETRYABLE as e:
                if attempt == self.retries:
                    for item in todo:
                        yield Result(item.uid, ok=False, error=_short(e))
                    return
                log.info("create chunk failed (%s); checking and retrying", _short(e))
                self._sleep(wait)
                wait *= 2
                pending = todo
                continue
            except Exception as e:
                for item in todo:
                    yield Result(item.uid, ok=False, error=_short(e))
                return
            for item, res in zip(todo, results, strict=True):
                if isinstance(res, Exception):
                    yield Result(item.uid, ok=False, error=_short(res))
                else:
                    ref = RemoteRef(item.uid, f"{which}:{res.id}", res.changekey)
                    yield Result(item.uid, ok=True, ref=ref, written_hash=item.managed_hash)
            return

    # ----- writing: update / complete ---------------------------------------------------
    def update(self, calendar: str, writes: Sequence[Write]) -> Iterator[Result]:
        plans: list[tuple[str, Any, list[str], str]] = []  # uid, item, fieldnames, hash
        for w in writes:
            base = w.base
            if base is None or base.payload is None:
                yield Result(w.item.uid, ok=False, error="no base item to update")
                continue
            values = self._values(w.item, w.keep)
            changed = self._changed(base, w.item, values, w.keep)
            if not changed:
                yield Result(
                    w.item.uid, ok=True, ref=base.ref, unchanged=True, written_hash=w.item.managed_hash
                )
                continue
            plans.append((w.item.uid, self._shell(base, values, changed), changed, w.item.managed_hash))
        yield from self._bulk_update(calendar, plans)

    def _changed(
        self, base: RemoteItem, item: DesiredItem, values: Mapping[str, Any], keep: frozenset[str]
    ) -> list[str]:
        """Field names whose value on the server differs from what we would write."""
        mine = item.fields()
        theirs = base.fields
        changed: list[str] = []

        def differs(key: str) -> bool:
            a, b = mine.get(key), theirs.get(key)
            if key == "categories":
                return sorted(a or []) != sorted(b or [])
            if key == "description":
                return hash_fields({"description": a}) != hash_fields({"description": b})
            if key == "summary":
                return (a or "").strip() != (b or "").strip()
            return a != b

        pairs = {
            "subject": "summary",
            "body": "description",
            "categories": "categories",
            "importance": "priority",
            "sensitivity": "private",
        }
        for name, key in pairs.items():
            if key not in keep and differs(key):
                changed.append(name)
        payload = base.payload
        if item.item_type == "task":
            if "due" not in keep and differs("due"):
                changed += ["due_date", "reminder_due_by"]
            if "start" not in keep and differs("start"):
                changed.append("start_date")
            if "status" not in keep and differs("status"):
                changed += ["status", "percent_complete", "reminder_is_set"]
        elif not keep & {"start", "due"} and differs("start"):
            changed += ["start", "end", "is_all_day"]
        if getattr(payload, MARKER_FIELD, None) != values[MARKER_FIELD]:
            changed.append(MARKER_FIELD)
        if getattr(payload, UID_FIELD, None) != values[UID_FIELD]:
            changed.append(UID_FIELD)
        if changed and item.item_type == "marker" and "legacy_free_busy_status" not in changed:
            changed.append("legacy_free_busy_status")
        return list(dict.fromkeys(changed))

    def _shell(self, base: RemoteItem, values: Mapping[str, Any], fields: list[str]) -> Any:
        """An item object carrying the base's id and change key and only the new values."""
        payload = base.payload
        cls = type(payload)
        _, item_id = _split_ref(base.ref.ref)
        shell = cls(account=payload.account, id=item_id, changekey=base.ref.version)
        if isinstance(payload, CalendarItem):
            # exchangelib needs the time zones to write all-day start/end.
            shell._start_timezone = payload._start_timezone or self.tz
            shell._end_timezone = payload._end_timezone or self.tz
            shell.is_all_day = payload.is_all_day
            shell.start, shell.end = payload.start, payload.end
        for name in fields:
            setattr(shell, name, values.get(name))
        return shell

    def complete(self, calendar: str, bases: Sequence[RemoteItem]) -> Iterator[Result]:
        plans: list[tuple[str, Any, list[str], str]] = []
        for base in bases:
            payload = base.payload
            if payload is None or not isinstance(payload, Task):
                yield Result(base.ref.uid, ok=False, error="only tasks can be completed")
                continue
            if base.completed:
                yield Result(
                    base.ref.uid, ok=True, ref=base.ref, unchanged=True, written_hash=base.current_hash
                )
                continue
            keep_priority = "priority" in completion_keeps(base.fields, base.marker)
            fields = dict(base.fields, status="completed")
            if not keep_priority:
                fields["priority"] = None
            written = hash_fields(fields)
            marker = completed_marker(base.marker, fields)
            values = {
                "status": Task.COMPLETED,
                "percent_complete": Decimal(100),
                "reminder_is_set": False,
                MARKER_FIELD: urlencode(marker),
            }
            if not keep_priority:
                values["importance"] = "Normal"
            plans.append((base.ref.uid, self._shell(base, values, list(values)), list(values), written))
        yield from self._bulk_update(calendar, plans)

    def _bulk_update(
        self, calendar: str, plans: Sequence[tuple[str, Any, list[str], str]]
    ) -> Iterator[Result]:
        if not plans:
            return
        try:
            acc = self._whole(calendar, lambda: self.account(calendar))
        except TargetError as e:
            for uid, *_ in plans:
                yield Result(uid, ok=False, error=str(e))
            return
        for chunk in _chunks(list(plans), self.chunk_size):
            try:
                results = self._retrying(
                    lambda c=chunk: acc.bulk_update(
                        items=[(shell, names) for _, shell, names, _ in c],
                        conflict_resolution=NEVER_OVERWRITE,
                        chunk_size=self.chunk_size,
                    )
                )
            except Exception as e:
                for uid, *_ in chunk:
                    yield Result(uid, ok=False, error=_short(e))
                continue
            for (uid, shell, _, written), res in zip(chunk, results, strict=True):
                which = TASKS if isinstance(shell, Task) else MARKERS
                if isinstance(res, ErrorIrresolvableConflict):
                    yield Result(uid, ok=False, conflict=True, error="changed on the server meanwhile")
                elif isinstance(res, ErrorItemNotFound):
                    yield Result(uid, ok=False, gone=True, error="item no longer exists")
                elif isinstance(res, Exception):
                    yield Result(uid, ok=False, error=_short(res))
                else:
                    new_id, new_ck = res  # the id may change on update: take the one returned
                    ref = RemoteRef(uid, f"{which}:{new_id}", new_ck)
                    yield Result(uid, ok=True, ref=ref, written_hash=written)

    # ----- writing: delete --------------------------------------------------------------
    def delete(self, calendar: str, refs: Sequence[RemoteRef]) -> Iterator[Result]:
        try:
            acc = self._whole(calendar, lambda: self.account(calendar))
        except TargetError as e:
            for r in refs:
                yield Result(r.uid, ok=False, error=str(e))
            return
        for chunk in _chunks(list(refs), self.chunk_size):
            try:
                current = self._retrying(
                    lambda c=chunk: list(
                        acc.fetch(ids=[(_split_ref(r.ref)[1], None) for r in c], only_fields=[UID_FIELD])
                    )
                )
            except Exception as e:
                for r in chunk:
                    yield Result(r.uid, ok=False, error=_short(e))
                continue
            doomed: list[RemoteRef] = []
            for r, item in zip(chunk, current, strict=True):
                if isinstance(item, ErrorItemNotFound):
                    yield Result(r.uid, ok=True, gone=True)
                elif isinstance(item, Exception):
                    yield Result(r.uid, ok=False, error=_short(item))
                elif getattr(item, UID_FIELD, None) != r.uid:
                    yield Result(r.uid, ok=False, error="item does not carry our UID; not deleted")
                elif r.version is not None and item.changekey != r.version:
                    yield Result(r.uid, ok=False, conflict=True, error="changed on the server meanwhile")
                else:
                    doomed.append(r)
            if not doomed:
                continue
            try:
                results = self._retrying(
                    lambda d=doomed: acc.bulk_delete(
                        ids=[(_split_ref(r.ref)[1], r.version) for r in d],
                        delete_type=MOVE_TO_DELETED_ITEMS,
                        chunk_size=self.chunk_size,
                    )
                )
            except Exception as e:
                for r in doomed:
                    yield Result(r.uid, ok=False, error=_short(e))
                continue
            for r, res in zip(doomed, results, strict=True):
                if res is True:
                    yield Result(r.uid, ok=True)
                elif isinstance(res, ErrorItemNotFound):
                    yield Result(r.uid, ok=True, gone=True)
                else:
                    yield Result(r.uid, ok=False, error=_short(res))

    def close(self) -> None:
        for acc in self._accounts.values():
            try:
                acc.protocol.close()
            except Exception:  # closing must not fail a run
                log.debug("closing %s failed", acc.primary_smtp_address, exc_info=True)
        self._accounts.clear()

    # ----- figures ----------------------------------------------------------------------
    @property
    def requests(self) -> int:
        """HTTP requests sent to EWS by this process since this target was made."""
        return sum(REQUESTS.values()) - self._counted_from

    def requests_for(self, calendar: str) -> int:
        """HTTP requests so far that named this counsellor's mailbox (X-AnchorMailbox)."""
        return REQUESTS[self.mailbox(calendar)]


def _chunks(seq: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _by_folder(items: Sequence[DesiredItem]) -> list[tuple[str, list[DesiredItem]]]:
    tasks = [i for i in items if i.item_type == "task"]
    markers = [i for i in items if i.item_type != "task"]
    return [(w, lst) for w, lst in ((TASKS, tasks), (MARKERS, markers)) if lst]


def check(settings: Settings, counsellors: Sequence[str]) -> Iterator[tuple[str, bool, str]]:
    """Read-only probe for `kontaktsync config check`: per mailbox, can the service account
    reach its Tasks (and, with markers, Calendar) folder? Two GetFolder requests each."""
    ex = settings.target.exchange
    if ex is None:
        yield "target.exchange", False, "the [target.exchange] section is missing"
        return
    quick = ex.model_copy(update={"max_throttle_wait_seconds": min(ex.max_throttle_wait_seconds, 10)})
    target = ExchangeTarget(
        settings.model_copy(update={"target": settings.target.model_copy(update={"exchange": quick})}),
        retry_wait=0.5,
    )
    try:
        names = list(counsellors) or list(ex.mailboxes)
        if not names:
            yield "(server)", True, "no counsellor known from the caseload; mailboxes not probed"
            return
        for who in names:
            try:
                detail = []
                for which in target._which():
                    folder = target._whole(who, lambda w=which, c=who: target.folder(c, w))
                    detail.append(f"{folder.name}: {folder.total_count} items")
                yield f"{who} <{target.mailbox(who)}>", True, ", ".join(detail)
            except TargetError as e:
                yield f"{who}", False, str(e)
    finally:
        target.close()


# Accounts of this process, by settings and mailbox (see ExchangeTarget.account).
_ACCOUNTS: dict[tuple[str, ...], Account] = {}


def forget_accounts() -> None:
    """Drop the process-wide Account cache (tests; a changed configuration)."""
    _ACCOUNTS.clear()


# HTTP requests per mailbox (X-AnchorMailbox header; "" for requests naming none), counted
# by the HTTP adapter exchangelib uses for every session of this process.
REQUESTS: Counter[str] = Counter()


class _CountingMixin:
    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        REQUESTS[str(request.headers.get("X-AnchorMailbox") or "").lower()] += 1
        return super().send(request, *args, **kwargs)  # type: ignore[misc]


class _DeadlineMixin:
    """Every request (connect, send, whole answer) ends within `deadline_seconds`."""

    deadline_seconds: float = 120.0

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        seconds = self.deadline_seconds
        message = (
            f"no complete answer within the deadline of {seconds:g} s (target.exchange.deadline_seconds)"
        )
        return send_with_deadline(
            super().send,  # type: ignore[misc]
            request,
            args,
            kwargs,
            seconds,
            message,
            requests.exceptions.ReadTimeout,
        )


def _configure_http(verify: bool | Any, deadline_seconds: float = 120.0) -> None:
    """exchangelib takes its HTTP adapter (TLS checking) per process, as a class attribute."""
    base: type[requests.adapters.HTTPAdapter]
    if verify is True:
        base = requests.adapters.HTTPAdapter
    elif verify is False:
        base = NoVerifyHTTPAdapter
    else:
        ca = str(verify)

        class _CABundleAdapter(requests.adapters.HTTPAdapter):
            def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
                super().cert_verify(conn=conn, url=url, verify=ca, cert=cert)

        base = _CABundleAdapter
    BaseProtocol.HTTP_ADAPTER_CLS = type(
        f"Counting{base.__name__}",
        (_CountingMixin, _DeadlineMixin, base),
        {"deadline_seconds": deadline_seconds},
    )


__all__ = ["ExchangeTarget", "KontaktsyncMarker", "KontaktsyncUid", "forget_accounts"]
