"""Folders and listing of the Exchange target: which items are ours, and reading them.

Listing is `SyncFolderItems` per folder; its sync states are the listing token, so an
unchanged run asks for changes only. Without a (valid) state, one full SyncFolderItems pass
lists the folder: that is how items are found again when the state database is lost.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence

from exchangelib.errors import ErrorExceededFindCountLimit, ErrorInvalidSyncStateData, ErrorItemNotFound
from exchangelib.folders import Folder
from kontaktsync.sync.targets.base import Listing, RemoteItem, RemoteRef, Result, TargetError
from kontaktsync.sync.targets.exchange import limits
from kontaktsync.sync.targets.exchange.connection import Connection, short
from kontaktsync.sync.targets.exchange.mapping import (
    LIST_FIELDS,
    MARKERS,
    SYNC_PAGE,
    TASKS,
    chunks,
    remote,
    split_ref,
)
from kontaktsync.sync.targets.exchange.patches import UID_FIELD

log = logging.getLogger(__name__)


class Listings(Connection):
    """create_calendar, list_ours and fetch of the Exchange target."""

    def create_calendar(self, calendar: str) -> None:
        """Mailbox folders exist by themselves; only check that we can reach them."""
        self._whole(calendar, lambda: self.folder(calendar, TASKS))

    def list_ours(self, calendar: str, token: str | None, known: Mapping[str, RemoteRef]) -> Listing:
        try:
            states: dict[str, str] = json.loads(token) if token else {}
        except ValueError:
            states = {}
        refs: dict[str, RemoteRef] = {}
        new_states: dict[str, str] = {}
        full = False
        whiches = self._which()
        if MARKERS not in whiches and any(split_ref(r.ref)[0] == MARKERS for r in known.values()):
            whiches.append(MARKERS)  # markers written before appointments were switched off
        for which in whiches:
            folder = self._whole(calendar, lambda w=which: self.folder(calendar, w))
            state = states.get(which)
            mine = {u: r for u, r in known.items() if split_ref(r.ref)[0] == which}
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

        exchangelib pages through the changes itself until IncludesLastItemInRange. A server
        whose throttling policy allows fewer items per request (ErrorExceededFindCountLimit)
        is asked again, from the same state, in pages half as large; the page it accepted is
        where later listings start (limits.py)."""
        refs = dict(known)
        by_id = {split_ref(r.ref)[1]: u for u, r in refs.items()}
        page = limits.size(self.server_key, SYNC_PAGE)
        while True:
            # exchangelib starts from the folder's last state when given none; the folder
            # object is cached with its Account, so a full listing must clear it.
            folder.item_sync_state = state
            try:
                changes = list(
                    folder.sync_items(sync_state=state, only_fields=LIST_FIELDS, max_changes_returned=page)
                )
                limits.accepted(self.server_key, page)
                break
            except ErrorExceededFindCountLimit:
                limits.refused(self.server_key, page)
                if page <= 1:
                    raise
                page = limits.size(self.server_key, page)  # below the refused size
                log.info("Exchange allows fewer items per request; listing in pages of %d", page)
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

    def fetch(self, calendar: str, refs: Sequence[RemoteRef]) -> dict[str, RemoteItem | Result]:
        out: dict[str, RemoteItem | Result] = {}
        acc = self._whole(calendar, lambda: self.account(calendar))
        for which in (TASKS, MARKERS):
            mine = [r for r in refs if split_ref(r.ref)[0] == which]
            for chunk in chunks(mine, self.chunk_size):
                try:
                    got = self._retrying(lambda c=chunk, w=which: self.read(acc, c, w))
                except Exception as e:
                    for r in chunk:
                        out[r.uid] = Result(r.uid, ok=False, error=short(e))
                    continue
                for r, item in zip(chunk, got, strict=True):
                    if isinstance(item, ErrorItemNotFound):
                        continue  # gone: simply missing from the answer
                    if isinstance(item, Exception):
                        out[r.uid] = Result(r.uid, ok=False, error=short(item))
                        continue
                    out[r.uid] = remote(item, which, self.ns_tag, self.tz)
        return out
