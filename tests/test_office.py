"""Office data in the policy format: what the built-in policies carry, and what a file may say."""

from __future__ import annotations

import re

import pytest
from kontaktsync.rules.model import ObligationKind, Team
from kontaktsync.rules.policy import BUILTIN_IDS, PolicyError, builtin_policy_text, load_policy, parse_policy

COBURG = builtin_policy_text("coburg-2016")


def test_coburg_books_first_talks_at_60_follow_ups_at_30_and_60_with_an_interpreter():
    minutes = load_policy("coburg-2016").office.talk_minutes
    assert minutes.of(ObligationKind.CONTACT) == 30
    assert minutes.of(ObligationKind.CONTACT, first=True) == 60
    assert minutes.of(ObligationKind.CONTACT, interpreter=True) == 60


def test_berlin_plans_an_hour_in_basic_teams_and_three_quarters_in_bjo_25_talks_a_week():
    office = load_policy("berlin-lichtenberg-2013").office
    assert office.talk_minutes.of(ObligationKind.CONTACT, team=Team.STANDARD) == 60
    assert office.talk_minutes.of(ObligationKind.CONTACT, team=Team.BJO) == 45
    assert (office.talks_per_week, office.talks_per_day) == (25, None)


def test_euskirchen_counts_five_talks_a_day():
    office = load_policy("euskirchen-2011").office
    assert (office.talks_per_day, office.talks_per_week) == (5, None)


@pytest.mark.parametrize("policy_id", BUILTIN_IDS)
def test_every_builtin_says_what_the_deployment_must_set(policy_id):
    office = load_policy(policy_id).office
    missing = office.missing()
    # no document lists opening hours: every built-in leaves them to the deployment
    assert {f"office.opening_hours.{d}" for d in ("monday", "friday")} <= set(missing)
    assert "office.buffer_minutes" in missing


@pytest.mark.parametrize("policy_id", BUILTIN_IDS)
def test_every_office_value_of_a_builtin_cites_its_source_or_says_it_is_silent(policy_id):
    text = builtin_policy_text(policy_id)
    block = text.split("\noffice:\n", 1)[1]
    weekdays = ("monday", "tuesday", "wednesday", "thursday", "friday")
    for line in block.splitlines():
        key = line.strip().split(":", 1)[0]
        if key in weekdays:  # the weekdays share the comment of their opening_hours line
            assert re.search(r"opening_hours:\s+#", block), f"{policy_id}: opening hours without a source"
        elif line.strip() and not line.lstrip().startswith("#"):
            assert "#" in line or line.rstrip().endswith(":"), f"{policy_id}: no source or reason: {line}"


def test_the_office_block_is_optional():
    without = COBURG.split("\n# Office data", 1)[0]
    assert parse_policy(without, "mine.yaml").office is None


def test_a_deployment_sets_opening_hours_in_its_own_policy_file():
    text = COBURG.replace("monday: null", 'monday: ["08:00-12:00", "13:00-15:30"]').replace(
        "friday: null", "friday: []"
    )
    hours = parse_policy(text, "mine.yaml").office.opening_hours
    assert [(a.isoformat("minutes"), b.isoformat("minutes")) for a, b in hours.on(0)] == [
        ("08:00", "12:00"),
        ("13:00", "15:30"),
    ]
    assert hours.on(4) == [] and hours.on(5) == []


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ('["8 bis 12"]', "is not a time range like 08:00-12:30"),
        ('["12:00-08:00"]', "ends before it starts"),
        ('["08:00-12:00", "11:00-13:00"]', "overlap"),
    ],
)
def test_opening_hours_that_cannot_be_read_are_refused(hours, message):
    with pytest.raises(PolicyError) as err:
        parse_policy(COBURG.replace("monday: null", f"monday: {hours}"), "mine.yaml")
    assert "office.opening_hours.monday" in str(err.value) and message in str(err.value)
