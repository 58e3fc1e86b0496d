"""The worlds the contract suite runs in: one per kind of target, behind one interface.

A `World` knows how to configure kontaktsync for its target (`settings`), run a sync in this
process (`sync`), read a counsellor's calendar back as a second client (`items`: plain HTTP for
CalDAV, the fake's own store for EWS, the dict for memory) and act as a person in it
(`complete`, `edit_description`, `delete`). The guarantees in test_guarantees.py are written
once against this interface, like vdirsyncer's `StorageTests`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin

import icalendar
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.core.runner import SyncReport, run_sync
from kontaktsync.sync.targets.memory import MemTarget

from tests.calendars import Auth, delete_object, etags, put_object, request
from tests.fake_ews import FakeEWS
from tests.realservers import COUNSELLORS, RealServer
from tests.servers import DavServer

POLICY = "coburg-2016"
SHARED = "team"  # the calendar two counsellors share, where a target allows it


@dataclass(frozen=True)
class Seen:
    """One of our tasks as a second client sees it."""

    uid: str
    summary: str
    description: str
    completed: bool


class World(Protocol):
    """What every target offers the contract tests."""

    name: str

    def settings(self, tmp: Path, *, shared: bool = False, **sync: Any) -> Settings: ...

    def sync(self, settings: Settings, **kwargs: Any) -> SyncReport: ...

    def items(self, counsellor: str) -> dict[str, Seen]: ...

    def complete(self, counsellor: str, uid: str) -> None: ...

    def edit_description(self, counsellor: str, uid: str, text: str) -> None: ...

    def delete(self, counsellor: str, uid: str) -> None: ...


def base_settings(tmp: Path, target: dict[str, Any], **sync: Any) -> Settings:
    """Settings every world shares: the caseload in `tmp/src`, tasks only, state in `tmp`."""
    src = tmp / "src"
    return Settings(
        policy=POLICY,
        source={"cases": src / "cases.csv", "contacts": src / "contacts.csv"},
        target=target,
        items={"appointments": "none"},
        sync={"state_path": tmp / "state.sqlite3", "retry_backoff_seconds": 0.01, **sync},
    )


def _seen_in_ical(body: bytes) -> list[Seen]:
    cal = icalendar.Calendar.from_ical(body)
    return [
        Seen(
            str(c["UID"]),
            str(c.get("SUMMARY", "")),
            str(c.get("DESCRIPTION", "")),
            str(c.get("STATUS", "")) == "COMPLETED",
        )
        for c in cal.walk("VTODO")
    ]


def _completed(body: bytes) -> bytes:
    cal = icalendar.Calendar.from_ical(body)
    for todo in cal.walk("VTODO"):
        for prop in ("STATUS", "PERCENT-COMPLETE"):
            todo.pop(prop, None)
        todo.add("STATUS", "COMPLETED")
        todo.add("PERCENT-COMPLETE", 100)
    return cal.to_ical()


def _described(text: str) -> Callable[[bytes], bytes]:
    def edit(body: bytes) -> bytes:
        cal = icalendar.Calendar.from_ical(body)
        for todo in cal.walk("VTODO"):
            todo.pop("DESCRIPTION", None)
            todo.add("DESCRIPTION", text)
        return cal.to_ical()

    return edit


# ------------------------------------------------------------------------------ memory


@dataclass
class MemoryWorld:
    """`MemTarget`: calendars are dicts, one per counsellor; it has no shared calendars."""

    name: str = "memory"
    target: MemTarget = field(default_factory=MemTarget)

    def settings(self, tmp: Path, *, shared: bool = False, **sync: Any) -> Settings:
        assert not shared, "the memory target has one calendar per counsellor"
        target = {"kind": "caldav", "caldav": {"url": "http://memory.invalid/{counsellor}/"}}
        return base_settings(tmp, target, **sync)

    def sync(self, settings: Settings, **kwargs: Any) -> SyncReport:
        return run_sync(settings, target=self.target, **kwargs)

    def items(self, counsellor: str) -> dict[str, Seen]:
        found = [s for _, body in self.target.cals.get(counsellor, {}).values() for s in _seen_in_ical(body)]
        return {s.uid: s for s in found}

    def _rewrite(self, counsellor: str, uid: str, change: Callable[[bytes], bytes]) -> None:
        version, body = self.target.cals[counsellor][uid]
        self.target.cals[counsellor][uid] = (version + 1, change(body))

    def complete(self, counsellor: str, uid: str) -> None:
        self._rewrite(counsellor, uid, _completed)

    def edit_description(self, counsellor: str, uid: str, text: str) -> None:
        self._rewrite(counsellor, uid, _described(text))

    def delete(self, counsellor: str, uid: str) -> None:
        del self.target.cals[counsellor][uid]


# ------------------------------------------------------------------------------ CalDAV


@dataclass
class CalDAVWorld:
    """A CalDAV server; `template` has `{counsellor}`, `shared_url` is a calendar both may use.
    The second client is tests/calendars.py (Basic auth where the server has it)."""

    name: str
    template: str
    shared_url: str
    username: str | None = None
    password: str | None = None
    shared: bool = False  # set by `settings(shared=True)`: read the shared calendar

    def calendar_url(self, counsellor: str) -> str:
        return self.shared_url if self.shared else self.template.format(counsellor=counsellor)

    def settings(self, tmp: Path, *, shared: bool = False, **sync: Any) -> Settings:
        self.shared = shared
        caldav: dict[str, Any] = {"url": self.template}
        if shared:
            caldav["calendars"] = {c: self.shared_url for c in COUNSELLORS}
        if self.username:
            caldav |= {"username": self.username, "password": self.password}
        return base_settings(tmp, {"kind": "caldav", "caldav": caldav}, **sync)

    def sync(self, settings: Settings, **kwargs: Any) -> SyncReport:
        return run_sync(settings, **kwargs)

    @property
    def auth(self) -> Auth:
        return (self.username, self.password or "") if self.username else None

    def _read(self, counsellor: str) -> dict[str, tuple[str, Seen]]:
        """uid -> (href, what is there), from the counsellor's own or the shared calendar."""
        out = {}
        url = self.calendar_url(counsellor)
        for href in (urljoin(url, h) for h in etags(url, self.auth)):
            for seen in _seen_in_ical(request(href, auth=self.auth)[1]):
                assert seen.uid not in out, f"{seen.uid} twice in {self.calendar_url(counsellor)}"
                out[seen.uid] = (href, seen)
        return out

    def items(self, counsellor: str) -> dict[str, Seen]:
        return {uid: seen for uid, (_, seen) in self._read(counsellor).items()}

    def _rewrite(self, counsellor: str, uid: str, change: Callable[[bytes], bytes]) -> None:
        href = self._read(counsellor)[uid][0]
        _, body, etag = request(href, auth=self.auth)
        put_object(href, change(body), etag, self.auth)

    def complete(self, counsellor: str, uid: str) -> None:
        self._rewrite(counsellor, uid, _completed)

    def edit_description(self, counsellor: str, uid: str, text: str) -> None:
        self._rewrite(counsellor, uid, _described(text))

    def delete(self, counsellor: str, uid: str) -> None:
        delete_object(self._read(counsellor)[uid][0], auth=self.auth)

    def empty(self) -> None:
        """Delete every object in the counsellors' and the shared calendar: a clean start on a
        server the session shares (the production servers have fixed users and calendars)."""
        for url in {*(self.template.format(counsellor=c) for c in COUNSELLORS), self.shared_url}:
            for href in etags(url, self.auth):
                delete_object(urljoin(url, href), auth=self.auth)


