"""Does the server honour the conditional requests the sync relies on? Learned by trying.

The sync never overwrites a person's change because every write is conditional: a create
carries `If-None-Match: *`, an update or completion `If-Match: <ETag read>`, a delete
`If-Match: <ETag listed>`, and a correct server answers 412 when the item changed. Some servers
ignore a condition and write anyway (SOGo 5 answers 204 to `If-None-Match: *` on an existing
item and to a DELETE with a wrong `If-Match`). Which server does what is learned, not assumed
from its name: at the first write into a server (guard.py: once a day), one probe item is
written and removed (five requests, each condition tried once where it must fail). Where a condition is
not honoured, the target reads the items' current ETags in one request right before the
writes of a batch and leaves out every item that is there (create) or changed (update,
delete) - a check that narrows the window of a race to the moment between that read and the
write, where a correct server closes it.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kontaktsync.sync.targets.caldav import ical
from kontaktsync.sync.targets.caldav.webdav import path

if TYPE_CHECKING:
    from kontaktsync.sync.targets.caldav.session import DavSession

log = logging.getLogger(__name__)

_WRONG_ETAG = '"kontaktsync-probe-no-such-version"'
_TYPE = {"Content-Type": "text/calendar; charset=utf-8"}


@dataclass(frozen=True)
class Preconditions:
    """Which conditional requests the server refuses with 412 as it must (True = honoured)."""

    create: bool  # If-None-Match: * on PUT
    update: bool  # If-Match on PUT
    delete: bool  # If-Match on DELETE
    note: str = ""  # why the probe could not tell, if it could not

    @property
    def all_honoured(self) -> bool:
        return self.create and self.update and self.delete

    def describe(self) -> str:
        """One line for `config check` and the log."""
        rules = [("If-None-Match: * on create", self.create), ("If-Match on update", self.update)]
        rules.append(("If-Match on delete", self.delete))
        parts = [f"{name} {'honoured' if ok else 'IGNORED'}" for name, ok in rules]
        text = ", ".join(parts)
        if not self.all_honoured:
            text += (
                "; the sync reads the current ETags right before such writes and leaves out "
                "every item that is there or changed"
            )
        if self.note:
            text += f" ({self.note})"
        return text


def learn(http: DavSession, calendar_url: str, prefix: str) -> Preconditions:
    """Try each condition once on a probe item in the calendar (which must exist); the probe
    is removed again. A probe that cannot be written counts as "not honoured" (safe side)."""
    uid = f"{prefix}probe-{secrets.token_hex(8)}"
    url = calendar_url + uid + ".ics"
    body = ical.probe(uid)
    gone = True
    try:
        made = http.request(url, "PUT", body, {**_TYPE, "If-None-Match": "*"})
        # 412: an earlier attempt of this very PUT reached the server (the answer was lost and
        # the request retried); the name is random, so the item there is the probe.
        if made.status not in (200, 201, 204, 412):
            return _unknown(f"a probe item could not be written: HTTP {made.status}")
        gone = False
        again = http.request(url, "PUT", body, {**_TYPE, "If-None-Match": "*"})
        stale = http.request(url, "PUT", body, {**_TYPE, "If-Match": _WRONG_ETAG})
        wrong = http.request(url, "DELETE", "", {"If-Match": _WRONG_ETAG})
        gone = wrong.status in (200, 204, 404)
        rules = Preconditions(again.status == 412, stale.status == 412, wrong.status == 412)
    except Exception as exc:
        log.warning("probing the write preconditions at %s failed: %s", path(url), exc)
        return _unknown(f"the probe failed: {exc}")
    finally:
        if not gone:
            _remove(http, url)
    log.info("write preconditions at %s: %s", path(calendar_url), rules.describe())
    return rules


def _remove(http: DavSession, url: str) -> None:
    try:
        http.request(url, "DELETE")
    except Exception as exc:
        log.warning("the probe item %s could not be removed: %s", path(url), exc)


def _unknown(why: str) -> Preconditions:
    log.warning("write preconditions unknown (%s): every conditional write is checked by reading", why)
    return Preconditions(False, False, False, why)
