"""The CalDAV target: one calendar collection per counsellor (the contract: targets/base.py).

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
  (targets/retry.py, with jitter; session.py); after that the item fails alone;
- every request ends within `deadline_seconds` (connect, send and the whole answer; see
  transport.DeadlineAdapter), `timeout_seconds` bounds each single read;
- a calendar URL made from the template never leaves the template's base
  (transport.calendar_url), and credentials go over plain http:// only to loopback unless
  `allow_insecure_http` is set.
"""

from __future__ import annotations

import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urljoin, urlsplit

from caldav.lib import error as caldav_error
from caldav.lib.http_sync import requests as http
from kontaktsync.sync.config.masking import mask_userinfo
from kontaktsync.sync.config.network import insecure_http_problem
from kontaktsync.sync.item import DesiredItem, namespace_tag, uid_prefix
from kontaktsync.sync.targets import marker as marker_codec
from kontaktsync.sync.targets.base import (
    Busy,
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
from kontaktsync.sync.targets.caldav.busy import BusyReader
from kontaktsync.sync.targets.caldav.session import DavSession
from kontaktsync.sync.targets.caldav.webdav import (
    MKCALENDAR_BODY,
    MULTIGET_HEAD,
    NS,
    PROBE_BODY,
    PROPFIND_BODY,
    SYNC_BODY,
    multistatus,
    path,
    probe_answer,
    without_userinfo,
    xml_text,
)
from kontaktsync.sync.targets.retry import RetryPolicy
from kontaktsync.sync.targets.transport import DeadlineExceeded, calendar_url

if TYPE_CHECKING:
    from kontaktsync.sync.config.models import Settings

log = logging.getLogger(__name__)

MULTIGET_BATCH = 200


class CalDAVTarget:
    kind = "caldav"
    title, probing = "CalDAV", "read-only PROPFIND"  # for `config check`
    parallel_safe = True  # see targets/base.py: the runner may sync calendars in threads

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        cfg = settings.target.caldav
        if cfg is None:
            raise TargetError("target.caldav is not configured")
        busy = [(f"target.caldav.busy_urls[{i}]", u) for i, u in enumerate(cfg.busy_urls)]
        for dotted, url in [("target.caldav.url", cfg.url), *cfg.calendars.items(), *busy]:
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
        self.http = DavSession(cfg, self.retry)
        self.busy_reader = BusyReader(self.http, cfg, self.ns_tag, self.address)

    @property
    def requests(self) -> int:
        """HTTP requests sent by this target."""
        return self.http.requests

    def close(self) -> None:
        self.http.close()

    def address(self, calendar: str) -> str:
        """The calendar URL of a counsellor; TargetError when it would leave the template's
        base (see transport.calendar_url), before any request."""
        explicit = self.cfg.calendars.get(calendar)
        if explicit:
            return without_userinfo(explicit if explicit.endswith("/") else explicit + "/")
        return without_userinfo(calendar_url(self.cfg.url, calendar))

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
            raise TargetError(f"item address {path(url)} is not inside the calendar {path(base)}; refused")
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
        url = without_userinfo(shown)
        headers = {"Depth": "0", "Content-Type": "application/xml; charset=utf-8"}
        try:
            resp = self.http.send_once(url, "PROPFIND", PROBE_BODY, headers)
            detail, ok = probe_answer(resp.status, resp.raw, self.cfg.create_calendars)
        except caldav_error.AuthorizationError as exc:
            why = "access refused; check target.caldav.username and the password secret"
            ok, detail = False, f"HTTP {exc.status}: {why}"
        except caldav_error.RateLimitError:
            ok, detail = False, "server busy (429/503); try again later"
        except DeadlineExceeded as exc:
            ok, detail = False, f"{exc}; is the server overloaded, or a proxy in the way?"
        except (http.exceptions.RequestException, caldav_error.DAVError) as exc:
            reason = type(exc).__name__
            ok, detail = False, f"unreachable ({reason}); check target.caldav.url and the network"
        return ProbeResult(label, ok, detail, mask_userinfo(shown))

    # --- calendars ------------------------------------------------------------------------
    def create_calendar(self, calendar: str) -> None:
        url = self.address(calendar)
        if not self.cfg.create_calendars:
            raise CalendarMissing(
                f"{path(url)} does not exist, and target.caldav.create_calendars is off: "
                "create it on the server, or switch create_calendars on"
            )
        resp = self.http.request(url, "MKCALENDAR", MKCALENDAR_BODY)
        if resp.status == 409:  # the parent collection is missing
            parent = url.rstrip("/").rsplit("/", 1)[0] + "/"
            made = self.http.request(parent, "MKCOL")
            if made.status not in (200, 201, 405):
                raise TargetError(f"cannot create {path(parent)}: HTTP {made.status}")
            resp = self.http.request(url, "MKCALENDAR", MKCALENDAR_BODY)
        if resp.status not in (200, 201, 405):
            raise TargetError(f"cannot create calendar {path(url)}: HTTP {resp.status}")

    def list_ours(self, calendar: str, token: str | None, known: Mapping[str, RemoteRef]) -> Listing:
        url = self.address(calendar)
        if token:
            resp = self.http.request(
                url, "REPORT", SYNC_BODY.format(token=xml_text(token)), {"Depth": "0"}, refusal_ok=True
            )
            if resp.status == 207:
                refs = dict(known)
                new_token = self._apply_sync(resp.raw, refs)
                return Listing(refs, new_token, full=False)
            if resp.status == 404:
                raise CalendarMissing(path(url))
            log.info("sync token for %s refused (HTTP %s): full listing", path(url), resp.status)
        resp = self.http.request(url, "REPORT", SYNC_BODY.format(token=""), {"Depth": "0"}, refusal_ok=True)
        if resp.status == 207:
            refs = {}
            new_token = self._apply_sync(resp.raw, refs)
            return Listing(refs, new_token, full=True)
        if resp.status == 404:
            raise CalendarMissing(path(url))
        resp = self.http.request(url, "PROPFIND", PROPFIND_BODY, {"Depth": "1"})
        if resp.status == 404:
            raise CalendarMissing(path(url))
        if resp.status != 207:
            raise TargetError(f"cannot list {path(url)}: HTTP {resp.status}")
        refs = {}
        found_self = False
        for href, status, props in multistatus(resp.raw):
            if path(urljoin(url, href)).rstrip("/") == path(url).rstrip("/"):
                found_self = status < 300
            uid = self._href_uid(href)
            if uid and status < 300:
                refs[uid] = RemoteRef(uid, href, props.get("getetag"))
        if not found_self:  # some servers answer 207 with a 404 inside for a missing collection
            raise CalendarMissing(path(url))
        return Listing(refs, None, full=True)

    def _apply_sync(self, raw: str, refs: dict[str, RemoteRef]) -> str | None:
        root = ET.fromstring(raw.encode() if isinstance(raw, str) else raw)
        for href, status, props in multistatus(root):
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
        by_path = {path(urljoin(url, r.ref)): r for r in refs}
        refs = list(refs)
        for i in range(0, len(refs), MULTIGET_BATCH):
            batch = refs[i : i + MULTIGET_BATCH]
            body = MULTIGET_HEAD + "".join(
                f"<d:href>{xml_text(path(urljoin(url, r.ref)))}</d:href>" for r in batch
            )
            body += "</c:calendar-multiget>"
            try:
                resp = self.http.request(url, "REPORT", body, {"Depth": "1"})
                if resp.status != 207:
                    raise TargetError(f"HTTP {resp.status}")
            except TargetError as exc:
                for r in batch:
                    out[r.uid] = Result(r.uid, False, ref=r, error=f"read failed: {exc}")
                continue
            for href, status, props in multistatus(resp.raw):
                ref = by_path.get(path(urljoin(url, href)))
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

    def busy(self, calendar: str, start: datetime, end: datetime) -> Busy:
        """The counsellor's busy time (caldav/busy.py)."""
        return self.busy_reader.busy(calendar, start, end)

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
            resp = self.http.request(url, "PUT", body.decode("utf-8"), headers)
        except TargetError as exc:
            return Result(uid, False, error=str(exc))
        ref = RemoteRef(uid, path(url), resp.headers.get("ETag"))
        if resp.status in (200, 201, 204):
            return Result(uid, True, ref=ref, written_hash=written_hash)
        if resp.status == 412:
            return Result(uid, False, ref=RemoteRef(uid, path(url), None), conflict=True)
        if resp.status == 404:
            return Result(uid, False, ref=ref, gone=True, error="gone")
        return Result(uid, False, ref=ref, error=f"PUT {path(url)}: HTTP {resp.status}")

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
                resp = self.http.request(url, "DELETE", "", self._conditional(ref))
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
                yield Result(ref.uid, False, ref=ref, error=f"DELETE {path(url)}: HTTP {resp.status}")


def _setting(dotted: str) -> str:
    return dotted if dotted.startswith("target.") else f"target.caldav.calendars.{dotted}"
