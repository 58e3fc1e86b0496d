"""The Exchange target against a real Exchange server, when one is configured.

Set, for a test mailbox you may write into (items are made in a namespace of their own and
removed again at the end):

    KONTAKTSYNC_EWS_ENDPOINT   https://mail.example/EWS/Exchange.asmx
    KONTAKTSYNC_EWS_USERNAME   DOMAIN\\svc-kontaktsync (or svc@example)
    KONTAKTSYNC_EWS_PASSWORD   ...
    KONTAKTSYNC_EWS_MAILBOX    test.beraterin@example
    KONTAKTSYNC_EWS_AUTH       ntlm | basic (default ntlm)
    KONTAKTSYNC_EWS_ACCESS     impersonation | delegate (default impersonation)
    KONTAKTSYNC_EWS_TIMEZONE   Europe/Berlin (default)
    KONTAKTSYNC_EWS_VERIFY_TLS true | false | /path/to/ca.pem (default true)

Without KONTAKTSYNC_EWS_ENDPOINT (and the other required variables) this module holds no test
and talks to no server; every pytest run then ends with the line "live Exchange tests not run:
..." (tests/conftest.py), so a green run never hides that Exchange itself was not tested.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from exchangelib.items import MOVE_TO_DELETED_ITEMS
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.core.runner import run_sync
from kontaktsync.sync.item import uid_prefix
from kontaktsync.sync.targets.exchange.mapping import split_ref
from kontaktsync.sync.targets.exchange.patches import STALE_KEY_ERRORS, UID_FIELD
from kontaktsync.sync.targets.exchange.target import ExchangeTarget, forget_accounts

from tests.exchange_helpers import AS_OF, LIVE, make_plan


def _verify_tls() -> bool | str:
    raw = os.environ.get("KONTAKTSYNC_EWS_VERIFY_TLS", "true").strip()
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    return raw


def _settings(tmp: Path, namespace: str, appointments: str = "none") -> Settings:
    env = os.environ
    return Settings(
        source={"cases": tmp / "cases.csv"},
        target={
            "kind": "exchange",
            "exchange": {
                "endpoint": env["KONTAKTSYNC_EWS_ENDPOINT"],
                "auth": env.get("KONTAKTSYNC_EWS_AUTH", "ntlm"),
                "username": env["KONTAKTSYNC_EWS_USERNAME"],
                "password": env["KONTAKTSYNC_EWS_PASSWORD"],
                "access": env.get("KONTAKTSYNC_EWS_ACCESS", "impersonation"),
                "mailboxes": {"live": env["KONTAKTSYNC_EWS_MAILBOX"]},
                "timezone": env.get("KONTAKTSYNC_EWS_TIMEZONE", "Europe/Berlin"),
                "verify_tls": _verify_tls(),
                "max_throttle_wait_seconds": 120,
            },
        },
        items={"appointments": appointments},
        sync={"state_path": tmp / "state.sqlite3", "namespace": namespace},
    )


if LIVE:

    @pytest.fixture
    def live(tmp_path: Path) -> Iterator[tuple[Settings, ExchangeTarget]]:
        forget_accounts()
        namespace = f"kontaktsync-live-{uuid.uuid4().hex[:8]}"
        settings = _settings(tmp_path, namespace, appointments="marker")
        target = ExchangeTarget(settings)
        try:
            yield settings, target
        finally:
            _remove_ours(settings, target)
            target.close()

    def _ours(settings: Settings, target: ExchangeTarget, which: str = "t") -> list:
        folder = target.folder("live", which)
        prefix = uid_prefix(settings)
        items = folder.filter(**{f"{UID_FIELD}__exists": True}).only(UID_FIELD, "subject")
        return [i for i in items if (getattr(i, UID_FIELD, "") or "").startswith(prefix)]

    def _remove_ours(settings: Settings, target: ExchangeTarget) -> None:
        acc = target.account("live")
        for which in ("t", "c"):
            items = _ours(settings, target, which)
            if items:
                acc.bulk_delete(items, delete_type="HardDelete")

    def test_live_sync_is_idempotent_and_dates_stay_on_the_day(live) -> None:
        settings, target = live
        plan = make_plan(5, ("live",))
        first = run_sync(settings, plan=plan, target=target)
        assert first.failed == 0, first.errors
        assert first.created == 10  # 5 tasks + 5 markers
        # an independent read through exchangelib: the due date Exchange stored
        acc = target.account("live")
        due = {o.case_id: o.due for o in plan.obligations}
        tasks = list(
            target.folder("live", "t")
            .filter(**{f"{UID_FIELD}__exists": True})
            .only("subject", "due_date", "start_date", "sensitivity", UID_FIELD)
        )
        mine = [t for t in tasks if getattr(t, UID_FIELD, "").startswith(uid_prefix(settings))]
        assert len(mine) == 5
        for task in mine:
            case = task.subject.rsplit("Kd ", 1)[1]
            assert task.due_date == due[case], "Exchange shifted the due date"
            assert task.sensitivity == "Private"
        second = run_sync(settings, plan=plan, target=target)
        assert second.writes == 0 and second.failed == 0, second.errors
        assert acc.primary_smtp_address.lower() == os.environ["KONTAKTSYNC_EWS_MAILBOX"].lower()

    def test_live_state_loss_and_completion(live, tmp_path: Path) -> None:
        settings, target = live
        plan = make_plan(3, ("live",))
        assert run_sync(settings, plan=plan, target=target).created == 6
        settings.sync.state_path.unlink()
        again = run_sync(settings, plan=plan, target=target)
        assert again.created == 0 and again.writes == 0, again.errors
        done = make_plan(3, ("live",), new_contact={"100000": AS_OF - timedelta(days=1)})
        report = run_sync(settings, plan=done, target=target)
        assert report.completed == 1 and report.failed == 0, report.errors
        completed = [
            t
            for t in target.folder("live", "t")
            .filter(**{f"{UID_FIELD}__exists": True})
            .only("status", "percent_complete", UID_FIELD)
            if getattr(t, UID_FIELD, "").startswith(uid_prefix(settings)) and t.status == "Completed"
        ]
        assert len(completed) == 1 and completed[0].percent_complete == 100

    def test_live_a_stale_key_stops_a_delete_and_so_does_a_persons_edit(live) -> None:
        """What the deletes rely on (writes.py): Exchange refuses a DeleteItem whose change key
        is stale (the fake's strict_change_keys), and an item a person edited since the
        listing is not deleted."""
        settings, target = live
        assert run_sync(settings, plan=make_plan(3, ("live",)), target=target).created == 6
        listing = target.list_ours("live", None, {})
        refs = sorted((r for r in listing.refs.values() if split_ref(r.ref)[0] == "t"), key=lambda r: r.uid)
        assert len(refs) == 3
        edited, stale, plain = refs
        acc = target.account("live")
        for ref in (edited, stale):  # a person edits the subject: the key moves
            [item] = acc.fetch(ids=[(split_ref(ref.ref)[1], None)], only_fields=["subject"])
            item.subject = f"{item.subject} (geändert)"
            item.save(update_fields=["subject"])
        [answer] = acc.bulk_delete(
            ids=[(split_ref(stale.ref)[1], stale.version)], delete_type=MOVE_TO_DELETED_ITEMS
        )
        assert isinstance(answer, STALE_KEY_ERRORS), f"Exchange deleted with a stale key: {answer!r}"
        results = {r.uid: r for r in target.delete("live", [edited, plain])}
        assert results[edited.uid].conflict and not results[edited.uid].ok
        assert results[plain.uid].ok
        left = {getattr(i, UID_FIELD) for i in _ours(settings, target)}
        assert left == {edited.uid, stale.uid}
