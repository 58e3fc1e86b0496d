"""The contact rule a case meets is looked up by a coarse key of its facts (rules.conditions
`facts_key`: ages by bracket, filled-or-not for dates); the lookup always gives the rule that
testing every rule in order gives."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st
from kontaktsync.rules.engine import Engine
from kontaktsync.rules.model import Case, Duration, Profile, Status, Team
from kontaktsync.rules.policy import BUILTIN_IDS, load_policy
from kontaktsync.rules.view import CaseView

from tests.builders import AS_OF

ENGINES = {pid: Engine(load_policy(pid), AS_OF) for pid in BUILTIN_IDS}
MAYBE_DAY = st.none() | st.dates(min_value=date(2000, 1, 1), max_value=AS_OF)


@st.composite
def views(draw: st.DrawFn) -> CaseView:
    case = Case(
        "1", "c", draw(st.sampled_from(list(Status))), draw(st.sampled_from(list(Profile))),
        draw(st.sampled_from(list(Team))),
        buergerarbeit=draw(st.booleans()), umschueler=draw(st.booleans()),
        needs_interpreter=draw(st.booleans()), care_plan_created=draw(MAYBE_DAY),
        profile_since=draw(MAYBE_DAY), registration_date=draw(MAYBE_DAY),
        individual_interval=draw(st.none() | st.sampled_from([Duration(1, "M"), Duration(6, "W")])),
    )  # fmt: skip
    age = draw(st.none() | st.integers(min_value=14, max_value=70))
    return CaseView(case, age, None, (), draw(st.booleans()), case.status, case.profile, case.team)


@settings(max_examples=400, deadline=None)
@given(st.lists(views(), min_size=1, max_size=30), st.sampled_from(BUILTIN_IDS))
def test_the_looked_up_rule_is_the_first_that_holds(vs: list[CaseView], policy_id: str) -> None:
    rules = ENGINES[policy_id]._contact
    for v in vs:  # one engine for all: later views hit keys earlier ones made
        _, found = rules._lookup(v)
        first = next((cr for cr in rules._rules if cr.test.holds(v)), None)
        assert found is first, (policy_id, v.age, v.case)
