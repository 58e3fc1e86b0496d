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

import hashlib
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
from kontaktsync.sync.targets.caldav.guard import WriteGuard
from kontaktsync.sync.targets.caldav.names import name_warning, precondition
from kontaktsync.sync.targets.caldav.preconditions import Preconditions
from kontaktsync.sync.targets.caldav.session import DavSession, Refused
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

# What a server names when a UID is already used by another calendar of the same account
# (Cyrus keeps UIDs unique per account, RFC 6638 / RFC 4791 no-uid-conflict).
UID_ELSEWHERE = ("no-uid-conflict", "unique-scheduling-object-resource")


class CalDAVTarget:
    kind = "caldav"
    title = "CalDAV"  # for `config check`
    probing = "PROPFIND, then one probe item written and removed to learn the write preconditions"
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
        self.guard = WriteGuard(self.http, self.address, self.prefix)
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

    def _href_uid(self, href: str, tag: str = "") -> str | None:
        """The item UID an href names: `<uid>.ics`, or `<uid>-<tag>.ics` for an item created
        under this calendar's own UID (see `create`)."""
        name = unquote(href.rstrip("/").rsplit("/", 1)[-1])
        if not (name.startswith(self.prefix) and name.endswith(".ics")):
            return None
        uid = name[:-4]
        return uid[: -len(tag) - 1] if tag and uid.endswith("-" + tag) else uid

    def _calendar_tag(self, calendar: str) -> str:
        """8 hex digits naming the calendar address: tells calendars of one account apart."""
        return hashlib.sha256(self.address(calendar).encode()).hexdigest()[:8]

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
        exists = True
        try:
            resp = self.http.send_once(url, "PROPFIND", PROBE_BODY, headers)
            detail, ok = probe_answer(resp.status, resp.raw, self.cfg.create_calendars)
            exists = resp.status != 404
            if not exists and calendar is not None and ok:
                detail += name_warning(self.cfg.url, calendar, self.cfg.calendars)
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
        return ProbeResult(label, ok, detail, mask_userinfo(shown), exists)

    def write_rules(self, calendar: str) -> str | None:
        return self.preconditions(calendar).describe()

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
                new_token = self._apply_sync(resp.raw, refs, self._calendar_tag(calendar))
                return Listing(refs, new_token, full=False)
            if resp.status == 404:
                raise CalendarMissing(path(url))
            log.info("sync token for %s refused (HTTP %s): full listing", path(url), resp.status)
        resp = self.http.request(url, "REPORT", SYNC_BODY.format(token=""), {"Depth": "0"}, refusal_ok=True)
        if resp.status == 207:
            refs = {}
            new_token = self._apply_sync(resp.raw, refs, self._calendar_tag(calendar))
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
        tag = self._calendar_tag(calendar)
        for href, status, props in multistatus(resp.raw):
            if path(urljoin(url, href)).rstrip("/") == path(url).rstrip("/"):
                found_self = status < 300
            uid = self._href_uid(href, tag)
            if uid and status < 300:
                refs[uid] = RemoteRef(uid, href, props.get("getetag"))
        if not found_self:  # some servers answer 207 with a 404 inside for a missing collection
            raise CalendarMissing(path(url))
        return Listing(refs, None, full=True)

    def _apply_sync(self, raw: str, refs: dict[str, RemoteRef], tag: str) -> str | None:
        root = ET.fromstring(raw.encode() if isinstance(raw, str) else raw)
        for href, status, props in multistatus(root):
            uid = self._href_uid(href, tag)
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
        for batch, got in self.http.multiget(url, list(by_path), MULTIGET_HEAD):
            if isinstance(got, TargetError):
                for h in batch:
                    ref = by_path[h]
                    out[ref.uid] = Result(ref.uid, False, ref=ref, error=f"read failed: {got}")
                continue
            for href, status, props in multistatus(got.raw):
                ref = by_path.get(path(urljoin(url, href)))
                data = props.get("calendar-data")
                if ref is None or status >= 300 or not data:
                    continue
                version = props.get("getetag") or ref.version
                item = ical.remote_item(RemoteRef(ref.uid, ref.ref, version), data, self.ns_tag)
                if item is not None:
                    out[ref.uid] = item
        return out

    def busy(self, calendar: str, start: datetime, end: datetime) -> Busy:
        """The counsellor's busy time (caldav/busy.py)."""
        return self.busy_reader.busy(calendar, start, end)

    # --- writes -------------------------------------------------------------------------------
    def preconditions(self, calendar: str) -> Preconditions:
        """What the calendar's server honours (guard.py)."""
        return self.guard.preconditions(calendar)

    def _put(
        self,
        calendar: str,
        uid: str,
        body: bytes,
        headers: dict[str, str],
        href: str | None,
        written_hash: str,
    ) -> tuple[Result, str | None]:
        """One PUT: its Result, and the precondition a 403 named (None otherwise)."""
        headers = {"Content-Type": "text/calendar; charset=utf-8", **headers}
        try:
            url = self._href_url(calendar, href) if href else self._item_url(calendar, uid)
            resp = self.http.request(url, "PUT", body.decode("utf-8"), headers, refusal_ok=True)
        except TargetError as exc:
            return Result(uid, False, error=str(exc)), None
        if isinstance(resp, Refused):
            named = precondition(resp.raw)
            why = f"PUT {path(url)}: permission denied (HTTP 403)"
            why += (
                f": the server names the precondition {named}"
                if named
                else ": the server names no precondition"
            )
            return Result(uid, False, error=why), named or ""
        ref = RemoteRef(uid, path(url), resp.headers.get("ETag"))
        if resp.status in (200, 201, 204):
            return Result(uid, True, ref=ref, written_hash=written_hash), None
        if resp.status == 412:
            return Result(uid, False, ref=RemoteRef(uid, path(url), None), conflict=True), None
        if resp.status == 404:
            return Result(uid, False, ref=ref, gone=True, error="gone"), None
        return Result(uid, False, ref=ref, error=f"PUT {path(url)}: HTTP {resp.status}"), None

    def create(self, calendar: str, items: Sequence[DesiredItem]) -> Iterator[Result]:
        items = list(items)
        refs = [RemoteRef(i.uid, path(self._item_url(calendar, i.uid)), None) for i in items]
        guard = self.guard.check(calendar, refs, "create")
        for item, ref in zip(items, refs, strict=True):
            refused = guard(ref)
            if refused is not None:
                yield refused
                continue
            body = ical.render(item, self.ns_tag)
            res, named = self._put(calendar, item.uid, body, {"If-None-Match": "*"}, None, item.managed_hash)
            if named and any(n in named for n in UID_ELSEWHERE):
                res = self._create_own_uid(calendar, item, body, res)
            yield res

    def _create_own_uid(self, calendar: str, item: DesiredItem, body: bytes, refused: Result) -> Result:
        """The account holds this UID in another calendar (Cyrus keeps UIDs unique per
        account; a case moved between two counsellors whose calendars share one account, and
        the old item stays until its calendar is synced, or for good where a person edited
        it). Created under this calendar's own UID instead; the listing maps it back."""
        own = f"{item.uid}-{self._calendar_tag(calendar)}"
        url = self._item_url(calendar, own)
        res, named = self._put(
            calendar, item.uid, ical.with_uid(body, own), {"If-None-Match": "*"}, path(url), item.managed_hash
        )
        if named is not None:
            return Result(
                item.uid, False, error=f"{refused.error}; and under this calendar's own UID: {res.error}"
            )
        return res

    def _conditional(self, ref: RemoteRef) -> dict[str, str]:
        return {"If-Match": ref.version} if ref.version else {}

    def update(self, calendar: str, writes: Sequence[Write]) -> Iterator[Result]:
        todo: list[tuple[Write, bytes]] = []
        for w in writes:
            assert w.base is not None
            try:
                body = ical.merge(w.base.payload, w.item, self.ns_tag, keep=w.keep)
            except ValueError as exc:
                yield Result(w.item.uid, False, ref=w.base.ref, error=f"unreadable item: {exc}")
                continue
            if body is None:  # nothing to write: no request, and no probe either
                yield Result(
                    w.item.uid, True, ref=w.base.ref, unchanged=True, written_hash=w.base.written_hash
                )
                continue
            todo.append((w, body))
        refs = [w.base.ref for w, _ in todo if w.base is not None]
        bad = self._outside(calendar, refs)
        guard = self.guard.check(calendar, [r for r in refs if r.uid not in bad], "update")
        for w, body in todo:
            assert w.base is not None
            if w.base.ref.uid in bad:
                yield Result(w.item.uid, False, ref=w.base.ref, error=bad[w.base.ref.uid])
                continue
            refused = guard(w.base.ref)
            if refused is not None:
                yield refused
                continue
            res, _ = self._put(
                calendar, w.item.uid, body, self._conditional(w.base.ref), w.base.ref.ref, w.item.managed_hash
            )
            yield res

    def complete(self, calendar: str, bases: Sequence[RemoteItem]) -> Iterator[Result]:
        todo: list[tuple[RemoteItem, bytes, str]] = []
        for base in bases:
            done = ical.completion(base.payload)  # the body and the hash its marker records
            if done is None:
                yield Result(base.ref.uid, True, ref=base.ref, unchanged=True, written_hash=base.written_hash)
                continue
            todo.append((base, *done))
        bad = self._outside(calendar, [b.ref for b, _, _ in todo])
        guard = self.guard.check(calendar, [b.ref for b, _, _ in todo if b.ref.uid not in bad], "update")
        for base, body, written in todo:
            if base.ref.uid in bad:
                yield Result(base.ref.uid, False, ref=base.ref, error=bad[base.ref.uid])
                continue
            refused = guard(base.ref)
            if refused is not None:
                yield refused
                continue
            ref = base.ref
            res, _ = self._put(calendar, ref.uid, body, self._conditional(ref), ref.ref, written)
            yield res

    def _outside(self, calendar: str, refs: Sequence[RemoteRef]) -> dict[str, str]:
        """uid -> why, for every ref whose address is not inside the calendar: refused before
        any request (no probe, no ETag check, no write)."""
        bad = {}
        for ref in refs:
            try:
                self._href_url(calendar, ref.ref)
            except TargetError as exc:
                bad[ref.uid] = str(exc)
        return bad

    def delete(self, calendar: str, refs: Sequence[RemoteRef]) -> Iterator[Result]:
        refs = list(refs)
        bad = self._outside(calendar, refs)
        guard = self.guard.check(calendar, [r for r in refs if r.uid not in bad], "delete")
        for ref in refs:
            if ref.uid in bad:
                yield Result(ref.uid, False, ref=ref, error=bad[ref.uid])
                continue
            refused = guard(ref)
            if refused is not None:
                yield Result(ref.uid, True, ref=ref, gone=True) if refused.gone else refused
                continue
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
