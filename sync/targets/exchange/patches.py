"""Everything the Exchange target changes in exchangelib, and the process-wide state it keeps.

exchangelib keeps per-process state itself (its HTTP adapter class, cached Protocols), so a
few things cannot be per target. They are all here, applied explicitly by `apply()` (called
by every ExchangeTarget; idempotent) and `configure_http()`:

- two named extended properties registered on Task and CalendarItem (`UID_FIELD`,
  `MARKER_FIELD`);
- a task's DueDate/StartDate in UTC form read as the day in the mailbox time zone;
- a stale change key (ErrorIrresolvableConflict, ErrorStaleObject) answered per item by
  UpdateItem and DeleteItem, as exchangelib does for ErrorItemNotFound, instead of raised
  for the whole chunk (whose other items' answers would be lost);
- an error answer of SyncFolderItems without SyncState (ErrorExceededFindCountLimit, a
  throttling answer) raised as that error, where exchangelib would fail on the missing
  element with an AttributeError;
- the back-off (BackOffMilliseconds) of an ErrorServerBusy that comes wrapped in an HTTP 200
  ErrorInternalServerError answer kept, so exchangelib waits as long as the server asked;
- the HTTP adapter class of every EWS session: counts requests per mailbox (`REQUESTS`) and
  ends each request within a deadline;
- the Account cache (`ACCOUNTS`), so a service's runs do not look up folders again.

`INTERNALS` names the exchangelib internals this relies on; `missing_internals()` says which
of them an installed exchangelib lacks (tests/test_exchange_patches.py fails loudly on it).
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from typing import Any

import requests
from exchangelib import Account, ExtendedProperty, FaultTolerance
from exchangelib.errors import ErrorIrresolvableConflict, ErrorServerBusy, ErrorStaleObject
from exchangelib.items import CalendarItem, Task
from exchangelib.protocol import BaseProtocol, NoVerifyHTTPAdapter
from exchangelib.services import DeleteItem, UpdateItem
from exchangelib.services.common import EWSService
from exchangelib.services.sync_folder_hierarchy import SyncFolder
from exchangelib.util import MNS, TNS
from kontaktsync.sync.targets.transport import send_with_deadline

UID_FIELD, MARKER_FIELD = "kontaktsync_uid", "kontaktsync_marker"


class KontaktsyncUid(ExtendedProperty):
    """The item's deterministic UID (items.make_uid)."""

    distinguished_property_set_id = "PublicStrings"
    property_name = "KontaktsyncUid"
    property_type = "String"


class KontaktsyncMarker(ExtendedProperty):
    """The marker text (targets/marker.py)."""

    distinguished_property_set_id = "PublicStrings"
    property_name = "KontaktsyncMarker"
    property_type = "String"


# What the patches and the target touch below exchangelib's public API: (object, attribute).
INTERNALS: list[tuple[str, Any, str]] = [
    ("Task due_date field", lambda: Task.get_field_by_fieldname("due_date"), "_get_val_from_elem"),
    ("Task due_date field", lambda: Task.get_field_by_fieldname("due_date"), "_datetime_field"),
    ("Task start_date field", lambda: Task.get_field_by_fieldname("start_date"), "_datetime_field"),
    ("BaseProtocol", lambda: BaseProtocol, "HTTP_ADAPTER_CLS"),
    ("BaseProtocol", lambda: BaseProtocol, "RETRY_WAIT"),
    ("FaultTolerance", lambda: FaultTolerance, "raise_response_errors"),
    ("CalendarItem", lambda: CalendarItem, "_start_timezone"),
    ("CalendarItem", lambda: CalendarItem, "_end_timezone"),
    ("EWSService", lambda: EWSService, "_get_exception"),
    ("SyncFolder", lambda: SyncFolder, "_get_element_container"),
    ("UpdateItem", lambda: UpdateItem, "ERRORS_TO_CATCH_IN_RESPONSE"),
    ("DeleteItem", lambda: DeleteItem, "ERRORS_TO_CATCH_IN_RESPONSE"),
]

# Answers to a write that say the change key sent was stale (see writes.py).
STALE_KEY_ERRORS = (ErrorIrresolvableConflict, ErrorStaleObject)


