"""`plan`, `explain` and `report` read their caseload and policy from `--config` like `sync`
does; explicit command-line options win; relative paths count from the TOML file's folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from kontaktsync.sync.config.loading import load_settings

from tests.cli import clean_env, run_cli
from tests.configs import write_config

EXAMPLES = Path(__file__).resolve().parents[1] / "sync" / "examples"
AS_OF = "2026-11-22"


def deployment(tmp_path: Path, **top: object) -> Path:
    """conf/kontaktsync.toml with the example caseload in conf/export and a local policy
    conf/mine.yaml (coburg-2016 with a 6-week interval), all named by relative paths."""
    conf = tmp_path / "conf"
    (conf / "export").mkdir(parents=True)
    for name in ("cases", "measures", "contacts"):
        shutil.copy(EXAMPLES / f"{name}.csv", conf / "export" / f"{name}.csv")
    coburg = run_cli(["policies", "show", "coburg-2016"], cwd=tmp_path).stdout
    assert "id: coburg-2016" in coburg and "interval: 2M" in coburg
    mine = coburg.replace("id: coburg-2016", "id: coburg-local").replace("interval: 2M", "interval: 6W")
    (conf / "mine.yaml").write_text(mine, encoding="utf-8")
    data: dict = {
        "policy": "mine.yaml",
        "source": {
            "cases": "export/cases.csv",
            "measures": "export/measures.csv",
            "contacts": "export/contacts.csv",
        },
    }
    for key, value in top.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and key in data else value
    return write_config(conf / "kontaktsync.toml", data)


def plan_json(args: list[str], cwd: Path) -> dict:
    result = run_cli(["plan", *args, "--as-of", AS_OF, "--format", "json"], cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_plan_with_config_equals_plan_with_the_same_options(tmp_path: Path) -> None:
    config = deployment(tmp_path)
    elsewhere = tmp_path / "elsewhere"  # not the config's folder: relative paths must not count from here
    elsewhere.mkdir()
    from_config = plan_json(["--config", str(config)], elsewhere)
    conf = config.parent
    explicit = plan_json(
        [
            "--policy",
            str(conf / "mine.yaml"),
            "--cases",
            str(conf / "export" / "cases.csv"),
            "--measures",
            str(conf / "export" / "measures.csv"),
            "--contacts",
            str(conf / "export" / "contacts.csv"),
        ],
        elsewhere,
    )
    assert from_config["policy"] == "coburg-local"  # the policy file next to the TOML file
    assert from_config["obligations"] and from_config == explicit


def test_relative_policy_path_counts_from_the_config_folder(tmp_path: Path, monkeypatch) -> None:
    config = deployment(tmp_path)
    monkeypatch.chdir(tmp_path)  # a mine.yaml here would be the wrong one
    (tmp_path / "mine.yaml").write_text("not: a policy\n", encoding="utf-8")
    monkeypatch.setenv("KONTAKTSYNC_SECRETS_DIR", str(tmp_path / "none"))
    settings = load_settings(config, require_target=False)
    assert settings.policy == str(config.parent / "mine.yaml")
    builtin = write_config(
        tmp_path / "b" / "kontaktsync.toml", {"source": {"cases": "c.csv"}, "policy": "euskirchen-2011"}
    )
    assert load_settings(builtin, require_target=False).policy == "euskirchen-2011"  # ids stay ids


def test_command_line_options_win_over_the_config(tmp_path: Path) -> None:
    config = deployment(tmp_path)
    chosen = plan_json(["--config", str(config), "--policy", "euskirchen-2011"], tmp_path)
    assert chosen["policy"] == "euskirchen-2011"
    one = tmp_path / "one.csv"
    head, first = (EXAMPLES / "cases.csv").read_text(encoding="utf-8").splitlines()[:2]
    one.write_text(f"{head}\n{first}\n", encoding="utf-8")
    only_one = plan_json(["--config", str(config), "--cases", str(one)], tmp_path)
    assert {o["case_id"] for o in only_one["obligations"]} == {first.split(",")[0]}


def test_header_map_and_encoding_of_the_config_are_used(tmp_path: Path) -> None:
    config = deployment(tmp_path)
    cases = config.parent / "export" / "cases.csv"
    text = cases.read_text(encoding="utf-8").replace("case_id,", "Kundennummer,", 1)
    cases.write_bytes(text.encode("cp1252"))
    without = run_cli(["plan", "--config", str(config), "--as-of", AS_OF, "--format", "json"], cwd=tmp_path)
    assert without.returncode == 2 and "case_id" in without.stderr  # the column is missing
    mapped = deployment(
        tmp_path / "mapped", source={"header_map": {"Kundennummer": "case_id"}, "encoding": "cp1252"}
    )
    (mapped.parent / "export" / "cases.csv").write_bytes(text.encode("cp1252"))
    doc = plan_json(["--config", str(mapped)], tmp_path)
    assert doc["obligations"] and not doc["errors"]


def test_explain_and_report_take_config(tmp_path: Path) -> None:
    config = deployment(tmp_path)
    case_id = plan_json(["--config", str(config)], tmp_path)["obligations"][0]["case_id"]
    explained = run_cli(["explain", case_id, "--config", str(config), "--as-of", AS_OF], cwd=tmp_path)
    assert explained.returncode == 0, explained.stderr
    assert f"Case {case_id}" in explained.stdout and "coburg-local" in explained.stdout
    report = run_cli(["report", "--config", str(config), "--as-of", AS_OF], cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "coburg-local" in report.stdout


def test_without_config_policy_and_cases_are_required(tmp_path: Path) -> None:
    result = run_cli(["plan", "--policy", "coburg-2016"], cwd=tmp_path, env=clean_env())
    assert result.returncode == 2
    assert "--cases" in result.stderr and "--config" in result.stderr


def test_one_as_of_parser_for_every_command(tmp_path: Path) -> None:
    config = deployment(tmp_path)
    for command in (["plan"], ["report"], ["sync"], ["explain", "100200"]):
        result = run_cli([*command, "--config", str(config), "--as-of", "22.11."], cwd=tmp_path)
        assert result.returncode == 2, (command, result.stderr)
        assert "--as-of" in result.stderr and "'22.11.' is not a date like 2026-11-22" in result.stderr
    far = run_cli(["plan", "--config", str(config), "--as-of", "1800-01-01"], cwd=tmp_path)
    assert far.returncode == 2 and "'1800-01-01' is not a date" in far.stderr
