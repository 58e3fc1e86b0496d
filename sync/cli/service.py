"""`kontaktsync config check`, `kontaktsync config show` and `kontaktsync daemon`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from kontaktsync.sync.cli.exit_codes import ExitCode
from kontaktsync.sync.config.loading import (
    ConfigError,
    ConfigFiles,
    credential_warnings,
    load_settings,
    mask_userinfo,
    masked_dump,
    missing_password_problems,
    resolve_files,
    secret_values,
    to_toml,
)
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.targets.base import TargetError, make_target

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML configuration (default: $KONTAKTSYNC_CONFIG, ./kontaktsync.toml, "
        "/etc/kontaktsync/kontaktsync.toml)",
        show_default=False,
    ),
]
SecretsOption = Annotated[
    Path | None,
    typer.Option(
        "--secrets-dir",
        help="folder with one file per secret (default: $KONTAKTSYNC_SECRETS_DIR, /run/secrets)",
        show_default=False,
    ),
]


def _load(config: Path | None, secrets_dir: Path | None, **kwargs: Any) -> Settings:
    try:
        return load_settings(config, secrets_dir=secrets_dir, **kwargs)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(ExitCode.CONFIG) from None


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
        settings = _load(config, secrets_dir, require_target=False)
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
        """Validate the configuration, read the caseload, connect to the target read-only."""
        settings = _load(config, secrets_dir)
        files = resolve_files(config, secrets_dir=secrets_dir)
        typer.echo(f"configuration: ok (config file {files.toml or 'none'})")
        ok = _check_credentials(settings, files)
        source_ok, counsellors = _check_source(settings)
        ok = source_ok and ok
        ok = _check_state(settings) and ok
        ok = _check_target(settings, counsellors) and ok
        typer.echo("result: ok" if ok else "result: problems found (see above)")
        raise typer.Exit(ExitCode.OK if ok else ExitCode.PARTIAL)

    @app.command("daemon")
    def daemon(config: ConfigOption = None, secrets_dir: SecretsOption = None) -> None:
        """Sync on a schedule, serve /healthz and /metrics, stop cleanly on SIGTERM."""
        from kontaktsync.sync.service.daemon import run_daemon
        from kontaktsync.sync.service.observability import setup_logging

        settings = _load(config, secrets_dir)
        obs = settings.observability
        setup_logging(obs.log_format, obs.log_level, secret_values(settings))
        raise typer.Exit(run_daemon(settings))


def _masked(settings: Settings, text: str) -> str:
    for secret in secret_values(settings):
        text = text.replace(secret, "********")
    return mask_userinfo(text)


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


# --- config check: source -----------------------------------------------------------------


def _check_source(settings: Settings) -> tuple[bool, list[str]]:
    """Read the caseload (and plan it, when the planner is there); report sizes, never names."""
    from kontaktsync.sync.caseload.reader import SourceError

    src = settings.source
    try:
        try:
            from kontaktsync.sync.core.planning import make_plan
        except ImportError:
            make_plan = None  # type: ignore[assignment]
        if make_plan is not None:
            plan = make_plan(settings)
            counsellors = sorted({facts.counsellor for facts in plan.cases.values()})
            due = len(plan.obligations)
            overdue = sum(1 for o in plan.obligations if o.overdue)
            typer.echo(
                f"source: ok — {len(plan.cases)} cases, {len(counsellors)} counsellors, "
                f"{due} obligations ({overdue} overdue) under policy {plan.policy}"
            )
            errors: Iterable[Any] = plan.errors
        else:
            from kontaktsync.sync.caseload.reader import read_caseload

            caseload = read_caseload(src.cases, src.measures, src.contacts, src.header_map)
            counsellors = sorted({case.counsellor for case in caseload.cases})
            typer.echo(f"source: ok — {len(caseload.cases)} cases, {len(counsellors)} counsellors")
            errors = caseload.errors
    except SourceError as exc:
        typer.echo(f"source: FAILED — {exc}\n    fix: check source.cases ({src.cases})")
        return False, []
    except Exception as exc:  # the policy may be unknown, a file unreadable, ...
        typer.echo(_masked(settings, f"source: FAILED — {type(exc).__name__}: {exc}"))
        return False, []
    errors = list(errors)
    if errors:
        typer.echo(f"source: {len(errors)} rows left out:")
        for error in errors[:10]:
            typer.echo(f"    {error}")
        if len(errors) > 10:
            typer.echo(f"    … and {len(errors) - 10} more")
    return True, counsellors


def _check_state(settings: Settings) -> bool:
    """Where the state database lives, and whether the service may write there."""
    import os

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
        typer.echo(_masked(settings, f"target: FAILED — {exc}"))
        return False
    typer.echo(f"target: {target.title}, {len(names)} calendar(s), {target.probing}")
    ok = True
    try:
        for name in names:
            probe = target.probe(name)
            where = f"  <{probe.address}>" if probe.address else ""
            mark = "ok" if probe.ok else "FAILED"
            typer.echo(_masked(settings, f"    {probe.label}: {mark} — {probe.detail}{where}"))
            ok = ok and probe.ok
    except Exception as exc:  # a probe must report, never crash the check
        typer.echo(_masked(settings, f"    FAILED — {type(exc).__name__}: {exc}"))
        return False
    finally:
        target.close()
    return ok