def missing_internals() -> list[str]:
    """The exchangelib internals (see INTERNALS) that the installed version does not have."""
    missing = []
    for label, owner, attr in INTERNALS:
        try:
            obj = owner()
        except Exception as exc:
            missing.append(f"{label} ({type(exc).__name__}: {exc})")
            continue
        if not hasattr(obj, attr) and attr not in getattr(obj, "__slots__", ()):
            missing.append(f"{label}.{attr}")
    return missing


_APPLY = threading.Lock()


def apply() -> None:
    """Register the extended properties and patch task-date reading (once; idempotent)."""
    with _APPLY:
        for cls in (Task, CalendarItem):
            for name, prop in ((UID_FIELD, KontaktsyncUid), (MARKER_FIELD, KontaktsyncMarker)):
                with contextlib.suppress(ValueError):  # registered already
                    cls.register(name, prop)
        _read_task_dates_in_mailbox_zone()
        _keep_wrapped_back_off()
        _sync_errors_without_state()
        for service in (UpdateItem, DeleteItem):
            caught = service.ERRORS_TO_CATCH_IN_RESPONSE
            if not set(STALE_KEY_ERRORS) <= set(caught):
                service.ERRORS_TO_CATCH_IN_RESPONSE = (*caught, *STALE_KEY_ERRORS)


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


def _keep_wrapped_back_off() -> None:
    """Give a wrapped ErrorServerBusy the server's back-off.

    Exchange throttles not only with a SOAP fault (HTTP 500, which exchangelib reads with its
    BackOffMilliseconds) but also in an HTTP 200 answer: a response message
    ErrorInternalServerError whose MessageXml names the inner ErrorServerBusy and carries
    BackOffMilliseconds. exchangelib turns that into ErrorServerBusy and waits it out with
    its FaultTolerance, but without the back-off, so it would retry after its own RETRY_WAIT.
    """
    if getattr(EWSService._get_exception, "_kontaktsync_back_off", False):
        return
    original = EWSService._get_exception

    def _get_exception(code: Any, text: Any, msg_xml: Any = None, rule_errors: Any = None) -> Any:
        exc = original(code, text, msg_xml=msg_xml, rule_errors=rule_errors)
        if isinstance(exc, ErrorServerBusy) and exc.back_off is None and msg_xml is not None:
            for value in msg_xml.findall(f"{{{TNS}}}Value"):
                if value.get("Name") == "BackOffMilliseconds" and (value.text or "").isdigit():
                    exc.back_off = int(value.text) / 1000.0
        return exc

    _get_exception._kontaktsync_back_off = True  # type: ignore[attr-defined]
    EWSService._get_exception = staticmethod(_get_exception)  # type: ignore[method-assign]


def _sync_errors_without_state() -> None:
    """Let an error answer of SyncFolderItems that carries no SyncState raise its error."""
    if getattr(SyncFolder._get_element_container, "_kontaktsync_errors", False):
        return
    original = SyncFolder._get_element_container
    base = SyncFolder.__mro__[1]._get_element_container  # EWSService's: raises the error

    def _get_element_container(self: Any, message: Any, name: Any = None) -> Any:
        if message.find(f"{{{MNS}}}SyncState") is None and message.get("ResponseClass") == "Error":
            return base(self, message=message, name=name)
        return original(self, message=message, name=name)

    _get_element_container._kontaktsync_errors = True  # type: ignore[attr-defined]
    SyncFolder._get_element_container = _get_element_container  # type: ignore[method-assign]


# --- process-wide state ---------------------------------------------------------------------

# Accounts of this process, by settings and mailbox (see connection.Mailboxes.account).
ACCOUNTS: dict[tuple[str, ...], Account] = {}

# HTTP requests per mailbox (X-AnchorMailbox header; "" for requests naming none), counted
# by the HTTP adapter exchangelib uses for every session of this process.
REQUESTS: Counter[str] = Counter()


def forget_accounts() -> None:
    """Drop the process-wide Account cache (tests; a changed configuration)."""
    ACCOUNTS.clear()


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


def configure_http(verify: bool | Any, deadline_seconds: float = 120.0) -> None:
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
