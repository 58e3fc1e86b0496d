"""`kontaktsync plan` and `explain` as a user runs them: JSON contract, formats, exit codes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from kontaktsync.rules.policy import BUILTIN_IDS

from tests.builders import write_caseload
from tests.cli import kontaktsync_cli

EXAMPLES = Path(__file__).resolve().parents[1] / "sync" / "examples"
EX_ARGS = [
    "--cases",
    str(EXAMPLES / "cases.csv"),
    "--measures",
    str(EXAMPLES / "measures.csv"),
    "--contacts",
    str(EXAMPLES / "contacts.csv"),
    "--as-of",
    "2026-11-22",
]
OBLIGATION_KEYS = ["case_id", "counsellor", "kind", "tag", "due", "window_start", "overdue", "rule"]
KINDS = {
    "contact",
    "measure_window",
    "measure_before_end",
    "measure_after_end",
    "follow_up_start",
    "care_plan",
    "care_plan_review",
    "profile_review",
}


@pytest.mark.parametrize("policy", BUILTIN_IDS)
def test_every_builtin_policy_plans_the_shipped_example_caseload(policy):
    r = kontaktsync_cli("plan", "--policy", policy, *EX_ARGS, "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert list(doc) == ["as_of", "policy", "obligations", "unmatched", "errors"]
    assert (doc["as_of"], doc["policy"], doc["errors"]) == ("2026-11-22", policy, [])
    assert doc["obligations"], "the example caseload should give every policy something to do"
    for o in doc["obligations"]:
        assert list(o) == OBLIGATION_KEYS
        assert o["kind"] in KINDS and o["rule"].startswith(policy + "/")
        assert o["overdue"] == (o["due"] < "2026-11-22")
        assert o["window_start"] is None or o["window_start"] <= o["due"]
    keys = [(o["due"], o["case_id"], o["kind"]) for o in doc["obligations"]]
    assert keys == sorted(keys)
    for u in doc["unmatched"]:
        assert list(u) == ["case_id", "reason"] and u["reason"]
    assert len({u["case_id"] for u in doc["unmatched"]}) == len(doc["unmatched"])


def test_errors_in_json_and_strict_exit_code(tmp_path):
    paths = write_caseload(
        tmp_path,
        [
            {"case_id": "100234", "birth_date": "1980-01-01", "last_contact": "2026-10-01"},
            {"case_id": "100235", "profile": "markt"},
        ],
    )
    args = [
        "plan",
        "--policy",
        "coburg-2016",
        "--cases",
        str(paths["cases"]),
        "--as-of",
        "2026-11-23",
        "--format",
        "json",
    ]
    r = kontaktsync_cli(*args)
    assert r.returncode == 0
    doc = json.loads(r.stdout)
    assert doc["errors"] == [
        {"file": "cases.csv", "row": 3, "column": "profile", "message": "unknown profile 'markt'"}
    ]
    assert [o["case_id"] for o in doc["obligations"]] == ["100234"]
    assert kontaktsync_cli(*args, "--strict").returncode == 1


def test_cannot_start_exits_2_with_a_message(tmp_path):
    r = kontaktsync_cli("plan", "--policy", "coburg-2016", "--cases", str(tmp_path / "missing.csv"))
    assert r.returncode == 2 and "missing.csv" in r.stderr and "not found" in r.stderr
    ok = write_caseload(tmp_path, [{}])["cases"]
    r = kontaktsync_cli("plan", "--policy", "kassel-1999", "--cases", str(ok))
    assert r.returncode == 2 and "unknown policy 'kassel-1999'" in r.stderr
    r = kontaktsync_cli("plan", "--policy", "coburg-2016", "--cases", str(ok), "--as-of", "22.11.")
    assert r.returncode == 2 and "--as-of" in r.stderr
    r = kontaktsync_cli("plan", "--policy", "coburg-2016", "--cases", str(ok), "--format", "pdf")
    assert r.returncode == 2


def test_csv_and_table_formats(tmp_path):
    r = kontaktsync_cli("plan", "--policy", "euskirchen-2011", *EX_ARGS, "--format", "csv")
    assert r.returncode == 0
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0]) == OBLIGATION_KEYS and rows[0]["overdue"] in {"true", "false"}
    as_json = json.loads(
        kontaktsync_cli("plan", "--policy", "euskirchen-2011", *EX_ARGS, "--format", "json").stdout
    )
    assert len(rows) == len(as_json["obligations"])
    table = kontaktsync_cli("plan", "--policy", "euskirchen-2011", *EX_ARGS, "--format", "table")
    assert table.returncode == 0 and "obligations" in table.stdout and "unmatched" in table.stdout


def test_a_user_policy_file_and_the_schema(tmp_path):
    text = kontaktsync_cli("policies", "show", "coburg-2016").stdout
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        text.replace("id: coburg-2016", "id: coburg-local").replace("interval: 2M", "interval: 6W")
    )
    paths = write_caseload(tmp_path, [{"birth_date": "1980-01-01", "last_contact": "2026-11-02"}])
    r = kontaktsync_cli(
        "plan",
        "--policy",
        str(mine),
        "--cases",
        str(paths["cases"]),
        "--as-of",
        "2026-11-23",
        "--format",
        "json",
    )
    (o,) = json.loads(r.stdout)["obligations"]
    assert (o["tag"], o["due"], o["rule"]) == ("6WM", "2026-12-14", "coburg-local/2mm-ue25-marktnah")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("interval: 2M", "interval: zwei Monate"))
    r = kontaktsync_cli("policies", "check", str(bad))
    assert (
        r.returncode == 2
        and "contact rule 6 (id 2mm-ue25-marktnah), interval" in r.stderr
        and "zwei Monate" in r.stderr
    )
    schema = json.loads(kontaktsync_cli("policies", "schema").stdout)
    assert schema["title"] == "kontaktsync contact-density policy" and "contact_rules" in schema["properties"]


def test_shipped_schema_file_is_current():
    from kontaktsync.rules.policy import policy_json_schema_text

    shipped = Path(__file__).resolve().parents[1] / "rules" / "policy.schema.json"
    assert shipped.read_text(encoding="utf-8") == policy_json_schema_text(), (
        "rules/policy.schema.json is stale: run `kontaktsync policies schema > rules/policy.schema.json`"
    )


def test_explain_traces_every_date(tmp_path):
    paths = write_caseload(
        tmp_path,
        [
            {
                "case_id": "100234",
                "birth_date": "1980-05-05",
                "last_contact": "2026-10-15",
                "extension_months": "2",
                "extension_reason": "Pflege",
            }
        ],
        contacts=[{"case_id": "100234", "date": "2026-11-02", "channel": "telefonisch"}],
    )
    r = kontaktsync_cli(
        "explain",
        "100234",
        "--policy",
        "coburg-2016",
        "--cases",
        str(paths["cases"]),
        "--contacts",
        str(paths["contacts"]),
        "--as-of",
        "2026-11-23",
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for expected in [
        "rule 1mm-bfm: does not match, team standard is not fallmanagement",
        "rule 1mm-u25: does not match, age 46 is above 24",
        "rule 2mm-ue25-marktnah: matches",
        "contact 2026-11-02 telefonisch/erschienen: does not count (channel telefonisch)",
        "anchor 2026-10-15 (last counting contact); interval 2M",
        "extension by 2 months (Pflege): 2027-02-15",
        "2MM contact: due 2027-02-15",
    ]:
        assert expected in out, f"missing {expected!r} in:\n{out}"
    r = kontaktsync_cli("explain", "999", "--policy", "coburg-2016", "--cases", str(paths["cases"]))
    assert r.returncode == 2 and "no case 999" in r.stderr


def test_table_and_explain_show_markup_like_values_as_written(tmp_path):
    """A customer number such as `[/]x` is text, never terminal markup (no crash, shown as is)."""
    cases = tmp_path / "cases.csv"
    cases.write_text(
        "case_id,counsellor,birth_date,status,profile,registration_date\n"
        "[/]x,anna,1980-01-01,arbeitslos,marktnah,2026-01-01\n"
        "[bold]y,anna,1980-01-01,arbeitslos,marktnah,2026-01-01\n",
        encoding="utf-8",
    )
    args = ["--policy", "coburg-2016", "--cases", str(cases), "--as-of", "2026-11-22"]
    table = kontaktsync_cli("plan", *args, "--format", "table")
    assert table.returncode == 0, table.stderr
    assert "[/]x" in table.stdout and "[bold]y" in table.stdout
    explained = kontaktsync_cli("explain", "[/]x", *args)
    assert explained.returncode == 0, explained.stderr
    assert "Case [/]x" in explained.stdout
