"""The garbage collector around the blocks that build a caseload and its plan.

Reading and planning allocate millions of small objects that live on (cases, obligations, case
facts). Each allocation burst made the cyclic collector walk the growing heap again, and
postponing it (`gc.disable()` and `gc.enable()` afterwards) only moved the walk to the end: the
first allocation after it collected every object of the block at once. Instead, what the block
made is moved to the collector's permanent generation (`gc.freeze()`), which it never walks;
reference counting still frees these objects as soon as they are dropped.

The price: a reference cycle made inside the block would never be collected. The reader and the
engine make none (tests/test_plan_heap.py collects after a plan and finds nothing).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_frozen() -> Iterator[None]:
    """Run a block without the cyclic collector, then freeze what it made (see above). The
    collector's previous state is restored (a caller may have disabled it)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
