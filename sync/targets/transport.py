"""Transport safety shared by the CalDAV and Exchange targets.

- Where a request may go: a calendar URL made from `target.caldav.url` never leaves the
  template's base (`calendar_url`), a mailbox made from `target.exchange.mailbox` is one plain
  mail address (`mail_address`). The reader validates counsellor values too; this is the
  second wall, and it holds against whatever a server does with `%2F`, `%2E` and `..`.
- How long a request may take: `DeadlineAdapter` wraps the HTTP adapter of a requests or
  niquests session so that every request (connect, send and the whole answer) ends within a
  wall-clock deadline, even against a server that answers one byte a second (the per-read
  timeout never fires then).
- Whether credentials may travel: Basic authentication over plain http:// only to loopback,
  unless allowed explicitly (`insecure_http_problem`).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from kontaktsync.sync.targets.base import TargetError

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^a-z0-9]+")
PLACEHOLDER = "{counsellor}"
SLUG_PLACEHOLDER = "{counsellor_slug}"
_PROBE = "kontaktsync-placeholder"


# --- where a request may go ---------------------------------------------------------------


def _server_segments(path: str) -> list[str]:
    """The path segments a server may end up with: percent-decoding repeated until nothing
    changes (a server or proxy decoding twice turns %252F into /), backslashes taken as
    slashes (IIS), empty segments collapsed, dot segments resolved (RFC 3986 5.2.4)."""
    decoded = path
    for _ in range(5):
        again = unquote(decoded)
        if again == decoded:
            break
        decoded = again
    out: list[str] = []
    for seg in re.split(r"[/\\]", decoded):
        if seg in ("", "."):
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    return out


def counsellor_slug(counsellor: str) -> str:
    """The `{counsellor_slug}` placeholder: some servers refuse characters of ordinary logins in
    a collection name (Cyrus answers 403 to a `.`), so the slug keeps only lower-case letters,
    digits and `-`. Stable, and collision-free: an id that had to be changed gets eight hex
    digits of its SHA-256 appended (`m.mueller` -> `m-mueller-34c252a7`); an id of only
    [a-z0-9-] stays as it is."""
    if counsellor and re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", counsellor):
        return counsellor
    cleaned = _UNSAFE.sub("-", counsellor.lower()).strip("-") or "x"
    return f"{cleaned}-{hashlib.sha256(counsellor.encode()).hexdigest()[:8]}"


def counsellor_segment(counsellor: str) -> str:
    """A counsellor value as exactly one path segment (a `/` is quoted, never kept)."""
    return quote(counsellor, safe="@+")


def calendar_url(template: str, counsellor: str) -> str:
    """The calendar URL of a counsellor from the `target.caldav.url` template.

    Raises `TargetError` (before any request is made) when the result, as a server would
    read it, is not one segment in place of `{counsellor}` under the template's base.
    """
    if SLUG_PLACEHOLDER in template:
        # `{counsellor_slug}`: only [a-z0-9-] in the collection name, for servers that refuse
        # other characters (Cyrus: '.'); checked below like `{counsellor}`.
        template, counsellor = template.replace(SLUG_PLACEHOLDER, PLACEHOLDER), counsellor_slug(counsellor)
    if PLACEHOLDER not in template:
        url = template  # a shared (team) calendar: no counsellor in the address
    else:
        url = template.replace(PLACEHOLDER, counsellor_segment(counsellor))
        expected = template.replace(PLACEHOLDER, _PROBE)
        t_parts, u_parts = urlsplit(expected), urlsplit(url)
        if PLACEHOLDER in urlsplit(template).netloc or (t_parts.query, t_parts.fragment) != ("", ""):
            raise TargetError(
                "target.caldav.url: the {counsellor} placeholder must be in the path of the URL"
            )
        # Segment by segment as the server sees them: the same count, the template's own
        # segments unchanged, and where the placeholder stood exactly the counsellor value
        # (a template may put text around it: https://dav.example/kd-{counsellor}/).
        want = [seg.replace(_PROBE, counsellor) for seg in _server_segments(t_parts.path)]
        got = _server_segments(u_parts.path)
        ok = (
            counsellor != ""
            and (u_parts.scheme, u_parts.netloc, u_parts.query, u_parts.fragment)
            == (t_parts.scheme, t_parts.netloc, "", "")
            and got == want
        )
        if not ok:
            base = template.split(PLACEHOLDER, 1)[0]
            raise TargetError(
                f"counsellor {counsellor!r}: the calendar address would not stay one path segment "
                f"under {_path_of(base)!r} (a counsellor value may not hold '/', '\\', '%2F' or '%2E', "
                "nor be empty, '.' or '..'); "
                "refused before any request — correct the counsellor in the caseload, "
                "or give the calendar in target.caldav.calendars"
            )
    return url if url.endswith("/") else url + "/"


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path or "/"


_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)


def mail_address(template: str, counsellor: str) -> str:
    """The mailbox of a counsellor from the `target.exchange.mailbox` template: one plain
    address (local@domain, no spaces, commas, quotes, brackets or a second `@`), lower case.
    Raises `TargetError` otherwise."""
    address = template.replace(PLACEHOLDER, counsellor).strip().lower()
    if not _ADDRESS.fullmatch(address):
        raise TargetError(
            f"counsellor {counsellor!r}: mailbox {address!r} is not an e-mail address "
            "(one plain local@domain, nothing else); "
            "correct the counsellor in the caseload, or set target.exchange.mailbox "
            "(e.g. '{counsellor}@jobcenter.example') or target.exchange.mailboxes"
        )
    return address


# --- how long a request may take ----------------------------------------------------------


class DeadlineExceeded(Exception):
    """Marker base: a request did not complete within its total deadline."""


_ERROR_CLASSES: dict[type[BaseException], type[BaseException]] = {}


def deadline_error(base: type[BaseException]) -> type[BaseException]:
    """An exception class that is both `DeadlineExceeded` and the HTTP library's time-out
    (so the callers' retry logic takes it as a transient failure)."""
    cls = _ERROR_CLASSES.get(base)
    if cls is None:
        cls = type("RequestDeadlineExceeded", (DeadlineExceeded, base), {})
        _ERROR_CLASSES[base] = cls
    return cls


class DeadlineAdapter:
    """Wraps a requests/niquests transport adapter: `send` ends within `seconds`.

    The request runs in a short-lived worker thread that also reads the whole answer; the
    caller waits at most `seconds` for it. A request past its deadline is abandoned: the
    worker stops reading at its next chunk and closes the connection (a worker still waiting
    for the first byte of the headers ends when the server sends it or the per-read timeout
    fires). Answers are always read completely (as with stream=False), so the deadline
    covers them. Everything else is delegated to the wrapped adapter.
    """

    def __init__(
        self,
        inner: Any,
        seconds: float,
        setting: str,
        timeout_error: type[BaseException],
        on_send: Callable[[Any], None] | None = None,
    ) -> None:
        self._inner = inner
        self.seconds = seconds
        self.setting = setting
        self._error = timeout_error
        self._on_send = on_send

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def message(self) -> str:
        return deadline_message(self.seconds, self.setting)

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._send(request, args, kwargs)
        except Exception as exc:
            if not _closed_before_answer(exc):
                raise
        # The server had closed the pooled connection before this request reached it (SOGo
        # closes every connection, and does not always say so; the pool may reuse one before
        # the close arrives). No failure of the server: sent again at once on a fresh
        # connection, with no back-off and no attempt counted against the retry policy.
        log.debug("%s %s: connection closed before an answer; sent again", request.method, request.path_url)
        return self._send(request, args, kwargs)

    def _send(self, request: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self._on_send is not None:  # every exchange: authentication legs and redirects too
            self._on_send(request)
        return send_with_deadline(
            self._inner.send, request, args, kwargs, self.seconds, self.message(), self._error
        )

    def close(self) -> None:
        self._inner.close()


def _closed_before_answer(exc: BaseException) -> bool:
    """The server closed the connection before any byte of an answer (a stale pooled
    connection), as http.client reports it: RemoteDisconnected somewhere in the chain."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, http.client.RemoteDisconnected) or (
            isinstance(seen, ConnectionResetError) and "without response" in str(seen)
        ):
            return True
        nested = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        seen = seen.__cause__ or nested or seen.__context__
    return False


def deadline_message(seconds: float, setting: str) -> str:
    return f"no complete answer within the deadline of {seconds:g} s ({setting})"


def send_with_deadline(
    send: Any,
    request: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    seconds: float,
    message: str,
    error: type[BaseException],
) -> Any:
    """`send(request, *args, **kwargs)` plus reading the whole answer, within `seconds`.

    When the deadline passes, raises an exception that is both `DeadlineExceeded` and
    `error` (the HTTP library's time-out, so callers retry it as a transient failure).
    """
    kwargs = {**kwargs, "stream": True}
    done = threading.Event()
    cancelled = threading.Event()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            resp = box["pending"] = send(request, *args, **kwargs)
            box["resp"] = _read_whole(resp, cancelled)
        except BaseException as exc:
            box["exc"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name="kontaktsync-http", daemon=True).start()
    if not done.wait(seconds):
        cancelled.set()
        pending = box.get("pending")
        if pending is not None:  # reading the body: closing the answer ends the worker's read
            threading.Thread(target=pending.close, name="kontaktsync-http-close", daemon=True).start()
        raise deadline_error(error)(message, request=request)
    if "exc" in box:
        raise box["exc"]
    return box["resp"]


_HANDSHAKE = re.compile(r"\b(NTLM|Negotiate)\b", re.IGNORECASE)


def _read_whole(resp: Any, cancelled: threading.Event, chunk: int = 16384) -> Any:
    """Read the answer's body chunk by chunk, so an abandoned request stops reading.

    An NTLM/Negotiate challenge (401) is handed back unread: requests_ntlm takes the
    connection's socket from the unread answer for channel binding. Its body is a few bytes,
    read right after by the session, and every leg of the handshake has a deadline of its own.
    """
    if resp.status_code == 401 and _HANDSHAKE.search(resp.headers.get("WWW-Authenticate", "")):
        return resp
    chunks: list[bytes] = []
    for part in resp.iter_content(chunk):
        if cancelled.is_set():
            resp.close()
            return resp
        chunks.append(part)
    resp._content = b"".join(chunks)
    resp._content_consumed = True
    return resp


def install_deadline(
    session: Any,
    seconds: float,
    setting: str,
    timeout_error: type[BaseException],
    on_send: Callable[[Any], None] | None = None,
) -> None:
    """Wrap every adapter mounted on a requests/niquests session in a `DeadlineAdapter`;
    `on_send(request)` is called for every HTTP exchange that goes out (to count them)."""
    for prefix, adapter in list(session.adapters.items()):
        if not isinstance(adapter, DeadlineAdapter):
            session.mount(prefix, DeadlineAdapter(adapter, seconds, setting, timeout_error, on_send))
