"""The policy format for follow-up tasks: what a policy file can say, and what it must not."""

from __future__ import annotations

import json

import pytest
from kontaktsync.rules.policy import PolicyError, builtin_policy_text, parse_policy, policy_json_schema

from tests.builders import write_caseload
from tests.cli import kontaktsync_cli

COBURG = builtin_policy_text("coburg-2016")
HAMBURG = builtin_policy_text("hamburg-absolventenmanagement")
WV_WHEN = "when: {contact_rule: [2mm-ue25-marktnah]}"
AM_A_DUE = "due: {from: next_start, next_measure_within: 14D, working_days_after: 1}"


def rejected(text: str) -> str:
    with pytest.raises(PolicyError) as err:
        parse_policy(text, "mine.yaml")
    return str(err.value)


def test_builtin_policies_carry_the_follow_up_tasks_as_data():
    assert WV_WHEN in COBURG and "kind: profile_review" in COBURG
    assert AM_A_DUE in HAMBURG and "kind: follow_up_start" in HAMBURG
    assert "when: {require: [follow_up_measure]}" in HAMBURG


def test_schema_publishes_the_new_parts():
    text = json.dumps(policy_json_schema())
    for part in ("follow_up_start", "next_start", "next_measure_within", "contact_rule", "require"):
        assert f'"{part}"' in text, part


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            AM_A_DUE,
            AM_A_DUE + "\n    window_start: {from: end}",
            "a follow_up_start rule has no window_start",
        ),
        (AM_A_DUE, "due: {from: next_start, working_days_after: 1}", "'next_measure_within' go together"),
        (AM_A_DUE, "due: {from: end, next_measure_within: 14D}", "'next_measure_within' go together"),
        (
            AM_A_DUE,
            "due: {from: next_start, next_measure_within: zwei Wochen}",
            "'zwei Wochen' is not a duration",
        ),
        (
            "when: {require: [follow_up_measure]}",
            "when: {require: [anschluss]}",
            "measure rule 4 (id am-a-anschlussfoerderung), when.require.0",
        ),
    ],
)
def test_follow_up_start_rules_the_engine_cannot_run_are_rejected(old, new, message):
    assert old in HAMBURG
    assert message in rejected(HAMBURG.replace(old, new))


@pytest.mark.parametrize(
    ("new", "message"),
    [
        (
            "when: {contact_rule: [2mm-marktnah]}",
            "rule wv-2mm-profiling: unknown contact_rule '2mm-marktnah' (contact rules: 1mm-bfm, ",
        ),
        ("when: {contact_rule: 2mm-ue25-marktnah}", "case rule 1 (id wv-2mm-profiling), when.contact_rule"),
    ],
)
def test_a_case_rule_must_name_a_contact_rule_of_the_policy(new, message):
    assert message in rejected(COBURG.replace(WV_WHEN, new))


def test_contact_rule_is_no_condition_of_a_contact_rule():
    text = COBURG.replace("when: {team: [fallmanagement]}", "when: {contact_rule: [1mm-u25]}")
    assert "contact rule 1 (id 1mm-bfm), when.contact_rule: Extra inputs are not permitted" in rejected(text)


@pytest.mark.parametrize("base", ["end", "start", "next_start"])
def test_a_case_rule_cannot_count_from_a_measure_date(base):
    text = COBURG.replace("due: {from: profile_since, plus: 6M}", f"due: {{from: {base}, plus: 6M}}")
    message = rejected(text.replace("from: next_start,", "from: next_start, next_measure_within: 14D,"))
    assert f"rule wv-2mm-profiling: '{base}' is a measure date; only measure rules can use it" in message


