"""`config check` checks the policy, says when the caseload is missing instead of probing, and
reports a secrets directory that is not there or holds files that are no setting."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tests.builders import case_rows, write_cases
from tests.cli import clean_env, run_cli
from tests.configs import write_config
from tests.servers import DavServer

SECRET = "pw-Quokka-5521-never-shown"


def config_with(tmp_path: Path, **top: object) -> Path:
    write_cases(tmp_path / "conf" / "export" / "cases.csv", case_rows(2))
    data: dict = {
        "source": {"cases": "export/cases.csv"},
        "target": {"caldav": {"url": "http://127.0.0.1:9/{counsellor}/kontaktdichte/"}},
        **top,
    }
    return write_config(tmp_path / "conf" / "kontaktsync.toml", data)


def test_unknown_policy_is_a_problem_naming_policy_and_config_file(tmp_path: Path) -> None:
    config = config_with(tmp_path, policy="kassel-1999")
    result = run_cli(["config", "check", "--config", str(config)], cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("policy:"))
    assert "FAILED" in line and "'kassel-1999'" in line and f"config file {config}" in line
    assert "result: problems found" in result.stdout


def test_missing_policy_file_counts_from_the_config_folder(tmp_path: Path) -> None:
    config = config_with(tmp_path, policy="mine.yaml")
    result = run_cli(["config", "check", "--config", str(config)], cwd=tmp_path)
    assert result.returncode == 1
    assert "policy: FAILED" in result.stdout and str(config.parent / "mine.yaml") in result.stdout


def test_a_good_policy_is_named(tmp_path: Path) -> None:
    config = config_with(tmp_path, policy="euskirchen-2011")
    result = run_cli(["config", "check", "--config", str(config)], cwd=tmp_path)
    assert "policy: ok — euskirchen-2011" in result.stdout, result.stdout
    assert "under policy euskirchen-2011" in result.stdout  # the caseload was planned with it


def test_missing_caseload_is_said_and_nothing_is_probed(tmp_path: Path) -> None:
    config = config_with(tmp_path)
    (config.parent / "export" / "cases.csv").unlink()
    result = run_cli(["config", "check", "--config", str(config)], cwd=tmp_path)
    out = result.stdout
    assert result.returncode == 1
    assert f"source: FAILED — the caseload {config.parent / 'export' / 'cases.csv'} does not exist" in out
    assert "target: not probed" in out
    assert "(server)" not in out and "unreachable" not in out  # no request was made


def test_secrets_dir_that_does_not_exist_is_reported(tmp_path: Path) -> None:
    config = config_with(tmp_path)
    missing = tmp_path / "no-such-dir"
    result = run_cli(["config", "show", "--config", str(config), "--secrets-dir", str(missing)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"warning: secrets directory {missing} does not exist" in result.stderr


def test_secret_file_that_is_no_setting_is_reported_with_the_closest(tmp_path: Path) -> None:
    config = config_with(tmp_path)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "caldav_password").write_text(SECRET)
    (secrets / "kontaktsync_target__caldav__username").write_text("svc")
    (secrets / "..data").mkdir()  # a Kubernetes Secret mount's bookkeeping: no warning
    result = run_cli(["config", "show", "--config", str(config), "--secrets-dir", str(secrets)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = [x for x in result.stderr.splitlines() if x.startswith("warning:")]
    assert warnings == [
        f"warning: secret file {secrets / 'caldav_password'} is no setting and is ignored; "
        "did you mean kontaktsync_target__caldav__password?"
    ]
    assert SECRET not in result.stdout + result.stderr
    assert 'username = "svc"' in result.stdout  # the good file was read


def test_sync_takes_secrets_dir(tmp_path: Path, radicale_server: DavServer) -> None:
    config = config_with(tmp_path, privacy={"pseudonymize": True})
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    data["target"]["caldav"]["url"] = radicale_server.url_template
    write_config(config, data)
    args = ["sync", "--config", str(config), "--dry-run", "--as-of", "2026-11-22"]
    without = run_cli(args, cwd=tmp_path)
    assert without.returncode == 2 and "privacy.pseudonym_key" in without.stderr
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "kontaktsync_privacy__pseudonym_key").write_text(SECRET)
    result = run_cli([*args, "--secrets-dir", str(secrets)], cwd=tmp_path, env=clean_env())
    assert "privacy.pseudonym_key" not in result.stderr  # the key came from the directory
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Summary (dry run): would create 2" in result.stdout
    assert SECRET not in result.stdout + result.stderr
