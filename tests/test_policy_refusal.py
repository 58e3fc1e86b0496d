"""A policy file says only what the engine can run: every rule kind with every date base.

Measure dates (start, end, completion, last_third, next_start) exist only in measure rules;
`load_policy` refuses them anywhere else and names the file, the rule's place and the field.
Measure rules may count from any base, and each such combination plans.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import get_args

import pytest
import yaml
from builders import write_caseload
from kontaktsync.rules.engine import explain
from kontaktsync.rules.policy import PolicyError, load_policy
from kontaktsync.rules.policy_format import MEASURE_BASES, CaseDateField
from kontaktsync.sync.caseload import read_caseload

CASE_DATES = list(get_args(CaseDateField))  # every case date a policy may count from
MEASURE_KINDS = ["measure_window", "measure_before_end", "measure_after_end", "follow_up_start"]
CASE_KINDS = ["care_plan", "care_plan_review", "profile_review"]


def base_policy() -> dict:
    return {
        "id": "mine",
        "title": "a Jobcenter's own policy",
        "region": {"country": "DE", "subdivision": "BY"},
        "counting_channels": ["persoenlich"],
        "contact_rules": [{"id": "all", "interval": "1M"}],
    }


def date_spec(base: str) -> dict:
    return {"from": base, "next_measure_within": "14D"} if base == "next_start" else {"from": base}


def write(tmp_path: Path, policy: dict) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False), encoding="utf-8")
    return path


def refused(path: Path) -> str:
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    return str(err.value)


PLACES = [("contact_rules", None, "no_later_than")] + [
    ("case_rules", kind, field) for kind in CASE_KINDS for field in ("due", "window_start")
]


@pytest.mark.parametrize("nested", [False, True], ids=["direct", "in-latest_of"])
@pytest.mark.parametrize("base", sorted(MEASURE_BASES))
@pytest.mark.parametrize(("section", "kind", "field"), PLACES)
def test_a_measure_date_outside_a_measure_rule_is_refused_with_its_place(
    tmp_path, section, kind, field, base, nested
):
    spec = {"latest_of": [{"from": "profile_since"}, date_spec(base)]} if nested else date_spec(base)
    policy = base_policy()
    if section == "contact_rules":
        policy["contact_rules"][0]["no_later_than"] = spec
    else:
        rule = {"id": "review", "kind": kind, "tag": "WV", "due": {"from": "profile_since"}}
        policy["case_rules"] = [{**rule, field: spec}]
    path = write(tmp_path, policy)
    message = refused(path)
    rule_id = "all" if section == "contact_rules" else "review"
    where = f"{field}.latest_of.1.from" if nested else f"{field}.from"
    assert str(path) in message
    place = {"contact_rules": "contact rule 1 (id all)", "case_rules": "case rule 1 (id review)"}[section]
    assert f"  {place}: " in message
    assert f"rule {rule_id}: '{base}' is a measure date; only measure rules can use it (at {where})" in (
        message
    )


def test_every_measure_rule_kind_plans_from_every_date_base(tmp_path):
    bases = CASE_DATES + sorted(MEASURE_BASES)
    policy = base_policy()
    rules = []
    for kind in MEASURE_KINDS:
        for base in bases:
            rules.append({"id": f"{kind}-due-{base}", "kind": kind, "tag": "M", "due": date_spec(base)})
            if kind != "follow_up_start":  # a task has no window
                ws = {"window_start": date_spec(base), "due": {"from": "end"}}
                rules.append({"id": f"{kind}-window-{base}", "kind": kind, "tag": "M", **ws})
    policy["measure_rules"] = rules
    path = write(tmp_path, policy)
    filled = {"case_id": "1", **dict.fromkeys(CASE_DATES, "2026-06-01")}
    measure = {"case_id": "1", "measure_id": "M1", "start": "2026-09-01", "end": "2026-12-31"}
    paths = write_caseload(tmp_path, [filled], [measure])
    case = read_caseload(paths["cases"], paths["measures"]).cases[0]
    ex = explain(case, load_policy(path), date(2026, 11, 23))
    made = {o.rule.split("/")[1] for o in ex.obligations if o.kind != "contact"}
    # a window the last contact (2026-06-01) lies in is fulfilled: the rule ran all the same
    lines = [line for line in ex.trace if "fulfilled by the contact" in line]
    fulfilled = {line.split("rule ")[1].split(":")[0] for line in lines}
    assert made | fulfilled == {r["id"] for r in rules}
    assert made and fulfilled


@pytest.mark.parametrize("shift", [{"plus": "1M"}, {"working_days_after": 2}])
@pytest.mark.parametrize("which", ["latest_of", "earliest_of"])
def test_a_shift_of_a_latest_or_earliest_date_is_refused(tmp_path, which, shift):
    policy = base_policy()
    due = {which: [{"from": "profile_since"}, {"from": "care_plan_created"}], **shift}
    policy["case_rules"] = [{"id": "review", "kind": "profile_review", "tag": "WV", "due": due}]
    message = refused(write(tmp_path, policy))
    assert "case rule 1 (id review), due: " in message
    assert "'plus' and 'working_days_after' go with 'from', not with 'latest_of'/'earliest_of'" in message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"interval": None, "unmatched": "own concept", "tag": "X"},
            "rule all: a rule with 'unmatched' makes no contact: drop 'tag', 'no_later_than'",
        ),
        (
            {"interval": None, "unmatched": "own concept", "no_later_than": {"from": "profile_since"}},
            "rule all: a rule with 'unmatched' makes no contact: drop 'tag', 'no_later_than'",
        ),
        (
            {"unmatched_without_interval": "no interval"},
            "rule all: 'unmatched_without_interval' goes with 'interval_field'",
        ),
    ],
)
def test_contact_rule_parts_the_engine_would_ignore_are_refused(tmp_path, change, message):
    policy = base_policy()
    rule = {**policy["contact_rules"][0], **change}
    policy["contact_rules"] = [{k: v for k, v in rule.items() if v is not None}]
    text = refused(write(tmp_path, policy))
    assert "contact rule 1 (id all): " in text and message in text
