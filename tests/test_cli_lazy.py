"""The command line loads only what the command run uses (issue 11): `--help` none of the
commands, `plan` neither calendar clients nor configuration, spreadsheet or metrics modules.
Which modules are loaded is asserted; how long that takes is measured by
benchmarks/plan_process.py, never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from kontaktsync.sync.cli import COMMANDS, load_command

from tests.cli import clean_env

EXAMPLES = Path(__file__).resolve().parent.parent / "sync" / "examples"
# Heavy modules no plan run needs: calendar clients, the configuration's settings model,
# workbooks, metrics, rich output, the sync core.
NOT_FOR_PLAN = (
    "exchangelib",
    "caldav",
    "icalendar",
    "radicale",
    "openpyxl",
    "prometheus_client",
    "pydantic_settings",
    "rich",
    "kontaktsync.sync.core.reconcile",
    "kontaktsync.sync.targets",
    "kontaktsync.sync.report.html",
)
# `--help` loads no command at all, so none of what they build on.
NOT_FOR_HELP = (*NOT_FOR_PLAN, "pydantic", "kontaktsync.rules", "kontaktsync.sync.caseload", "holidays")

PROBE = """
import json, sys
sys.argv = ["kontaktsync", *json.loads(sys.argv[1])]
from kontaktsync.sync.cli import app  # not main(): as the process, plan ends it at once
try:
    app()
except SystemExit:
    pass
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)))
"""


def loaded_modules(args: list[str]) -> list[str]:
    """The modules a `kontaktsync *args` process has loaded when it ends."""
    r = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    marker = r.stderr.rfind("\nMODULES ")
    assert marker >= 0, r.stderr
    return json.loads(r.stderr[marker + len("\nMODULES ") :])


def _heavy(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == n or m.startswith(n + ".") for n in names)]


def test_help_loads_no_command() -> None:
    modules = loaded_modules(["--help"])
    assert "click" in modules  # the probe did run the command line
    assert _heavy(modules, NOT_FOR_HELP) == []
    commands = {f"kontaktsync.sync.cli.{module}" for module, _ in COMMANDS.values()}
    assert not commands.intersection(modules)


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_plan_loads_only_what_it_uses(fmt: str) -> None:
    args = ["plan", "--policy", "coburg-2016", "--cases", str(EXAMPLES), "--as-of", "2026-11-22"]
    modules = loaded_modules([*args, "--format", fmt])
    assert "kontaktsync.rules.engine" in modules and "kontaktsync.sync.cli.plan" in modules
    assert _heavy(modules, NOT_FOR_PLAN) == []


def test_the_listing_names_every_command_with_its_own_help() -> None:
    modules = {module for module, _ in COMMANDS.values()}
    registered: dict[str, str] = {}
    for module in modules:
        app = typer.Typer()
        __import__(f"kontaktsync.sync.cli.{module}", fromlist=["register"]).register(app)
        registered |= {name: module for name in typer.main.get_group(app).commands}
    assert registered == {name: module for name, (module, _) in COMMANDS.items()}
    for name, (_, summary) in COMMANDS.items():
        command = load_command(name)
        assert command is not None
        first_paragraph = " ".join((command.help or "").split("\n\n")[0].split())
        assert first_paragraph == summary, name


def test_an_unknown_command_is_none() -> None:
    assert load_command("nope") is None


GC_PROBE = """
import gc, sys
import click
import kontaktsync.sync.cli as cli

@click.command()
def probe():
    print("command", gc.isenabled(), gc.get_freeze_count() > 0, flush=True)

real = cli.load_command
def load(name):
    print("loading", gc.isenabled(), flush=True)
    return probe if name == "probe" else real(name)

cli.load_command = load
cli.COMMANDS["probe"] = ("plan", "a probe")
sys.argv = ["kontaktsync", "probe"]
cli.main()
"""


def test_the_collector_is_paused_while_a_command_loads_and_runs_again_for_the_command() -> None:
    """The start makes no garbage: the collector waits until the command's module is loaded,
    then runs again with what the start made frozen (sync/cli/__init__.py `main`)."""
    r = subprocess.run(
        [sys.executable, "-c", GC_PROBE],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.stdout.split("\n")[:2] == ["loading False", "command True True"], r.stdout + r.stderr
