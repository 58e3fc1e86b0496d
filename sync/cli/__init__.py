"""The `kontaktsync` command. Each group of commands lives in its own module and registers
itself on the one Typer app, so the plan, sync and service commands stay apart."""

from __future__ import annotations

import sys

import typer
from kontaktsync.sync.cli import plan as cli_plan
from kontaktsync.sync.cli import service as cli_service
from kontaktsync.sync.cli import sync as cli_sync
from kontaktsync.sync.service.exit_codes import HANDLED, for_error

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
    """Run a command; the errors that stop one become a message and an exit code here (the
    map is in kontaktsync.sync.service.exit_codes)."""
    try:
        app()
    except HANDLED as exc:
        code, message = for_error(exc)
        typer.echo(message, err=True)
        sys.exit(int(code))
