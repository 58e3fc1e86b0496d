"""The report's numbers as CSV (one number per row, for pivot tables) and as JSON.

CSV columns: `as_of, scope, name, measure, period, value`. `scope` is `all`, `team`,
`counsellor` (only when the per-counsellor breakdown was asked for), `not_counted` or
`proposals` (slot mode: proposed appointments, all teams, per ISO week); `period`
is an age bucket for `overdue` and an ISO week (`2026-W48`) for `load`, empty otherwise. Every
cell goes through the formula-safe writer, since names come from exports.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import TextIO

from kontaktsync.sync.report.figures import Figures, Group

CSV_HEADER = ("as_of", "scope", "name", "measure", "period", "value")


def iso_week(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def _group_rows(scope: str, g: Group) -> Iterator[tuple[str, str, str, str, object]]:
    share = "" if g.share_kept is None else f"{g.share_kept:.4f}"
    for measure, value in (
        ("cases", g.cases),
        ("with_contact_rule", g.with_contact_rule),
        ("density_kept", g.density_kept),
        ("share_kept", share),
        ("without_contact_rule", g.without_contact_rule),
        ("unmatched", g.unmatched),
        ("overdue", g.overdue),
        ("counsellors", f"{g.counsellors:g}"),
        ("capacity_per_week", f"{g.capacity:g}"),
    ):
        yield scope, g.name, measure, "", value
    for bucket, n in g.overdue_by_age.items():
        yield scope, g.name, "overdue", bucket, n
    for monday, n in g.load.items():
        yield scope, g.name, "load", iso_week(monday), n


def _not_counted_rows(f: Figures) -> Iterator[tuple[str, str, str, str, object]]:
    nc = f.not_counted
    yield "not_counted", "", "rows_in_error", "", nc.rows_in_error
    for file, n in nc.rows_by_file.items():
        yield "not_counted", file, "rows_in_error", "", n
    for (file, column), n in nc.errors_by_column.items():
        yield "not_counted", f"{file}, column {column}", "errors", "", n
    yield "not_counted", "", "cases_left_out_for_errors", "", nc.cases_held
    yield "not_counted", "", "more_cases_left_out_unknown", "", str(nc.held_unknown).lower()
    yield "not_counted", "", "unmatched_cases", "", nc.unmatched
    yield "not_counted", "", "cases_without_contact_rule", "", nc.without_contact_rule


def write_csv(f: Figures, stream: TextIO) -> None:
    # imported here: kontaktsync.sync.cli imports the report command, which imports this module
    from kontaktsync.sync.report.spreadsheet import SafeCsvWriter

    w = SafeCsvWriter(stream, lineterminator="\n")
    w.writerow(CSV_HEADER)
    day = f.as_of.isoformat()
    rows = [*_group_rows("all", f.total)]
    for g in f.teams:
        rows += _group_rows("team", g)
    for g in f.counsellors or []:
        rows += _group_rows("counsellor", g)
    rows += _not_counted_rows(f)
    if f.proposals is not None:
        p = f.proposals
        rows += [
            ("proposals", "", "placed", "", p.placed),
            ("proposals", "", "late", "", p.late),
            ("proposals", "", "without_place", "", len(p.unplaced)),
        ]
        for week, (n, cap) in p.weeks().items():
            rows += [("proposals", "", "proposals", week, n), ("proposals", "", "capacity", week, cap)]
    for row in rows:
        w.writerow((day, *row))


def to_json_text(f: Figures) -> str:
    return json.dumps(f.to_json(), ensure_ascii=False, indent=2) + "\n"
