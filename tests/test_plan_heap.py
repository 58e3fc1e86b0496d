"""Reading and planning freeze what they make instead of leaving it to the cyclic collector
(rules/heap.py). That is only right while they make no reference cycles: a cycle made in a
frozen block would never be collected (a leak in the daemon, which plans every cycle)."""

from __future__ import annotations

import gc
import weakref
from datetime import date
from pathlib import Path

import pytest
from engine_golden import messy
from kontaktsync.rules.engine import explain, plan
from kontaktsync.rules.heap import gc_frozen, thaw
from kontaktsync.rules.policy import BUILTIN_IDS, load_policy
from kontaktsync.sync.caseload import read_caseload

AS_OF = date(2026, 11, 22)


@pytest.mark.parametrize("policy_id", BUILTIN_IDS)
def test_reading_planning_and_explaining_make_no_reference_cycles(tmp_path: Path, policy_id: str) -> None:
    paths = messy(tmp_path, 150, AS_OF, 31)
    policy = load_policy(policy_id)
    gc.unfreeze()  # what earlier tests froze, and may since have dropped
    gc.collect()
    caseload = read_caseload(*paths)
    result = plan(caseload, policy, AS_OF)
    traces = [explain(case, policy, AS_OF, caseload.files).trace for case in caseload.cases]
    assert result.errors and result.obligations and any(traces)
    assert gc.get_freeze_count() > 0
    gc.unfreeze()  # what the blocks froze can be collected again: a cycle among it would be
    assert gc.collect() == 0


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_thaw_collects_what_became_garbage_while_frozen() -> None:
    node = _Node()
    gone = weakref.ref(node)
    with gc_frozen():  # a plan freezes everything alive, the node among it
        pass
    del node  # ... which becomes garbage afterwards (left over from a daemon run)
    gc.collect()
    assert gone() is not None  # frozen: the collector does not see it
    thaw()  # what the daemon does before each run
    assert gone() is None


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_left_as_it_was(enabled: bool) -> None:
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with gc_frozen():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
        gc.unfreeze()


@pytest.mark.parametrize("policy_id", BUILTIN_IDS)
def test_a_released_caseload_gives_the_same_plan_and_is_emptied(tmp_path: Path, policy_id: str) -> None:
    paths = messy(tmp_path, 120, AS_OF, 33)
    policy = load_policy(policy_id)
    kept = plan(read_caseload(*paths), policy, AS_OF)
    caseload = read_caseload(*paths)
    assert caseload.cases
    assert plan(caseload, policy, AS_OF, release=True) == kept
    assert caseload.cases == []
