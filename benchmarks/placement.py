"""Time of the placer (rules/placement.py) in-process: 50 counsellors × 150 talks (issue 12).

Random but seeded busy calendars: a weekly team meeting, one to three appointments a day, an
all-day absence now and then. Talks: due over the next 60 days, a third with a 14-day window;
a fifth are first talks (60 minutes), the rest follow-ups (30). Office: Monday to Thursday
08:00–12:00 and 13:00–15:30, Friday 08:00–12:00, 10 minutes of buffer, 5 talks a day and 25 a
week per full-time counsellor, a quarter of the counsellors part-time (0.5 or 0.8).

Prints the wall and CPU time of a first run and of a second run fed the first as `previous`
(what a daily sync does), and how many proposals lie inside their windows, late, or nowhere.

    .venv/bin/python benchmarks/placement.py [--counsellors 50] [--talks 150] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from datetime import date, datetime, timedelta

from kontaktsync.rules.dates import Calendar
from kontaktsync.rules.model import ObligationKind
from kontaktsync.rules.office import Office
from kontaktsync.rules.placement import Diary, Slot, Talk, place

RUN = date(2026, 11, 23)  # a Monday
HORIZON = 91
OFFICE = Office.model_validate(
    {
        "talk_minutes": {"default": 30, "first_talk": 60},
        "opening_hours": {
            **{d: ["08:00-12:00", "13:00-15:30"] for d in ("monday", "tuesday", "wednesday", "thursday")},
            "friday": ["08:00-12:00"],
        },
        "buffer_minutes": 10,
        "talks_per_day": 5,
        "talks_per_week": 25,
    }
)


def diary(rnd: random.Random) -> Diary:
    busy = []
    for offset in range(HORIZON + 7):
        day = RUN + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        if day.weekday() == 1:  # team meeting
            busy.append(
                Slot(
                    datetime(day.year, day.month, day.day, 9), datetime(day.year, day.month, day.day, 10, 30)
                )
            )
        if rnd.random() < 0.03:  # an all-day absence
            busy.append(
                Slot(
                    datetime(day.year, day.month, day.day),
                    datetime(day.year, day.month, day.day) + timedelta(days=1),
                )
            )
        for _ in range(rnd.randint(1, 3)):
            start = datetime(day.year, day.month, day.day, 7) + timedelta(minutes=15 * rnd.randint(0, 36))
            busy.append(Slot(start, start + timedelta(minutes=rnd.choice([30, 45, 60, 90]))))
    part_time = rnd.choice([1.0, 1.0, 1.0, 0.5, 0.8, 1.0, 1.0, 1.0])
    return Diary(tuple(busy), (), part_time)


def instance(counsellors: int, talks: int, seed: int) -> tuple[list[Talk], dict[str, Diary]]:
    rnd = random.Random(seed)
    all_talks, diaries = [], {}
    for c in range(counsellors):
        name = f"berater{c:03}"
        diaries[name] = diary(rnd)
        for i in range(talks):
            due = RUN + timedelta(days=rnd.randint(-5, 60))
            window = due - timedelta(days=14) if rnd.random() < 1 / 3 else None
            minutes = OFFICE.talk_minutes.of(ObligationKind.CONTACT, first=rnd.random() < 0.2)
            all_talks.append(Talk(f"{name}-{i:04}", name, due, minutes or 30, window))
    return all_talks, diaries


def timed(
    talks: list[Talk], diaries: dict[str, Diary], previous: dict[str, Slot] | None
) -> tuple[float, float, dict]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = place(talks, diaries, OFFICE, Calendar("DE", "BE"), RUN, previous=previous, horizon_days=HORIZON)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counsellors", type=int, default=50)
    parser.add_argument("--talks", type=int, default=150, help="talks per counsellor")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    talks, diaries = instance(args.counsellors, args.talks, args.seed)
    busy = sum(len(d.busy or ()) for d in diaries.values())
    print(f"{args.counsellors} counsellors × {args.talks} talks = {len(talks)} talks, {busy} busy items")
    wall, cpu, first = timed(talks, diaries, None)
    counts = Counter(p.status for p in first.values())
    print(f"first run:  {wall:6.2f} s wall, {cpu:6.2f} s CPU  ({len(talks) / wall:,.0f} talks/s)")
    print("            " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    previous = {i: p.slot for i, p in first.items() if p.slot}
    wall, cpu, second = timed(talks, diaries, previous)
    moved = sum(first[i].slot != second[i].slot for i in first)
    by_factor = Counter((diaries[t.counsellor].part_time, first[t.id].status) for t in talks)
    print(
        "            by part-time factor: "
        + ", ".join(f"{f} {s} {n}" for (f, s), n in sorted(by_factor.items()))
    )
    print(f"second run: {wall:6.2f} s wall, {cpu:6.2f} s CPU  (fed the first as previous; {moved} moved)")


if __name__ == "__main__":
    main()