def dav_world(server: DavServer) -> CalDAVWorld:
    """Radicale or Xandikos under a test's own prefix (anyone may write, no passwords)."""
    return CalDAVWorld(server.name, server.url_template, server.calendar_url(SHARED))


def real_world(server: RealServer) -> CalDAVWorld:
    """A production server of the session (fixed users and calendars), emptied for this test;
    the first counsellor's calendar is the one both share where a test shares one."""
    world = CalDAVWorld(
        server.name,
        server.url_template,
        server.calendar_url(COUNSELLORS[0]),
        server.username,
        server.password,
    )
    world.empty()
    return world


# ------------------------------------------------------------------------------ Exchange

UID_PROPERTY = "KontaktsyncUid"
DOMAIN = "jobcenter.example"


@dataclass
class ExchangeWorld:
    """The fake EWS server (tests/fake_ews); the second client is the fake's own store."""

    fake: FakeEWS
    username: str
    password: str
    name: str = "fake-ews"
    shared: bool = False  # set by `settings(shared=True)`: read the shared mailbox

    def mailbox(self, counsellor: str) -> str:
        return f"{SHARED if self.shared else counsellor}@{DOMAIN}"

    def settings(self, tmp: Path, *, shared: bool = False, **sync: Any) -> Settings:
        self.shared = shared
        exchange: dict[str, Any] = {
            "endpoint": self.fake.url,
            "auth": "basic",
            "username": self.username,
            "password": self.password,
            "access": "impersonation",
            "mailbox": "{counsellor}@" + DOMAIN,
            "max_throttle_wait_seconds": 5,
        }
        if shared:
            exchange["mailboxes"] = {c: f"{SHARED}@{DOMAIN}" for c in COUNSELLORS}
        return base_settings(tmp, {"kind": "exchange", "exchange": exchange}, **sync)

    def sync(self, settings: Settings, **kwargs: Any) -> SyncReport:
        from kontaktsync.sync.targets.exchange.target import ExchangeTarget  # exchangelib is heavy

        target = ExchangeTarget(settings, retry_wait=0.01)
        try:
            return run_sync(settings, target=target, **kwargs)
        finally:
            target.close()

    def _ours(self, counsellor: str) -> dict[str, Any]:
        mailbox = self.mailbox(counsellor)
        found = {}
        for item in self.fake.items(mailbox, "tasks"):
            uid = item.extended(UID_PROPERTY)
            if uid:
                assert uid not in found, f"{uid} twice in {mailbox}"
                found[uid] = (mailbox, item)
        return found

    def items(self, counsellor: str) -> dict[str, Seen]:
        return {
            uid: Seen(uid, item.subject or "", item.text("Body") or "", item.text("Status") == "Completed")
            for uid, (_, item) in self._ours(counsellor).items()
        }

    def complete(self, counsellor: str, uid: str) -> None:
        mailbox, item = self._ours(counsellor)[uid]
        self.fake.person_complete(mailbox, item.id)

    def edit_description(self, counsellor: str, uid: str, text: str) -> None:
        mailbox, item = self._ours(counsellor)[uid]
        self.fake.person_set(mailbox, item.id, Body=text)

    def delete(self, counsellor: str, uid: str) -> None:
        mailbox, item = self._ours(counsellor)[uid]
        self.fake.person_delete(mailbox, item.id)
