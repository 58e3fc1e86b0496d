"""`kontaktsync plan`, `explain` and `policies`: the plan for people and for machines."""

from __future__ import annotations

import sys
from dataclasses import dataclass
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
    builtin_policy_text,
    load_policy,
    policy_json_schema_text,
)
from kontaktsync.sync.caseload import ENCODINGS, read_caseload
from kontaktsync.sync.cli.common import AsOfOption, ConfigOption, load_config, parse_as_of
from kontaktsync.sync.cli.plan_output import write_csv, write_json
from kontaktsync.sync.config.loading import find_config_file
from kontaktsync.sync.core.planning import today_in
from kontaktsync.sync.report.figures import build_figures
from kontaktsync.sync.report.output import ReportFormat
from kontaktsync.sync.report.output import emit as emit_report
from kontaktsync.sync.service.exit_codes import ExitCode
from rich.console import Console
from rich.markup import escape
from rich.table import Table

err = Console(stderr=True, highlight=False)


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


PolicyOpt = Annotated[
    str | None,
    typer.Option(
        "--policy",
        "-p",
        help=f"built-in id ({', '.join(BUILTIN_IDS)}) or a policy file; default: policy of --config",
        show_default=False,
    ),
]
CasesOpt = Annotated[
    Path | None,
    typer.Option(
        "--cases",
        help="cases CSV, an .xlsx workbook, or a folder with the tables; default: source of --config",
        show_default=False,
    ),
]
MeasuresOpt = Annotated[Path | None, typer.Option("--measures", help="measures CSV")]
ContactsOpt = Annotated[Path | None, typer.Option("--contacts", help="contacts CSV")]


# The encodings the reader knows, as choices of the option (typer needs an Enum).
Encoding = StrEnum("Encoding", [(name, name) for name in ENCODINGS])


EncodingOpt = Annotated[
    Encoding | None,
    typer.Option(
        "--encoding",
        help="text encoding of CSV files: auto (UTF-8, else Windows-1252), utf-8 or cp1252 "
        "(default: source.encoding of --config, else auto)",
        show_default=False,
    ),
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option("--map", help="map an export's header to a canonical column: 'Kundennummer=case_id'"),
]


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, soft_wrap=True)
    return typer.Exit(ExitCode.CONFIG)


@dataclass(frozen=True)
class Inputs:
    """What plan, explain and report read, as given on the command line (None: not given)."""

    config: Path | None
    policy: str | None
    cases: Path | None
    measures: Path | None
    contacts: Path | None
    mapping: list[str] | None
    encoding: Encoding | None


def _header_map(mapping: list[str] | None) -> dict[str, str]:
    header_map: dict[str, str] = {}
    for item in mapping or []:
        src, sep, dst = item.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise typer.BadParameter(
                f"'{item}' must look like 'Export header=canonical_column'", param_hint="'--map'"
            )
        header_map[src.strip()] = dst.strip()
    return header_map


def _needs_config(given: Inputs) -> bool:
    """Read the configuration when named, or when the command line leaves policy or cases open
    and a config file is there to fill them in."""
    if given.config is not None:
        return True
    if given.policy is not None and given.cases is not None:
        return False
    if find_config_file() is None:
        raise typer.BadParameter(
            "give --policy and --cases, or --config with a [source] table and a policy",
            param_hint="'--policy'/'--cases'",
        )
    return True


def _inputs(given: Inputs, as_of: str | None) -> tuple[Policy, Caseload, date]:
    """Policy, caseload and day: the command line's options win over the configuration's."""
    day = parse_as_of(as_of)
    cli_map = _header_map(given.mapping)
    source = policy_ref = None
    if _needs_config(given):
        settings = load_config(given.config, require_target=False)
        source, policy_ref = settings.source, settings.policy
    chosen = given.policy or policy_ref
    assert chosen is not None  # _needs_config loaded the settings when --policy is missing
    policy = load_policy(chosen)
    if given.cases is not None:
        files = (given.cases, given.measures, given.contacts)
    else:
        assert source is not None
        files = (source.cases, given.measures or source.measures, given.contacts or source.contacts)
    encoding = given.encoding or (source.encoding if source else "auto")
    caseload = read_caseload(
        *files,
        {**(source.header_map if source else {}), **cli_map},
        encoding=str(encoding),
        sheets=source.sheets if source else None,
    )
    return policy, caseload, day or today_in(policy)


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
) -> None:
    """Compute every due contact of a caseload under a policy."""
    given = Inputs(config, policy, cases, measures, contacts, mapping, encoding)
    pol, caseload, day = _inputs(given, as_of)
    result = plan(caseload, pol, day)
    fmt = fmt or (Format.table if sys.stdout.isatty() else Format.json)
    if fmt is Format.json:
        sys.stdout.flush()
        write_json(result, sys.stdout.buffer)
    elif fmt is Format.csv:
        write_csv(result, sys.stdout)
        for e in result.errors:
            err.print(f"error {e}", soft_wrap=True, markup=False)
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
    policy: PolicyOpt = None,
    cases: CasesOpt = None,
    measures: MeasuresOpt = None,
    contacts: ContactsOpt = None,
    as_of: AsOfOption = None,
    mapping: MapOpt = None,
    encoding: EncodingOpt = None,
    config: ConfigOption = None,
) -> None:
    """Show how the plan of one case came about: facts, rules tried, anchor, interval, shifts."""
    given = Inputs(config, policy, cases, measures, contacts, mapping, encoding)
    pol, caseload, day = _inputs(given, as_of)
    case = next((c for c in caseload.cases if c.case_id == case_id), None)
    if case is None:
        row_errors = [e for e in caseload.errors if e.file == caseload.files.get("cases")]
        hint = ""
        if row_errors:
            hint = " (its row may be among the rows with errors: run `kontaktsync plan` to see them)"
        raise _fail(f"no case {case_id} in {caseload.files.get('cases')}{hint}")
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
    sys.stdout.write(builtin_policy_text(policy_id))


@policies_app.command("check")
def policies_check(path: Annotated[Path, typer.Argument(help="a policy file")]) -> None:
    """Validate a policy file and say what is wrong, rule by rule."""
    p = load_policy(path)
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
    policy: PolicyOpt = None,
    cases: CasesOpt = None,
    measures: MeasuresOpt = None,
    contacts: ContactsOpt = None,
    as_of: AsOfOption = None,
    weeks: Annotated[int, typer.Option("--weeks", min=1, max=26, help="calendar weeks ahead")] = 4,
    capacity: Annotated[
        int, typer.Option("--capacity", min=1, help="talks per week and full-time counsellor")
    ] = 25,
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
    given = Inputs(config, policy, cases, measures, contacts, mapping, encoding)
    pol, caseload, day = _inputs(given, as_of)
    result = plan(caseload, pol, day)
    for e in result.errors:
        err.print(f"error {e}", soft_wrap=True, markup=False, highlight=False)
    figures = build_figures(result, capacity, weeks, per_counsellor)
    try:
        emit_report(figures, fmt, output)
    except OSError as exc:
        raise _fail(f"cannot write the report to {output}: {exc.strerror or exc}") from None
