"""From settings to a plan: read the caseload, load the policy, run the engine.

A long-running process (the daemon) plans again every cycle, while the export files change a
few times a day. `make_plan` therefore keeps the last plan with a fingerprint of everything it
was made from: the content of the caseload files (a hash of their bytes, not their time
stamps), the reader's settings, the policy as loaded, and the as-of date. The same fingerprint
gives the same plan object back without reading or planning; any change makes a new one.
Plans are never changed after they are made, so handing one out twice is safe.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from zoneinfo import ZoneInfo

from kontaktsync.rules.engine import plan
from kontaktsync.rules.model import Caseload, Plan
from kontaktsync.rules.policy import load_policy
from kontaktsync.rules.policy_format import Policy
from kontaktsync.sync.caseload import read_caseload
from kontaktsync.sync.config.models import Settings, SourceSettings

_CHUNK = 1 << 20

_last: tuple[bytes | None, Plan, Policy] | None = None  # fingerprint, plan, its policy


def today_in(policy: Policy) -> date:
    """The as-of default: today in the policy's time zone, not the server's."""
    return datetime.now(ZoneInfo(policy.timezone)).date()


def read_source(src: SourceSettings) -> Caseload:
    """The caseload the configuration's [source] names, read as it says (encoding, sheets,
    header map). Raises SourceError."""
    return read_caseload(
        src.cases, src.measures, src.contacts, src.header_map, encoding=src.encoding, sheets=src.sheets
    )


def make_plan(settings: Settings, as_of: date | None = None) -> Plan:
    """Raises SourceError (unreadable caseload) or PolicyError (unknown or invalid policy)."""
    global _last
    policy = load_policy(settings.policy)
    day = as_of or today_in(policy)
    src = settings.source
    key = fingerprint(src, policy, day)
    if key is not None and _last is not None and _last[0] == key:
        return _last[1]
    made = plan(read_source(src), policy, day)
    _last = (key, made, policy)
    return made


def policy_for(made: Plan, settings: Settings) -> Policy:
    """The policy `made` was planned with, where `make_plan` made it (a policy file edited since
    is not taken for it: the run places its talks under the plan's policy), else the configured
    one (a plan made elsewhere)."""
    if _last is not None and _last[1] is made:
        return _last[2]
    return load_policy(settings.policy)


def fingerprint(src: SourceSettings, policy: Policy, day: date) -> bytes | None:
    """What a plan is made from, as one digest; None when a source cannot be read (then the
    reader reports it)."""
    h = hashlib.blake2b(digest_size=32)
    h.update(src.model_dump_json().encode())
    h.update(policy.model_dump_json().encode())
    h.update(day.isoformat().encode())
    try:
        for path in (src.cases, src.measures, src.contacts):
            if path is None:
                h.update(b"\0none")
                continue
            files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
            for file in files:
                h.update(b"\0" + str(file).encode() + b"\0")
                with file.open("rb") as fh:
                    while chunk := fh.read(_CHUNK):
                        h.update(chunk)
    except OSError:
        return None
    return h.digest()
