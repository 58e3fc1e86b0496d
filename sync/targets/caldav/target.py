"""The CalDAV target: one calendar collection per counsellor (see target.py for the contract).

Built on caldav 3.6's `DAVClient` (connection, authentication, TLS, proxies), but every
request is sent through `DAVClient.request` with bodies and headers made here: caldav's
object API (`Calendar.save_todo`, `CalendarObjectResource.save`) sends neither
`If-None-Match: *` on create nor `If-Match` with a known ETag on update (its no_overwrite /
no_create modes search first, which costs requests and races), and its sync-token API hides
the multistatus so an expired token cannot be told from other failures. Here:

- href = calendar URL + UID + ".ics"; create = PUT with `If-None-Match: *`, update, complete
  and delete with `If-Match: <etag>`; a 412 is reported as `conflict` for the runner to
  resolve (take over on create, keep a person's change on update);
- listing = REPORT sync-collection (RFC 6578) with the stored token; with no token or a
  refused one, sync-collection from scratch (one full listing that also yields a token);
  servers without sync-collection get PROPFIND Depth 1 (ETag listing);
- reads = REPORT calendar-multiget in batches;
- 5xx, 429, time-outs and dropped connections are retried by the one retry policy
  (targets/retry.py, with jitter); after that the item fails alone;
- every request ends within `deadline_seconds` (connect, send and the whole answer; see
  transport.DeadlineAdapter), `timeout_seconds` bounds each single read;
- a calendar URL made from the template never leaves the template's base
  (transport.calendar_url), and credentials go over plain http:// only to loopback unless
  `allow_insecure_http` is set.
"""

from __future__ import annotations

import logging
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

import caldav
from caldav.lib import error as caldav_error
from caldav.lib.http_sync import requests as http
from kontaktsync.sync.config.loading import mask_userinfo
from kontaktsync.sync.core.items import DesiredItem, namespace_tag, uid_prefix
from kontaktsync.sync.targets import marker as marker_codec
from kontaktsync.sync.targets.base import (
    AuthError,
    CalendarMissing,
    Listing,
    ProbeResult,
    RemoteItem,
    RemoteRef,
    Result,
    TargetError,
    Write,
)
from kontaktsync.sync.targets.caldav import ical
from kontaktsync.sync.targets.retry import TRANSIENT_STATUS, RetryPolicy
from kontaktsync.sync.targets.transport import (
    DeadlineExceeded,
    calendar_url,
    insecure_http_problem,
    install_deadline,
)

if TYPE_CHECKING:
    from caldav.response import DAVResponse
    from kontaktsync.sync.config.models import Settings

log = logging.getLogger(__name__)

_CLIENT_BUILD = threading.Lock()
NS = {"d": "DAV:", "c": "urn:ietf:params:xml:ns:caldav"}
MULTIGET_BATCH = 200

SYNC_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token>'
    "<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"
)
PROPFIND_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:resourcetype/></d:prop></d:propfind>'
)
MULTIGET_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
    "<d:prop><d:getetag/><c:calendar-data/></d:prop>"
)
PROBE_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
    "<d:prop><d:resourcetype/><d:displayname/><c:supported-calendar-component-set/></d:prop>"
    "</d:propfind>"
)
MKCALENDAR_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop>'
    "<d:displayname>Kontaktdichte</d:displayname>"
    '<c:supported-calendar-component-set><c:comp name="VTODO"/><c:comp name="VEVENT"/>'
    "</c:supported-calendar-component-set></d:prop></d:set></c:mkcalendar>"
)


@dataclass(frozen=True)
class _Refused:
    """A 403 answer that caldav turned into an exception, as a status again."""

    status: int
    raw: str = ""


class TransientFailure(TargetError):
    """The server kept failing (5xx, time-out, dropped connection) after all retries."""


class _Transient(Exception):
    """One attempt failed in a way worth another (the retry policy's predicate)."""


