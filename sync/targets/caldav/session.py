"""The HTTP side of the CalDAV target: one caldav `DAVClient` per thread, every request
counted, bounded by the deadline and retried by the retry policy (targets/retry.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import caldav
from caldav.lib import error as caldav_error
from caldav.lib.http_sync import requests as http
from kontaktsync.sync.targets.base import AuthError, TargetError
from kontaktsync.sync.targets.caldav.names import precondition
from kontaktsync.sync.targets.caldav.webdav import MULTIGET_BATCH, host, path, xml_text
from kontaktsync.sync.targets.retry import TRANSIENT_STATUS, RetryPolicy
from kontaktsync.sync.targets.transport import DeadlineExceeded, install_deadline

if TYPE_CHECKING:
    from caldav.response import DAVResponse
    from kontaktsync.sync.config.models import CalDAVSettings

_CLIENT_BUILD = threading.Lock()
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refused:
    """A 403 answer that caldav turned into an exception, as a status again."""

    status: int
    raw: str = ""


class TransientFailure(TargetError):
    """The server kept failing (5xx, time-out, dropped connection) after all retries."""


class _Transient(Exception):
    """One attempt failed in a way worth another (the retry policy's predicate)."""


class DavSession:
    """Requests to one CalDAV server, safe to use from several threads."""

    def __init__(self, cfg: CalDAVSettings, retry: RetryPolicy) -> None:
        self.cfg = cfg
        self.retry = retry
        parts = urlsplit(self.cfg.url)
        verify = str(self.cfg.verify_tls) if isinstance(self.cfg.verify_tls, Path) else self.cfg.verify_tls
        # Credentials written into the URL still work, but the URL is used without them from
        # here on, so they never reach request lines, messages or the state database.
        url_user = unquote(parts.username) if parts.username else None
        url_password = unquote(parts.password) if parts.password is not None else None
        self._client_args = {
            "url": f"{parts.scheme}://{host(parts.netloc)}/",
            "username": self.cfg.username or url_user,
            "password": self.cfg.password.get_secret_value() if self.cfg.password else url_password,
            "timeout": self.cfg.timeout_seconds,
            "ssl_verify_cert": verify,
            "enable_rfc6764": False,
        }
        if self._client_args["username"] and cfg.auth != "auto":
            # Credentials up front: without auth_type caldav sends each new connection's first
            # request bare and pays a 401 round trip to learn the scheme.
            self._client_args["auth_type"] = cfg.auth
        self._local = threading.local()
        self._clients: list[caldav.DAVClient] = []
        self._lock = threading.Lock()
        self.requests = 0

    def send_once(
        self, url: str, method: str, body: str = "", headers: Mapping[str, str] | None = None
    ) -> DAVResponse:
        """One request, no retry; caldav's and requests' exceptions as they are. A request
        abandoned at the deadline drops this thread's client (its connection is busy)."""
        try:
            return self.client.request(url, method, body, dict(headers or {}))
        except DeadlineExceeded:
            self._drop_client()
            raise

    def _sent(self, request: Any) -> None:
        """Count every HTTP exchange (authentication legs included) as it goes out."""
        with self._lock:
            self.requests += 1
        log.debug("%s %s", request.method, path(request.url))

    @property
    def client(self) -> caldav.DAVClient:
        """One DAVClient (one HTTP session) per thread: calendars may be synced in parallel."""
        client = getattr(self._local, "client", None)
        if client is None:
            # caldav fills a class-level table of server features on first use, which is not
            # thread-safe (KeyError 'http' seen with several workers): build clients one at a time.
            with _CLIENT_BUILD:
                client = caldav.DAVClient(**self._client_args)
            install_deadline(
                client.session,
                self.cfg.deadline_seconds,
                "target.caldav.deadline_seconds",
                http.exceptions.ReadTimeout,
                self._sent,
            )
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
        """Close every thread's client."""
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()

    def _drop_client(self) -> None:
        """Forget this thread's client after an abandoned request (its connection is busy)."""
        client = getattr(self._local, "client", None)
        self._local.client = None
        if client is not None:
            with self._lock:
                if client in self._clients:
                    self._clients.remove(client)
            client.close()

    def request(
        self,
        url: str,
        method: str,
        body: str = "",
        headers: Mapping[str, str] | None = None,
        *,
        refusal_ok: bool = False,
    ) -> DAVResponse | Refused:
        """One request with retries for transient failures; raises TransientFailure.

        caldav raises on every 401/403. With `refusal_ok` a 403 comes back as a status instead:
        for sync-collection it means "token refused" or "not supported" (RFC 6578), not a
        wrong password.
        """
        try:
            return self.retry.call(
                lambda: self.attempt(url, method, body, headers, refusal_ok),
                lambda exc: isinstance(exc, _Transient),
                f"{method} {path(url)}",
            )
        except _Transient as exc:
            raise TransientFailure(
                f"{method} {path(url)}: {exc} after {self.retry.attempts} attempts"
            ) from None

    def multiget(
        self, url: str, hrefs: Sequence[str], head: str
    ) -> Iterator[tuple[list[str], DAVResponse | TargetError]]:
        """calendar-multiget REPORTs of `hrefs` (paths) in batches of MULTIGET_BATCH: per batch
        its hrefs and the 207 answer, or the error that failed it (the caller decides what a
        failed batch means for its items)."""
        for i in range(0, len(hrefs), MULTIGET_BATCH):
            batch = list(hrefs[i : i + MULTIGET_BATCH])
            body = head + "".join(f"<d:href>{xml_text(h)}</d:href>" for h in batch) + "</c:calendar-multiget>"
            try:
                resp = self.request(url, "REPORT", body, {"Depth": "1"})
                if resp.status != 207:
                    raise TargetError(f"HTTP {resp.status}")
            except TargetError as exc:
                yield batch, exc
                continue
            yield batch, resp

    def attempt(
        self, url: str, method: str, body: str, headers: Mapping[str, str] | None, refusal_ok: bool
    ) -> DAVResponse | Refused:
        """One request; `_Transient` for what is worth another attempt."""
        try:
            resp = self.send_once(url, method, body, headers)
        except caldav_error.AuthorizationError as exc:
            if refusal_ok and exc.status == 403:
                body = getattr(exc, "body", None) or ""
                return Refused(403, body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body))
            why = "permission denied" if exc.status == 403 else "the server refused the credentials"
            named = precondition(getattr(exc, "body", None))
            if named:
                why += f": the server names the precondition {named}"
            if method == "MKCALENDAR" and exc.status == 403:
                why += (
                    " — the server may refuse this collection name; use {counsellor_slug} in "
                    "target.caldav.url (only a-z, 0-9 and '-') or list the calendar in "
                    "target.caldav.calendars"
                )
            raise AuthError(f"{method} {path(url)}: {why}") from None
        except caldav_error.RateLimitError:
            raise _Transient("server busy (429/503)") from None
        except DeadlineExceeded as exc:
            raise _Transient(str(exc)) from None
        except http.exceptions.RequestException as exc:
            raise _Transient(f"connection failed ({type(exc).__name__})") from None
        if resp.status in TRANSIENT_STATUS:
            raise _Transient(f"HTTP {resp.status}")
        return resp
