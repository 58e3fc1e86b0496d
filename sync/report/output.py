"""`kontaktsync report` output: a terminal table, HTML, CSV or JSON, to stdout or a file."""

from __future__ import annotations

import io
import sys
from enum import StrEnum
from pathlib import Path

from kontaktsync.sync.core.proposals import Outlook
from kontaktsync.sync.report.export import to_json_text, write_csv
from kontaktsync.sync.report.figures import Figures, Group
from kontaktsync.sync.report.html import Label, render_html, team_label
from rich.console import Console
from rich.markup import escape
from rich.table import Table


class ReportFormat(StrEnum):
    table = "table"
    html = "html"
    csv = "csv"
    json = "json"


def _table(title: str, groups: list[Group], f: Figures, label: str, name: Label = team_label) -> Table:
    table = Table(title=title)
    table.add_column(label)
    for col in ("cases", "density kept", "overdue", "> 90 days", "capacity/week"):
        table.add_column(col, justify="right")
    for monday in f.weeks:
        table.add_column(f"KW {monday.isocalendar().week}", justify="right")
    for g in groups:
        share = g.share_kept
        kept = "–" if share is None else f"{share:.0%} ({g.density_kept}/{g.with_contact_rule})"
        if g.meets_quota(f.quota) is False:
            kept = f"[red]{kept}[/]"
        load = [f"[red]{n}[/]" if n > g.capacity else str(n) for n in g.load.values()]
        table.add_row(
            escape(name(g.name)),
            str(g.cases),
            kept,
            str(g.overdue),
            str(g.overdue_by_age["> 90 days"]),
            f"{round(g.capacity, 1):g}",
            *load,
        )
    return table


def print_table(f: Figures, out: Console) -> None:
    """Per team (and all teams), per counsellor only when the figures hold that breakdown."""
    out.print(
        _table(
            f"Kontaktdichte {f.policy} on {f.as_of}: kept in ≥ {f.quota:.0%} of cases?",
            [f.total, *f.teams],
            f,
            "team",
        )
    )
    if f.counsellors is not None:
        out.print(_table("Per counsellor", f.counsellors, f, "counsellor", name=str))
    nc = f.not_counted
    held = f"{nc.cases_held}" + (" and more (unreadable customer number)" if nc.held_unknown else "")
    out.print(
        f"{f.cases_in_export} cases in the export, {f.total.cases} counted. Not counted: "
        f"{nc.rows_in_error} rows in error ({held} cases left out), {nc.unmatched} cases unmatched, "
        f"{nc.without_contact_rule} cases without a recurring contact (not in the density share).",
        soft_wrap=True,
        markup=False,
    )
    if f.proposals is not None:
        out.print(proposals_line(f.proposals), soft_wrap=True, markup=False)
    out.print(
        f"Weekly columns: obligations due (overdue ones in the current week); red above capacity "
        f"({f.capacity_per_counsellor} talks per week and full-time counsellor).",
        soft_wrap=True,
        markup=False,
    )


def proposals_line(p: Outlook) -> str:
    """Slot mode, in one sentence: proposals, late ones, talks without a place, and per week
    the proposals against the capacity (all teams)."""
    weeks = ", ".join(p.week_text(w, n, c) for w, (n, c) in p.weeks().items())
    return (
        f"Proposed appointments (calendars read, nothing written): {p.placed} placed, {p.late} after "
        f"their due date, {len(p.unplaced)} without a place; per week, proposals/capacity: "
        f"{weeks or '–'}."
    )


def render(f: Figures, fmt: ReportFormat, width: int = 160) -> str:
    """The report as text in one format (a table is rendered without colours)."""
    if fmt is ReportFormat.html:
        return render_html(f)
    if fmt is ReportFormat.json:
        return to_json_text(f)
    buffer = io.StringIO()
    if fmt is ReportFormat.csv:
        write_csv(f, buffer)
    else:
        print_table(f, Console(file=buffer, width=width, no_color=True, highlight=False))
    return buffer.getvalue()


def emit(f: Figures, fmt: ReportFormat, output: Path | None) -> None:
    """Print to the terminal, or write to `output` (replacing it only once complete).

    Raises OSError when the file cannot be written."""
    if output is None:
        if fmt is ReportFormat.table:
            print_table(f, Console(highlight=False))
        else:
            sys.stdout.write(render(f, fmt))
        return
    text = render(f, fmt)
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8", newline="")
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
