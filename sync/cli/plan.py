"""`kontaktsync plan`: every due contact of a caseload, for people (table) and machines (json, csv)."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer
from kontaktsync.rules.engine import plan
from kontaktsync.rules.model import Plan
from kontaktsync.sync.cli.common import AsOfOption, ConfigOption, end_process
from kontaktsync.sync.cli.inputs import (
    CasesOpt,
    ContactsOpt,
    EncodingOpt,
    Inputs,
    MapOpt,
    MeasuresOpt,
    PolicyOpt,
    resolve_inputs,
)
from kontaktsync.sync.cli.plan_output import write_csv, write_csv_lines, write_json, write_json_items
from kontaktsync.sync.cli.plan_workers import MAX_JOBS, Merged, can_fork, default_jobs, plan_in_processes
from kontaktsync.sync.service.exit_codes import ExitCode


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def _print_table(result: Plan) -> None:
    # rich only for the table: json and csv, the formats of large plans, do without it
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    out, err = Console(), Console(stderr=True, highlight=False)
    table = Table(title=f"{result.policy} on {result.as_of}", show_lines=False)
    for col in ("due", "case", "counsellor", "tag", "kind", "window from", "rule"):
        table.add_column(col)
    for o in result.obligations:
        due = f"[red]{o.due} overdue[/]" if o.overdue else str(o.due)
        table.add_row(
            due,
            escape(o.case_id),
            escape(o.counsellor),
            escape(o.tag),
            str(o.kind),
            str(o.window_start or ""),
            escape(o.rule.split("/", 1)[1]),
        )
    out.print(table)
    overdue = sum(o.overdue for o in result.obligations)
    out.print(
        f"{len(result.obligations)} obligations ({overdue} overdue) for {len(result.cases)} cases; "
        f"{len(result.unmatched)} unmatched; {len(result.errors)} rows with errors"
    )
    for u in result.unmatched:
        out.print(f"[yellow]unmatched[/] {escape(u.case_id)}: {escape(u.reason)}", soft_wrap=True)
    for e in result.errors:
        err.print(f"[red]error[/] {escape(str(e))}", soft_wrap=True, markup=True)


def _print_errors(result: Plan) -> None:
    """The rows with errors on stderr, beside the CSV on stdout."""
    from rich.console import Console

    err = Console(stderr=True, highlight=False)
    for e in result.errors:
        err.print(f"error {e}", soft_wrap=True, markup=False)


def plan_command(
    policy: PolicyOpt = None,
    cases: CasesOpt = None,
    measures: MeasuresOpt = None,
    contacts: ContactsOpt = None,
    as_of: AsOfOption = None,
    fmt: Annotated[
        Format | None,
        typer.Option("--format", "-f", help="table (default on a terminal), json or csv"),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="exit 1 when any row had an error")] = False,
    mapping: MapOpt = None,
    encoding: EncodingOpt = None,
    config: ConfigOption = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="processes that plan at once, each a share of the cases (json and csv output "
            f"of CSV files; default: one per CPU, up to {MAX_JOBS}, from a cases file of 1 MB)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Compute every due contact of a caseload under a policy."""
    given = Inputs(config, policy, cases, measures, contacts, mapping, encoding)
    resolved = resolve_inputs(given, as_of)
    fmt = fmt or (Format.table if sys.stdout.isatty() else Format.json)
    if fmt is not Format.table:
        jobs = default_jobs(resolved) if jobs is None else jobs
        if jobs > 1 and can_fork():
            _write_merged(plan_in_processes(resolved, jobs, fmt.value), fmt, strict)  # type: ignore[arg-type]
            return
    # the table counts the planned cases (their facts); json and csv need none
    result = plan(resolved.read(), resolved.policy, resolved.day, release=True, facts=fmt is Format.table)
    if fmt is Format.json:
        sys.stdout.flush()
        write_json(result, sys.stdout.buffer)
    elif fmt is Format.csv:
        write_csv(result, sys.stdout)
    else:
        _print_table(result)
    _finish(result, fmt, strict)


def _write_merged(merged: Merged, fmt: Format, strict: bool) -> None:
    """The output of a plan made in several processes: the same bytes as of one."""
    try:
        if fmt is Format.json:
            sys.stdout.flush()
            write_json_items(sys.stdout.buffer, merged.head, merged.items)  # type: ignore[arg-type]
        else:
            write_csv_lines(sys.stdout, merged.items)  # type: ignore[arg-type]
    finally:
        merged.end()
    _finish(merged.head, fmt, strict)


def _finish(result: Plan, fmt: Format, strict: bool) -> None:
    """The rows with errors beside a CSV plan (json and the table hold them), then the exit."""
    if fmt is Format.csv and result.errors:
        _print_errors(result)
    end_process(ExitCode.PARTIAL if strict and result.errors else ExitCode.OK)


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_command)
