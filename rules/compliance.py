"""What a team leader asks of a plan: is the contact density kept, and what do the coming
weeks demand against capacity? The quota and the week rule; the figures themselves are counted
in kontaktsync.sync.report.figures.

A case keeps the density when its recurring contact is not overdue. The documents ask for at
least 90 % (Euskirchen 1b/2011, 5. Fachaufsicht). Cases without a contact obligation
(unmatched, or policies without a recurring contact) are not counted.
"""

from __future__ import annotations

from datetime import date, timedelta

QUOTA = 0.9


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())
