"""`kontaktsync report`: the team leader's figures of a plan (sync/report)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from kontaktsync.rules.engine import plan
from kontaktsync.rules.model import Plan
from kontaktsync.rules.policy_format import Policy
from kontaktsync.sync.cli.common import AsOfOption, ConfigOption
from kontaktsync.sync.cli.inputs import (
    CasesOpt,
    ContactsOpt,
    EncodingOpt,
    Inputs,
    MapOpt,
    MeasuresOpt,
    PolicyOpt,
    fail,
    resolve_inputs,
)
from kontaktsync.sync.config.masking import mask_secrets
from kontaktsync.sync.config.models import ItemSettings, Settings
from kontaktsync.sync.core.proposals import Outlook, outlook_for
from kontaktsync.sync.report.figures import build_figures, weekly_capacity
from kontaktsync.sync.report.output import ReportFormat
from kontaktsync.sync.report.output import emit as emit_report
from kontaktsync.sync.targets.base import TargetError
from rich.console import Console

err = Console(stderr=True, highlight=False)


def report_command(
    policy: PolicyOpt = None,
    cases: CasesOpt = None,
    measures: MeasuresOpt = None,
    contacts: ContactsOpt = None,
    as_of: AsOfOption = None,
    weeks: Annotated[int, typer.Option("--weeks", min=1, max=26, help="calendar weeks ahead")] = 4,
    capacity: Annotated[
        int | None,
        typer.Option(
            "--capacity",
            min=1,
            help="talks per week and full-time counsellor [default: items.talks_per_week, else the "
            "policy's office.talks_per_week, else 25]",
        ),
    ] = None,
    mapping: MapOpt = None,
    encoding: EncodingOpt = None,
    config: ConfigOption = None,
    # --- team leader's report (sync/report) ---
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="table, html, csv or json")] = (
        ReportFormat.table
    ),
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file")] = None,
    per_counsellor: Annotated[
        bool,
        typer.Option("--per-counsellor", help="add a breakdown per named counsellor (staff council!)"),
    ] = False,
) -> None:
    """For team leaders: density kept per team (target 90 %), overdue by age, the coming weeks' load."""
    resolved = resolve_inputs(Inputs(config, policy, cases, measures, contacts, mapping, encoding), as_of)
    pol, settings = resolved.policy, resolved.settings  # the configuration read once, if any
    result = plan(resolved.read(), pol, resolved.day, release=True)
    for e in result.errors:
        err.print(f"error {e}", soft_wrap=True, markup=False, highlight=False)
    items = settings.items if settings is not None else ItemSettings()
    figures = build_figures(result, capacity or weekly_capacity(pol, items), weeks, per_counsellor)
    if settings is not None:
        figures.proposals = _proposals(settings, pol, result)
    try:
        emit_report(figures, fmt, output)
    except OSError as exc:
        raise fail(f"cannot write the report to {output}: {exc.strerror or exc}") from None


def _proposals(settings: Settings, policy: Policy, result: Plan) -> Outlook | None:
    """Slot mode: the proposals the next sync would make (calendars read, nothing written)."""
    if settings.items.appointments != "slot":
        return None
    errors: list[str] = []
    try:
        outlook = outlook_for(result, settings, policy, errors)
    except TargetError as exc:
        errors.append(f"proposed appointments not shown: {exc}")
        outlook = None
    for e in errors:
        err.print(f"error: {mask_secrets(settings, e)}", soft_wrap=True, markup=False, highlight=False)
    return outlook


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
