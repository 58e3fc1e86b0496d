"""What the program wrote, per item, in SQLite (WAL), written per action.

One row per item (and calendar: a case moving to another counsellor briefly has its UID in
two calendars) the program created or took over: where it lives (calendar, ref = href or
item id), the version the server gave it (ETag / change key), the managed hash as written,
the obligation it stands for, and its status (`open`, `completed` by the program,
`kept` = a person completed or removed it). Each `put`/`drop` commits on its own, so a
crash loses at most the item in flight; the deterministic UIDs make up for that. Inside
`batch()` they wait for the next `commit()` instead: the runner commits right after recording
each write that reached the server, so what a crash can lose there is only what the next run
decides again without writing (a kept item, an unchanged one).

A second table keeps each calendar's change-tracking token (sync-token, SyncFolderItems
state) so an unchanged calendar costs one request.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    uid TEXT NOT NULL,
    calendar TEXT NOT NULL,
    ref TEXT NOT NULL,
    version TEXT,
    hash TEXT NOT NULL,
    case_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    item_type TEXT NOT NULL,
    cycle TEXT NOT NULL,
    window_start TEXT,
    due TEXT,
    status TEXT NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (calendar, uid)
);
CREATE TABLE IF NOT EXISTS calendars (
    calendar TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    token TEXT,
    updated TEXT NOT NULL,
    full_at TEXT
);
"""


class ItemRow(NamedTuple):
    """One item the program wrote, as the state database keeps it. A named tuple: a run reads
    every row of the database (100,000 at 100k cases), and a tuple is made in a fifth of the
    time a frozen dataclass takes."""

    uid: str
    calendar: str
    ref: str
    version: str | None
    hash: str
    case_id: str
    kind: str
    item_type: str
    cycle: str
    window_start: str | None
    due: str | None
    status: str  # "open" | "completed" | "kept"


_COLUMNS = list(ItemRow._fields)
_PUT = "INSERT OR REPLACE INTO items ({}) VALUES ({})".format(
    ", ".join([*_COLUMNS, "updated"]), ", ".join("?" * (len(_COLUMNS) + 1))
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class StateStore:
    """SQLite store. `path=None` gives an in-memory store (dry runs without a state file)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            str(path) if path else ":memory:", isolation_level=None, check_same_thread=False
        )
        self._lock = threading.RLock()  # one connection shared by the runner's threads
        self._batching = False
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(SCHEMA)
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(calendars)")}
        if "full_at" not in columns:  # a state file from before full listings were scheduled
            self._db.execute("ALTER TABLE calendars ADD COLUMN full_at TEXT")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Statements of the block go in transactions that end at `commit()` and at the end of
        the block (also when it raises: what was recorded did happen)."""
        with self._lock:
            self._batching = True
            self._db.execute("BEGIN")
        try:
            yield
        finally:
            with self._lock:
                self._batching = False
                self._db.execute("COMMIT")

    def commit(self) -> None:
        """Make everything recorded so far durable (inside `batch()`; a no-op outside)."""
        with self._lock:
            if self._batching:
                self._db.execute("COMMIT")
                self._db.execute("BEGIN")

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # items -----------------------------------------------------------------------------
    def items(self, calendar: str | None = None) -> dict[str, ItemRow]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM items"
        args: tuple[str, ...] = ()
        if calendar is not None:
            sql += " WHERE calendar = ?"
            args = (calendar,)
        with self._lock:
            return {row[0]: ItemRow._make(row) for row in self._db.execute(sql, args)}

    def calendars_with_items(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT DISTINCT calendar FROM items")}

    def put(self, row: ItemRow) -> None:
        with self._lock:
            self._db.execute(_PUT, (*row, _now()))

    def drop(self, uid: str, calendar: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM items WHERE uid = ? AND calendar = ?", (uid, calendar))

    def __iter__(self) -> Iterator[ItemRow]:
        return iter(self.items().values())

    # calendars -------------------------------------------------------------------------
    def token(self, calendar: str, address: str, full_every_hours: float | None = None) -> str | None:
        """The stored token, or None when none is stored, the calendar moved elsewhere, or its
        last full listing is older than `full_every_hours` (some servers answer an invalid token
        with everything as if it were a delta, so deletions would go unseen: a full listing now
        and then finds them)."""
        with self._lock:
            row = self._db.execute(
                "SELECT address, token, full_at FROM calendars WHERE calendar = ?", (calendar,)
            ).fetchone()
        if row is None or row[0] != address:
            return None
        if full_every_hours is not None:
            if row[2] is None:
                return None
            age = datetime.now(UTC) - datetime.fromisoformat(row[2])
            if age.total_seconds() >= full_every_hours * 3600:
                return None
        return row[1]

    def set_token(self, calendar: str, address: str, token: str | None, *, full: bool = False) -> None:
        """Record a calendar's change token; `full` when it came with a full listing."""
        with self._lock:
            self._db.execute(
                "INSERT INTO calendars (calendar, address, token, updated, full_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(calendar) DO UPDATE SET address = excluded.address, token = excluded.token, "
                "updated = excluded.updated, full_at = CASE WHEN excluded.full_at IS NOT NULL "
                "THEN excluded.full_at WHEN calendars.address = excluded.address THEN calendars.full_at END",
                (calendar, address, token, _now(), _now() if full else None),
            )
