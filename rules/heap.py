"""The garbage collector around the blocks that build a caseload and its plan.

Reading and planning allocate millions of small objects that live on (cases, obligations, case
facts). Each allocation burst made the cyclic collector walk the growing heap again, and
postponing it (`gc.disable()` and `gc.enable()` afterwards) only moved the walk to the end: the
first allocation after it collected every object of the block at once. Instead, what the block
made is moved to the collector's permanent generation (`gc.freeze()`), which it never walks;
reference counting still frees these objects as soon as they are dropped.

The price: the collector no longer sees what is frozen. A reference cycle made inside the
block would never be collected; the reader and the engine make none (tests/test_plan_heap.py
collects after a plan and finds nothing). And `gc.freeze()` freezes every live object of the
process, so an object of someone else that becomes cyclic garbage later would stay frozen. A
one-shot command ends before that matters; a process that plans again and again (the daemon)
calls `thaw` before each plan, which gives back what earlier blocks froze and collects (a walk
over what lives then: once per run, not per allocation burst).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_frozen() -> Iterator[None]:
    """Run a block without the cyclic collector, then freeze what it made (see above). The
    collector's previous state is restored (a caller may have disabled it)."""
    was_enabled = pause()
    try:
        yield
    finally:
        freeze(was_enabled)


def pause() -> bool:
    """Stop the cyclic collector; whether it ran (for `freeze` or `resume`). For a block that
    does not fit a `with` (the sync run: core/runner.py)."""
    was_enabled = gc.isenabled()
    gc.disable()
    return was_enabled


def freeze(was_enabled: bool) -> None:
    """Freeze what lives now, and let the collector run again if it ran before `pause`."""
    gc.freeze()
    resume(was_enabled)


def resume(was_enabled: bool) -> None:
    """Let the collector run again if it ran before `pause` (a block that ended before `freeze`)."""
    if was_enabled:
        gc.enable()


def thaw() -> None:
    """Give what earlier `gc_frozen` blocks froze back to the collector, and collect: before a
    long-running process plans again (see above)."""
    gc.unfreeze()
    gc.collect()