class CalDAVTarget:
    kind = "caldav"
    title, probing = "CalDAV", "read-only PROPFIND"  # for `config check`
    parallel_safe = True  # see target.py: the runner may sync calendars in threads

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        cfg = settings.target.caldav
        if cfg is None:
            raise TargetError("target.caldav is not configured")
        for dotted, url in [("target.caldav.url", cfg.url), *cfg.calendars.items()]:
            has_credentials = cfg.username is not None or bool(urlsplit(url).username)
            why = insecure_http_problem(
                url, has_credentials, cfg.allow_insecure_http, "target.caldav.allow_insecure_http"
            )
            if why:
                raise TargetError(f"{_setting(dotted)}: {why}")
        self.cfg = cfg
        self.prefix = uid_prefix(settings)
        self.ns_tag = namespace_tag(settings.sync.namespace)
        self.retry = RetryPolicy.from_settings(settings, jitter=True, sleep=sleep)
        parts = urlsplit(cfg.url)
        verify = str(cfg.verify_tls) if isinstance(cfg.verify_tls, Path) else cfg.verify_tls
        # Credentials written into the URL still work, but the URL is used without them from
        # here on, so they never reach request lines, messages or the state database.
        url_user = unquote(parts.username) if parts.username else None
        url_password = unquote(parts.password) if parts.password is not None else None
        self._client_args = {
            "url": f"{parts.scheme}://{_host(parts.netloc)}/",
            "username": cfg.username or url_user,
            "password": cfg.password.get_secret_value() if cfg.password else url_password,
            "timeout": cfg.timeout_seconds,
            "ssl_verify_cert": verify,
            "enable_rfc6764": False,
        }
        self._local = threading.local()
        self._clients: list[caldav.DAVClient] = []
        self._lock = threading.Lock()
        self.requests = 0

    # --- plumbing -----------------------------------------------------------------------
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
            )
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
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

    def address(self, calendar: str) -> str:
        """The calendar URL of a counsellor; TargetError when it would leave the template's
        base (see transport.calendar_url), before any request."""
        explicit = self.cfg.calendars.get(calendar)
        if explicit:
            return _without_userinfo(explicit if explicit.endswith("/") else explicit + "/")
        return _without_userinfo(calendar_url(self.cfg.url, calendar))

    def _request(
        self,
        url: str,
        method: str,
        body: str = "",
        headers: Mapping[str, str] | None = None,
        *,
        refusal_ok: bool = False,
    ) -> DAVResponse | _Refused:
        """One request with retries for transient failures; raises TransientFailure.

        caldav raises on every 401/403. With `refusal_ok` a 403 comes back as a status instead:
        for sync-collection it means "token refused" or "not supported" (RFC 6578), not a
        wrong password.
        """
        try:
            return self.retry.call(
                lambda: self._attempt(url, method, body, headers, refusal_ok),
                lambda exc: isinstance(exc, _Transient),
                f"{method} {_path(url)}",
            )
        except _Transient as exc:
            raise TransientFailure(
                f"{method} {_path(url)}: {exc} after {self.retry.attempts} attempts"
            ) from None

    def _attempt(
        self, url: str, method: str, body: str, headers: Mapping[str, str] | None, refusal_ok: bool
    ) -> DAVResponse | _Refused:
        """One request; `_Transient` for what is worth another attempt."""
        with self._lock:
            self.requests += 1
        try:
            resp = self.client.request(url, method, body, dict(headers or {}))
        except caldav_error.AuthorizationError as exc:
            if refusal_ok and exc.status == 403:
                return _Refused(403)
            why = "permission denied" if exc.status == 403 else "the server refused the credentials"
            raise AuthError(f"{method} {_path(url)}: {why}") from None
        except caldav_error.RateLimitError:
            raise _Transient("server busy (429/503)") from None
        except DeadlineExceeded as exc:
            self._drop_client()
            raise _Transient(str(exc)) from None
        except http.exceptions.RequestException as exc:
            raise _Transient(f"connection failed ({type(exc).__name__})") from None
        if resp.status in TRANSIENT_STATUS:
            raise _Transient(f"HTTP {resp.status}")
        return resp

    def _href_uid(self, href: str) -> str | None:
        name = unquote(href.rstrip("/").rsplit("/", 1)[-1])
        if name.startswith(self.prefix) and name.endswith(".ics"):
            return name[:-4]
        return None

    def _href_url(self, calendar: str, href: str) -> str:
        """The URL of an item the server (or the state database) named: it must be a direct
        member of the calendar, or it is refused before any request."""
        base = self.address(calendar)
        url = urljoin(base, href)
        b, u = urlsplit(base), urlsplit(url)
        b_path, u_path = unquote(b.path), unquote(u.path)  # servers differ in what they encode
        inside = (u.scheme, u.netloc) == (b.scheme, b.netloc) and u_path.startswith(b_path)
        rest = u_path[len(b_path) :] if inside else ""
        if not inside or rest.strip("/") in ("", ".", "..") or "/" in rest.strip("/"):
            raise TargetError(f"item address {_path(url)} is not inside the calendar {_path(base)}; refused")
        return url

    def _item_url(self, calendar: str, uid: str) -> str:
        return self.address(calendar) + quote(uid) + ".ics"

    # --- config check -------------------------------------------------------------------
    def probe(self, calendar: str | None) -> ProbeResult:
        """Read-only PROPFIND (Depth 0) of the calendar, one attempt (no retries): says what
        is there. `None`: the server's base URL (the template up to the placeholder)."""
        if calendar is None:
            label, shown = "(server)", self.cfg.url.split("{", 1)[0]
        else:
            label, shown = calendar, self.cfg.calendars.get(calendar) or ""
            try:
                shown = shown or calendar_url(self.cfg.url, calendar)
            except TargetError as exc:
                return ProbeResult(calendar, False, str(exc))
        url = _without_userinfo(shown)
        headers = {"Depth": "0", "Content-Type": "application/xml; charset=utf-8"}
        try:
            with self._lock:
                self.requests += 1
            resp = self.client.request(url, "PROPFIND", PROBE_BODY, headers)
            detail, ok = _probe_answer(resp.status, resp.raw, self.cfg.create_calendars)
        except caldav_error.AuthorizationError as exc:
            why = "access refused; check target.caldav.username and the password secret"
            ok, detail = False, f"HTTP {exc.status}: {why}"
        except caldav_error.RateLimitError:
            ok, detail = False, "server busy (429/503); try again later"
        except DeadlineExceeded as exc:
            self._drop_client()
            ok, detail = False, f"{exc}; is the server overloaded, or a proxy in the way?"
        except (http.exceptions.RequestException, caldav_error.DAVError) as exc:
            reason = type(exc).__name__
            ok, detail = False, f"unreachable ({reason}); check target.caldav.url and the network"
        return ProbeResult(label, ok, detail, mask_userinfo(shown))

    # --- calendars ------------------------------------------------------------------------
    def create_calendar(self, calendar: str) -> None:
        url = self.address(calendar)
        resp = self._request(url, "MKCALENDAR", MKCALENDAR_BODY)
        if resp.status == 409:  # the parent collection is missing
            parent = url.rstrip("/").rsplit("/", 1)[0] + "/"
            made = self._request(parent, "MKCOL")
            if made.status not in (200, 201, 405):
                raise TargetError(f"cannot create {_path(parent)}: HTTP {made.status}")
            resp = self._request(url, "MKCALENDAR", MKCALENDAR_BODY)
        if resp.status not in (200, 201, 405):
            raise TargetError(f"cannot create calendar {_path(url)}: HTTP {resp.status}")

    def list_ours(self, calendar: str, token: str | None, known: Mapping[str, RemoteRef]) -> Listing:
        url = self.address(calendar)
        if token:
            resp = self._request(
                url, "REPORT", SYNC_BODY.format(token=_xml(token)), {"Depth": "0"}, refusal_ok=True
            )
            if resp.status == 207:
                refs = dict(known)
                new_token = self._apply_sync(resp.raw, refs)
                return Listing(refs, new_token, full=False)
            if resp.status == 404:
                raise CalendarMissing(_path(url))
            log.info("sync token for %s refused (HTTP %s): full listing", _path(url), resp.status)
        resp = self._request(url, "REPORT", SYNC_BODY.format(token=""), {"Depth": "0"}, refusal_ok=True)
        if resp.status == 207:
            refs = {}
            new_token = self._apply_sync(resp.raw, refs)
            return Listing(refs, new_token, full=True)
        if resp.status == 404:
            raise CalendarMissing(_path(url))
        resp = self._request(url, "PROPFIND", PROPFIND_BODY, {"Depth": "1"})
        if resp.status == 404:
            raise CalendarMissing(_path(url))
        if resp.status != 207:
            raise TargetError(f"cannot list {_path(url)}: HTTP {resp.status}")
        refs = {}
        found_self = False
        for href, status, props in _multistatus(resp.raw):
            if _path(urljoin(url, href)).rstrip("/") == _path(url).rstrip("/"):
                found_self = status < 300
            uid = self._href_uid(href)
            if uid and status < 300:
                refs[uid] = RemoteRef(uid, href, props.get("getetag"))
        if not found_self:  # some servers answer 207 with a 404 inside for a missing collection
            raise CalendarMissing(_path(url))
        return Listing(refs, None, full=True)

    def _apply_sync(self, raw: str, refs: dict[str, RemoteRef]) -> str | None:
        root = ET.fromstring(raw.encode() if isinstance(raw, str) else raw)
        for href, status, props in _multistatus(root):
            uid = self._href_uid(href)
            if uid is None:
                continue
            if status == 404:
                refs.pop(uid, None)
            elif status < 300:
                refs[uid] = RemoteRef(uid, href, props.get("getetag"))
        tok = root.find("d:sync-token", NS)
        return tok.text.strip() if tok is not None and tok.text else None

    # --- reads ------------------------------------------------------------------------------
    def fetch(self, calendar: str, refs: Sequence[RemoteRef]) -> dict[str, RemoteItem | Result]:
        url = self.address(calendar)
        out: dict[str, RemoteItem | Result] = {}
        by_path = {_path(urljoin(url, r.ref)): r for r in refs}
        refs = list(refs)
        for i in range(0, len(refs), MULTIGET_BATCH):
            batch = refs[i : i + MULTIGET_BATCH]
            body = MULTIGET_HEAD + "".join(
                f"<d:href>{_xml(_path(urljoin(url, r.ref)))}</d:href>" for r in batch
            )
            body += "</c:calendar-multiget>"
            try:
                resp = self._request(url, "REPORT", body, {"Depth": "1"})
                if resp.status != 207:
                    raise TargetError(f"HTTP {resp.status}")
            except TargetError as exc:
                for r in batch:
                    out[r.uid] = Result(r.uid, False, ref=r, error=f"read failed: {exc}")
                continue
            for href, status, props in _multistatus(resp.raw):
                ref = by_path.get(_path(urljoin(url, href)))
                data = props.get("calendar-data")
                if ref is None or status >= 300 or not data:
                    continue
                parsed = ical.parse(data)
                if parsed is None:
                    continue
                version = props.get("getetag") or ref.version
                out[ref.uid] = RemoteItem(
                    ref=RemoteRef(ref.uid, ref.ref, version),
                    item_type=parsed.item_type,
                    fields=parsed.fields,
                    marker=marker_codec.ours(parsed.marker, self.ns_tag),
                    payload=data,
                )
        return out

    # --- writes -------------------------------------------------------------------------------
    def _put(
        self,
        calendar: str,
        uid: str,
        body: bytes,
        headers: dict[str, str],
        href: str | None,
        written_hash: str,
    ) -> Result:
        headers = {"Content-Type": "text/calendar; charset=utf-8", **headers}
        try:
            url = self._href_url(calendar, href) if href else self._item_url(calendar, uid)
            resp = self._request(url, "PUT", body.decode("utf-8"), headers)
        except TargetError as exc:
            return Result(uid, False, error=str(exc))
        ref = RemoteRef(uid, _path(url), resp.headers.get("ETag"))
        if resp.status in (200, 201, 204):
            return Result(uid, True, ref=ref, written_hash=written_hash)
        if resp.status == 412:
            return Result(uid, False, ref=RemoteRef(uid, _path(url), None), conflict=True)
        if resp.status == 404:
            return Result(uid, False, ref=ref, gone=True, error="gone")
        return Result(uid, False, ref=ref, error=f"PUT {_path(url)}: HTTP {resp.status}")

    def create(self, calendar: str, items: Sequence[DesiredItem]) -> Iterator[Result]:
        for item in items:
            body = ical.render(item, self.ns_tag)
            yield self._put(calendar, item.uid, body, {"If-None-Match": "*"}, None, item.managed_hash)

    def _conditional(self, ref: RemoteRef) -> dict[str, str]:
        return {"If-Match": ref.version} if ref.version else {}

    def update(self, calendar: str, writes: Sequence[Write]) -> Iterator[Result]:
        for w in writes:
            assert w.base is not None
            try:
                body = ical.merge(w.base.payload, w.item, self.ns_tag, keep=w.keep)
            except ValueError as exc:
                yield Result(w.item.uid, False, ref=w.base.ref, error=f"unreadable item: {exc}")
                continue
            if body is None:
                yield Result(
                    w.item.uid, True, ref=w.base.ref, unchanged=True, written_hash=w.base.written_hash
                )
                continue
            yield self._put(
                calendar, w.item.uid, body, self._conditional(w.base.ref), w.base.ref.ref, w.item.managed_hash
            )

    def complete(self, calendar: str, bases: Sequence[RemoteItem]) -> Iterator[Result]:
        for base in bases:
            uid = base.ref.uid
            body = ical.complete(base.payload)
            if body is None:
                yield Result(uid, True, ref=base.ref, unchanged=True, written_hash=base.written_hash)
                continue
            parsed = ical.parse(body)
            written = parsed.written_hash if parsed else None
            yield self._put(calendar, uid, body, self._conditional(base.ref), base.ref.ref, written or "")

    def delete(self, calendar: str, refs: Sequence[RemoteRef]) -> Iterator[Result]:
        for ref in refs:
            try:
                url = self._href_url(calendar, ref.ref)
                resp = self._request(url, "DELETE", "", self._conditional(ref))
            except TargetError as exc:
                yield Result(ref.uid, False, ref=ref, error=str(exc))
                continue
            if resp.status in (200, 204):
                yield Result(ref.uid, True, ref=ref)
            elif resp.status == 404:
                yield Result(ref.uid, True, ref=ref, gone=True)
            elif resp.status == 412:
                yield Result(ref.uid, False, ref=ref, conflict=True)
            else:
                yield Result(ref.uid, False, ref=ref, error=f"DELETE {_path(url)}: HTTP {resp.status}")


