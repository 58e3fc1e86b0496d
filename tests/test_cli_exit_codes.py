"""One exception -> exit code map for every command, and policy errors people can act on."""

from __future__ import annotations

from pathlib import Path

import pytest
from kontaktsync.rules.policy import PolicyError
from kontaktsync.sync.caseload import SourceError
from kontaktsync.sync.config.errors import ConfigError, Problem
from kontaktsync.sync.core.lock import LockHeld, SyncLock
from kontaktsync.sync.core.reconcile import MassDeleteRefused
from kontaktsync.sync.service.exit_codes import ExitCode
from kontaktsync.sync.service.stops import HANDLED, for_error

from tests.builders import case_rows, write_cases
from tests.cli import run_cli
from tests.configs import service_config, write_config
from tests.servers import DavServer


@pytest.mark.parametrize(
    ("error", "code", "starts"),
    [
        (ConfigError([Problem("sync.retries", "is wrong", "fix it")]), ExitCode.CONFIG, "kontaktsync:"),
        (SourceError("cases.csv: not found"), ExitCode.CONFIG, "caseload unreadable: cases.csv"),
        (PolicyError("unknown policy 'x'"), ExitCode.CONFIG, "policy unusable: unknown policy"),
        (LockHeld("another sync run holds it"), ExitCode.LOCKED, "another sync run"),
        (MassDeleteRefused({"anna": (9, 10)}, 0.3), ExitCode.MASS_DELETE, "refusing to delete"),
    ],
)
def test_the_map(error: Exception, code: ExitCode, starts: str) -> None:
    assert isinstance(error, HANDLED)
    got_code, message = for_error(error)
    assert (got_code, message.startswith(starts)) == (code, True), message


def test_an_unmapped_error_is_no_exit_code() -> None:
    with pytest.raises(TypeError):
        for_error(ValueError("x"))


def test_lock_held_exits_3_through_the_cli(tmp_path: Path, radicale_server: DavServer) -> None:
    write_cases(tmp_path / "export" / "cases.csv", case_rows(1))
    config = write_config(
        tmp_path / "kontaktsync.toml", service_config(tmp_path, radicale_server.url_template)
    )
    with SyncLock(tmp_path / "state" / "state.sqlite3"):
        held = run_cli(["sync", "--config", str(config), "--as-of", "2026-11-22"], cwd=tmp_path)
    assert held.returncode == 3, held.stdout + held.stderr
    assert "another sync run" in held.stderr
    free = run_cli(["sync", "--config", str(config), "--as-of", "2026-11-22"], cwd=tmp_path)
    assert free.returncode == 0, free.stdout + free.stderr


def test_unreadable_caseload_and_unknown_policy_exit_2(tmp_path: Path) -> None:
    data = service_config(tmp_path, "http://127.0.0.1:9/{counsellor}/kontaktdichte/")
    config = write_config(tmp_path / "kontaktsync.toml", data)
    missing = run_cli(["sync", "--config", str(config)], cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.count("caseload unreadable: ") == 1
    write_cases(tmp_path / "export" / "cases.csv", case_rows(1))
    data["policy"] = "kassel-1999"
    write_config(config, data)
    for args in (["sync", "--config", str(config)], ["plan", "--config", str(config)]):
        result = run_cli(args, cwd=tmp_path)
        assert result.returncode == 2 and "policy unusable: unknown policy 'kassel-1999'" in result.stderr


def _policy_file(tmp_path: Path, old: str, new: str) -> Path:
    text = run_cli(["policies", "show", "coburg-2016"], cwd=tmp_path).stdout
    assert old in text
    path = tmp_path / "mine.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_policy_errors_count_rules_from_one_and_name_their_id(tmp_path: Path) -> None:
    bad = _policy_file(tmp_path, "interval: 2M", "interval: zwei Monate")
    result = run_cli(["policies", "check", str(bad)], cwd=tmp_path)
    assert result.returncode == 2
    assert "contact rule 6 (id 2mm-ue25-marktnah), interval: 'zwei Monate' is not a duration" in result.stderr
    assert "contact_rules.5" not in result.stderr


def test_misspelt_policy_key_gets_did_you_mean(tmp_path: Path) -> None:
    bad = _policy_file(tmp_path, "interval: 2M", "intervall: 2M")
    result = run_cli(["policies", "check", str(bad)], cwd=tmp_path)
    assert result.returncode == 2
    assert "contact rule 6 (id 2mm-ue25-marktnah), intervall:" in result.stderr
    assert "did you mean `interval`?" in result.stderr
    top = _policy_file(tmp_path, "timezone:", "timezon:")
    result = run_cli(["policies", "check", str(top)], cwd=tmp_path)
    assert "timezon: Extra inputs are not permitted; did you mean `timezone`?" in result.stderr
