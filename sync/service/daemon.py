"""`kontaktsync daemon`: sync on a schedule until told to stop.

Each run calls `run_sync` afresh, so the caseload files are read again every time. A run that
fails is logged at error level and counted, and the next one comes at its usual time; a run
that finds the lock held by another process (a manual `kontaktsync sync`, a second daemon) is
skipped. A run fails when the caseload cannot be read, or when a calendar could not be reached
or nothing at all could be written (`SyncReport.outcome`): an outage or refused credentials
never count as a success, so `/healthz` turns 503 once they last longer than
`observability.healthy_within_minutes`.
SIGTERM or SIGINT set the stop event: `run_sync` finishes the item in flight, records its
state and returns, and the daemon exits 0. A second signal ends the process at once.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from kontaktsync.rules.heap import thaw
from kontaktsync.sync.config.loading import secret_values
from kontaktsync.sync.config.models import ScheduleSettings, Settings
from kontaktsync.sync.core.report import COUNTERS
from kontaktsync.sync.report.service import ReportPublisher
from kontaktsync.sync.service.exit_codes import ExitCode
from kontaktsync.sync.service.logs import SecretMaskFilter
from kontaktsync.sync.service.observability import (
    Health,
    Metrics,
    StatusServer,
    failure_reason,
    start_status_server,
)

log = logging.getLogger("kontaktsync.daemon")

# Longest single sleep, so a changed wall clock (suspend, NTP step) is noticed soon.
MAX_SLEEP_S = 30.0
ERROR_LINES = 20  # row and item errors logged per run; the rest are counted

RunSync = Callable[..., Any]


class Schedule:
    """When the next run is due: a fixed interval after the last start, or a cron expression."""

    def __init__(self, settings: ScheduleSettings) -> None:
        self.cron = settings.cron
        self.interval = timedelta(minutes=settings.interval_minutes or 15)

    def describe(self) -> str:
        if self.cron:
            return f"cron '{self.cron}' (local time)"
        return f"every {self.interval.total_seconds():g} s"

    def next_due(self, ts: float) -> float:
        """The first scheduled start at or after the Unix time `ts` (cron schedules)."""
        if not self.cron:
            return ts
        from croniter import croniter

        start = datetime.fromtimestamp(ts).astimezone() - timedelta(seconds=1)
        return float(croniter(self.cron, start).get_next(float))

    def next_after(self, last_start: datetime, now: datetime) -> datetime:
        """The next start; never in the past (a run longer than the interval starts the next
        one right away instead of queueing up missed runs)."""
        if self.cron:
            from croniter import croniter

            return croniter(self.cron, now).get_next(datetime)
        return max(last_start + self.interval, now)


@dataclass
class RunResult:
    outcome: str  # success | partial | failed | skipped_locked | refused
    duration_s: float
    report: Any = None


@dataclass
class _Attempt:
    outcome: str
    report: Any = None
    reason: str | None = None  # why a failed or refused run wrote nothing; shown on /healthz
    rows_rejected: int = 0


def run_once(
    settings: Settings,
    metrics: Metrics,
    health: Health,
    stop: threading.Event,
    run_sync: RunSync | None = None,
    publisher: ReportPublisher | None = None,
) -> RunResult:
    """One scheduled run: call the runner, classify the outcome, log and count it."""
    thaw()  # what the last run's plan froze may be garbage now (kontaktsync.rules.heap)
    if run_sync is None:
        from kontaktsync.sync.core.runner import run_sync as real_run_sync

        run_sync = real_run_sync
    t0 = time.monotonic()
    attempt = _attempt(settings, metrics, stop, run_sync, publisher)
    duration = time.monotonic() - t0
    outcome, report = attempt.outcome, attempt.report

    counts = {name: int(getattr(report, name, 0) or 0) for name in COUNTERS}
    due = getattr(report, "obligations_due", None)
    overdue = getattr(report, "obligations_overdue", None)
    metrics.record_run(outcome, duration, counts if report is not None else None, due, overdue)
    health.record(outcome, reason=attempt.reason)
    if report is not None:
        log.info(
            "run finished: %s",
            outcome,
            extra={
                "event": "run_finished",
                "run_id": getattr(report, "run_id", None),
                "outcome": outcome,
                "duration_s": round(duration, 3),
                "counts": counts,
                "obligations_due": due,
                "obligations_overdue": overdue,
                "errors": len(getattr(report, "errors", []) or []),
                "rows_rejected": attempt.rows_rejected,
                "calendars": len(getattr(report, "per_calendar", {}) or {}),
                "requests": getattr(report, "requests", None),
                "stopped_early": stop.is_set(),
            },
        )
        _log_errors(settings, report)
    return RunResult(outcome, duration, report)


def _attempt(
    settings: Settings,
    metrics: Metrics,
    stop: threading.Event,
    run_sync: RunSync,
    publisher: ReportPublisher | None = None,
) -> _Attempt:
    """Plan and sync once; every way a run can end becomes an outcome, logged where it ends."""
    from kontaktsync.sync.caseload import SourceError
    from kontaktsync.sync.core.lock import LockHeld
    from kontaktsync.sync.core.planning import make_plan
    from kontaktsync.sync.core.runner import MassDeleteRefused

    rejected = 0
    try:
        plan = make_plan(settings)
        rejected = len(plan.errors)
        metrics.record_rows_rejected(dict(Counter(e.file for e in plan.errors)))
        if publisher is not None:
            publisher.update(plan)  # the team leader's report and its gauges (sync/report)
        report = run_sync(settings, stop=stop, plan=plan)
    except LockHeld:
        log.warning(
            "run skipped: another kontaktsync run holds the lock",
            extra={"event": "run_skipped", "outcome": "skipped_locked"},
        )
        return _Attempt("skipped_locked")
    except MassDeleteRefused as exc:
        log.error(
            "run refused by the mass-delete guard; nothing was written: %s",
            exc,
            extra={"event": "run_refused", "outcome": "refused"},
        )
        return _Attempt("refused", reason=f"refused by the mass-delete guard: {exc}")
    except SourceError as exc:
        log.error(
            "run failed: the caseload cannot be read: %s",
            exc,
            extra={"event": "run_failed", "outcome": "failed", "error_type": type(exc).__name__},
        )
        return _Attempt("failed", reason=f"the caseload cannot be read: {exc}")
    except Exception as exc:
        log.error(
            "run failed: %s: %s",
            type(exc).__name__,
            exc,
            exc_info=log.isEnabledFor(logging.DEBUG),
            extra={"event": "run_failed", "outcome": "failed", "error_type": type(exc).__name__},
        )
        return _Attempt("failed", reason=f"{type(exc).__name__}: {exc}")
    attempt = _Attempt(report.outcome, report, rows_rejected=rejected)
    if attempt.outcome == "failed":
        attempt.reason = failure_reason(report)
        _log_outage(report, attempt.reason)
    return attempt


def _log_errors(settings: Settings, report: Any) -> None:
    """The run's row and item errors, one line each up to ERROR_LINES; never customer names."""
    errors = list(getattr(report, "errors", []) or [])
    run_id = getattr(report, "run_id", None)
    if errors and settings.privacy.show_names:
        # Item summaries carry customer names when names are shown; logs never do.
        log.warning(
            "%d errors in this run, not logged one by one because privacy.show_names is on; "
            "run `kontaktsync sync --dry-run` to see them",
            len(errors),
            extra={"event": "run_error", "run_id": run_id},
        )
        return
    for message in errors[:ERROR_LINES]:
        log.warning(str(message), extra={"event": "run_error", "run_id": run_id})
    if len(errors) > ERROR_LINES:
        log.warning(
            "%d more errors in this run",
            len(errors) - ERROR_LINES,
            extra={"event": "run_error", "run_id": run_id},
        )


