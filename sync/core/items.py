"""Plan -> desired calendar items, independent of any target (calendar.md, Items).

What a counsellor reads: subjects per obligation kind, the description that says why, the
task and the marker appointment of each obligation. The item model itself: kontaktsync.sync.item.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import date, timedelta
from operator import attrgetter
from typing import Any

from kontaktsync.rules.dates import german_date
from kontaktsync.rules.model import CaseFacts, Obligation, ObligationKind, Plan
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.item import DesiredItem, case_keyer, uid_maker

CATEGORY = "Kontaktdichte"


SUBJECTS: dict[ObligationKind, str] = {
    ObligationKind.CONTACT: "Kontakt fällig",
    ObligationKind.MEASURE_WINDOW: "Gespräch zur Maßnahme",
    ObligationKind.MEASURE_BEFORE_END: "Gespräch vor Maßnahmeende",
    ObligationKind.MEASURE_AFTER_END: "Gespräch nach Maßnahmeende",
    ObligationKind.FOLLOW_UP_START: "Antritt Folgemaßnahme prüfen",
    ObligationKind.CARE_PLAN: "Betreuungsplan erstellen",
    ObligationKind.CARE_PLAN_REVIEW: "Betreuungsplan überprüfen",
    ObligationKind.PROFILE_REVIEW: "Wiedervorlage Profil",
}


def _de(d: date | None) -> str:
    return german_date(d) if d else "–"


def summary_for(ob: Obligation, facts: CaseFacts | None, key: str, settings: Settings) -> str:
    text = f"{ob.tag} {SUBJECTS.get(ob.kind, 'Kontakt fällig')} – Kd {key}"
    if settings.privacy.show_names and facts is not None and facts.display_name:
        text += f" ({facts.display_name})"
    return text


def description_for(ob: Obligation) -> str:
    """Why the task exists. No run date in it: an unchanged obligation keeps its text."""
    lines = [
        f"Warum: Kontaktdichte nach {ob.policy}, Regel {ob.rule}"
        + (f" (Intervall {ob.interval})" if ob.interval else "")
        + ".",
        f"Letzter zählender Kontakt: {_de(ob.last_contact)}",
    ]
    if ob.kind == ObligationKind.CONTACT and ob.last_contact is None:
        if ob.anchor is not None:
            lines.append(f"Kein Kontakt erfasst: gerechnet ab dem Zugang am {_de(ob.anchor)}.")
        else:
            lines.append("Weder Kontakt noch Zugang erfasst: sofort fällig.")
    if ob.measure:
        lines.append(f"Maßnahme: {ob.measure}")
    if ob.window_start:
        lines.append(f"Zeitfenster: {_de(ob.window_start)} bis {_de(ob.due)}")
    lines.append(f"Fällig: {_de(ob.due)}")
    if ob.overdue:
        lines.append(f"Überfällig seit {_de(ob.due + timedelta(days=1))}.")
    if ob.extension_months:
        lines.append(f"Verlängert um {ob.extension_months} Monat(e).")
    if ob.guidance:
        lines.append("")
        lines.append("Leitfragen:")
        lines.extend(f"- {q}" for q in ob.guidance)
    if ob.note:
        lines.append("")
        lines.append(f"Hinweis: {ob.note}")
    lines.append("")
    lines.append("Automatisch angelegt von kontaktsync.")
    return "\n".join(lines)


class _RunKeys:
    """What every item of a run derives from the settings, read once per run."""

    def __init__(self, settings: Settings) -> None:
        self.case_key = case_keyer(settings)
        self.uid = uid_maker(settings)
        self.marker = settings.items.appointments == "marker"  # slot: core/proposals.py
        key = settings.privacy.pseudonym_key
        # Everything of the settings an item depends on (see desired_for, summary_for).
        self.identity = (
            settings.sync.namespace,
            settings.privacy.pseudonymize,
            key.get_secret_value() if key is not None else None,
            settings.privacy.show_names,
            settings.items.appointments,
        )


def desired_for(
    ob: Obligation, plan: Plan, settings: Settings, keys: _RunKeys | None = None
) -> list[DesiredItem]:
    """The task (and, if configured, the marker appointment) for one obligation."""
    keys = keys or _RunKeys(settings)
    facts = plan.cases.get(ob.case_id)
    key = keys.case_key(ob.case_id)
    kind = str(ob.kind)
    start = ob.window_start if ob.window_start and ob.window_start <= ob.due else None
    common: dict[str, Any] = {
        "calendar": ob.counsellor,
        "case_id": ob.case_id,
        "case_key": key,
        "kind": kind,
        "cycle": ob.cycle,
        "measure_key": ob.measure_key,
        "summary": summary_for(ob, facts, key, settings),
        "description": description_for(ob),
        "categories": (CATEGORY, ob.tag),
        "private": True,
        "due": ob.due,
        "window_start": ob.window_start,
        "overdue": ob.overdue,
    }
    items = [
        DesiredItem(
            uid=keys.uid(ob.case_id, kind, ob.measure_key, ob.cycle, "task"),
            item_type="task",
            priority=1 if ob.overdue else None,
            start=start,
            **common,
        )
    ]
    if keys.marker:
        items.append(
            DesiredItem(
                uid=keys.uid(ob.case_id, kind, ob.measure_key, ob.cycle, "marker"),
                item_type="marker",
                priority=None,
                # an overdue contact's appointment sits on the run's day, where people look
                start=max(ob.due, plan.as_of),
                **common,
            )
        )
    return items


# The previous run's items in this process, by obligation: the daemon plans the same
# obligations cycle after cycle, and an item (with its hashes) is a pure function of its
# obligation, the case's display name, the plan's date and the settings in `_RunKeys.identity`.
# Reusing them spares building and hashing ~100k items per unchanged cycle. Replaced by every
# run, so it holds one run's items at most.
@dataclass(slots=True)
class _Previous:
    identity: tuple[Any, ...]
    plan: Plan  # the plan they were made for (plans are never changed once made)
    items: dict[tuple[Any, ...], list[DesiredItem]]  # by obligation (and display name)
    out: dict[str, dict[str, DesiredItem]]  # what desired_items returned


_previous: _Previous | None = None
_obligation_values = attrgetter(*(f.name for f in dataclass_fields(Obligation)))


def desired_items(plan: Plan, settings: Settings) -> dict[str, dict[str, DesiredItem]]:
    """calendar (counsellor) -> uid -> item, for every obligation of the plan. The caller may
    change the dicts it gets."""
    global _previous
    keys = _RunKeys(settings)
    identity = (*keys.identity, plan.as_of)
    same = _previous is not None and _previous.identity == identity
    if same and _previous.plan is plan:  # the daemon while the export is unchanged
        return {cal: dict(items) for cal, items in _previous.out.items()}
    before = _previous.items if same else {}
    now: dict[tuple[Any, ...], list[DesiredItem]] = {}
    names = settings.privacy.show_names
    out: dict[str, dict[str, DesiredItem]] = {}
    for ob in plan.obligations:
        facts = plan.cases.get(ob.case_id) if names else None
        key = (_obligation_values(ob), facts.display_name if facts is not None else None)
        items = before.get(key)
        if items is None:
            items = desired_for(ob, plan, settings, keys)
        now[key] = items
        for item in items:
            out.setdefault(item.calendar, {})[item.uid] = item
    _previous = _Previous(identity, plan, now, out)
    return {cal: dict(items) for cal, items in out.items()}
