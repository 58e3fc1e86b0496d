"""From settings to a plan: read the caseload, load the policy, run the engine."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from kontaktsync.rules.engine import plan
from kontaktsync.rules.model import Plan
from kontaktsync.rules.policy import Policy, load_policy
from kontaktsync.sync.caseload import read_caseload
from kontaktsync.sync.config.models import Settings

EXAMPLES = Path(__file__).parents[1] / "examples"


def today_in(policy: Policy) -> date:
    """The as-of default: today in the policy's time zone, not the server's."""
    return datetime.now(ZoneInfo(policy.timezone)).date()


def make_plan(settings: Settings, as_of: date | None = None) -> Plan:
    """Raises SourceError (unreadable caseload) or PolicyError (unknown or invalid policy)."""
    policy = load_policy(settings.policy)
    src = settings.source
    caseload = read_caseload(
        src.cases, src.measures, src.contacts, src.header_map, encoding=src.encoding, sheets=src.sheets
    )
    return plan(caseload, policy, as_of or today_in(policy))
