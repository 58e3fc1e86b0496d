"""What every command shares: the --config, --secrets-dir and --as-of options and their parsing.

The configuration's modules (pydantic-settings and the whole settings model) are imported only
when a command reads the configuration: `plan --policy P --cases F` and `--help` never do.
"""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from kontaktsync.sync.config.models import Settings

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML configuration (default: $KONTAKTSYNC_CONFIG, ./kontaktsync.toml, "
        "/etc/kontaktsync/kontaktsync.toml)",
        show_default=False,
        dir_okay=False,
    ),
]
SecretsOption = Annotated[
    Path | None,
    typer.Option(
        "--secrets-dir",
        help="folder with one file per secret (default: $KONTAKTSYNC_SECRETS_DIR, "
        "$CREDENTIALS_DIRECTORY, /run/secrets)",
        show_default=False,
    ),
]
AsOfOption = Annotated[
    str | None, typer.Option("--as-of", help="plan as of this date (YYYY-MM-DD); default today")
]

_FIRST_DAY, _LAST_DAY = date(1900, 1, 1), date(2199, 12, 31)

# Set by `kontaktsync.sync.cli.main`: the command runs as the process (not called in-process),
# so it may end the process itself (`end_process`).
AS_PROCESS = False


def end_process(code: int) -> None:
    """End the process with `code`, without freeing what it built: a plan of 100,000 cases is a
    million objects, and freeing them one by one at exit took ~4 % of `kontaktsync plan`
    (benchmarks/README.md). Only stdout and stderr are still open, so they are flushed first.
    Called in-process (tests, another program), it raises `typer.Exit` as usual."""
    if not AS_PROCESS:
        raise typer.Exit(code)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def parse_as_of(value: str | None) -> date | None:
    """The --as-of date of every command; None when not given (the caller's default applies)."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    if day is None or not _FIRST_DAY <= day <= _LAST_DAY:
        raise typer.BadParameter(f"'{value}' is not a date like 2026-11-22", param_hint="'--as-of'")
    return day


def config_warnings(config: Path | None, secrets_dir: Path | None = None) -> list[str]:
    """What is usable but probably not meant (see `settings_warnings`)."""
    from kontaktsync.sync.config.loading import resolve_files, settings_warnings

    return settings_warnings(resolve_files(config, secrets_dir=secrets_dir))


def load_config(
    config: Path | None, secrets_dir: Path | None = None, *, warn: bool = True, **kwargs: Any
) -> Settings:
    """The settings (ConfigError propagates to the one handler); with `warn`, warnings go to
    stderr first (the daemon logs them instead, once its logging is set up)."""
    from kontaktsync.sync.config.loading import load_settings

    if warn:
        for warning in config_warnings(config, secrets_dir):
            typer.echo(f"warning: {warning}", err=True)
    return load_settings(config, secrets_dir=secrets_dir, **kwargs)
