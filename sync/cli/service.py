"""`kontaktsync config check`, `kontaktsync config show` and `kontaktsync daemon`."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from kontaktsync.rules.engine import plan
from kontaktsync.rules.policy import BUILTIN_IDS, Policy, PolicyError, load_policy
from kontaktsync.sync.caseload import SourceError, read_caseload
from kontaktsync.sync.cli.common import ConfigOption, SecretsOption, config_warnings, load_config
from kontaktsync.sync.cli.exit_codes import ExitCode
from kontaktsync.sync.config.loading import (
    ConfigFiles,
    credential_warnings,
    mask_userinfo,
    masked_dump,
    missing_password_problems,
    resolve_files,
    secret_values,
    to_toml,
)
from kontaktsync.sync.config.masking import mask_secrets
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.core.planning import today_in


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
        from kontaktsync.sync.service.observability import setup_logging

        settings = load_config(config, secrets_dir, warn=False)
        obs = settings.observability
        setup_logging(obs.log_format, obs.log_level, secret_values(settings))
        for warning in config_warnings(config, secrets_dir):
            logging.getLogger("kontaktsync.config").warning(warning)
        raise typer.Exit(run_daemon(settings))


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
        caseload = read_caseload(
            src.cases, src.measures, src.contacts, src.header_map, encoding=src.encoding, sheets=src.sheets
        )
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


@dataclass
class Probe:
    url: str
    ok: bool
    detail: str


_PROPFIND = b"""<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
  <d:prop><d:resourcetype/><d:displayname/><c:supported-calendar-component-set/></d:prop>
</d:propfind>"""


def propfind(
    url: str,
    username: str | None,
    password: str | None,
    verify: bool | str,
    timeout: float,
    create_calendars: bool = True,
    deadline: float = 120.0,
) -> Probe:
    """PROPFIND one calendar URL (Depth 0): read-only, says what is there. Each request ends
    within `deadline` seconds, the whole answer included."""
    import xml.etree.ElementTree as ET

    import requests
    from kontaktsync.sync.targets.transport import DeadlineExceeded, install_deadline
    from requests.auth import HTTPBasicAuth, HTTPDigestAuth

    session = requests.Session()
    install_deadline(session, deadline, "target.caldav.deadline_seconds", requests.exceptions.ReadTimeout)

    headers = {"Depth": "0", "Content-Type": "application/xml; charset=utf-8"}
    auth: Any = HTTPBasicAuth(username, password or "") if username else None
    try:
        resp = session.request(
            "PROPFIND",
            url,
            data=_PROPFIND,
            headers=headers,
            auth=auth,
            verify=verify,
            timeout=timeout,
        )
        challenge = resp.headers.get("WWW-Authenticate", "").lower()
        if resp.status_code == 401 and username and challenge.startswith("digest"):
            resp = session.request(
                "PROPFIND",
                url,
                data=_PROPFIND,
                headers=headers,
                auth=HTTPDigestAuth(username, password or ""),
                verify=verify,
                timeout=timeout,
            )
    except DeadlineExceeded as exc:
        return Probe(url, False, f"{exc}; is the server overloaded, or a proxy in the way?")
    except requests.RequestException as exc:
        reason = type(exc).__name__
        return Probe(url, False, f"unreachable ({reason}); check target.caldav.url and the network")
    finally:
        session.close()
    code = resp.status_code
    if code in (401, 403):
        return Probe(
            url,
            False,
            f"HTTP {code}: access refused; check target.caldav.username and the password secret",
        )
    if code == 404:
        if create_calendars:
            return Probe(url, True, "not there yet; will be created at the first sync")
        return Probe(url, False, "HTTP 404; create the calendar or set create_calendars = true")
    if code != 207:
        return Probe(url, False, f"HTTP {code} to PROPFIND; is this a CalDAV URL?")
    try:
        root = ET.fromstring(resp.content)
    except ET.ParseError:
        return Probe(url, False, "answer is not WebDAV XML; is this a CalDAV URL?")
    ns = {"d": "DAV:", "c": "urn:ietf:params:xml:ns:caldav"}
    is_calendar = root.find(".//d:resourcetype/c:calendar", ns) is not None
    name = (root.findtext(".//d:displayname", default="", namespaces=ns) or "").strip()
    comps = [c.get("name", "") for c in root.findall(".//c:comp", ns)]
    if not is_calendar:
        return Probe(url, False, "exists but is not a calendar collection")
    what = "calendar" + (f" '{name}'" if name else "")
    if comps:
        what += f" ({', '.join(comps)})"
    if comps and "VTODO" not in comps:
        return Probe(url, False, what + ": does not take tasks (VTODO)")
    return Probe(url, True, what)


def _calendar_urls(settings: Settings, counsellors: list[str]) -> dict[str, str]:
    """Counsellor -> calendar URL, as the target makes it; a refused address maps to the
    TargetError's text prefixed with "refused: " (no request goes there)."""
    from kontaktsync.sync.targets.base import TargetError
    from kontaktsync.sync.targets.transport import calendar_url

    caldav = settings.target.caldav
    assert caldav is not None
    urls: dict[str, str] = {}
    for who in counsellors:
        try:
            urls[who] = caldav.calendars.get(who) or calendar_url(caldav.url, who)
        except TargetError as exc:
            urls[who] = f"refused: {exc}"
    for who, url in caldav.calendars.items():
        urls.setdefault(who, url)
    if not urls:
        # No caseload to name counsellors: at least reach the server and try the credentials.
        base = caldav.url.split("{", 1)[0]
        urls["(server)"] = base
    return urls


def _check_target(settings: Settings, counsellors: list[str]) -> bool:
    if settings.target.kind == "caldav":
        caldav = settings.target.caldav
        assert caldav is not None
        password = caldav.password.get_secret_value() if caldav.password else None
        verify = str(caldav.verify_tls) if isinstance(caldav.verify_tls, Path) else caldav.verify_tls
        ok = True
        urls = _calendar_urls(settings, counsellors)
        typer.echo(f"target: CalDAV, {len(urls)} calendar(s), read-only PROPFIND")
        for who, url in urls.items():
            if url.startswith("refused: "):
                typer.echo(f"    {who}: FAILED — {url.removeprefix('refused: ')}")
                ok = False
                continue
            probe = propfind(
                url,
                caldav.username,
                password,
                verify,
                caldav.timeout_seconds,
                caldav.create_calendars,
                caldav.deadline_seconds,
            )
            mark = "ok" if probe.ok else "FAILED"
            typer.echo(f"    {who}: {mark} — {probe.detail}  <{mask_userinfo(url)}>")
            ok = ok and probe.ok
        return ok
    return _check_exchange(settings, counsellors)


def _check_exchange(settings: Settings, counsellors: list[str]) -> bool:
    """Exchange: the Exchange target may offer `check(settings, counsellors)`, read-only,
    yielding (label, ok, detail) for each mailbox; without it the target is not probed."""
    try:
        from kontaktsync.sync.targets.exchange import target as exchange_target
    except ImportError:
        exchange_target = None  # type: ignore[assignment]
    check = getattr(exchange_target, "check", None)
    if check is None:
        typer.echo("target: Exchange — no read-only check available in this build; not probed")
        return True
    ok = True
    typer.echo("target: Exchange, read-only check")
    try:
        for label, good, detail in check(settings, counsellors):
            typer.echo(f"    {label}: {'ok' if good else 'FAILED'} — {detail}")
            ok = ok and bool(good)
    except Exception as exc:
        typer.echo(mask_secrets(settings, f"    FAILED — {type(exc).__name__}: {exc}"))
        return False
    return ok
