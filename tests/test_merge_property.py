"""The three-way merge as a property: whatever sequence of plan changes and person edits,
the person's fields survive, the others follow the plan, and no item is lost or duplicated.

Runs the real runner and reconciler against the in-memory target (which stores the very
iCalendar bytes the CalDAV target would PUT), many sequences per test.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import icalendar
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kontaktsync.sync.core.items import desired_items
from kontaktsync.sync.core.runner import run_sync
from kontaktsync.sync.item import field_hashes
from kontaktsync.sync.targets.caldav import ical
from kontaktsync.sync.targets.memory import MemTarget

from tests.builders import obligation, plan_of
from tests.builders import settings as base_settings

CASES = ("100234", "100235", "100236")
FIELDS = ("summary", "description", "categories", "priority", "due", "status")


def _plan(shift: dict[str, int], ext: dict[str, int]):
    obs = [
        obligation(
            cid,
            due=date(2026, 12, 2) + timedelta(days=shift.get(cid, 0)),
            extension_months=ext.get(cid, 0),
            overdue=shift.get(cid, 0) < -20,
        )
        for cid in CASES
    ]
    return plan_of(*obs)


def _edit(tgt: MemTarget, uid: str, name: str, n: int) -> object:
    """A person changes one field of one item; returns the field value as `fields_of` reads it."""
    version, body = tgt.cals["anna"][uid]
    cal = icalendar.Calendar.from_ical(body)
    comp = next(c for c in cal.subcomponents if c.name in ("VTODO", "VEVENT"))
    is_task = comp.name == "VTODO"
    if name == "summary":
        comp.pop("SUMMARY")
        comp.add("SUMMARY", f"Eigener Titel {n}")
    elif name == "description":
        text = str(comp.get("DESCRIPTION", ""))
        comp.pop("DESCRIPTION", None)
        comp.add("DESCRIPTION", text + f"\nNotiz {n}")
    elif name == "categories":
        comp.pop("CATEGORIES", None)
        comp.add("CATEGORIES", ["Kontaktdichte", f"Eigene {n}"])
    elif name == "priority":
        comp.pop("PRIORITY", None)
        comp.add("PRIORITY", 2 + n % 7)
    elif name == "due":
        day = date(2027, 3, 1) + timedelta(days=n)
        if is_task:
            comp.pop("DUE", None)
            comp.add("DUE", day)
        else:
            for prop in ("DTSTART", "DTEND"):
                comp.pop(prop, None)
            comp.add("DTSTART", day)
            comp.add("DTEND", day + timedelta(days=1))
    elif name == "status" and is_task:
        for prop in ("STATUS", "PERCENT-COMPLETE", "COMPLETED"):
            comp.pop(prop, None)
        comp.add("STATUS", "COMPLETED")
        comp.add("PERCENT-COMPLETE", 100)
    else:
        return None
    tgt.cals["anna"][uid] = (version + 1, cal.to_ical())
    return ical.fields_of(comp)


step = st.one_of(
    st.tuples(st.just("plan"), st.sampled_from(CASES), st.integers(-40, 40), st.integers(0, 2)),
    st.tuples(st.just("edit"), st.integers(0, 5), st.sampled_from(FIELDS), st.integers(0, 50)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=8))
def test_person_fields_survive_and_the_rest_follows_the_plan(tmp_path_factory, steps):
    folder: Path = tmp_path_factory.mktemp("merge")
    s = base_settings()
    s = s.model_copy(update={"sync": s.sync.model_copy(update={"state_path": folder / "st.sqlite3"})})
    tgt = MemTarget()
    shift: dict[str, int] = {}
    ext: dict[str, int] = {}
    plan = _plan(shift, ext)
    run_sync(s, plan=plan, target=tgt)
    person: dict[tuple[str, str], object] = {}  # (uid, field) -> the person's value
    for n, (what, a, b, c) in enumerate(steps):
        if what == "plan":
            shift[a], ext[a] = b, c
        else:
            uids = sorted(tgt.cals["anna"])
            uid = uids[a % len(uids)]
            got = _edit(tgt, uid, b, n)
            if got is not None:
                person[(uid, b)] = got
                if b == "due":
                    person[(uid, "start")] = got  # a marker's day is its start as well
        plan = _plan(shift, ext)
        report = run_sync(s, plan=plan, target=tgt)
        assert report.failed == 0
        want = desired_items(plan, s)["anna"]
        # Nothing lost, nothing twice: exactly the desired UIDs, each once (dict keys).
        assert set(tgt.cals["anna"]) == set(want)
        for uid, item in want.items():
            parsed = ical.parse(tgt.cals["anna"][uid][1])
            assert parsed is not None and parsed.ours
            have = field_hashes(parsed.fields)
            plan_fields = item.fields()
            for name in FIELDS:
                if (uid, name) in person:
                    expect = person[(uid, name)][name]  # type: ignore[index]
                    assert have[name] == field_hashes({**parsed.fields, name: expect})[name], (uid, name)
                elif name == "start" or (name == "priority" and (uid, "status") in person):
                    continue
                else:
                    assert have[name] == field_hashes(plan_fields)[name], (uid, name)
        # A second run over the same plan writes nothing.
        assert run_sync(s, plan=plan, target=tgt).writes == 0


def test_a_conflicting_plan_change_is_reported_once(tmp_path):
    s = base_settings()
    s = s.model_copy(update={"sync": s.sync.model_copy(update={"state_path": tmp_path / "st.sqlite3"})})
    tgt = MemTarget()
    run_sync(s, plan=_plan({}, {}), target=tgt)
    task = next(u for u, (_, b) in tgt.cals["anna"].items() if ical.parse(b).item_type == "task")
    _edit(tgt, task, "due", 1)
    moved = _plan({CASES[0]: 5, CASES[1]: 5, CASES[2]: 5}, {})
    first = run_sync(s, plan=moved, target=tgt)
    assert len(first.kept_edits) == 1 and "due" in first.kept_edits[0]
    assert first.kept_person_edits == 1
    again = run_sync(s, plan=moved, target=tgt)
    assert again.kept_edits == [] and again.kept_person_edits == 0 and again.writes == 0


def test_items_written_before_field_hashes_keep_the_persons_likely_fields(tmp_path):
    """An item from an older version carries only the whole-item hash: where a person changed
    it, completion, dates and the description (their notes) are kept where they differ from the
    plan; the other fields follow the plan, and the marker gets field hashes from then on."""
    s = base_settings()
    s = s.model_copy(update={"sync": s.sync.model_copy(update={"state_path": tmp_path / "st.sqlite3"})})
    tgt = MemTarget()
    plan = _plan({}, {})
    run_sync(s, plan=plan, target=tgt)
    task = next(u for u, (_, b) in tgt.cals["anna"].items() if ical.parse(b).item_type == "task")
    version, body = tgt.cals["anna"][task]
    cal = icalendar.Calendar.from_ical(body)
    todo = cal.walk("VTODO")[0]
    marker = str(todo[ical.MARKER])
    todo.pop(ical.MARKER)
    todo.add(ical.MARKER, "&".join(p for p in marker.split("&") if not p.startswith("f=")))
    todo.pop("DESCRIPTION")
    todo.add("DESCRIPTION", "Notiz der Beraterin")
    tgt.cals["anna"][task] = (version + 1, cal.to_ical())
    s2 = s.model_copy(update={"privacy": s.privacy.model_copy(update={"show_names": True})})
    run_sync(s2, plan=plan, target=tgt)
    after = ical.parse(tgt.cals["anna"][task][1])
    assert after.fields["description"] == "Notiz der Beraterin"
    assert after.fields["summary"] == desired_items(plan, s2)["anna"][task].summary
    assert after.marker.get("f")
    assert run_sync(s2, plan=plan, target=tgt).writes == 0
    assert ical.parse(tgt.cals["anna"][task][1]).fields["description"] == "Notiz der Beraterin"