def _log_outage(report: Any, reason: str) -> None:
    """A run that wrote nothing although the caseload was read: an outage, not a success."""
    log.error(
        "run failed: %s",
        reason,
        extra={
            "event": "run_failed",
            "run_id": report.run_id,
            "outcome": "failed",
            "error_type": "unreachable" if report.unreachable else "nothing_written",
            "calendars_unreachable": list(report.unreachable),
        },
    )


class _Signals:
    """First SIGTERM/SIGINT: set the stop event. Second: leave at once."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.previous: dict[int, Any] = {}

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.stop.is_set():
            log.warning("%s again: stopping now", name, extra={"event": "stop_forced"})
            raise SystemExit(128 + signum)
        log.info(
            "%s: finishing the item in flight, then stopping",
            name,
            extra={"event": "stop_requested"},
        )
        self.stop.set()


def run_daemon(
    settings: Settings,
    *,
    stop: threading.Event | None = None,
    install_signals: bool = True,
    max_runs: int | None = None,
    run_sync: RunSync | None = None,
) -> int:
    """Serve /healthz and /metrics, run on schedule until stopped; the process's exit code."""
    stop = stop or threading.Event()
    metrics = Metrics()
    schedule = Schedule(settings.schedule)
    health = Health(
        healthy_within_s=settings.observability.healthy_within_minutes * 60,
        next_due=schedule.next_due if schedule.cron else None,
        mask=SecretMaskFilter(secret_values(settings)).mask,
    )
    # the team leader's report and its gauges (sync/report): only where /metrics is served
    listen = settings.observability.listen
    publisher = ReportPublisher.from_settings(settings, metrics.registry) if listen else None
    page = publisher.html if publisher is not None and settings.observability.report else None
    signals = _Signals(stop)
    if install_signals:
        signals.install()
    status: StatusServer | None = None
    try:
        if settings.observability.listen:
            try:
                status = start_status_server(settings.observability.listen, metrics, health, page)
            except OSError as exc:
                log.error(
                    "cannot serve /healthz and /metrics on %s: %s; change observability.listen",
                    settings.observability.listen,
                    exc.strerror or exc,
                    extra={"event": "http_failed"},
                )
                return ExitCode.PARTIAL  # not CONFIG: the port may be free again when systemd retries
            host, port = status.address
            log.info(
                "serving /healthz and /metrics on %s:%d",
                host,
                port,
                extra={"event": "http_listening", "host": host, "port": port},
            )
        log.info(
            "daemon started, %s",
            schedule.describe(),
            extra={"event": "daemon_started", "target": settings.target.kind},
        )
        runs = 0
        now = datetime.now().astimezone()
        next_start = now if settings.schedule.run_at_start else schedule.next_after(now, now)
        while not stop.is_set():
            now = datetime.now().astimezone()
            if now < next_start:
                stop.wait(min((next_start - now).total_seconds(), MAX_SLEEP_S))
                continue
            started = now
            run_once(settings, metrics, health, stop, run_sync, publisher)
            runs += 1
            if max_runs is not None and runs >= max_runs:
                break
            next_start = schedule.next_after(started, datetime.now().astimezone())
            log.debug("next run at %s", next_start.isoformat(timespec="seconds"), extra={"event": "next"})
        log.info("daemon stopped", extra={"event": "daemon_stopped", "runs": runs})
        return ExitCode.OK
    finally:
        if status is not None:
            status.close()
        if install_signals:
            signals.restore()
