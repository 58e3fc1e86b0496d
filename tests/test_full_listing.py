"""Change tokens: a calendar created by a run keeps its token, and every calendar is listed in
full at least every `sync.full_listing_hours` (servers that answer an invalid token with a
"delta" of everything would otherwise hide deletions)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from kontaktsync.sync.core.runner import run_sync
from kontaktsync.sync.targets.base import Listing, RemoteRef
from kontaktsync.sync.targets.memory import MemTarget

from tests.builders import obligation, plan_of, settings


class TokenTarget(MemTarget):
    """The in-memory target with change tokens: records the token each listing was asked with."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str | None] = []
        self.issued = 0

    def list_ours(self, calendar: str, token: str | None, known: Mapping[str, RemoteRef]) -> Listing:
        self.asked.append(token)
        full = super().list_ours(calendar, token, known)
        self.issued += 1
        return Listing(full.refs, f"t{self.issued}", full=token is None)


def _settings(tmp_path, hours: float = 24):
    s = settings()
    sync = s.sync.model_copy(update={"state_path": tmp_path / "st.sqlite3", "full_listing_hours": hours})
    return s.model_copy(update={"sync": sync})


def test_a_created_calendar_keeps_its_token(tmp_path):
    tgt, plan = TokenTarget(), plan_of(obligation())
    first = run_sync(_settings(tmp_path), plan=plan, target=tgt)
    assert first.created == 2
    # listing (missing), then the new calendar's first listing: its token is kept
    assert tgt.asked == [None, None]
    run_sync(_settings(tmp_path), plan=plan, target=tgt)
    assert tgt.asked[-1] == "t1"


def test_every_calendar_is_listed_in_full_on_schedule(tmp_path):
    tgt, plan = TokenTarget(), plan_of(obligation())
    run_sync(_settings(tmp_path), plan=plan, target=tgt)
    run_sync(_settings(tmp_path), plan=plan, target=tgt)
    assert tgt.asked[-1] is not None  # changes only
    # the last full listing is a day old: the next run lists in full, and says so in the state
    db = sqlite3.connect(tmp_path / "st.sqlite3")
    old = (datetime.now(UTC) - timedelta(hours=25)).isoformat(timespec="seconds")
    db.execute("UPDATE calendars SET full_at = ?", (old,))
    db.commit()
    run_sync(_settings(tmp_path), plan=plan, target=tgt)
    assert tgt.asked[-1] is None
    run_sync(_settings(tmp_path), plan=plan, target=tgt)
    assert tgt.asked[-1] is not None
    (full_at,) = db.execute("SELECT full_at FROM calendars").fetchone()
    assert datetime.fromisoformat(full_at) > datetime.now(UTC) - timedelta(minutes=5)


def test_a_state_file_from_before_full_listings_is_upgraded(tmp_path):
    db = sqlite3.connect(tmp_path / "st.sqlite3")
    db.execute(
        "CREATE TABLE calendars (calendar TEXT PRIMARY KEY, address TEXT NOT NULL, token TEXT, "
        "updated TEXT NOT NULL)"
    )
    db.execute("INSERT INTO calendars VALUES ('anna', 'mem://anna/', 'old', '2026-01-01T00:00:00+00:00')")
    db.commit()
    tgt = TokenTarget()
    tgt.create_calendar("anna")
    run_sync(_settings(tmp_path), plan=plan_of(obligation()), target=tgt)
    assert tgt.asked == [None]  # no full listing on record yet: list in full
