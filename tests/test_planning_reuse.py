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
