"""Metrics and health of the running service (its logs: logs.py).

HTTP: ``/healthz`` answers 200 while the last successful run is younger than
``observability.healthy_within_minutes`` (and during that long a grace period after start),
503 otherwise; its JSON body says how the last run ended and, when it failed, why (secrets
masked). A run in which a calendar could not be reached or nothing could be written (server
down, credentials refused) is a failed run: it never counts as a success. ``/metrics`` is
Prometheus text from a registry of its own, so nothing else in the process leaks into it.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kontaktsync.sync.service.logs import LOGGER_NAME
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

# --- metrics ------------------------------------------------------------------------------

ITEM_ACTIONS = ("created", "updated", "completed", "deleted", "failed")
OUTCOMES = ("success", "partial", "failed", "skipped_locked", "refused")
# Runs that went through: "partial" ones had item failures, which are counted in
# kontaktsync_items_total{action="failed"} and retried by the next run. Restarting the
# service would not mend them, so they do not make /healthz fail.
COMPLETED = frozenset({"success", "partial"})
# Runs that wrote nothing: /healthz says why. A run skipped for the lock is neither.
FAILED = frozenset({"failed", "refused"})


class Metrics:
    """The service's Prometheus metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.runs = Counter("kontaktsync_runs", "Sync runs by outcome", ["outcome"], registry=r)
        self.items = Counter("kontaktsync_items", "Calendar items written, by action", ["action"], registry=r)
        self.duration = Histogram(
            "kontaktsync_run_duration_seconds",
            "Duration of sync runs",
            buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
            registry=r,
        )
        self.last_success = Gauge(
            "kontaktsync_last_success_timestamp_seconds",
            "Unix time of the end of the last successful run",
            registry=r,
        )
        self.last_run = Gauge(
            "kontaktsync_last_run_timestamp_seconds",
            "Unix time of the end of the last run, whatever its outcome",
            registry=r,
        )
        self.due = Gauge("kontaktsync_obligations_due", "Obligations due, last run", registry=r)
        self.overdue = Gauge("kontaktsync_obligations_overdue", "Obligations overdue, last run", registry=r)
        self.rows_rejected = Gauge(
            "kontaktsync_rows_rejected",
            "Caseload rows left out for an error in the last run that read the caseload, by file",
            ["file"],
            registry=r,
        )
        self._rejected_files: set[str] = set()
        for outcome in OUTCOMES:
            self.runs.labels(outcome=outcome)
        for action in ITEM_ACTIONS:
            self.items.labels(action=action)

    def record_run(
        self,
        outcome: str,
        duration_s: float,
        counts: dict[str, int] | None = None,
        due: int | None = None,
        overdue: int | None = None,
        now: float | None = None,
    ) -> None:
        now = time.time() if now is None else now
        self.runs.labels(outcome=outcome).inc()
        self.last_run.set(now)
        if outcome in ("success", "partial", "failed"):
            self.duration.observe(duration_s)
        for action, n in (counts or {}).items():
            if action in ITEM_ACTIONS and n:
                self.items.labels(action=action).inc(n)
        if due is not None:
            self.due.set(due)
        if overdue is not None:
            self.overdue.set(overdue)
        if outcome in COMPLETED:
            self.last_success.set(now)

    def record_rows_rejected(self, per_file: dict[str, int]) -> None:
        """Rows left out per file (named as in the errors); a file that had errors before and
        has none now shows 0 rather than vanishing."""
        for name in self._rejected_files - per_file.keys():
            self.rows_rejected.labels(file=name).set(0)
        for name, n in per_file.items():
            self.rows_rejected.labels(file=name).set(n)
        self._rejected_files |= per_file.keys()

    def render(self) -> bytes:
        return generate_latest(self.registry)


# --- health -------------------------------------------------------------------------------


