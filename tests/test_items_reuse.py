"""`desired_items` reuses the previous run's items only where they are what it would build now."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from kontaktsync.rules.model import Plan
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.core.items import desired_for, desired_items

from tests.builders import obligation, plan_of, settings


def built_afresh(plan: Plan, s: Settings) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for ob in plan.obligations:
        for item in desired_for(ob, plan, s):
            out.setdefault(item.calendar, {})[item.uid] = item
    return out


def _plan() -> Plan:
    return plan_of(obligation(), obligation("100235", due=date(2026, 12, 9)), obligation("100236"))


def test_an_unchanged_plan_gets_the_same_items_back():
    s, plan = settings(), _plan()
    first = desired_items(plan, s)
    second = desired_items(_plan(), s)  # equal obligations, new objects
    assert second == first == built_afresh(plan, s)
    assert all(second[c][u] is first[c][u] for c in first for u in first[c])


def test_whatever_an_item_depends_on_makes_it_anew():
    s, plan = settings(), _plan()
    desired_items(plan, s)
    moved = replace(plan, obligations=[replace(plan.obligations[0], due=date(2026, 12, 3))])
    later = replace(plan, as_of=plan.as_of + timedelta(days=30))
    renamed = plan_of(*plan.obligations)
    for case in renamed.cases.values():
        case.display_name = "Max Muster"
    names = settings(show_names=True)
    # (the previous run's plan and settings, this run's): each differs in one thing an item shows
    variants = [
        (plan, s, moved, s),
        (plan, s, later, s),
        (plan, s, plan, names),
        (plan, names, renamed, names),
        (plan, s, plan, settings(pseudonymize=True, pseudonym_key="geheim")),
        (plan, settings(pseudonym_key="geheim"), plan, settings(pseudonymize=True, pseudonym_key="geheim")),
        (
            plan,
            settings(pseudonymize=True, pseudonym_key="anders"),
            plan,
            settings(pseudonymize=True, pseudonym_key="geheim"),
        ),
        (plan, s, plan, s.model_copy(update={"sync": s.sync.model_copy(update={"namespace": "other"})})),
        (plan, s, plan, s.model_copy(update={"items": s.items.model_copy(update={"appointments": "none"})})),
    ]
    for runs in variants:
        for p, run_settings in (runs[:2], runs[2:]):
            assert desired_items(p, run_settings) == built_afresh(p, run_settings), (p.as_of, run_settings)
    desired_items(plan, names)
    shown = desired_items(renamed, names)
    assert all("(Max Muster)" in i.summary for cal in shown.values() for i in cal.values())


def test_the_same_plan_again_costs_no_item_and_hands_out_dicts_of_its_own(monkeypatch):
    from kontaktsync.sync.core import items as items_mod

    s, plan = settings(), _plan()
    first = desired_items(plan, s)
    built: list[object] = []
    monkeypatch.setattr(items_mod, "desired_for", lambda *a: built.append(a) or desired_for(*a))
    looked_up: list[object] = []  # the per-obligation look-up the same plan needs none of
    values = items_mod._obligation_values
    monkeypatch.setattr(items_mod, "_obligation_values", lambda ob: looked_up.append(ob) or values(ob))
    first[next(iter(first))].clear()  # a caller adds to and takes from what it gets (runner)
    first["someone else"] = {}
    again = desired_items(plan, s)
    assert built == [] and looked_up == [] and again == built_afresh(plan, s)
    again[next(iter(again))].clear()
    assert desired_items(plan, s) == built_afresh(plan, s)
    assert desired_items(plan, settings(show_names=True)) == built_afresh(plan, settings(show_names=True))
    assert len(built) == len(plan.obligations)  # other settings: every item made anew
