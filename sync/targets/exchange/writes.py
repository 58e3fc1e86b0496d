"""Writes of the Exchange target: create, update, complete, delete.

`bulk_create` / `bulk_update` / `bulk_delete` in chunks, checking each result. Before
creating, a FindItem restricted to the chunk's UIDs makes sure none exists already (the EWS
counterpart of CalDAV's If-None-Match); a chunk retried after a dropped connection adopts
what the lost attempt created instead of creating it twice. Updates use `NeverOverwrite` with
the change key read last, so a person's concurrent edit is a conflict, never overwritten.
Deletes check the change key first and move the item to Deleted Items.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from exchangelib import Account
from exchangelib.errors import (
    ErrorIrresolvableConflict,
    ErrorItemNotFound,
    ErrorQueryFilterTooLong,
    ErrorRestrictionTooComplex,
)
from exchangelib.folders import Folder
from exchangelib.items import MOVE_TO_DELETED_ITEMS, NEVER_OVERWRITE, SEND_TO_NONE, Task
from kontaktsync.sync.item import DesiredItem, completed_marker, completion_keeps, hash_fields
from kontaktsync.sync.targets import marker as marker_codec
from kontaktsync.sync.targets.base import RemoteItem, RemoteRef, Result, TargetError, Write
from kontaktsync.sync.targets.exchange.connection import Connection, short, transient
from kontaktsync.sync.targets.exchange.mapping import (
    MARKERS,
    TASKS,
    by_folder,
    changed,
    chunks,
    new_item,
    shell,
    split_ref,
    values,
)
from kontaktsync.sync.targets.exchange.patches import MARKER_FIELD, UID_FIELD

log = logging.getLogger(__name__)


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
        """FindItem restricted to these UIDs (extended property): uid -> item.

        A server that finds the restriction too large gets it in halves."""
        found: dict[str, Any] = {}
        query = folder.filter(**{f"{UID_FIELD}__in": list(uids)}).only(UID_FIELD)
        query.page_size = max(len(uids), 1)
        try:
            items = list(query)
        except (ErrorRestrictionTooComplex, ErrorQueryFilterTooLong):
            if len(uids) < 2:
                raise
            half = len(uids) // 2
            return self._find_uids(folder, uids[:half]) | self._find_uids(folder, uids[half:])
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
        plans: list[tuple[str, Any, list[str], str]] = []  # uid, item, fieldnames, hash
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
            plans.append((w.item.uid, shell(base, vals, names, self.tz), names, w.item.managed_hash))
        yield from self._bulk_update(calendar, plans)

    def complete(self, calendar: str, bases: Sequence[RemoteItem]) -> Iterator[Result]:
        plans: list[tuple[str, Any, list[str], str]] = []
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
            plans.append((base.ref.uid, shell(base, vals, list(vals), self.tz), list(vals), written))
        yield from self._bulk_update(calendar, plans)

    def _bulk_update(
        self, calendar: str, plans: Sequence[tuple[str, Any, list[str], str]]
    ) -> Iterator[Result]:
        if not plans:
            return
        try:
            acc = self._whole(calendar, lambda: self.account(calendar))
        except TargetError as e:
            for uid, *_ in plans:
                yield Result(uid, ok=False, error=str(e))
            return
        for chunk in chunks(list(plans), self.chunk_size):
            try:
                results = self._retrying(
                    lambda c=chunk: acc.bulk_update(
                        items=[(sent, names) for _, sent, names, _ in c],
                        conflict_resolution=NEVER_OVERWRITE,
                        chunk_size=self.chunk_size,
                    )
                )
            except Exception as e:
                for uid, *_ in chunk:
                    yield Result(uid, ok=False, error=short(e))
                continue
            for (uid, sent, _, written), res in zip(chunk, results, strict=True):
                which = TASKS if isinstance(sent, Task) else MARKERS
                if isinstance(res, ErrorIrresolvableConflict):
                    yield Result(uid, ok=False, conflict=True, error="changed on the server meanwhile")
                elif isinstance(res, ErrorItemNotFound):
                    yield Result(uid, ok=False, gone=True, error="item no longer exists")
                elif isinstance(res, Exception):
                    yield Result(uid, ok=False, error=short(res))
                else:
                    new_id, new_ck = res  # the id may change on update: take the one returned
                    ref = RemoteRef(uid, f"{which}:{new_id}", new_ck)
                    yield Result(uid, ok=True, ref=ref, written_hash=written)

    def delete(self, calendar: str, refs: Sequence[RemoteRef]) -> Iterator[Result]:
        try:
            acc = self._whole(calendar, lambda: self.account(calendar))
        except TargetError as e:
            for r in refs:
                yield Result(r.uid, ok=False, error=str(e))
            return
        for chunk in chunks(list(refs), self.chunk_size):
            try:
                current = self._retrying(
                    lambda c=chunk: list(
                        acc.fetch(ids=[(split_ref(r.ref)[1], None) for r in c], only_fields=[UID_FIELD])
                    )
                )
            except Exception as e:
                for r in chunk:
                    yield Result(r.uid, ok=False, error=short(e))
                continue
            doomed: list[RemoteRef] = []
            for r, item in zip(chunk, current, strict=True):
                if isinstance(item, ErrorItemNotFound):
                    yield Result(r.uid, ok=True, gone=True)
                elif isinstance(item, Exception):
                    yield Result(r.uid, ok=False, error=short(item))
                elif getattr(item, UID_FIELD, None) != r.uid:
                    yield Result(r.uid, ok=False, error="item does not carry our UID; not deleted")
                elif r.version is not None and item.changekey != r.version:
                    yield Result(r.uid, ok=False, conflict=True, error="changed on the server meanwhile")
                else:
                    doomed.append(r)
            if not doomed:
                continue
            try:
                results = self._retrying(
                    lambda d=doomed: acc.bulk_delete(
                        ids=[(split_ref(r.ref)[1], r.version) for r in d],
                        delete_type=MOVE_TO_DELETED_ITEMS,
                        chunk_size=self.chunk_size,
                    )
                )
            except Exception as e:
                for r in doomed:
                    yield Result(r.uid, ok=False, error=short(e))
                continue
            for r, res in zip(doomed, results, strict=True):
                if res is True:
                    yield Result(r.uid, ok=True)
                elif isinstance(res, ErrorItemNotFound):
                    yield Result(r.uid, ok=True, gone=True)
                else:
                    yield Result(r.uid, ok=False, error=short(res))
