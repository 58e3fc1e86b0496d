"""`run_sync` keeps the cyclic collector off what it builds, and leaves it as it found it."""

from __future__ import annotations

import gc

import pytest
from kontaktsync.sync.core.lock import LockHeld, SyncLock
from kontaktsync.sync.core.runner import run_sync
from kontaktsync.sync.targets.memory import MemTarget

from tests.builders import obligation, plan_of, settings


def _settings(tmp_path):
    s = settings()
    return s.model_copy(update={"sync": s.sync.model_copy(update={"state_path": tmp_path / "st.sqlite3"})})


@pytest.fixture(autouse=True)
def _nothing_frozen_before() -> None:
    """Plans made by earlier tests in this process froze their objects (rules/heap.py)."""
    gc.unfreeze()


def test_the_collector_is_on_and_nothing_frozen_after_a_run(tmp_path):
    assert gc.isenabled() and gc.get_freeze_count() == 0
    report = run_sync(_settings(tmp_path), plan=plan_of(obligation()), target=MemTarget())
    assert report.created == 2
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_collector_switched_off_stays_off_and_a_failed_run_restores_it(tmp_path):
    s = _settings(tmp_path)
    gc.disable()
    try:
        run_sync(s, plan=plan_of(obligation()), target=MemTarget())
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()
    with SyncLock(s.sync.state_path), pytest.raises(LockHeld):
        run_sync(s, plan=plan_of(obligation()), target=MemTarget())
    assert gc.isenabled() and gc.get_freeze_count() == 0