def _probe_answer(status: int, raw: str | bytes, create_calendars: bool) -> tuple[str, bool]:
    """(detail, ok) for the answer to the probe's PROPFIND."""
    if status in (401, 403):
        return f"HTTP {status}: access refused; check target.caldav.username and the password secret", False
    if status == 404:
        if create_calendars:
            return "not there yet; will be created at the first sync", True
        return "HTTP 404; create the calendar or set create_calendars = true", False
    if status != 207:
        return f"HTTP {status} to PROPFIND; is this a CalDAV URL?", False
    try:
        root = ET.fromstring(raw.encode() if isinstance(raw, str) else raw)
    except ET.ParseError:
        return "answer is not WebDAV XML; is this a CalDAV URL?", False
    if root.find(".//d:resourcetype/c:calendar", NS) is None:
        return "exists but is not a calendar collection", False
    name = (root.findtext(".//d:displayname", default="", namespaces=NS) or "").strip()
    comps = [c.get("name", "") for c in root.findall(".//c:comp", NS)]
    what = "calendar" + (f" '{name}'" if name else "")
    if comps:
        what += f" ({', '.join(comps)})"
    if comps and "VTODO" not in comps:
        return what + ": does not take tasks (VTODO)", False
    return what, True


def _path(url: str) -> str:
    """The path of a URL, for messages and comparisons (never user:password@host)."""
    return urlsplit(url).path or "/"


