"""The Exchange target: Outlook tasks (and optional all-day markers or tentative proposed
appointments) through EWS.

Implements the `Target` protocol of targets/base.py with exchangelib, cut by job:

- patches.py: what is changed in exchangelib (extended properties, task dates, HTTP adapter)
  and the process-wide state (Account cache, request counter);
- limits.py: the items per request the server's throttling policy accepts, once learned;
- connection.py: settings, credentials, Accounts, calendar-wide errors, retries;
- mapping.py: DesiredItem fields <-> EWS item fields, refs;
- listing.py: SyncFolderItems listing and reading items;
- writes.py: create, update, complete, delete;
- busy.py: the counsellor's busy time (CalendarView of the mailbox's calendar).
"""

from __future__ import annotations

import dataclasses

from kontaktsync.sync.targets.base import ProbeResult, TargetError
from kontaktsync.sync.targets.exchange import limits, patches
from kontaktsync.sync.targets.exchange.busy import BusyReads
from kontaktsync.sync.targets.exchange.listing import Listings
from kontaktsync.sync.targets.exchange.writes import Writes

# A config check must not sit out minutes of throttling: it probes with short waits.
PROBE_BACKOFF, PROBE_MAX_WAIT = 0.5, 10.0


class ExchangeTarget(Writes, Listings, BusyReads):
    """The `Target` for Exchange (EWS). See the module docstrings."""

    kind = "exchange"
    title, probing = "Exchange", "read-only GetFolder"  # for `config check`
    # exchangelib keeps one HTTP connection per endpoint by default (polite to Exchange, one
    # NTLM handshake): threads would only queue for it, so the runner goes mailbox by mailbox.
    parallel_safe = False

    def write_rules(self, calendar: str) -> str | None:
        return None  # Exchange always enforces the change key an update or delete carries

    def probe(self, calendar: str | None) -> ProbeResult:
        """Read-only: can the service account reach the mailbox's Tasks (and, with markers,
        Calendar) folder? Two GetFolder requests on first use; short waits only."""
        self.retry = dataclasses.replace(
            self.retry, backoff=PROBE_BACKOFF, cap=min(self.retry.cap or PROBE_MAX_WAIT, PROBE_MAX_WAIT)
        )
        self.max_wait = min(self.max_wait, PROBE_MAX_WAIT)
        if calendar is None:
            return ProbeResult(
                "(server)", True, "no counsellor known from the caseload; mailboxes not probed"
            )
        try:
            detail = []
            for which in self._which():
                folder = self._whole(calendar, lambda w=which: self.folder(calendar, w))
                detail.append(f"{folder.name}: {folder.total_count} items")
            return ProbeResult(f"{calendar} <{self.mailbox(calendar)}>", True, ", ".join(detail))
        except TargetError as e:
            return ProbeResult(calendar, False, str(e))


def forget_accounts() -> None:
    """Forget what the process keeps across runs: the Accounts (patches.py) and the limits
    learned from the server (limits.py). For tests (a new process) and a changed configuration."""
    patches.forget_accounts()
    limits.forget_limits()


__all__ = ["ExchangeTarget", "forget_accounts"]