@dataclass
class Health:
    """Whether the service did its job recently enough.

    Unhealthy when no run has completed (outcome success or partial) for longer than
    `healthy_within_s`. With a cron
    schedule the age counts from the first scheduled run after the last success, so nights and
    weekends without scheduled runs do not count as silence (`next_due` maps a time to the
    first scheduled start at or after it; without it the age counts from the success itself).
    Before the first success the daemon's start stands in for it.

    A failed run (server down, credentials refused, caseload unreadable) never counts as a
    success; its reason is shown in the body, passed through `mask` first so that no secret
    reaches an endpoint that anyone on the network may read.
    """

    healthy_within_s: float
    next_due: Callable[[float], float] | None = None
    started: float = field(default_factory=time.time)
    last_success: float | None = None
    last_outcome: str | None = None
    last_failure: str | None = None
    mask: Callable[[str], str] = field(default=lambda text: text, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, outcome: str, now: float | None = None, reason: str | None = None) -> None:
        """Note a run's outcome; `reason` says why a failed or refused run did not go through."""
        with self.lock:
            self.last_outcome = outcome
            if outcome in COMPLETED:
                self.last_success = time.time() if now is None else now
                self.last_failure = None
            elif outcome in FAILED:
                self.last_failure = self.mask(reason or outcome)

    def status(self, now: float | None = None) -> tuple[bool, dict[str, Any]]:
        now = time.time() if now is None else now
        with self.lock:
            since = self.last_success if self.last_success is not None else self.started
            due = self.next_due(since) if self.next_due is not None else since
            ok = now - due <= self.healthy_within_s
            body: dict[str, Any] = {
                "status": "ok" if ok else "stale",
                "last_success": _iso(self.last_success),
                "seconds_since_last_success": (
                    None if self.last_success is None else round(now - self.last_success, 1)
                ),
                "healthy_within_seconds": self.healthy_within_s,
                "last_outcome": self.last_outcome,
                "last_run_failed": self.last_outcome in FAILED,
                "last_failure": self.last_failure,
            }
        return ok, body


def failure_reason(report: Any, shown: int = 3) -> str:
    """Why a run with outcome `failed` wrote nothing, in one line without customer data.

    Names the calendars that could not be reached with the first error met for them (target
    errors name the method and path, never credentials or item summaries). Item errors carry
    summaries, which may hold customer names, so for a run that reached every calendar but
    could write nothing only the count is given.
    """
    unreachable = sorted(getattr(report, "unreachable", []) or [])  # threads finish in any order
    if unreachable:
        more = len(unreachable) - shown
        names = ", ".join(unreachable[:shown]) + (f" and {more} more" if more > 0 else "")
        prefixes = tuple(f"{cal}: " for cal in unreachable)
        first = next((e for e in report.errors if e.startswith(prefixes)), "")
        detail = f" ({first})" if first else ""
        return f"{len(unreachable)} calendar(s) could not be reached: {names}{detail}"
    failed = int(getattr(report, "failed", 0) or 0)
    return f"nothing could be written: all {failed} items failed (see the run's errors)"


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


# --- HTTP ---------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "kontaktsync"
    sys_version = ""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            ok, body = self.server.health.status()
            self._send(200 if ok else 503, "application/json", json.dumps(body).encode() + b"\n")
        elif path == "/metrics":
            self._send(200, CONTENT_TYPE_LATEST, self.server.metrics.render())
        elif path == "/report":  # team leader's report (sync/report)
            self._send_report(self.server.report)
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: try /healthz or /metrics\n")

    def _send_report(self, report: Callable[[], bytes | None] | None) -> None:
        from kontaktsync.sync.report.service import HTML_HEADERS

        if report is None:
            body = b"not found: the report is off; set observability.report = true to serve it here\n"
            self._send(404, "text/plain; charset=utf-8", body)
            return
        page = report()
        if page is None:
            body = b"no report yet: no run has read the caseload since the daemon started\n"
            self._send(503, "text/plain; charset=utf-8", body)
        else:
            self._send(200, "text/html; charset=utf-8", page, HTML_HEADERS)

    def do_HEAD(self) -> None:
        self.do_GET()

    def _send(self, code: int, content_type: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logging.getLogger(f"{LOGGER_NAME}.http").debug("http " + format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        metrics: Metrics,
        health: Health,
        report: Callable[[], bytes | None] | None = None,
    ) -> None:
        self.metrics = metrics
        self.health = health
        self.report = report  # the page at /report; None: /report is off
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


@dataclass
class StatusServer:
    """The /healthz and /metrics endpoint, served from a daemon thread."""

    server: _Server
    thread: threading.Thread

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def start_status_server(
    listen: str, metrics: Metrics, health: Health, report: Callable[[], bytes | None] | None = None
) -> StatusServer:
    """Serve /healthz and /metrics on `host:port` (port 0 picks a free one), and /report when
    `report` gives the page (None until there is one)."""
    server = _Server(parse_listen(listen), metrics, health, report)
    thread = threading.Thread(target=server.serve_forever, name="kontaktsync-http", daemon=True)
    thread.start()
    return StatusServer(server, thread)
