"""`kontaktsync config check`, `kontaktsync config show` and `kontaktsync daemon`."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from kontaktsync.rules.engine import plan
from kontaktsync.rules.policy import BUILTIN_IDS, PolicyError, load_policy
from kontaktsync.rules.policy_format import Policy
from kontaktsync.sync.caseload import SourceError
from kontaktsync.sync.cli.common import ConfigOption, SecretsOption, config_warnings, load_config
from kontaktsync.sync.config.loading import (
    ConfigFiles,
    credential_warnings,
    masked_dump,
    missing_password_problems,
    resolve_files,
    secret_values,
    to_toml,
)
from kontaktsync.sync.config.masking import mask_secrets
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.core.planning import read_source, today_in
from kontaktsync.sync.core.proposals import office_for
from kontaktsync.sync.service.exit_codes import ExitCode
from kontaktsync.sync.targets.base import TargetError, make_target


def register(app: typer.Typer) -> None:
    config_app = typer.Typer(
        help="Check or show the configuration.", no_args_is_help=True, add_completion=False
    )
    app.add_typer(config_app, name="config")

    @config_app.command("show")
    def config_show(
        config: ConfigOption = None,
        secrets_dir: SecretsOption = None,
        format: Annotated[str, typer.Option("--format", help="toml or json")] = "toml",
    ) -> None:
        """Print the effective configuration (all sources merged), secrets masked."""
        settings = load_config(config, secrets_dir, require_target=False)
        data = masked_dump(settings)
        if format == "json":
            typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
            return
        files = resolve_files(config, secrets_dir=secrets_dir)
        typer.echo("# effective kontaktsync configuration; secrets are masked")
        typer.echo(f"# config file: {files.toml or '(none)'}")
        typer.echo(f"# .env file:   {files.env_file or '(none)'}")
        typer.echo(f"# secrets dir: {files.secrets_dir or '(none)'}")
        typer.echo("# precedence: environment > .env > secrets dir > config file > defaults\n")
        typer.echo(to_toml(data), nl=False)

    @config_app.command("check")
    def config_check(config: ConfigOption = None, secrets_dir: SecretsOption = None) -> None:
        """Validate the configuration and the policy, read the caseload, connect to the target
        read-only."""
        settings = load_config(config, secrets_dir)
        files = resolve_files(config, secrets_dir=secrets_dir)
        typer.echo(f"configuration: ok (config file {files.toml or 'none'})")
        ok = _check_credentials(settings, files)
        policy = _check_policy(settings, files)
        source_ok, counsellors = _check_source(settings, policy, files)
        ok = ok and policy is not None and source_ok
        if policy is not None:
            ok = _check_office(settings, policy) and ok
        ok = _check_state(settings) and ok
        if source_ok:
            ok = _check_target(settings, counsellors) and ok
        else:
            typer.echo("target: not probed — without a caseload no calendar is known (fix source first)")
        typer.echo("result: ok" if ok else "result: problems found (see above)")
        raise typer.Exit(ExitCode.OK if ok else ExitCode.PARTIAL)

    @app.command("daemon")
    def daemon(config: ConfigOption = None, secrets_dir: SecretsOption = None) -> None:
        """Sync on a schedule, serve /healthz and /metrics, stop cleanly on SIGTERM."""
        from kontaktsync.sync.service.daemon import run_daemon
        from kontaktsync.sync.service.logs import setup_logging

        settings = load_config(config, secrets_dir, warn=False)
        obs = settings.observability
        setup_logging(obs.log_format, obs.log_level, secret_values(settings))
        for warning in config_warnings(config, secrets_dir):
            logging.getLogger("kontaktsync.config").warning(warning)
        raise typer.Exit(run_daemon(settings))


def _check_office(settings: Settings, policy: Policy) -> bool:
    """Slot mode: are all office values the placer needs set (policy or items.*)?"""
    if settings.items.appointments != "slot":
        return True
    try:
        missing = office_for(policy, settings.items).missing()
    except ValueError as exc:
        typer.echo(f"appointments: FAILED — the office data is not usable: {exc}")
        return False
    if missing:
        typer.echo(
            f"appointments: FAILED — slot mode needs these office values: {', '.join(missing)}\n"
            "    fix: set them in the policy's office block, or as items.* in the configuration"
        )
        return False
    typer.echo("appointments: ok — slot mode, office data complete")
    return True


def _check_credentials(settings: Settings, files: ConfigFiles) -> bool:
    """Where credentials come from: a missing password fails, one in a URL is warned about.
    Never prints a value."""
    ok = True
    for problem in missing_password_problems(settings, files):
        typer.echo(f"credentials: FAILED — {problem.setting} {problem.message}\n    fix: {problem.fix}")
        ok = False
    for warning in credential_warnings(settings):
        typer.echo(f"credentials: warning — {warning.setting} {warning.message}\n    fix: {warning.fix}")
    return ok


def _where(files: ConfigFiles) -> str:
    return f"config file {files.toml}" if files.toml else "no config file"


def _check_policy(settings: Settings, files: ConfigFiles) -> Policy | None:
    """Load the policy the settings name; None (and a FAILED line naming it) when it cannot."""
    try:
        policy = load_policy(settings.policy)
    except PolicyError as exc:
        typer.echo(
            f"policy: FAILED — policy = '{settings.policy}' ({_where(files)}): {exc}\n"
            f"    fix: set policy to a built-in id ({', '.join(BUILTIN_IDS)}) or the path of a policy "
            "file (relative to the config file's folder); `kontaktsync policies check FILE` says more"
        )
        return None
    typer.echo(f"policy: ok — {policy.id} ({policy.title})")
    return policy


# --- config check: source -----------------------------------------------------------------


def _check_source(settings: Settings, policy: Policy | None, files: ConfigFiles) -> tuple[bool, list[str]]:
    """Read the caseload (and plan it, when the policy loaded); report sizes, never names."""
    src = settings.source
    if not src.cases.exists():
        typer.echo(
            f"source: FAILED — the caseload {src.cases} does not exist (source.cases, {_where(files)})\n"
            "    fix: set source.cases to the export file or folder (relative to the config file's folder)"
        )
        return False, []
    try:
        caseload = read_source(src)
    except SourceError as exc:
        typer.echo(f"source: FAILED — {exc}\n    fix: check source.cases ({src.cases})")
        return False, []
    except Exception as exc:  # a file unreadable, ...
        typer.echo(mask_secrets(settings, f"source: FAILED — {type(exc).__name__}: {exc}"))
        return False, []
    counsellors = sorted({case.counsellor for case in caseload.cases})
    line = f"source: ok — {len(caseload.cases)} cases, {len(counsellors)} counsellors"
    errors = list(caseload.errors)
    if policy is not None:
        result = plan(caseload, policy, today_in(policy))
        overdue = sum(1 for o in result.obligations if o.overdue)
        line += f", {len(result.obligations)} obligations ({overdue} overdue) under policy {policy.id}"
        errors = list(result.errors)
    typer.echo(line)
    if errors:
        typer.echo(f"source: {len(errors)} rows left out:")
        for error in errors[:10]:
            typer.echo(f"    {error}")
        if len(errors) > 10:
            typer.echo(f"    … and {len(errors) - 10} more")
    return True, counsellors


def _check_state(settings: Settings) -> bool:
    """Where the state database lives, and whether the service may write there."""
    path = settings.sync.state_path.absolute()
    folder = next((p for p in [path.parent, *path.parent.parents] if p.exists()), Path("/"))
    if path.exists():
        writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
        what = f"state: {path} exists"
    else:
        writable = os.access(folder, os.W_OK)
        what = f"state: {path} will be created at the first sync"
    if not writable:
        typer.echo(f"{what} — FAILED: not writable by this user; fix sync.state_path or the permissions")
        return False
    typer.echo(f"{what} — ok")
    return True


# --- config check: target -----------------------------------------------------------------


def _probe_names(settings: Settings, counsellors: list[str]) -> list[str | None]:
    """The calendars to probe: the caseload's counsellors and those configured explicitly;
    `None` (the server itself) when there are none."""
    target = settings.target
    explicit = target.caldav.calendars if target.caldav else {}
    if target.kind == "exchange" and target.exchange:
        explicit = target.exchange.mailboxes
    names: list[str | None] = list(dict.fromkeys([*counsellors, *explicit]))
    return names or [None]


def _check_target(settings: Settings, counsellors: list[str]) -> bool:
    """Probe every calendar read-only through the target (`Target.probe`)."""
    names = _probe_names(settings, counsellors)
    try:
        target = make_target(settings)
    except TargetError as exc:
        typer.echo(mask_secrets(settings, f"target: FAILED — {exc}"))
        return False
    typer.echo(f"target: {target.title}, {len(names)} calendar(s), {target.probing}")
    ok = True
    try:
        existing = None
        for name in names:
            probe = target.probe(name)
            where = f"  <{probe.address}>" if probe.address else ""
            mark = "ok" if probe.ok else "FAILED"
            typer.echo(mask_secrets(settings, f"    {probe.label}: {mark} — {probe.detail}{where}"))
            ok = ok and probe.ok
            if existing is None and name is not None and probe.ok and probe.exists:
                existing = name
        if existing is not None:
            rules = target.write_rules(existing)
            if rules:
                typer.echo(
                    mask_secrets(settings, f"    write preconditions (a probe item in {existing}): {rules}")
                )
    except Exception as exc:  # a probe must report, never crash the check
        typer.echo(mask_secrets(settings, f"    FAILED — {type(exc).__name__}: {exc}"))
        return False
    finally:
        target.close()
    return ok
