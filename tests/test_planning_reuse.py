"""`make_plan` hands the last plan back while nothing it was made from changed (the daemon's
unchanged cycle), and makes a new one as soon as anything did."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.core.planning import make_plan

from tests.builders import AS_OF, caseload


def _settings(src: Path, policy: str = "coburg-2016") -> Settings:
    return Settings(
        policy=policy,
        source={
            "cases": src / "cases.csv",
            "measures": src / "measures.csv",
            "contacts": src / "contacts.csv",
        },
        target={"kind": "caldav", "caldav": {"url": "http://127.0.0.1:9/{counsellor}/k/"}},
    )


def test_the_same_inputs_give_the_same_plan_and_any_change_a_new_one(tmp_path: Path) -> None:
    src = caseload(tmp_path / "src")
    settings = _settings(src)
    first = make_plan(settings, AS_OF)
    assert make_plan(settings, AS_OF) is first

    contacts = src / "contacts.csv"
    stat = contacts.stat()
    os.utime(contacts, (stat.st_atime + 60, stat.st_mtime + 60))  # touched, not changed
    assert make_plan(settings, AS_OF) is first

    assert make_plan(settings, AS_OF + timedelta(days=1)) is not first  # another day
    again = make_plan(settings, AS_OF)
    assert again is not first and again.to_json() == first.to_json()

    with contacts.open("a", encoding="utf-8") as fh:  # one contact more
        fh.write(f"{first.obligations[0].case_id},{AS_OF.isoformat()},persönlich,erschienen\n")
    changed = make_plan(settings, AS_OF)
    assert changed is not again and changed.to_json() != again.to_json()

    other = make_plan(_settings(src, "euskirchen-2011"), AS_OF)  # another policy
    assert other is not changed and other.policy == "euskirchen-2011"


def test_a_changed_reader_setting_makes_a_new_plan(tmp_path: Path) -> None:
    src = caseload(tmp_path / "src")
    settings = _settings(src)
    first = make_plan(settings, AS_OF)
    cp1252 = settings.model_copy(update={"source": settings.source.model_copy(update={"encoding": "utf-8"})})
    assert make_plan(cp1252, AS_OF) is not first


def test_the_run_places_under_the_policy_the_plan_was_made_with(tmp_path: Path) -> None:
    """A policy file edited between planning and placing is not taken for the plan's."""
    from kontaktsync.rules.policy import builtin_policy_text
    from kontaktsync.sync.core.planning import policy_for

    src = caseload(tmp_path / "src")
    policy_file = tmp_path / "mine.yaml"
    policy_file.write_text(builtin_policy_text("coburg-2016"), encoding="utf-8")
    settings = _settings(src, str(policy_file))
    made = make_plan(settings, AS_OF)
    planned_with = policy_for(made, settings)
    assert planned_with.id == made.policy == "coburg-2016"
    policy_file.write_text(
        builtin_policy_text("coburg-2016").replace("id: coburg-2016", "id: coburg-edited"), encoding="utf-8"
    )
    assert policy_for(made, settings) is planned_with
    other = make_plan(settings, AS_OF)  # the next run plans under the edited file
    assert policy_for(other, settings).id == other.policy == "coburg-edited"
    assert policy_for(made, settings).id == "coburg-edited"  # an older plan: the configured policy
