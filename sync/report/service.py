"""The report in the daemon: figures of the last plan as Prometheus gauges, and the HTML page
served at `/report` when `observability.report` is on.

Gauges per team are always there. Gauges per counsellor exist only when `report.per_counsellor`
is on: without it no counsellor's name is in `/metrics`, not even in a label that was set once.
The report is rebuilt after each run that read the caseload; a failure to build it is logged and
never fails the sync run.
"""

from __future__ import annotations

import logging
import threading

from kontaktsync.rules.model import Plan
from kontaktsync.rules.policy import PolicyError, load_policy
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.report.figures import CAPACITY, Figures, Group, build_figures, weekly_capacity
from kontaktsync.sync.report.html import render_html
from prometheus_client import CollectorRegistry, Gauge

log = logging.getLogger("kontaktsync.report")

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
HTML_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class _GroupGauges:
    """The gauges of one breakdown (`team` or `counsellor`), cleared and set afresh per update."""

    def __init__(self, registry: CollectorRegistry, prefix: str, label: str, what: str) -> None:
        self.label = label
        self.cases = Gauge(f"{prefix}_cases", f"Cases planned, per {what}", [label], registry=registry)
        self.kept = Gauge(
            f"{prefix}_density_kept_ratio",
            f"Share of cases with a recurring contact whose contact is not overdue, per {what}",
            [label],
            registry=registry,
        )
        self.overdue = Gauge(
            f"{prefix}_overdue",
            f"Overdue obligations by days past due, per {what}",
            [label, "age"],
            registry=registry,
        )
        self.load = Gauge(
            f"{prefix}_load",
            f"Obligations due per calendar week (0 = this week, overdue ones included), per {what}",
            [label, "weeks_ahead"],
            registry=registry,
        )
        self.capacity = Gauge(
            f"{prefix}_capacity_per_week", f"Talks per week the {what} can hold", [label], registry=registry
        )

    def set(self, groups: list[Group]) -> None:
        for gauge in (self.cases, self.kept, self.overdue, self.load, self.capacity):
            gauge.clear()
        for g in groups:
            self.cases.labels(g.name).set(g.cases)
            if g.share_kept is not None:
                self.kept.labels(g.name).set(g.share_kept)
            for age, n in g.overdue_by_age.items():
                self.overdue.labels(g.name, age).set(n)
            for i, n in enumerate(g.load.values()):
                self.load.labels(g.name, str(i)).set(n)
            self.capacity.labels(g.name).set(g.capacity)


class ReportPublisher:
    """Keeps the figures and the page of the last plan; thread-safe for the HTTP server."""

    def __init__(
        self,
        registry: CollectorRegistry,
        capacity: int = 25,
        weeks: int = 4,
        per_counsellor: bool = False,
        serve_html: bool = False,
    ) -> None:
        self.capacity, self.weeks = capacity, weeks
        self.per_counsellor, self.serve_html = per_counsellor, serve_html
        self._lock = threading.Lock()
        self._html: bytes | None = None
        self.figures: Figures | None = None
        self._teams = _GroupGauges(registry, "kontaktsync_report_team", "team", "team")
        self._people = (
            _GroupGauges(registry, "kontaktsync_report_counsellor", "counsellor", "counsellor")
            if per_counsellor
            else None
        )
        self._not_counted = Gauge(
            "kontaktsync_report_not_counted",
            "What the report cannot count: rows in error, cases left out for them, unmatched cases, "
            "cases without a recurring contact",
            ["reason"],
            registry=registry,
        )

    @classmethod
    def from_settings(cls, settings: Settings, registry: CollectorRegistry) -> ReportPublisher:
        return cls(
            registry,
            capacity=_capacity(settings),
            weeks=settings.report.weeks,
            per_counsellor=settings.report.per_counsellor,
            serve_html=settings.observability.report,
        )

    def update(self, plan: Plan) -> None:
        """Rebuild figures, gauges and page from a new plan; never raises."""
        try:
            f = build_figures(plan, self.capacity, self.weeks, self.per_counsellor)
            page = render_html(f).encode("utf-8") if self.serve_html else None
        except Exception as exc:  # the report must never stop a sync run
            log.error("report not updated: %s: %s", type(exc).__name__, exc, extra={"event": "report_failed"})
            return
        self._teams.set([f.total, *f.teams])
        if self._people is not None:
            self._people.set(f.counsellors or [])
        nc = f.not_counted
        for reason, n in (
            ("rows_in_error", nc.rows_in_error),
            ("cases_left_out_for_errors", nc.cases_held),
            ("unmatched", nc.unmatched),
            ("without_contact_rule", nc.without_contact_rule),
        ):
            self._not_counted.labels(reason).set(n)
        with self._lock:
            self.figures, self._html = f, page

    def html(self) -> bytes | None:
        """The last page, or None before the first run read the caseload."""
        with self._lock:
            return self._html


def _capacity(settings: Settings) -> int:
    """The report's weekly capacity (figures.weekly_capacity); a policy that cannot be loaded
    is the run's to report, not the report's."""
    try:
        return weekly_capacity(load_policy(settings.policy), settings.items)
    except PolicyError:
        return settings.items.talks_per_week or CAPACITY
