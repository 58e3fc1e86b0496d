"""`kontaktsync sync --dry-run` as an operator reads it: each item once, tasks and appointments
apart, and "would" where nothing was done."""

from __future__ import annotations

import re

from kontaktsync.sync.core.planning import make_plan

from tests.builders import AS_OF, caseload
from tests.calendars import components
from tests.cli import run_cli
from tests.configs import settings_for, write_settings


def test_dry_run_lists_each_item_once_and_says_would(radicale_server, tmp_path):
    s = settings_for(radicale_server.url, tmp_path, caseload(tmp_path / "src"))
    config = write_settings(s, tmp_path / "kontaktsync.toml")
    out = run_cli(["sync", "--config", str(config), "--dry-run", "--as-of", AS_OF.isoformat()], tmp_path)
    assert out.returncode == 0, out.stderr
    plan = make_plan(s, AS_OF)
    n = len(plan.obligations)
    lines = [line.split(None, 2) for line in out.stdout.splitlines() if line.startswith("    create ")]
    assert sorted(kind for _, kind, _ in lines) == ["appointment"] * n + ["task"] * n
    assert len({(kind, rest) for _, kind, rest in lines}) == 2 * n  # no line twice
    assert f"Summary (dry run): would create {2 * n} ({n} tasks, {n} appointments)" in out.stdout
    assert re.search(r"^\S+: would create \d+$", out.stdout, re.M)
    assert " created" not in out.stdout
    who = plan.obligations[0].counsellor
    assert components(radicale_server.calendar_url(who)) == []  # nothing was written
