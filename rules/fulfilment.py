"""What becomes of a calendar task whose obligation is no longer in the plan. Pure, no I/O.

An obligation leaves the plan for two kinds of reasons: the work was done (a counting contact,
a recorded care plan, a reviewed profile), or the grounds for it went away (the policy, the
profile or the measure changed). The first completes the task, so the counsellor sees it done;
the second deletes it. Follow-up-start tasks are the exception: only the counsellor can tell
that the next measure began, so such a task stays as they left it until its measure ages out.

The sync layer asks `fate` for every task of its own that the plan no longer wants.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from kontaktsync.rules.model import CaseFacts, ObligationKind

Fate = Literal["complete", "delete", "keep"]

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")


def fate(
    kind: str,
    cycle: str,
    window_start: date | None,
    measure_key: str | None,
    facts: CaseFacts,
) -> Fate:
    """Complete, delete or keep a task of `kind` in `cycle` that the plan no longer lists,
    judged by what the caseload now says about the case (`facts`, made by the same plan)."""
    if kind == ObligationKind.CARE_PLAN:
        return "complete" if facts.care_plan_created is not None else "delete"
    if kind == ObligationKind.PROFILE_REVIEW:
        return _profile_review(cycle, facts)
    if kind == ObligationKind.FOLLOW_UP_START:
        return _follow_up_start(measure_key or cycle, facts)
    if kind == ObligationKind.CONTACT:
        m = _ISO.search(cycle or "")
        if m:
            anchor = date.fromisoformat(m.group(0))
            return "complete" if any(c > anchor for c in facts.counting_contacts) else "delete"
    if window_start is not None and any(c >= window_start for c in facts.counting_contacts):
        return "complete"
    return "delete"


def _profile_review(cycle: str, facts: CaseFacts) -> Fate:
    """The cycle is the `profile_since` the review was planned from: a different one means the
    profile was reviewed (the review happened); the same one means the policy or the profile
    itself changed, and the review is no longer asked for. An emptied `profile_since` says
    nothing about a review: delete."""
    since = facts.profile_since
    return "complete" if since is not None and since.isoformat() != cycle else "delete"


def _follow_up_start(measure_key: str, facts: CaseFacts) -> Fate:
    """Gone with its measure (left the caseload, or aged out of the policy's measure horizon:
    the engine lists only the measures inside it in `facts.measures`); otherwise the
    counsellor's: no contact or caseload field tells that the next measure began."""
    return "keep" if measure_key in facts.measures else "delete"


__all__ = ["Fate", "fate"]
