"""What `plan`, `explain` and `report` read: their shared options, and the policy, caseload and
day those options (or the configuration) name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from kontaktsync.rules.model import Caseload
from kontaktsync.rules.policy import BUILTIN_IDS, load_policy
from kontaktsync.rules.policy_format import Policy
from kontaktsync.sync.caseload import ENCODINGS, Share, read_caseload
from kontaktsync.sync.cli.common import load_config, parse_as_of
from kontaktsync.sync.service.exit_codes import ExitCode

if TYPE_CHECKING:
    from kontaktsync.sync.config.models import Settings

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


def fail(message: str) -> typer.Exit:
    """The exit of a command that cannot start, after saying why on stderr."""
    from rich.console import Console  # only when failing: `plan` itself needs no rich
    from rich.markup import escape

    Console(stderr=True, highlight=False).print(
        f"[bold red]error:[/] {escape(message)}", markup=True, soft_wrap=True
    )
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
    from kontaktsync.sync.config.loading import find_config_file  # the configuration's modules

    if find_config_file() is None:
        raise typer.BadParameter(
            "give --policy and --cases, or --config with a [source] table and a policy",
            param_hint="'--policy'/'--cases'",
        )
    return True


@dataclass(frozen=True)
class Resolved:
    """The policy, the caseload's files and how to read them, and the day: what the options
    (or the configuration) name, before the caseload is read."""

    policy: Policy
    files: tuple[Path, Path | None, Path | None]
    header_map: dict[str, str]
    encoding: str
    sheets: dict[str, str] | None
    day: date
    settings: Settings | None = None  # the configuration, where one was read

    def read(self, share: Share | None = None) -> Caseload:
        """The caseload (with `share`, one share of it: see `Share`)."""
        return read_caseload(
            *self.files, self.header_map, encoding=self.encoding, sheets=self.sheets, share=share
        )

    @property
    def cases_file(self) -> Path:
        """The file of the cases: the one named, or a folder's cases.csv."""
        cases = self.files[0]
        return cases / "cases.csv" if cases.is_dir() else cases

    @property
    def is_csv(self) -> bool:
        """The cases are a CSV file (or a folder holding cases.csv), not a workbook's sheet."""
        return self.cases_file.suffix.lower() == ".csv" and self.cases_file.is_file()


def resolve_inputs(given: Inputs, as_of: str | None) -> Resolved:
    """Policy, files and day: the command line's options win over the configuration's."""
    day = parse_as_of(as_of)
    cli_map = _header_map(given.mapping)
    source = policy_ref = settings = None
    if _needs_config(given):
        settings = load_config(given.config, require_target=False)
        source, policy_ref = settings.source, settings.policy
    chosen = given.policy or policy_ref
    assert chosen is not None  # _needs_config loaded the settings when --policy is missing
    policy = load_policy(chosen)
    files: tuple[Path, Path | None, Path | None]
    if given.cases is not None:
        files = (given.cases, given.measures, given.contacts)
    else:
        assert source is not None
        files = (source.cases, given.measures or source.measures, given.contacts or source.contacts)
    encoding = given.encoding or (source.encoding if source else "auto")
    if day is None:
        from kontaktsync.sync.core.planning import today_in  # imports the settings model

        day = today_in(policy)
    return Resolved(
        policy,
        files,
        {**(source.header_map if source else {}), **cli_map},
        str(encoding),
        source.sheets if source else None,
        day,
        settings,
    )


def read_inputs(given: Inputs, as_of: str | None) -> tuple[Policy, Caseload, date]:
    """Policy, caseload and day (see `resolve_inputs`)."""
    resolved = resolve_inputs(given, as_of)
    return resolved.policy, resolved.read(), resolved.day
