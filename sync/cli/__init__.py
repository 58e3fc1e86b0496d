"""The `kontaktsync` command. Each command lives in its own module and registers itself on the
one Typer app, so the plan, sync and service commands stay apart.

A command's module is imported only when that command runs (`LazyGroup`): `kontaktsync plan`
never loads the calendar clients, and `kontaktsync --help` loads none of the commands. The
listing of `--help` therefore comes from `COMMANDS` (tests/test_cli_lazy.py checks it against
each command's own help). The help is click's plain text: typer's rich help costs more than the
whole `--help` may take (benchmarks/README.md).
"""

from __future__ import annotations

import gc
import sys
from importlib import import_module

import click
import typer
from kontaktsync.sync.cli import common
from typer.core import TyperGroup

# command -> (module in kontaktsync.sync.cli that registers it, its one-line help), in the
# order `--help` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "plan": ("plan", "Compute every due contact of a caseload under a policy."),
    "explain": (
        "explain",
        "Show how the plan of one case came about: facts, rules tried, anchor, interval, shifts.",
    ),
    "report": (
        "report",
        "For team leaders: density kept per team (target 90 %), overdue by age, the coming weeks' load.",
    ),
    "sync": ("sync", "Write the plan into the counsellors' calendars (tasks, optional markers)."),
    "demo": ("sync", "Start a local Radicale, sync the example caseload into it, show where to look."),
    "daemon": ("service", "Sync on a schedule, serve /healthz and /metrics, stop cleanly on SIGTERM."),
    "policies": ("policies", "List, show and check contact-density policies."),
    "config": ("service", "Check or show the configuration."),
}


def load_command(name: str) -> click.Command | None:
    """The command `name`, from its module (None for an unknown name)."""
    if name not in COMMANDS:
        return None
    app = typer.Typer(add_completion=False, rich_markup_mode=None)
    import_module(f"{__name__}.{COMMANDS[name][0]}").register(app)
    group = typer.main.get_group(app)
    return group.commands[name]


class LazyGroup(TyperGroup):
    """The top-level group: lists `COMMANDS`, imports a command's module when it is run."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            command = load_command(cmd_name)
            if command is None:
                return None
            self.commands[cmd_name] = command
        return self.commands[cmd_name]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_, summary) in COMMANDS.items()])


app = typer.Typer(
    name="kontaktsync",
    cls=LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


# Whether the cyclic collector ran before `main` paused it for the command's start; None once
# it runs again (or when it was never paused: a command run in-process, by the tests).
_collector_ran: bool | None = None


@app.callback()
def kontaktsync() -> None:
    """Contact-density plans as tasks and appointments in counsellors' calendars."""
    # click runs this once the command's module is loaded, before the command: the start is over
    global _collector_ran
    if _collector_ran is not None:
        from kontaktsync.rules.heap import freeze

        freeze(_collector_ran)
        _collector_ran = None


def main() -> None:
    """Run a command; the errors that stop one become a message and an exit code here (the
    map is in kontaktsync.sync.service.stops, imported only when a command stopped).

    The cyclic collector is paused while the command's module loads (the rules, the policy
    model, the calendar clients ...): that makes many objects and no garbage, and the collector
    walked them ~80 times, ~12 ms of every start. It runs again, with what lives then frozen
    (rules.heap), before the command (`kontaktsync`, the group's callback)."""
    global _collector_ran
    common.AS_PROCESS = True
    _collector_ran = gc.isenabled()  # rules.heap.pause(), without loading the rules for --help
    gc.disable()
    try:
        app()
    except Exception as exc:
        from kontaktsync.sync.service.stops import HANDLED, for_error

        if not isinstance(exc, HANDLED):
            raise
        code, message = for_error(exc)
        typer.echo(message, err=True)
        sys.exit(int(code))
