"""`kontaktsync plan`, `explain` and `policies`: the plan for people and for machines."""

from __future__ import annotations

import json
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from kontaktsync.rules.engine import explain, plan
from kontaktsync.rules.model import Case, Caseload, Plan
from kontaktsync.rules.policy import (
    BUILTIN_IDS,
    Policy,
    PolicyError,
    builtin_policy_text,
    load_policy,
    policy_json_schema_text,
)
from kontaktsync.sync.caseload import SourceError, read_caseload
from kontaktsync.sync.cli.exit_codes import ExitCode
from kontaktsync.sync.cli.spreadsheet import SafeCsvWriter
from kontaktsync.sync.core.planning import today_in
from kontaktsync.sync.report.figures import build_figures
from kontaktsync.sync.report.output import ReportFormat
from kontaktsync.sync.report.output import emit as emit_report
from rich.console import Console
from rich.markup import escape
from rich.table import Table

err = Console(stderr=True, highlight=False)


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


PolicyOpt = Annotated[
    str,
    typer.Option("--policy", "-p", help=f"built-in id ({', '.join(BUILTIN_IDS)}) or a policy file"),
]
CasesOpt = Annotated[
    Path, typer.Option("--cases", help="cases CSV, an .xlsx workbook, or a folder with the tables")
]
MeasuresOpt = Annotated[Path | None, typer.Option("--measures", help="measures CSV")]
ContactsOpt = Annotated[Path | None, typer.Option("--contacts", help="contacts CSV")]
AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="plan for this day (YYYY-MM-DD); default today")]


class Encoding(StrEnum):
    auto = "auto"
    utf8 = "utf-8"
    cp1252 = "cp1252"


EncodingOpt = Annotated[
    Encoding,
    typer.Option(
        "--encoding",
        help="text encoding of CSV files: auto (UTF-8, else Windows-1252), utf-8 or cp1252",
    ),
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option("--map", help="map an export's header to a canonical column: 'Kundennummer=case_id'"),
]


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, soft_wrap=True)
    return typer.Exit(ExitCode.CONFIG)


def _inputs(
    policy_ref: str,
    cases: Path,
    measures: Path | None,
    contacts: Path | None,
    as_of: str | None,
    mapping: list[str] | None,
    encoding: Encoding = Encoding.auto,
) -> tuple[Policy, Caseload, date]:
    try:
        policy = load_policy(policy_ref)
    except PolicyError as exc:
        raise _fail(str(exc)) from None
    try:
        day = date.fromisoformat(as_of) if as_of else today_in(policy)
        if not date(1900, 1, 1) <= day <= date(2199, 12, 31):
            raise ValueError
    except ValueError:
        raise _fail(f"--as-of '{as_of}' is not a date like 2026-11-22") from None
    header_map: dict[str, str] = {}
    for item in mapping or []:
        src, sep, dst = item.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise _fail(f"--map '{item}' must look like 'Export header=canonical_column'")
        header_map[src.strip()] = dst.strip()
    try:
        caseload = read_caseload(cases, measures, contacts, header_map, encoding=str(encoding))
    except SourceError as exc:
        raise _fail(str(exc)) from None
    return policy, caseload, day


def _print_table(result: Plan) -> None:
    out = Console()
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


def _write_csv(result: Plan) -> None:
    fields = ["case_id", "counsellor", "kind", "tag", "due", "window_start", "overdue", "rule"]
    w = SafeCsvWriter(sys.stdout, lineterminator="\n")
    w.writerow(fields)
    for o in result.obligations:
        d = o.to_json()
        w.writerow(["" if d[f] is None else str(d[f]).lower() if f == "overdue" else d[f] for f in fields])
    for e in result.errors:
        err.print(f"error {e}", soft_wrap=True, markup=False)


def plan_command(
    policy: PolicyOpt,
    cases: CasesOpt,
    measures: MeasuresOpt = None,
    contacts: ContactsOpt = None,
    as_of: AsOfOpt = None,
    fmt: Annotated[
        Format | None,
        typer.Option("--format", "-f", help="table (default on a terminal), json or csv"),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="exit 1 when any row had an error")] = False,
    mapping: MapOpt = None,
    encoding: EncodingOpt = Encoding.auto,
) -> None:
    """Compute every due contact of a caseload under a policy."""
    pol, caseload, day = _inputs(policy, cases, measures, contacts, as_of, mapping, encoding)
    result = plan(caseload, pol, day)
    fmt = fmt or (Format.table if sys.stdout.isatty() else Format.json)
    if fmt is Format.json:
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False, indent=2) + "\n")
    elif fmt is Format.csv:
        _write_csv(result)
    else:
        _print_table(result)
    if strict and result.errors:
        raise typer.Exit(ExitCode.PARTIAL)


def _facts(case: Case) -> list[tuple[str, str]]:
    skip = {"measures", "contacts", "row", "display_name"}
    rows = []
    for name in Case.__slots__:
        if name in skip:
            continue
        value = getattr(case, name)
        if value is None or value is False:
            continue
        rows.append((name, str(value)))
    return rows