def _host(netloc: str) -> str:
    """host[:port] of a netloc, without user-info."""
    return netloc.rpartition("@")[2]


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=_host(parts.netloc)))


def _setting(dotted: str) -> str:
    return dotted if dotted.startswith("target.") else f"target.caldav.calendars.{dotted}"


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _multistatus(raw: str | bytes | ET.Element) -> Iterator[tuple[str, int, dict[str, str]]]:
    """(href, status, {getetag, calendar-data}) per response of a multistatus."""
    root = (
        raw if isinstance(raw, ET.Element) else ET.fromstring(raw.encode() if isinstance(raw, str) else raw)
    )
    for resp in root.findall("d:response", NS):
        href_el = resp.find("d:href", NS)
        if href_el is None or not href_el.text:
            continue
        status = _status(resp.find("d:status", NS))
        props: dict[str, str] = {}
        seen: list[int] = []
        for ps in resp.findall("d:propstat", NS):
            ps_status = _status(ps.find("d:status", NS))
            seen.append(ps_status)
            if ps_status >= 300:
                continue
            etag = ps.find("d:prop/d:getetag", NS)
            if etag is not None and etag.text:
                props["getetag"] = etag.text.strip()
            data = ps.find("d:prop/c:calendar-data", NS)
            if data is not None and data.text:
                props["calendar-data"] = data.text
        if status == 0 and seen:
            ok = [x for x in seen if x < 300]
            status = min(ok) if ok else min(seen)
        yield href_el.text.strip(), status or 200, props


def _status(el: ET.Element | None) -> int:
    if el is None or not el.text:
        return 0
    parts = el.text.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
