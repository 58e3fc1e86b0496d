"""Writes of the Exchange target: create, update, complete, delete.

`bulk_create` / `bulk_update` / `bulk_delete` in chunks, checking each result. Before
creating, a FindItem restricted to the chunk's UIDs makes sure none exists already (the EWS
counterpart of CalDAV's If-None-Match); a chunk retried after a dropped connection adopts
what the lost attempt created instead of creating it twice. Updates use `NeverOverwrite` with
the change key read last, so a person's concurrent edit is a conflict, never overwritten.
Deletes read the items' change keys first (IdOnly: no content), read whole only the items
whose key moved, and move the items to Deleted Items with the key just read.

Exchange moves an item's change key by itself now and then (re-indexing, a reminder firing)
and then rejects the key we read (ErrorIrresolvableConflict under NeverOverwrite,
ErrorStaleObject otherwise). Such a refusal is not a person's edit until the item says so:
it is read again, and if its content is still what we read (update, complete) or what we
wrote last (delete), the write is sent once more with the fresh key; only a changed content
is reported as a conflict (the runner then merges three-way).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from exchangelib import Account
from exchangelib.errors import (
    ErrorExceededFindCountLimit,
    ErrorItemNotFound,
    ErrorQueryFilterTooLong,
    ErrorRestrictionTooComplex,
)
from exchangelib.folders import Folder
from exchangelib.items import MOVE_TO_DELETED_ITEMS, NEVER_OVERWRITE, SEND_TO_NONE, Task
from kontaktsync.sync.item import DesiredItem, completed_marker, completion_keeps, hash_fields
from kontaktsync.sync.targets import marker as marker_codec
from kontaktsync.sync.targets.base import RemoteItem, RemoteRef, Result, TargetError, Write
from kontaktsync.sync.targets.exchange import limits
from kontaktsync.sync.targets.exchange.connection import Connection, short, transient
from kontaktsync.sync.targets.exchange.mapping import (
    MARKERS,
    TASKS,
    by_folder,
    changed,
    chunks,
    new_item,
    remote,
    shell,
    split_ref,
    values,
)
from kontaktsync.sync.targets.exchange.patches import MARKER_FIELD, STALE_KEY_ERRORS, UID_FIELD

log = logging.getLogger(__name__)

# The server refused the change key sent: someone, or Exchange itself, changed the item.
Plan = tuple[str, Any, list[str], str, RemoteItem]  # uid, item to send, field names, hash, base


class Writes(Connection):
    """create, update, complete and delete of the Exchange target."""

    def create(self, calendar: str, items: Sequence[DesiredItem]) -> Iterator[Result]:
        try:
            acc = self._whole(calendar, lambda: self.account(calendar))
        except TargetError as e:
            for item in items:
                yield Result(item.uid, ok=False, error=str(e))
            return
        for which, cls_items in by_folder(items):
            try:
                folder = self._whole(calendar, lambda w=which: self.folder(calendar, w))
            except TargetError as e:
                for item in cls_items:
                    yield Result(item.uid, ok=False, error=str(e))
                continue
            for chunk in chunks(cls_items, self.chunk_size):
                yield from self._create_chunk(acc, folder, which, chunk)

    def _find_uids(self, folder: Folder, uids: Sequence[str]) -> dict[str, Any]:
        """FindItem restricted to these UIDs (extended property): uid -> item, in pieces no
        larger than the server's throttling policy was found to accept (limits.py), the size
        asked for again before each piece (a refusal meanwhile makes the rest smaller)."""
        found: dict[str, Any] = {}
        rest = list(uids)
        while rest:
            size = limits.size(self.server_key, len(rest))
            piece, rest = rest[:size], rest[size:]
            found |= self._find_piece(folder, piece)
        return found

    def _find_piece(self, folder: Folder, uids: Sequence[str]) -> dict[str, Any]:
        """One FindItem for these UIDs. A page (one item per UID) larger than the server's
        throttling policy allows goes back to `_find_uids`, which cuts it at the size learned
        from the refusal; a restriction the server finds too large is sent in halves."""
        found: dict[str, Any] = {}
        query = folder.filter(**{f"{UID_FIELD}__in": list(uids)}).only(UID_FIELD)
        query.page_size = max(len(uids), 1)
        try:
            items = list(query)
        except ErrorExceededFindCountLimit:
            limits.refused(self.server_key, query.page_size)
            if len(uids) < 2:
                raise
            log.info(  # the size learned from the refusal, which _find_uids cuts the UIDs at
                "Exchange allows fewer items per request; looking up %d UIDs at a time",
                limits.size(self.server_key, len(uids)),
            )
            return self._find_uids(folder, uids)
        except (ErrorRestrictionTooComplex, ErrorQueryFilterTooLong):
            if len(uids) < 2:
                raise
            half = len(uids) // 2
            return self._find_piece(folder, uids[:half]) | self._find_piece(folder, uids[half:])
        limits.accepted(self.server_key, query.page_size)
        for item in items:
            uid = getattr(item, UID_FIELD, None)
            if uid:
                found.setdefault(uid, item)
        return found

    def _create_chunk(
        self, acc: Account, folder: Folder, which: str, chunk: Sequence[DesiredItem]
    ) -> Iterator[Result]:
        """Create one chunk; a transient failure retries it (retry policy) with the items not
        answered yet, adopting what a lost attempt created."""
        pending = list(chunk)  # items without a result yet
        ready: list[Result] = []  # results known before the attempt's CreateItem
        created: list[Result] = []
        try:
            for attempt in self.retry.retrying(transient, "create chunk"):
                with attempt:
                    first = attempt.retry_state.attempt_number == 1
                    created = self._create_attempt(acc, folder, which, pending, ready, first)
                yield from ready
                ready.clear()
        except Exception as e:
            for item in pending:
                yield Result(item.uid, ok=False, error=short(e))
            return
        yield from created

    def _create_attempt(
        self,
        acc: Account,
        folder: Folder,
        which: str,
        pending: list[DesiredItem],
        ready: list[Result],
        first: bool,
    ) -> list[Result]:
        """One attempt: FindItem for the pending UIDs, then CreateItem for those not there.

        An item found on the first attempt is a conflict; on a later one it was made by our
        own attempt whose answer was lost. Leaves in `pending` the items still to create."""
        existing = self._find_uids(folder, [i.uid for i in pending])
        todo = []
        for item in pending:
            there = existing.get(item.uid)
            if there is None:
                todo.append(item)
                continue
            ref = RemoteRef(item.uid, f"{which}:{there.id}", there.changekey)
            if first:
                ready.append(Result(item.uid, ok=False, ref=ref, conflict=True))
            else:
                ready.append(Result(item.uid, ok=True, ref=ref, written_hash=item.managed_hash))
        pending[:] = todo
        if not todo:
            return []
        results = acc.bulk_create(
            folder=folder,
            items=[new_item(acc, folder, i, self.ns_tag, self.tz) for i in todo],
            send_meeting_invitations=SEND_TO_NONE,
            chunk_size=self.chunk_size,
        )
        out = []
        for item, res in zip(todo, results, strict=True):
            if isinstance(res, Exception):
                out.append(Result(item.uid, ok=False, error=short(res)))
            else:
                ref = RemoteRef(item.uid, f"{which}:{res.id}", res.changekey)
                out.append(Result(item.uid, ok=True, ref=ref, written_hash=item.managed_hash))
        pending.clear()
        return out

    def update(self, calendar: str, writes: Sequence[Write]) -> Iterator[Result]:
        plans: list[Plan] = []
        for w in writes:
            base = w.base
            if base is None or base.payload is None:
                yield Result(w.item.uid, ok=False, error="no base item to update")
                continue
            vals = values(w.item, self.ns_tag, self.tz, w.keep)
            names = changed(base, w.item, vals, w.keep)
            if not names:
                yield Result(
                    w.item.uid, ok=True, ref=base.ref, unchanged=True, written_hash=w.item.managed_hash
                )
                continue
            plans.append((w.item.uid, shell(base, vals, names, self.tz), names, w.item.managed_hash, base))
        yield from self._bulk_update(calendar, plans)

    def complete(self, calendar: str, bases: Sequence[RemoteItem]) -> Iterator[Result]:
        plans: list[Plan] = []
        for base in bases:
            payload = base.payload
            if payload is None or not isinstance(payload, Task):
                yield Result(base.ref.uid, ok=False, error="only tasks can be completed")
                continue
            if base.completed:
                yield Result(
                    base.ref.uid, ok=True, ref=base.ref, unchanged=True, written_hash=base.current_hash
                )
                continue
            keep_priority = "priority" in completion_keeps(base.fields, base.marker)
            fields = dict(base.fields, status="completed")
            if not keep_priority:
                fields["priority"] = None
            written = hash_fields(fields)
            marker = completed_marker(base.marker, fields)
            vals = {
                "status": Task.COMPLETED,
                "percent_complete": Decimal(100),
                "reminder_is_set": False,
                MARKER_FIELD: marker_codec.encode_pairs(marker),
            }
            if not keep_priority:
                vals["importance"] = "Normal"
            plans.append((base.ref.uid, shell(base, vals, list(vals), self.tz), list(vals), written, base))
        yield from self._bulk_update(calendar, plans)

    def _bulk_update(self, calendar: str, plans: Sequence[Plan]) -> Iterator[Result]:
        if not plans:
            return
        try:
            acc = self._whole(calendar, lambda: self.account(calendar))
        except TargetError as e:
            for uid, *_ in plans:
                yield Result(uid, ok=False, error=str(e))
            return
        for chunk in chunks(list(plans), self.chunk_size):
            stale: list[Plan] = []
            for plan, res in self._send_updates(acc, chunk):
                if isinstance(res, STALE_KEY_ERRORS):
                    stale.append(plan)
                else:
                    yield _update_result(plan, res)
            if stale:
                yield from self._update_again(acc, stale)

    def _send_updates(self, acc: Account, plans: Sequence[Plan]) -> list[tuple[Plan, Any]]:
        """UpdateItem (NeverOverwrite) of these plans: (plan, exchangelib's answer) each."""
        try:
            results = self._retrying(
                lambda: acc.bulk_update(
                    items=[(sent, names) for _, sent, names, *_ in plans],
                    conflict_resolution=NEVER_OVERWRITE,
                    chunk_size=self.chunk_size,
                )
            )
        except Exception as e:
            return [(p, e) for p in plans]
        return list(zip(plans, results, strict=True))

    def _update_again(self, acc: Account, stale: Sequence[Plan]) -> Iterator[Result]:
        """Updates refused for their change key: read the items again; where the content is
        still what we read (only the key moved), send the same update once more with the
        fresh key; the rest are conflicts for the runner's three-way merge."""
        retry: list[Plan] = []
        for plan, fresh in zip(stale, self._read_again(acc, [p[4].ref for p in stale]), strict=True):
            uid, sent, _, _, base = plan
            if isinstance(fresh, ErrorItemNotFound):
                yield Result(uid, ok=False, gone=True, error="item no longer exists")
            elif isinstance(fresh, Exception):
                yield Result(uid, ok=False, error=short(fresh))
            elif not _same_content(fresh, base):
                yield Result(uid, ok=False, conflict=True, error="changed on the server meanwhile")
            else:
                sent.id, sent.changekey = split_ref(fresh.ref.ref)[1], fresh.ref.version
                retry.append(plan)
        if retry:
            log.info("%d change keys had moved without a change of content; writing again", len(retry))
        for plan, res in self._send_updates(acc, retry):
            yield _update_result(plan, res)

    def _read_again(self, acc: Account, refs: Sequence[RemoteRef]) -> list[RemoteItem | Exception]:
        """The items as they are now, in the order of `refs` (an exception for one that
        could not be read)."""
        now: dict[str, RemoteItem | Exception] = {}
        for which in (TASKS, MARKERS):
            mine = [r for r in refs if split_ref(r.ref)[0] == which]
            if not mine:
                continue
            try:
                got = self._retrying(lambda m=mine, w=which: self.read(acc, m, w))
            except Exception as e:
                got = [e] * len(mine)
            for r, item in zip(mine, got, strict=True):
                now[r.ref] = (
                    item if isinstance(item, Exception) else remote(item, which, self.ns_tag, self.tz)
                )
        return [now[r.ref] for r in refs]

    def delete(self, calendar: str, refs: Sequence[RemoteRef]) -> Iterator[Result]:
        try:
            acc = self._whole(calendar, lambda: self.account(calendar))
        except TargetError as e:
            for r in refs:
                yield Result(r.uid, ok=False, error=str(e))
            return
        for chunk in chunks(list(refs), self.chunk_size):
            pending = list(chunk)
            for last in (False, True):  # a second round for keys that moved meanwhile
                stale: list[RemoteRef] = []
                for r, res in self._delete_round(acc, pending, whole=last):
                    if isinstance(res, Result):
                        yield res
                    elif last:
                        yield Result(r.uid, ok=False, conflict=True, error="changed on the server meanwhile")
                    else:
                        stale.append(r)
                if not stale:
                    break
                log.info("%d change keys moved while deleting; reading the items again", len(stale))
                pending = stale

    def _keys_now(self, acc: Account, refs: Sequence[RemoteRef]) -> list[str | Exception]:
        """The items' change keys as they are now, in the order of `refs` (an exception for
        one that could not be read): GetItem with the IdOnly shape, none of their content."""
        try:
            got = self._retrying(lambda: self.read(acc, refs, None, only=("changekey",)))  # tasks and markers
        except Exception as e:
            return [e] * len(refs)
        return [item if isinstance(item, Exception) else item.changekey for item in got]

    def _delete_round(
        self, acc: Account, refs: Sequence[RemoteRef], *, whole: bool
    ) -> Iterator[tuple[RemoteRef, Result | Exception]]:
        """DeleteItem those of these items still ours and unchanged, each with its current key.
        Yields a Result per item, or the stale-key refusal of one whose key moved between the
        read and the delete.

        Which are unchanged is asked for first by their change keys alone: an item whose key
        is still the one listed holds what the run decided to delete. Only items whose key
        moved (all of them when `whole`: the round after a stale-key refusal) are read whole,
        to tell a person's edit from a key Exchange moved by itself. The key is read right
        before the delete, not taken from the listing: that way a server that ignored a stale
        key on DeleteItem (Microsoft's references disagree on whether it checks one) would
        still not delete an item changed since the listing, only one changed within the
        moment between the two requests."""
        doomed: list[tuple[RemoteRef, str | None]] = []
        moved: list[RemoteRef] = []
        if whole:
            moved = list(refs)
        else:
            for r, key in zip(refs, self._keys_now(acc, refs), strict=True):
                if isinstance(key, ErrorItemNotFound):
                    yield r, Result(r.uid, ok=True, gone=True)
                elif isinstance(key, Exception):
                    yield r, Result(r.uid, ok=False, error=short(key))
                elif key is not None and key == r.version:
                    doomed.append((r, key))  # unchanged since the listing
                else:
                    moved.append(r)
        for r, item in zip(moved, self._read_again(acc, moved) if moved else [], strict=True):
            if isinstance(item, ErrorItemNotFound):
                yield r, Result(r.uid, ok=True, gone=True)
            elif isinstance(item, Exception):
                yield r, Result(r.uid, ok=False, error=short(item))
            elif item.ref.uid != r.uid:
                yield r, Result(r.uid, ok=False, error="item does not carry our UID; not deleted")
            elif r.version is not None and item.ref.version != r.version and _edited(item):
                yield r, Result(r.uid, ok=False, conflict=True, error="changed on the server meanwhile")
            else:  # only its key moved: what we wrote last is still there
                doomed.append((r, item.ref.version))
        if not doomed:
            return
        try:
            results = self._retrying(
                lambda: acc.bulk_delete(
                    ids=[(split_ref(r.ref)[1], key) for r, key in doomed],
                    delete_type=MOVE_TO_DELETED_ITEMS,
                    chunk_size=self.chunk_size,
                )
            )
        except Exception as e:
            for r, _ in doomed:
                yield r, Result(r.uid, ok=False, error=short(e))
            return
        for (r, _), res in zip(doomed, results, strict=True):
            if res is True:
                yield r, Result(r.uid, ok=True)
            elif isinstance(res, ErrorItemNotFound):
                yield r, Result(r.uid, ok=True, gone=True)
            elif isinstance(res, STALE_KEY_ERRORS):
                yield r, res
            else:
                yield r, Result(r.uid, ok=False, error=short(res))


def _update_result(plan: Plan, res: Any) -> Result:
    uid, sent, _, written, _ = plan
    if isinstance(res, STALE_KEY_ERRORS):
        return Result(uid, ok=False, conflict=True, error="changed on the server meanwhile")
    if isinstance(res, ErrorItemNotFound):
        return Result(uid, ok=False, gone=True, error="item no longer exists")
    if isinstance(res, Exception):
        return Result(uid, ok=False, error=short(res))
    new_id, new_ck = res  # the id may change on update: take the one returned
    which = TASKS if isinstance(sent, Task) else MARKERS
    return Result(uid, ok=True, ref=RemoteRef(uid, f"{which}:{new_id}", new_ck), written_hash=written)


def _same_content(now: RemoteItem, then: RemoteItem) -> bool:
    """The item's content (managed fields and marker) is what it was when read before."""
    return now.current_hash == then.current_hash and now.marker == then.marker


def _edited(item: RemoteItem) -> bool:
    """The item's content is no longer what we wrote last (or it is not ours)."""
    return not item.ours or item.edited_by_person
