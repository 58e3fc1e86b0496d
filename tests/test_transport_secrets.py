"""Secrets stay secret: no URL user-info in any output, no credentials over plain http:// to
anything but loopback unless allowed, and a username without its password is reported.

`kontaktsync config check` / `config show` run as subprocesses, as an operator runs them.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from kontaktsync.sync.config.loading import mask_userinfo
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.config.network import insecure_http_problem
from kontaktsync.sync.service.logs import setup_logging
from kontaktsync.sync.targets.base import TargetError
from kontaktsync.sync.targets.caldav.target import CalDAVTarget
from kontaktsync.sync.targets.exchange.target import ExchangeTarget

from tests.builders import case_rows, write_cases
from tests.calendars import etags
from tests.cli import clean_env, run_cli
from tests.configs import write_config
from tests.servers import start_radicale, stop

SECRET = "Url-Secret-5e1d-never-shown"
SECRET_FILE = "kontaktsync_target__caldav__password"
SECRET_ENV = "KONTAKTSYNC_TARGET__CALDAV__PASSWORD"


def _config(tmp: Path, caldav: dict[str, Any]) -> Path:
    write_cases(tmp / "export" / "cases.csv", case_rows(2, counsellors=("anna",)))
    data = {
        "source": {"cases": str(tmp / "export" / "cases.csv")},
        "target": {"kind": "caldav", "caldav": caldav},
        "sync": {"state_path": str(tmp / "state.sqlite3")},
    }
    return write_config(tmp / "kontaktsync.toml", data)


def _check(config: Path, tmp: Path, env: dict[str, str] | None = None, *extra: str):
    return run_cli(["config", "check", "--config", str(config), *extra], cwd=tmp, env=env or clean_env())


def test_a_password_in_the_url_is_masked_everywhere_and_called_out(tmp_path: Path) -> None:
    server = start_radicale(tmp_path / "radicale")
    try:
        url = server.url.replace("http://", f"http://svc:{SECRET}@") + "{counsellor}/kontaktdichte/"
        config = _config(tmp_path, {"url": url})
        check = _check(config, tmp_path)
        show = run_cli(["config", "show", "--config", str(config)], cwd=tmp_path)
        show_json = run_cli(["config", "show", "--config", str(config), "--format", "json"], cwd=tmp_path)
    finally:
        stop(server)
    everything = "".join(r.stdout + r.stderr for r in (check, show, show_json))
    assert SECRET not in everything
    assert check.returncode == 0, check.stdout + check.stderr  # it works, but is unsafe
    assert "credentials: warning — target.caldav.url holds a password in the URL" in check.stdout
    assert "credentials belong in the secrets directory, not the URL" in check.stdout
    assert SECRET_FILE in check.stdout
    assert "svc:********@127.0.0.1" in check.stdout  # the probed address, masked
    assert "anna: ok" in check.stdout
    assert "svc:********@127.0.0.1" in show.stdout
    assert json.loads(show_json.stdout)["target"]["caldav"]["url"].startswith("http://svc:********@")


def test_a_token_as_user_info_is_masked_too(tmp_path: Path) -> None:
    config = _config(tmp_path, {"url": f"https://{SECRET}@dav.invalid/{{counsellor}}/kontaktdichte/"})
    show = run_cli(["config", "show", "--config", str(config)], cwd=tmp_path)
    assert show.returncode == 0, show.stderr
    assert SECRET not in show.stdout + show.stderr and "https://********@dav.invalid/" in show.stdout


def test_log_lines_and_errors_never_carry_url_user_info() -> None:
    stream = io.StringIO()
    setup_logging("json", "debug", [], stream=stream)  # no known secrets: the URL alone tells
    log = logging.getLogger("kontaktsync.test")
    log.warning("PUT %s failed", f"https://svc:{SECRET}@dav.invalid/anna/")
    try:
        raise RuntimeError(f"connection to https://{SECRET}@mail.invalid/EWS refused")
    except RuntimeError:
        log.exception("failed")
    text = stream.getvalue()
    assert SECRET not in text
    assert "svc:********@dav.invalid" in text and "https://********@mail.invalid" in text
    assert mask_userinfo("see https://a:b@c.invalid/x and http://127.0.0.1/y") == (
        "see https://a:********@c.invalid/x and http://127.0.0.1/y"
    )


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("http://dav.invalid/{counsellor}/", True),
        ("http://127.0.0.1.invalid/{counsellor}/", True),  # looks like loopback, is a name
        ("http://127.0.0.1:5232/{counsellor}/", False),
        ("http://127.8.9.10/{counsellor}/", False),
        ("http://localhost:5232/{counsellor}/", False),
        ("http://[::1]:5232/{counsellor}/", False),
        ("https://dav.invalid/{counsellor}/", False),
    ],
)
def test_plain_http_with_credentials_only_to_loopback(url: str, refused: bool) -> None:
    setting = "target.caldav.allow_insecure_http"
    assert (insecure_http_problem(url, True, False, setting) is not None) == refused
    assert insecure_http_problem(url, True, True, setting) is None  # explicitly allowed
    assert insecure_http_problem(url, False, False, setting) is None  # no credentials to protect

    def target(**extra: Any) -> CalDAVTarget:
        caldav = {"url": url, "username": "svc", "password": SECRET, **extra}
        return CalDAVTarget(Settings(source={"cases": "c.csv"}, target={"caldav": caldav}))

    if refused:
        with pytest.raises(TargetError) as err:
            target()
        assert setting in str(err.value) and "plain http://" in str(err.value)
        assert SECRET not in str(err.value)
    else:
        target().close()
    target(allow_insecure_http=True).close()


def test_config_check_refuses_plain_http_credentials_to_a_remote_host(tmp_path: Path) -> None:
    config = _config(tmp_path, {"url": "http://dav.invalid/{counsellor}/kontaktdichte/", "username": "svc"})
    result = _check(config, tmp_path, clean_env(**{SECRET_ENV: SECRET}))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "target.caldav.url" in result.stderr and "target.caldav.allow_insecure_http" in result.stderr
    assert "plain http://" in result.stderr and SECRET not in result.stdout + result.stderr

    # The same for an Exchange endpoint, and the target itself refuses too.
    data = {
        "source": {"cases": str(tmp_path / "export" / "cases.csv")},
        "target": {
            "kind": "exchange",
            "exchange": {
                "endpoint": "http://mail.invalid/EWS/Exchange.asmx",
                "auth": "basic",
                "username": "svc",
            },
        },
    }
    config = write_config(tmp_path / "exchange.toml", data)
    result = _check(config, tmp_path, clean_env(KONTAKTSYNC_TARGET__EXCHANGE__PASSWORD=SECRET))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "target.exchange.allow_insecure_http" in result.stderr and SECRET not in result.stderr
    settings = Settings(**{**data, "target": {**data["target"]}})
    assert settings.target.exchange is not None
    settings.target.exchange.password = SECRET  # type: ignore[assignment]
    with pytest.raises(TargetError, match=r"target\.exchange\.allow_insecure_http"):
        ExchangeTarget(settings)


def test_config_check_reports_a_username_without_password(tmp_path: Path) -> None:
    server = start_radicale(tmp_path / "radicale", users={"svc": SECRET})
    try:
        config = _config(tmp_path, {"url": server.url_template, "username": "svc"})
        missing = _check(config, tmp_path)
        secrets = tmp_path / "secrets"
        secrets.mkdir()
        (secrets / SECRET_FILE).write_text(SECRET + "\n")
        present = _check(config, tmp_path, None, "--secrets-dir", str(secrets))
        by_env = _check(config, tmp_path, clean_env(**{SECRET_ENV: SECRET}))
    finally:
        stop(server)
    assert missing.returncode == 1, missing.stdout + missing.stderr
    line = next(x for x in missing.stdout.splitlines() if x.startswith("credentials:"))
    assert "FAILED" in line and "target.caldav.password is missing" in line
    assert SECRET_FILE in line and SECRET_ENV in line
    assert "result: problems found" in missing.stdout
    for good in (present, by_env):
        assert good.returncode == 0, good.stdout + good.stderr
        assert "credentials:" not in good.stdout and "anna: ok" in good.stdout
    assert all(SECRET not in r.stdout + r.stderr for r in (missing, present, by_env))


def test_credentials_in_the_url_still_work_and_reach_no_output_state_or_item(tmp_path: Path) -> None:
    server = start_radicale(tmp_path / "radicale", users={"svc": SECRET})
    try:
        url = server.url.replace("http://", f"http://svc:{SECRET}@") + "{counsellor}/kontaktdichte/"
        config = _config(tmp_path, {"url": url})
        result = run_cli(["sync", "--config", str(config)], cwd=tmp_path)
        listing = etags(server.calendar_url("anna"), ("svc", SECRET))
    finally:
        stop(server)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 created" in result.stdout and len(listing) == 2
    assert SECRET not in result.stdout + result.stderr
    state = (tmp_path / "state.sqlite3").read_bytes()
    assert b"127.0.0.1" in state and SECRET.encode() not in state  # the address, without user-info
    items = b"".join(p.read_bytes() for p in (server.folder / "collections").rglob("*.ics"))
    assert b"BEGIN:VTODO" in items and SECRET.encode() not in items
