"""Configuration: sources and their order, friendly errors, `config show`, `config check`."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import pytest
from kontaktsync.sync.config.loading import ConfigError, load_settings, masked_dump, secret_values
from kontaktsync.sync.service.logs import JsonFormatter, SecretMaskFilter, setup_logging
from kontaktsync.sync.service.observability import Health

from tests.calendars import make_calendar
from tests.cli import clean_env, run_cli
from tests.configs import write_config
from tests.servers import DavServer

SECRET = "pw-Zebra-7731-not-in-logs"


def base_config(tmp_path: Path, **extra: dict) -> dict:
    data = {
        "source": {"cases": "export/cases.csv"},
        "target": {"caldav": {"url": "http://127.0.0.1:1/{counsellor}/kontaktdichte/", "username": "svc"}},
    }
    for key, value in extra.items():
        data.setdefault(key, {}).update(value)
    return data


def test_precedence_env_over_dotenv_over_secrets_over_toml(isolated_env: Path, monkeypatch) -> None:
    tmp = isolated_env
    config = write_config(
        tmp / "conf" / "kontaktsync.toml",
        base_config(
            tmp,
            sync={"retries": 1},
            items={"talks_per_day": 1, "talks_per_week": 1, "first_talk_minutes": 45},
        ),
    )
    secrets = tmp / "secrets"
    secrets.mkdir()
    (secrets / "kontaktsync_sync__retries").write_text("2\n")
    (secrets / "KONTAKTSYNC_ITEMS__TALKS_PER_DAY").write_text("2")
    (secrets / "kontaktsync_items__talks_per_week").write_text("2")
    (secrets / "kontaktsync_target__caldav__password").write_text(SECRET + "\n")
    (tmp / ".env").write_text("KONTAKTSYNC_SYNC__RETRIES=3\nKONTAKTSYNC_ITEMS__TALKS_PER_DAY=3\n")
    monkeypatch.setenv("KONTAKTSYNC_SYNC__RETRIES", "4")

    s = load_settings(config, secrets_dir=secrets)

    assert s.sync.retries == 4  # environment wins over all
    assert s.items.talks_per_day == 3  # .env over the secrets directory
    assert s.items.talks_per_week == 2  # secrets directory over the TOML file
    assert s.items.first_talk_minutes == 45  # TOML over the defaults
    assert s.items.follow_up_minutes is None  # default: the policy's office value
    # Tables merge key by key: url and username from TOML, password from its secret file.
    assert s.target.caldav is not None
    assert s.target.caldav.username == "svc"
    assert s.target.caldav.password is not None
    assert s.target.caldav.password.get_secret_value() == SECRET
    # Relative paths count from the TOML file's folder.
    assert s.source.cases == tmp / "conf" / "export" / "cases.csv"


def test_config_file_discovery(isolated_env: Path, monkeypatch) -> None:
    tmp = isolated_env
    write_config(tmp / "kontaktsync.toml", base_config(tmp, sync={"retries": 5}))
    assert load_settings().sync.retries == 5  # ./kontaktsync.toml
    other = write_config(tmp / "elsewhere" / "k.toml", base_config(tmp, sync={"retries": 6}))
    monkeypatch.setenv("KONTAKTSYNC_CONFIG", str(other))
    assert load_settings().sync.retries == 6  # $KONTAKTSYNC_CONFIG over the default
    third = write_config(tmp / "third.toml", base_config(tmp, sync={"retries": 7}))
    assert load_settings(third).sync.retries == 7  # --config over both
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp / "missing.toml")


def test_systemd_credentials_directory_is_the_default_secrets_dir(isolated_env: Path, monkeypatch) -> None:
    tmp = isolated_env
    monkeypatch.delenv("KONTAKTSYNC_SECRETS_DIR")
    creds = tmp / "creds"
    creds.mkdir()
    (creds / "kontaktsync_target__caldav__password").write_text(SECRET)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    s = load_settings(write_config(tmp / "k.toml", base_config(tmp)))
    assert s.target.caldav and s.target.caldav.password
    assert s.target.caldav.password.get_secret_value() == SECRET


def test_example_configs_in_deploy_are_valid(isolated_env: Path) -> None:
    deploy = Path(__file__).resolve().parents[1] / "deploy"
    secrets = {}
    for kind in ("caldav", "exchange"):
        secrets[kind] = isolated_env / f"secrets-{kind}"
        secrets[kind].mkdir()
        (secrets[kind] / f"kontaktsync_target__{kind}__password").write_text(SECRET)
    caldav = load_settings(deploy / "kontaktsync.caldav.toml", secrets_dir=secrets["caldav"])
    assert caldav.target.kind == "caldav"
    exchange = load_settings(deploy / "kontaktsync.exchange.toml", secrets_dir=secrets["exchange"])
    assert exchange.target.kind == "exchange" and exchange.schedule.cron
    compose = load_settings(deploy / "compose" / "kontaktsync.toml", secrets_dir=secrets["caldav"])
    assert compose.target.caldav is not None


def _check_fails(
    tmp: Path, toml_text: str | None, env: dict[str, str] | None = None, data: dict | None = None
):
    config = tmp / "kontaktsync.toml"
    if data is not None:
        write_config(config, data)
    else:
        config.write_text(toml_text or "", encoding="utf-8")
    result = run_cli(["config", "check", "--config", str(config)], cwd=tmp, env=clean_env(**(env or {})))
    assert result.returncode == 2, result.stdout + result.stderr
    return result.stderr


def test_broken_settings_name_the_setting_and_the_fix(tmp_path: Path) -> None:
    data = base_config(tmp_path)
    data["target"]["caldav"]["pasword"] = SECRET  # typo
    data["target"]["kind"] = "cladav"
    data["schedule"] = {"cron": "every monday"}
    data["observability"] = {"listen": "localhost"}
    data["sync"] = {"mass_delete_share": 3}
    err = _check_fails(
        tmp_path,
        None,
        env={
            "KONTAKTSYNC_ITEMS__TALKS_PER_DAY": "five",
            "KONTAKTSYNC_PRIVACY__SHOW_NAME": "true",
            "KONTAKTSYNC_FAULT_AFTER_WRITES": "3",  # a program variable, not a setting
        },
        data=data,
    )
    expectations = {
        "target.caldav.pasword": "did you mean `password`",
        "target.kind": "'caldav' or 'exchange'",
        "schedule.cron": "cron expression",
        "observability.listen": "host:port",
        "sync.mass_delete_share": "less than or equal to 1",
        "items.talks_per_day": "whole number",
        "privacy.show_name": "did you mean `show_names`",
    }
    for setting, hint in expectations.items():
        assert setting in err, f"{setting} not named in:\n{err}"
        block = re.split(r"\n  (?=\S)", err[err.index(setting) :], maxsplit=1)[0]
        assert "fix:" in block and hint in block, f"{setting}: {block}"
    assert "environment variable KONTAKTSYNC_ITEMS__TALKS_PER_DAY" in err
    assert "fault_after_writes" not in err
    assert SECRET not in err


def test_missing_and_inconsistent_settings(tmp_path: Path) -> None:
    err = _check_fails(tmp_path, "[target]\nkind = 'caldav'\n")
    assert ("source (from" not in err and "source:" in err) or "source " in err
    assert "is required but not set" in err
    assert "KONTAKTSYNC_SOURCE" in err  # tells where to set it

    err = _check_fails(tmp_path, "[source]\ncases = 'c.csv'\n")
    assert "target.caldav" in err and "[target.caldav]" in err

    err = _check_fails(
        tmp_path,
        "[source]\ncases = 'c.csv'\n[target]\nkind = 'exchange'\n[target.exchange]\nauth = 'oauth2'\n",
    )
    for name in ("target.exchange.endpoint", "target.exchange.client_id", "target.exchange.client_secret"):
        assert name in err

    err = _check_fails(tmp_path, "[source]\ncases = 'c.csv'\n[target.caldav]\nurl = 'dav.example/{user}/'\n")
    assert "target.caldav.url" in err and "http://" in err


def test_slot_mode_office_values_are_checked_when_the_configuration_is_read(tmp_path: Path) -> None:
    """Not at the first slot-mode run (as the policy's office block, not "5 validation errors
    for Office"): the key, the file, the value and what it should be."""
    base = "[source]\ncases = 'c.csv'\n[target.caldav]\nurl = 'https://dav.invalid/{counsellor}/'\n"
    for items, key, hint in [
        ("opening_hours = '8-12'", "items.opening_hours", "is not a time range like 08:00-12:30"),
        ("opening_hours = '08:00-12:00,11:00-15:00'", "items.opening_hours", "overlap"),
        ("part_time = {anna = -2.0}", "items.part_time.anna", "greater than 0"),
        ("part_time = {anna = 1.5}", "items.part_time.anna", "less than or equal to 1"),
    ]:
        err = _check_fails(tmp_path, base + "[items]\n" + items + "\n")
        assert key in err and hint in err and "kontaktsync.toml" in err, err


def test_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    err = _check_fails(tmp_path, "[source]\ncases = c.csv\n")
    assert "kontaktsync.toml" in err and "line 2" in err


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "kontaktsync_target__caldav__password").write_text(SECRET)
    (secrets / "kontaktsync_privacy__pseudonym_key").write_text(SECRET + "-key")
    data = base_config(tmp_path, privacy={"pseudonymize": True})
    data["target"]["caldav"]["calendars"] = {"carl": f"https://carl:{SECRET}x@dav.example/carl/"}
    config = write_config(tmp_path / "kontaktsync.toml", data)

    result = run_cli(["config", "show", "--config", str(config), "--secrets-dir", str(secrets)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout
    assert 'password = "********"' in result.stdout
    assert 'pseudonym_key = "********"' in result.stdout
    assert "carl:********@dav.example" in result.stdout
    assert 'username = "svc"' in result.stdout

    as_json = run_cli(
        ["config", "show", "--config", str(config), "--secrets-dir", str(secrets), "--format", "json"],
        cwd=tmp_path,
    )
    shown = json.loads(as_json.stdout)
    assert shown["target"]["caldav"]["password"] == "********"
    assert shown["source"]["cases"] == str(tmp_path / "export" / "cases.csv")


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file() and ".Radicale.cache" not in p.parts}


def test_config_check_reads_source_and_probes_calendars_read_only(
    tmp_path: Path,
    radicale_server: DavServer,
) -> None:
    export = tmp_path / "export"
    export.mkdir()
    (export / "cases.csv").write_text(
        "case_id,counsellor,birth_date,status,profile,registration_date,last_contact,display_name\n"
        "400001,anna,1980-01-01,arbeitslos,marktprofil,2026-01-05,2026-09-01,Erika Mustermann\n"
        "400002,bernd,1980-01-01,arbeitsuchend,foerderprofil,2026-02-05,2026-10-01,Max Muster\n"
        "400003,bernd,not-a-date,arbeitslos,foerderprofil,2026-02-05,2026-10-01,Hans Bad\n",
        encoding="utf-8",
    )
    make_calendar(radicale_server.calendar_url("anna"))
    data = base_config(tmp_path)
    data["target"]["caldav"]["url"] = radicale_server.url_template
    config = write_config(tmp_path / "kontaktsync.toml", data)
    before = _files(radicale_server.folder / "collections")

    env = clean_env(KONTAKTSYNC_TARGET__CALDAV__PASSWORD=SECRET)
    result = run_cli(["config", "check", "--config", str(config)], cwd=tmp_path, env=env)

    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert SECRET not in out + result.stderr
    assert "source: ok" in out and "2 cases" in out and "2 counsellors" in out
    assert "1 rows left out" in out
    assert "will be created at the first sync — ok" in out  # the state database
    assert "anna: ok — calendar" in out and "VTODO" in out
    assert "bernd: ok — not there yet; will be created at the first sync" in out
    assert "Mustermann" not in out and "Max Muster" not in out  # no customer names
    assert _files(radicale_server.folder / "collections") == before  # nothing written

    # The same check against a port nobody serves: the target fails, exit 1.
    data["target"]["caldav"]["url"] = "http://127.0.0.1:9/{counsellor}/kontaktdichte/"
    write_config(config, data)
    result = run_cli(["config", "check", "--config", str(config)], cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "unreachable" in result.stdout and "target.caldav.url" in result.stdout

    # A missing caseload file: the source fails, and says which setting to fix.
    (export / "cases.csv").unlink()
    data["target"]["caldav"]["url"] = radicale_server.url_template
    write_config(config, data)
    result = run_cli(["config", "check", "--config", str(config)], cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "source: FAILED" in result.stdout and "source.cases" in result.stdout


def test_log_filter_masks_secrets_in_message_fields_and_tracebacks(isolated_env: Path) -> None:
    settings = load_settings(
        write_config(isolated_env / "k.toml", base_config(isolated_env)),
        overrides={
            "target": {"caldav": {"url": f"http://svc:{SECRET}@127.0.0.1/x/", "password": SECRET + "2"}}
        },
    )
    assert SECRET in secret_values(settings) and SECRET + "2" in secret_values(settings)
    assert SECRET not in json.dumps(masked_dump(settings))
    stream = io.StringIO()
    setup_logging("json", "debug", secret_values(settings), stream=stream)
    log = logging.getLogger("kontaktsync.test")
    log.info("connecting with %s", SECRET, extra={"event": "x", "detail": f"pw={SECRET}2", "n": 3})
    try:
        raise RuntimeError(f"server said no to {SECRET}")
    except RuntimeError:
        log.exception("failed")
    logging.getLogger("urllib3.connectionpool").warning("Authorization: %s", SECRET)
    text = stream.getvalue()
    assert SECRET not in text
    records = [json.loads(line) for line in text.splitlines()]
    assert records[0]["msg"] == "connecting with ********"
    assert records[0]["detail"] == "pw=********"  # the longer secret masked whole
    assert records[0]["n"] == 3 and records[0]["event"] == "x"
    assert "RuntimeError: server said no to ********" in records[1]["exc"]
    assert records[2]["logger"] == "urllib3.connectionpool"


def test_text_format_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    mask = setup_logging("auto", "info", [SECRET], stream=stream)
    assert isinstance(mask, SecretMaskFilter)
    logging.getLogger("kontaktsync.test").info(
        "run finished", extra={"run_id": "r1", "counts": {"created": 2}}
    )
    line = stream.getvalue()
    assert "run finished" in line and "run_id=r1" in line and not line.startswith("{")

    piped = io.StringIO()  # no terminal: "auto" writes JSON lines
    setup_logging("auto", "info", [SECRET], stream=piped)
    logging.getLogger("kontaktsync.test").info("run finished", extra={"run_id": "r2"})
    record = json.loads(piped.getvalue().splitlines()[-1])
    assert (record["msg"], record["run_id"]) == ("run finished", "r2")
    assert any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers)


def test_health_ages_from_last_success_and_skips_unscheduled_time() -> None:
    h = Health(healthy_within_s=600, started=1000.0)
    assert h.status(now=1500)[0]  # grace period after start
    assert not h.status(now=1700)[0]  # never succeeded for longer than allowed
    h.record("success", now=1650)
    assert h.status(now=2200)[0]
    h.record("failed", now=2300)
    ok, body = h.status(now=2300)
    assert not ok and body["status"] == "stale" and body["last_outcome"] == "failed"
    # With a schedule (cron), silence before the next scheduled run does not count.
    weekly = Health(healthy_within_s=600, started=0.0, next_due=lambda t: t + 100_000)
    weekly.record("success", now=10.0)
    assert weekly.status(now=50_000)[0]
    assert not weekly.status(now=100_700)[0]


def test_daemon_refuses_to_start_on_broken_settings(tmp_path: Path) -> None:
    data = base_config(tmp_path, schedule={"interval_minutes": -1})
    config = write_config(tmp_path / "kontaktsync.toml", data)
    result = run_cli(["daemon", "--config", str(config)], cwd=tmp_path)
    assert result.returncode == 2  # the unit's RestartPreventExitStatus=2: no restart loop
    assert "schedule.interval_minutes" in result.stderr and "fix:" in result.stderr


def test_config_check_with_exchange_probes_mailboxes_read_only(tmp_path: Path) -> None:
    from tests.exchange_helpers import DOMAIN, SERVICE_PASSWORD, SERVICE_USER
    from tests.fake_ews import FakeEWS

    export = tmp_path / "export"
    export.mkdir()
    (export / "cases.csv").write_text(
        "case_id,counsellor,birth_date,status,profile,registration_date,last_contact\n"
        "400001,anna,1980-01-01,arbeitslos,marktprofil,2026-01-05,2026-09-01\n",
        encoding="utf-8",
    )
    with FakeEWS({SERVICE_USER: SERVICE_PASSWORD}) as fake:
        exchange = {"endpoint": fake.url, "auth": "basic", "username": SERVICE_USER}
        exchange["mailbox"] = "{counsellor}@" + DOMAIN
        data = {"source": {"cases": "export/cases.csv"}, "target": {"kind": "exchange", "exchange": exchange}}
        config = write_config(tmp_path / "kontaktsync.toml", data)
        args = ["config", "check", "--config", str(config)]
        env = clean_env(KONTAKTSYNC_TARGET__EXCHANGE__PASSWORD=SERVICE_PASSWORD)
        good = run_cli(args, cwd=tmp_path, env=env)
        env = clean_env(KONTAKTSYNC_TARGET__EXCHANGE__PASSWORD=SECRET)
        bad = run_cli(args, cwd=tmp_path, env=env)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "source: ok — 1 cases" in good.stdout
    assert f"anna <anna@{DOMAIN}>: ok" in good.stdout
    assert bad.returncode == 1 and "anna: FAILED" in bad.stdout
    assert SECRET not in bad.stdout + bad.stderr
