"""`kontaktsync explain`: how the plan of one case came about, step by step."""

from __future__ import annotations

from typing import Annotated

import typer
from kontaktsync.rules.engine import explain
from kontaktsync.rules.model import Case
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
    read_inputs,
)
from rich.console import Console
from rich.markup import escape
from rich.table import Table


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
    pol, caseload, day = read_inputs(given, as_of)
    case = next((c for c in caseload.cases if c.case_id == case_id), None)
    if case is None:
        row_errors = [e for e in caseload.errors if e.file == caseload.files.get("cases")]
        hint = ""
        if row_errors:
            hint = " (its row may be among the rows with errors: run `kontaktsync plan` to see them)"
        raise fail(f"no case {case_id} in {caseload.files.get('cases')}{hint}")
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


def register(app: typer.Typer) -> None:
    app.command("explain")(explain_command)
