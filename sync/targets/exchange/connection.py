"""Connection to EWS: settings checked, credentials, one exchangelib Account per mailbox,
failures of a whole calendar mapped to TargetError, and the retry of transient failures.

- One calendar per counsellor = the Tasks folder (tasks) and the Calendar folder (markers) of
  their mailbox, written by one service account through impersonation (default) or delegate
  access; one exchangelib `Account` per mailbox, made once and reused (patches.ACCOUNTS).
- Faults: exchangelib's `FaultTolerance` waits out ErrorServerBusy back-offs up to
  `max_throttle_wait_seconds`, as a SOAP fault or wrapped in an HTTP 200
  ErrorInternalServerError answer (the server's BackOffMilliseconds honoured in both,
  patches.py), and logs each wait; connection-level failures and
  ErrorExceededConnectionCount (which exchangelib re-raises once it is down to one
  connection) are retried by the one retry policy (targets/retry.py); what still fails
  becomes that chunk's `Result.error`. Every HTTP
  request ends within `deadline_seconds` (patches.configure_http); one past it counts as a
  connection-level failure.
- Safety: a mailbox made from the template must be one plain address
  (transport.mail_address); credentials go over plain http:// only to loopback unless
  `allow_insecure_http` is set.
- Dates: zones west of UTC are refused (exchangelib sends a task date as midnight UTC, which
  Exchange would put on the previous local day there).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
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
    EWSTimeZone,
    FaultTolerance,
    OAuth2Credentials,
)
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorExceededConnectionCount,
    ErrorFolderNotFound,
    ErrorImpersonateUserDenied,
    ErrorInternalServerTransientError,
    ErrorNonExistentMailbox,
    ErrorServerBusy,
    ErrorTimeoutExpired,
    RateLimitError,
    UnauthorizedError,
)
from exchangelib.folders import Folder
from kontaktsync.sync.config.masking import mask_userinfo
from kontaktsync.sync.config.models import ExchangeSettings, Settings
from kontaktsync.sync.config.network import insecure_http_problem
from kontaktsync.sync.item import namespace_tag, uid_prefix
from kontaktsync.sync.targets.base import AuthError, CalendarMissing, RemoteRef, TargetError
from kontaktsync.sync.targets.exchange import patches
from kontaktsync.sync.targets.exchange.mapping import CHUNK, MARKERS, TASK_FIELDS, TASKS, split_ref
from kontaktsync.sync.targets.retry import RetryPolicy
from kontaktsync.sync.targets.transport import mail_address

log = logging.getLogger(__name__)

# Connection-level failures worth another attempt (RateLimitError is not: exchangelib has
# waited max_throttle_wait_seconds for it already).
RETRYABLE = (
    ErrorTimeoutExpired,
    ErrorInternalServerTransientError,
    ErrorServerBusy,
    ErrorExceededConnectionCount,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
)
T = TypeVar("T")


def transient(exc: BaseException) -> bool:
    """The Exchange target's "worth another attempt" (the retry policy's predicate)."""
    return isinstance(exc, RETRYABLE) and not isinstance(exc, RateLimitError)


class _Policy(FaultTolerance):
    """FaultTolerance, except that HTTP 401 fails at once (exchangelib would wait it out as
    throttling for up to max_wait, which hides a wrong password for minutes)."""

    def raise_response_errors(self, response: requests.Response) -> None:
        if response.status_code == 401:
            raise UnauthorizedError(f"credentials refused by {response.url}")
        return super().raise_response_errors(response)

    def back_off(self, seconds: float | None) -> None:
        # The wait exchangelib is about to sit out for throttling, the server's own back-off
        # where it named one: said once here (exchangelib only logs it at debug level).
        log.info("Exchange is throttling; waiting %.2f s as asked", seconds or self.DEFAULT_BACKOFF)
        super().back_off(seconds)


def short(exc: BaseException) -> str:
    """An error message for reports: type and text, no credentials (exchangelib never puts
    passwords into exception texts; URLs carry none)."""
    text = mask_userinfo(str(exc).replace("\n", " "))
    return f"{type(exc).__name__}: {text}"[:300]


class Connection:
    """Settings, Accounts and calendar-wide error handling of the Exchange target."""

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
        patches.apply()
        self.settings = settings
        self.ex: ExchangeSettings = ex
        self.ns_tag = namespace_tag(settings.sync.namespace)
        self.prefix = uid_prefix(settings)
        self.markers = settings.items.appointments != "none"
        self.retry = RetryPolicy.from_settings(
            settings, backoff=retry_wait, cap=ex.max_throttle_wait_seconds, sleep=sleep
        )
        self.max_wait = ex.max_throttle_wait_seconds  # exchangelib's own throttling back-off
        self.chunk_size = chunk_size
        self.tz = self._mailbox_zone(ex.timezone)
        self._accounts: dict[str, Account] = {}
        self._config: Configuration | None = None
        patches.configure_http(ex.verify_tls, ex.deadline_seconds)
        self._counted_from = sum(patches.REQUESTS.values())

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
                retry_policy=_Policy(max_wait=self.max_wait),
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

    @property
    def server_key(self) -> tuple[str, ...]:
        """The server and the service account (no secret): what facts learned about the
        server's throttling policy are kept under (limits.py)."""
        ex = self.ex
        return (
            ex.endpoint or "autodiscover",
            ex.auth,
            ex.username or "",
            ex.client_id or "",
            ex.tenant_id or "",
            ex.access,
        )

    def _cache_key(self, address: str) -> tuple[str, ...]:
        secret = self.ex.password or self.ex.client_secret
        digest = hashlib.sha256(secret.get_secret_value().encode()).hexdigest() if secret else ""
        return (*self.server_key, digest, self.ex.timezone, address)

    def account(self, calendar: str) -> Account:
        """The one Account of this counsellor's mailbox: made on first use, then reused by
        every later target of this process with the same settings (a service's runs), so its
        folders need not be looked up again."""
        address = self.mailbox(calendar)
        acc = self._accounts.get(address)
        if acc is None:
            acc = patches.ACCOUNTS.get(self._cache_key(address))
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
            patches.ACCOUNTS[self._cache_key(address)] = acc
        acc.protocol.RETRY_WAIT = self.retry.backoff
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
            raise AuthError(f"Exchange refused access for {self.mailbox(calendar)}: {short(e)}") from e
        except ErrorImpersonateUserDenied as e:
            raise AuthError(
                f"the service account may not impersonate {self.mailbox(calendar)}: {short(e)}"
            ) from e
        except (ErrorNonExistentMailbox, ErrorFolderNotFound) as e:
            raise CalendarMissing(f"{self.mailbox(calendar)}: {short(e)}") from e
        except TargetError:
            raise
        except Exception as e:
            raise TargetError(f"{self.mailbox(calendar)}: {short(e)}") from e

    def read(
        self, acc: Account, refs: Sequence[RemoteRef], which: str | None, only: Sequence[str] | None = None
    ) -> list[Any]:
        """GetItem of these items (an exception in place of one that could not be read): the
        fields `only` names, else a task's fields or every field of a marker."""
        ids = [(split_ref(r.ref)[1], None) for r in refs]
        if only is not None:
            return list(acc.fetch(ids=ids, only_fields=list(only), chunk_size=self.chunk_size))
        if which == TASKS:
            return list(acc.fetch(ids=ids, only_fields=TASK_FIELDS))
        return list(acc.fetch(ids=ids))  # markers: all fields, so time zones come along

    def _retrying(self, what: Callable[[], T]) -> T:
        return self.retry.call(what, transient, "EWS request")

    def _which(self) -> list[str]:
        return [TASKS, MARKERS] if self.markers else [TASKS]

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
        return sum(patches.REQUESTS.values()) - self._counted_from