def test_policies_check_names_where_the_file_is_wrong(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(COBURG.replace(WV_WHEN, "when: {contact_rule: [2mm]}"), encoding="utf-8")
    r = kontaktsync_cli("policies", "check", str(bad))
    assert r.returncode == 2
    assert str(bad) in r.stderr and "unknown contact_rule '2mm'" in r.stderr


def test_a_user_policy_reviews_the_profile_after_another_contact_rule(tmp_path):
    # a Jobcenter's own reading: the review for market-far customers, after 3 months
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        COBURG.replace("id: coburg-2016", "id: coburg-local")
        .replace(WV_WHEN, "when: {contact_rule: [3mm-ue25-marktfern]}")
        .replace("due: {from: profile_since, plus: 6M}", "due: {from: profile_since, plus: 3M}"),
        encoding="utf-8",
    )
    cases = [
        {
            "case_id": "fern",
            "birth_date": "1980-05-05",
            "profile": "entwicklungsprofil",
            "profile_since": "2026-08-31",
        },
        {"case_id": "nah", "birth_date": "1980-05-05", "profile_since": "2026-08-31"},
    ]
    paths = write_caseload(tmp_path, cases)
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
    assert r.returncode == 0, r.stderr
    reviews = [o for o in json.loads(r.stdout)["obligations"] if o["kind"] == "profile_review"]
    # 2026-08-31 + 3M = 2026-11-30, a Monday
    assert [(o["case_id"], o["due"], o["rule"]) for o in reviews] == [
        ("fern", "2026-11-30", "coburg-local/wv-2mm-profiling")
    ]


def test_a_user_policy_can_ask_for_the_follow_up_check_after_qualifying_measures_only(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        HAMBURG.replace(
            "when: {require: [follow_up_measure]}", "when: {require: [follow_up_measure, qualifying]}"
        ),
        encoding="utf-8",
    )
    both = {"case_id": "1", "start": "2026-03-01", "follow_up_measure": "ja"}
    measures = [
        {**both, "measure_id": "Q", "end": "2026-12-31", "qualifying": "ja"},
        {**both, "measure_id": "N", "end": "2026-12-30"},
    ]
    paths = write_caseload(tmp_path, [{"birth_date": "1990-01-01"}], measures)
    r = kontaktsync_cli(
        "plan", "--policy", str(mine), "--cases", str(paths["cases"]), "--measures", str(paths["measures"]),
        "--as-of", "2026-11-23", "--format", "json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    tasks = [o for o in json.loads(r.stdout)["obligations"] if o["kind"] == "follow_up_start"]
    # only Q: E = 2026-12-31, 1st working day after it is Monday 2027-01-04
    assert [(o["due"], o["tag"]) for o in tasks] == [("2027-01-04", "AM-A")]


def test_a_policy_file_is_read_once_while_it_is_unchanged(tmp_path):
    import os

    from kontaktsync.rules.policy import load_policy

    path = tmp_path / "mine.yaml"
    path.write_text(builtin_policy_text("coburg-2016"), encoding="utf-8")
    first = load_policy(path)
    assert load_policy(str(path)) is first  # the plan's and the placer's: one read
    path.write_text(builtin_policy_text("coburg-2016").replace("coburg-2016", "mine-2026"), encoding="utf-8")
    os.utime(path, ns=(1, 1))  # a changed file, whatever the clock's resolution
    assert load_policy(path).id == "mine-2026"


def test_a_policy_file_rewritten_with_its_size_and_time_kept_is_read_again(tmp_path):
    """The policy cache knows a file by more than its size and mtime (`cp -p`, `rsync -t`)."""
    import os
    import time

    from kontaktsync.rules.policy import load_policy

    path = tmp_path / "mine.yaml"
    path.write_text(builtin_policy_text("coburg-2016"), encoding="utf-8")
    assert load_policy(path).id == "coburg-2016"
    before = path.stat()
    for _ in range(1000):  # the kernel's file times tick in steps of a few ms: until ctime moved
        path.write_text(
            builtin_policy_text("coburg-2016").replace("id: coburg-2016", "id: coburg-2099"), encoding="utf-8"
        )
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        after = path.stat()
        if after.st_ctime_ns != before.st_ctime_ns:
            break
        time.sleep(0.001)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert load_policy(path).id == "coburg-2099"
