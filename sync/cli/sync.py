"""`kontaktsync sync` and `kontaktsync demo`.

Exit codes of `sync` (all of them in `kontaktsync.sync.service.exit_codes`): 0 all written, 1 some
items failed (they are retried next run), 2 configuration or caseload unreadable, 3 another
run holds the lock, 4 mass-delete guard, 5 a calendar could not be reached or nothing could be
written (server down, credentials refused).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from kontaktsync.sync.cli.common import AsOfOption, ConfigOption, SecretsOption, load_config, parse_as_of
from kontaktsync.sync.core.runner import SyncReport, run_sync
from kontaktsync.sync.service.exit_codes import ExitCode, for_outcome
from kontaktsync.sync.service.observability import failure_reason

_WOULD = {
    "created": "create",
    "updated": "update",
    "completed": "complete",
    "deleted": "delete",
    "failed": "fail",
    "unchanged": "leave unchanged",
    "kept_person_edits": "keep person edits",
}
_KIND = {"task": "task", "marker": "appointment", "proposal": "proposal"}


def print_report(report: SyncReport) -> None:
    if report.dry_run:
        _print_dry_run(report)
        return
    for cal, counts in sorted(report.per_calendar.items()):
        shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        typer.echo(f"{cal}: {shown or 'nothing to do'}")
    typer.echo(
        f"Summary: {report.created} created, "
        f"{report.updated} updated, {report.completed} completed, {report.deleted} deleted, "
        f"{report.unchanged} unchanged, {report.kept_person_edits} person edits kept, "
        f"{report.failed} failed; {report.obligations_due} obligations "
        f"({report.obligations_overdue} overdue); {report.requests} requests."
    )
    _print_notes(report)


def _print_dry_run(report: SyncReport) -> None:
    """What a run would do, each item once, tasks and appointments told apart."""
    typer.echo("Dry run: nothing was changed. A run would:")
    current = None
    for act in sorted(report.dry_run_actions, key=lambda a: (a.calendar, a.action, a.summary, a.item_type)):
        if act.calendar != current:
            current = act.calendar
            typer.echo(f"  {current}:")
        why = f" ({act.reason})" if act.reason else ""
        typer.echo(f"    {act.action:<8} {_KIND.get(act.item_type, act.item_type):<11} {act.summary}{why}")
    if not report.dry_run_actions:
        typer.echo("  nothing")
    for cal, counts in sorted(report.per_calendar.items()):
        shown = ", ".join(f"{_WOULD[k]} {v}" for k, v in counts.items() if v)
        typer.echo(f"{cal}: would {shown}" if shown else f"{cal}: nothing to do")
    tasks = sum(1 for a in report.dry_run_actions if a.action == "create" and a.item_type == "task")
    typer.echo(
        f"Summary (dry run): would create {report.created} ({tasks} tasks, "
        f"{report.created - tasks} appointments), update {report.updated}, complete "
        f"{report.completed}, delete {report.deleted}; {report.unchanged} unchanged, "
        f"{report.failed} failed; {report.obligations_due} obligations "
        f"({report.obligations_overdue} overdue); {report.requests} requests."
    )
    _print_notes(report)


def _print_proposals(report: SyncReport) -> None:
    """Slot mode: the proposals, and per counsellor and week the load against the capacity, so
    that an overloaded week shows before it comes."""
    p = report.proposals
    if p is None:
        return
    typer.echo(
        f"Proposals: {p.placed} placed ({p.late} after their due date), {len(p.unplaced)} without a place."
    )
    for who, weeks in sorted(p.load.items()):
        shown = ", ".join(p.week_text(week, n, cap) for week, (n, cap) in sorted(weeks.items()))
        typer.echo(f"  {who}: {shown}")
    for line in p.unplaced:
        typer.echo(f"  no place: {line}")


def _print_notes(report: SyncReport) -> None:
    _print_proposals(report)
    for note in report.kept_edits:
        typer.echo(f"note: {note}")
    if report.held_items:
        typer.echo(
            f"note: {report.held_items} items of cases whose row is in error were left as they are "
            "(fix the rows listed below; nothing is deleted or completed meanwhile)"
        )
    for err in report.errors:
        typer.echo(f"error: {err}", err=True)


def _exit_code(report: SyncReport) -> ExitCode:
    """The exit code of a finished run; a failed one (an outage) says why on stderr."""
    if report.outcome == "failed":
        typer.echo(f"error: run failed: {failure_reason(report)}", err=True)
    return for_outcome(report.outcome)


def sync(
    config: ConfigOption = None,
    secrets_dir: SecretsOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print what would change; change nothing")
    ] = False,
    allow_mass_delete: Annotated[
        bool,
        typer.Option("--allow-mass-delete", help="allow removing more than sync.mass_delete_share"),
    ] = False,
    as_of: AsOfOption = None,
) -> None:
    """Write the plan into the counsellors' calendars (tasks, optional markers)."""
    day = parse_as_of(as_of)
    settings = load_config(config, secrets_dir)
    report = run_sync(
        settings, dry_run=dry_run, allow_mass_delete=allow_mass_delete, progress=True, as_of=day
    )
    print_report(report)
    raise typer.Exit(_exit_code(report))


def demo(
    serve: Annotated[bool, typer.Option("--serve", help="keep Radicale running until Ctrl-C")] = False,
    folder: Annotated[
        Path | None,
        typer.Option("--folder", help="keep the calendars in this folder (default: temporary)"),
    ] = None,
    port: Annotated[int, typer.Option("--port", help="port on 127.0.0.1 (default: a free one)")] = 0,
    as_of: AsOfOption = None,
) -> None:
    """Start a local Radicale, sync the example caseload into it, show where to look."""
    from kontaktsync.sync.cli.demo import run_demo

    report, _ = run_demo(serve=serve, folder=folder, port=port, as_of=parse_as_of(as_of))
    raise typer.Exit(_exit_code(report))


def register(app: typer.Typer) -> None:
    app.command("sync")(sync)
    app.command("demo")(demo)
