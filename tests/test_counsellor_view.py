"""What a counsellor reads: the anchor used when no contact is known, and overdue appointments
on the day of the run with the day since when they are overdue."""

from __future__ import annotations

from datetime import date

from kontaktsync.sync.core.items import desired_items

from tests.builders import PLAN_AS_OF as AS_OF
from tests.builders import obligation, plan_of, settings


def _items(ob):
    got = desired_items(plan_of(ob), settings())["anna"].values()
    return next(i for i in got if i.item_type == "task"), next(i for i in got if i.item_type == "marker")


def test_an_overdue_appointment_sits_on_the_run_day_and_says_since_when():
    task, marker = _items(obligation(due=date(2026, 11, 2), overdue=True))
    assert task.due == date(2026, 11, 2) and marker.start == AS_OF
    assert marker.fields()["due"] == marker.fields()["start"] == AS_OF.isoformat()
    assert "Überfällig seit 03.11.2026." in task.description


def test_a_due_appointment_sits_on_its_due_day():
    _task, marker = _items(obligation(due=date(2026, 12, 2), overdue=False))
    assert marker.start == date(2026, 12, 2)


def test_without_a_contact_the_description_names_the_registration_it_counts_from():
    task, _ = _items(obligation(last_contact=None, anchor=date(2026, 9, 14), cycle="2026-09-14"))
    assert "Kein Kontakt erfasst: gerechnet ab dem Zugang am 14.09.2026." in task.description
    nothing, _ = _items(obligation(last_contact=None, anchor=None, cycle="none"))
    assert "Weder Kontakt noch Zugang erfasst: sofort fällig." in nothing.description
    known, _ = _items(obligation())
    assert "Kein Kontakt erfasst" not in known.description and "Weder" not in known.description


def test_a_measure_talk_says_which_measure():
    from kontaktsync.rules.measure_rules import describe
    from kontaktsync.rules.model import Measure

    m = Measure("100234", date(2026, 5, 19), date(2027, 5, 18), measure_id="M0001", kind="FbW")
    assert describe(m) == "FbW M0001, 19.05.2026 bis 18.05.2027"
    early = Measure("1", date(2026, 5, 19), date(2027, 5, 18), actual_end=date(2026, 9, 1))
    assert describe(early) == "Maßnahme, 19.05.2026 bis 18.05.2027, tatsächlich beendet 01.09.2026"
    task, _ = _items(obligation(kind="measure_window", tag="AM", measure=describe(m), measure_key="M0001"))
    assert "Maßnahme: FbW M0001, 19.05.2026 bis 18.05.2027" in task.description