def explain_command(
    case_id: Annotated[str, typer.Argument(help="the customer number")],
    policy: PolicyOpt,
    cases: CasesOpt,
    measures: MeasuresOpt = None,
    contacts: ContactsOpt = None,
    as_of: AsOfOpt = None,
    mapping: MapOpt = None,
    encoding: EncodingOpt = Encoding.auto,
) -> None:
    """Show how the plan of one case came about: facts, rules tried, anchor, interval, shifts."""
    pol, caseload, day = _inputs(policy, cases, measures, contacts, as_of, mapping, encoding)
    case = next((c for c in caseload.cases if c.case_id == case_id), None)
    if case is None:
        row_errors = [e for e in caseload.errors if e.file == caseload.files.get("cases")]
        hint = ""
        if row_errors:
            hint = " (its row may be among the rows with errors: run `kontaktsync plan` to see them)"
        raise _fail(f"no case {case_id} in {caseload.files.get('cases', cases)}{hint}")
    ex = explain(case, pol, day, caseload.files)
    out = Console(highlight=False)
    out.print(
        f"[bold]Case {escape(case.case_id)}[/] under [bold]{escape(pol.id)}[/] ({escape(pol.title)}) on {day}"
    )
    out.print(
        f"region {pol.region.country}{'-' + pol.region.subdivision if pol.region.subdivision else ''}"
        f", counting channels: {', '.join(map(str, pol.counting_channels))}"
    )
    facts = Table(show_header=False, box=None, pad_edge=False)
    for k, v in _facts(case):
        facts.add_row(f"  {k}", escape(str(v)))
    out.print("[bold]Facts[/]")
    out.print(facts)
    for m in case.measures:
        out.print(
            escape(f"  measure {m.key}: {m.kind or ''} {m.start}..{m.end}")
            + (f", actual end {m.actual_end}" if m.actual_end else "")
            + (", qualifying" if m.qualifying else "")
            + (", follow-up measure" if m.follow_up_measure else "")
            + (", job start" if m.job_start else "")
            + (f", completed {m.completion_date}" if m.completion_date else "")
        )
    out.print("[bold]Steps[/]")
    for line in ex.trace:
        out.print(f"  {line}", soft_wrap=True, markup=False)
    out.print("[bold]Result[/]")
    for o in ex.obligations:
        window = f", window from {o.window_start}" if o.window_start else ""
        late = " (overdue)" if o.overdue else ""
        out.print(f"  {o.tag} {o.kind}: due {o.due}{window}{late} — rule {o.rule}", markup=False)
    for reason in ex.unmatched:
        out.print(f"  unmatched: {reason}", markup=False)
    for e in ex.errors:
        out.print(f"  error: {e}", markup=False)
    if not (ex.obligations or ex.unmatched or ex.errors):
        out.print("  nothing is due under this policy")


policies_app = typer.Typer(help="List, show and check contact-density policies.", no_args_is_help=False)


@policies_app.callback(invoke_without_command=True)
def policies_list(ctx: typer.Context) -> None:
    """List the built-in policies."""
    if ctx.invoked_subcommand:
        return
    table = Table("id", "region", "counts as contact", "rules", "title")
    for pid in BUILTIN_IDS:
        p = load_policy(pid)
        region = p.region.country + (f"-{p.region.subdivision}" if p.region.subdivision else "")
        n = len(p.contact_rules) + len(p.measure_rules) + len(p.case_rules)
        table.add_row(pid, region, ", ".join(map(str, p.counting_channels)), str(n), p.title)
    Console().print(table)


@policies_app.command("show")
def policies_show(policy_id: Annotated[str, typer.Argument(help="a built-in policy id")]) -> None:
    """Print a built-in policy file, to copy and adapt."""
    try:
        sys.stdout.write(builtin_policy_text(policy_id))
    except PolicyError as exc:
        raise _fail(str(exc)) from None


@policies_app.command("check")
def policies_check(path: Annotated[Path, typer.Argument(help="a policy file")]) -> None:
    """Validate a policy file and say what is wrong, rule by rule."""
    try:
        p = load_policy(path)
    except PolicyError as exc:
        raise _fail(str(exc)) from None
    Console().print(
        f"{path}: valid policy '{p.id}' with {len(p.contact_rules)} contact, "
        f"{len(p.measure_rules)} measure and {len(p.case_rules)} case rules"
    )


@policies_app.command("schema")
def policies_schema() -> None:
    """Print the JSON Schema of policy files (for editors)."""
    sys.stdout.write(policy_json_schema_text())


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_command)
    app.command("explain")(explain_command)
    app.command("report")(report_command)
    app.add_typer(policies_app, name="policies")


def report_command(
    policy: PolicyOpt,
    cases: CasesOpt,
    measures: MeasuresOpt = None,
    contacts: ContactsOpt = None,
    as_of: AsOfOpt = None,
    weeks: Annotated[int, typer.Option("--weeks", min=1, max=26, help="calendar weeks ahead")] = 4,
    capacity: Annotated[
        int, typer.Option("--capacity", min=1, help="talks per week and full-time counsellor")
    ] = 25,
    mapping: MapOpt = None,
    encoding: EncodingOpt = Encoding.auto,
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
    pol, caseload, day = _inputs(policy, cases, measures, contacts, as_of, mapping, encoding)
    result = plan(caseload, pol, day)
    for e in result.errors:
        err.print(f"error {e}", soft_wrap=True, markup=False, highlight=False)
    figures = build_figures(result, capacity, weeks, per_counsellor)
    try:
        emit_report(figures, fmt, output)
    except OSError as exc:
        raise _fail(f"cannot write the report to {output}: {exc.strerror or exc}") from None
