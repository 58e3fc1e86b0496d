"""The `kontaktsync` command. Each group of commands lives in its own module and registers
itself on the one Typer app, so the plan, sync and service commands stay apart."""

from __future__ import annotations

import typer
from kontaktsync.sync.cli import plan as cli_plan
from kontaktsync.sync.cli import service as cli_service
from kontaktsync.sync.cli import sync as cli_sync

app = typer.Typer(
    name="kontaktsync",
    help="Contact-density plans as tasks and appointments in counsellors' calendars.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

cli_plan.register(app)
cli_sync.register(app)
cli_service.register(app)


def main() -> None:
    app()
