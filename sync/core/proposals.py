"""Slot mode: a proposed appointment for each due talk, in the counsellor's free time (issue 12).

Per run: the office data (the policy's `office`, overridden key by key by `items.*` of the
configuration), each counsellor's busy time read from the target (fail closed: a counsellor
whose busy time cannot be read gets no proposal this run, and the run says why), the
proposals already in the calendars (the placer keeps every one that still holds, so a
proposal moves only when it became impossible), then `rules.placement.place`. Each placed talk
becomes a `proposal` item beside its task; a talk that cannot be placed before its due date
lies after it, marked late; one that cannot be placed at all is reported. What a person did to
a proposal (confirmed it, moved it) is theirs: the three-way merge of reconcile keeps it, and
the program never removes a proposal a person changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from kontaktsync.rules.dates import Calendar, german_date
from kontaktsync.rules.model import Obligation, ObligationKind, Plan
from kontaktsync.rules.office import Office
from kontaktsync.rules.placement import Diary, OfficeIncomplete, Slot, Talk, place, scaled
from kontaktsync.rules.policy_format import Policy
from kontaktsync.sync.config.models import ItemSettings, Settings, opening_ranges
from kontaktsync.sync.core.items import CATEGORY, desired_items
from kontaktsync.sync.core.survey import map_calendars, workers
from kontaktsync.sync.item import DesiredItem, uid_maker
from kontaktsync.sync.targets.base import Target, make_target

HORIZON_DAYS = 91
# Obligations that are talks with the customer; the others are desk work (checking that a
# follow-up measure started, a profile review) and get no appointment.
TALKS = frozenset(ObligationKind) - {ObligationKind.FOLLOW_UP_START, ObligationKind.PROFILE_REVIEW}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")


@dataclass
class Outlook:
    """What the placer made of the run, for the sync's output and the team leader: per
    counsellor and ISO week (`2026-W49`) the proposals against the capacity, and the talks
    without a place."""

    placed: int = 0
    late: int = 0
    load: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    unplaced: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # counsellors without proposals, and why

    @staticmethod
    def full(n: int, cap: int) -> bool:
        """A week whose proposals reach its capacity (no capacity known: never full)."""
        return bool(cap) and n >= cap

    @staticmethod
    def week_text(week: str, n: int, cap: int) -> str:
        """`2026-W48 6/12`, and ` FULL` where the week is full."""
        return f"{week} {n}/{cap}" + (" FULL" if Outlook.full(n, cap) else "")

    def weeks(self) -> dict[str, tuple[int, int]]:
        """Per ISO week, all counsellors together: proposals and capacity (no names: the
        team leader's report shows these)."""
        out: dict[str, tuple[int, int]] = {}
        for per_week in self.load.values():
            for week, (n, cap) in per_week.items():
                m, c = out.get(week, (0, 0))
                out[week] = (m + n, c + cap)
        return dict(sorted(out.items()))

    def to_json(self) -> dict[str, object]:
        """Counts only: no counsellor, no case (the report's JSON is per team by default)."""
        return {
            "placed": self.placed,
            "late": self.late,
            "without_place": len(self.unplaced),
            "counsellors_not_read": len(self.skipped),
            "weeks": [{"iso_week": w, "proposals": n, "capacity": c} for w, (n, c) in self.weeks().items()],
        }


def outlook_for(plan: Plan, settings: Settings, policy: Policy, errors: list[str]) -> Outlook:
    """Slot mode's proposals for a plan without writing anything: busy time read through the
    configured target, placed, counted (for `kontaktsync report`)."""
    outlook = Outlook()
    target = make_target(settings)
    try:
        proposals(plan, settings, policy, desired_items(plan, settings), target, outlook, errors)
    finally:
        target.close()
    return outlook


def office_for(policy: Policy, items: ItemSettings) -> Office:
    """The policy's office data with every `items.*` value the configuration sets over it."""
    data = policy.office.model_dump(mode="json") if policy.office is not None else {}
    minutes = data.setdefault("talk_minutes", {})
    for key, target in (
        ("first_talk_minutes", "first_talk"),
        ("follow_up_minutes", "default"),
        ("interpreter_minutes", "interpreter"),
    ):
        if getattr(items, key) is not None:
            minutes[target] = getattr(items, key)
    for key in ("buffer_minutes", "talks_per_day", "talks_per_week"):
        if getattr(items, key) is not None:
            data[key] = getattr(items, key)
    if items.opening_hours is not None:
        ranges = opening_ranges(items.opening_hours)
        data["opening_hours"] = {**data.get("opening_hours", {}), **dict.fromkeys(WEEKDAYS, ranges)}
    return Office.model_validate(data)


def proposals(
    plan: Plan,
    settings: Settings,
    policy: Policy,
    desired: Mapping[str, Mapping[str, DesiredItem]],
    target: Target,
    outlook: Outlook,
    errors: list[str],
) -> dict[str, dict[str, DesiredItem]]:
    """counsellor -> uid -> proposal, for every talk of the plan that could be placed;
    `desired` holds the run's tasks (a proposal names its task and shares its text); `policy`
    is the plan's."""
    try:
        office = office_for(policy, settings.items)
        missing = office.missing()
    except ValueError as exc:
        errors.append(f"items.appointments = slot: the office data is not usable: {exc}")
        return {}
    if missing:
        errors.append(
            "items.appointments = slot: no appointments proposed; set these office values (in the "
            f"policy's office block, or items.* in the configuration): {', '.join(missing)}"
        )
        return {}
    zone = ZoneInfo(policy.timezone)
    uid = uid_maker(settings)
    talks: dict[str, Talk] = {}
    tasks: dict[str, tuple[str, Obligation]] = {}
    for ob in plan.obligations:
        if ob.kind not in TALKS:
            continue
        facts = plan.cases.get(ob.case_id)
        minutes = office.talk_minutes.of(
            ob.kind,
            facts.team if facts else None,
            first=bool(facts and facts.first_talk),
            interpreter=bool(facts and facts.needs_interpreter),
        )
        kind = str(ob.kind)
        pid = uid(ob.case_id, kind, ob.measure_key, ob.cycle, "proposal")
        talks[pid] = Talk(pid, ob.counsellor, ob.due, minutes or 0, ob.window_start)
        tasks[pid] = (uid(ob.case_id, kind, ob.measure_key, ob.cycle, "task"), ob)
    start = datetime.combine(plan.as_of, time.min, zone)
    end = start + timedelta(days=HORIZON_DAYS + 1)
    diaries: dict[str, Diary] = {}
    previous: dict[str, Slot] = {}
    confirmed: set[str] = set()
    who_all = sorted({t.counsellor for t in talks.values()})
    read = map_calendars(lambda who: target.busy(who, start, end), who_all, workers(settings, target))
    for who, busy in zip(who_all, read, strict=True):
        part = settings.items.part_time.get(who, 1.0)
        if not busy.ok:
            outlook.skipped.append(f"{who}: {busy.error}")
            errors.append(f"{who}: no appointments proposed: {busy.error}")
            diaries[who] = Diary(busy=None, part_time=part)
            continue
        fixed = []
        for i in busy.own:
            if i.own_uid in talks and not i.confirmed and i.own_uid not in previous:
                previous[i.own_uid] = Slot(i.start, i.end)
                continue
            # Confirmed by the counsellor (theirs: it stays where it is, counts and blocks), or
            # ours but no longer planned (it goes this run): not to be placed again.
            fixed.append(Slot(i.start, i.end))
            if i.own_uid in talks and i.confirmed:
                confirmed.add(i.own_uid)
        others = tuple(Slot(i.start, i.end) for i in busy.others)
        diaries[who] = Diary(busy=others, fixed=tuple(fixed), part_time=part)
    try:
        placed = place(
            [t for pid, t in talks.items() if pid not in confirmed],
            diaries,
            office,
            Calendar(policy.region.country, policy.region.subdivision),
            plan.as_of,
            previous=previous,
            timezone=policy.timezone,
            horizon_days=HORIZON_DAYS,
        )
    except OfficeIncomplete as exc:
        errors.append(f"items.appointments = slot: {exc}")
        return {}
    out: dict[str, dict[str, DesiredItem]] = {}
    week_cap = office.talks_per_week or 0
    for pid, p in placed.items():
        talk = talks[pid]
        task_uid, ob = tasks[pid]
        task = desired.get(talk.counsellor, {}).get(task_uid)
        if task is None:
            continue
        if p.slot is None:
            if diaries[talk.counsellor].busy is not None:
                outlook.unplaced.append(f"{talk.counsellor}: {task.summary}: {p.reason}")
            continue
        begin = p.slot.start.replace(tzinfo=zone)
        outlook.placed += 1
        outlook.late += p.late
        week = "{}-W{:02}".format(*begin.isocalendar()[:2])
        cap = scaled(week_cap, diaries[talk.counsellor].part_time)
        n, _ = outlook.load.setdefault(talk.counsellor, {}).get(week, (0, cap))
        outlook.load[talk.counsellor][week] = (n + 1, cap)
        late = " (nach Fälligkeit)" if p.late else ""
        out.setdefault(talk.counsellor, {})[pid] = replace(
            task,
            uid=pid,
            item_type="proposal",
            summary=f"Terminvorschlag: {task.summary}{late}",
            description=_description(ob.due, p.late),
            categories=(CATEGORY, ob.tag, "Terminvorschlag"),
            priority=None,
            start=begin,
            overdue=False,
            status="tentative",
            end=p.slot.end.replace(tzinfo=zone),
            related=task_uid,
        )
    return out


def _description(due: date, late: bool) -> str:
    lines = [
        "Vorschlag von kontaktsync für das fällige Gespräch (die Aufgabe dazu ist verknüpft).",
        f"Fällig bis: {german_date(due)}",
    ]
    if late:
        lines.append("Vorher war kein freier Termin innerhalb der Kapazität: der Vorschlag liegt danach.")
    lines += [
        "",
        "Annehmen: den Termin bestätigen. Verschieben: einfach verschieben.",
        "Ein bestätigter oder verschobener Termin gehört Ihnen; kontaktsync ändert ihn nicht mehr.",
        "",
        "Automatisch vorgeschlagen von kontaktsync.",
    ]
    return "\n".join(lines)
