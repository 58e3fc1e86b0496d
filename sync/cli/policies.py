"""`kontaktsync policies`: list, show, check the built-in and your own policies, and the schema."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from kontaktsync.rules.policy import BUILTIN_IDS, builtin_policy_text, load_policy, policy_json_schema_text
from rich.console import Console
from rich.table import Table

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
    app.add_typer(policies_app, name="policies")
