"""A unit-step maximum flow: augmenting paths found breadth-first (Edmonds–Karp).

The placer assigns talks to days under day and week capacities: talk -> day -> week -> sink.
The day and week limits nest (a day lies in one week), so a maximum flow is a largest set of
talks placed inside their windows. It is small (a counsellor's talks over a few months) and
written here rather than taken from networkx because the rules package has no graph library
among its dependencies; tests/test_placement.py checks the result against an exact solver.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from itertools import pairwise

SINK = "sink"


class Flow:
    """Residual capacities `res[u][v]`; nodes are hashable keys, neighbours kept in insertion
    order so that a search is deterministic and prefers what was added first."""

    def __init__(self) -> None:
        self.res: dict[Hashable, dict[Hashable, int]] = {}
        # Nodes from which the sink could not be reached. They never reach it again: a path
        # sent later cannot touch them (each node of it reaches the sink), so no residual edge
        # out of them appears. Hence also: one search per talk suffices.
        self.dead: set[Hashable] = set()

    def edge(self, u: Hashable, v: Hashable, capacity: int) -> None:
        self.res.setdefault(u, {})[v] = capacity
        self.res.setdefault(v, {}).setdefault(u, 0)

    def push(self, path: list[Hashable]) -> None:
        """Send one unit along `path`."""
        for u, v in pairwise(path):
            self.res[u][v] -= 1
            self.res[v][u] += 1

    def augment(self, start: Hashable) -> bool:
        """Find a path of free capacity from `start` to the sink and send one unit along it."""
        if start in self.dead:
            return False
        before: dict[Hashable, Hashable | None] = {start: None}
        queue = deque([start])
        while queue:
            u = queue.popleft()
            for v, free in self.res[u].items():
                if free > 0 and v not in before and v not in self.dead:
                    before[v] = u
                    if v == SINK:
                        path: list[Hashable] = [v]
                        while before[path[-1]] is not None:
                            path.append(before[path[-1]])
                        self.push(path[::-1])
                        return True
                    queue.append(v)
        self.dead.update(before)
        return False

    def carries(self, u: Hashable, v: Hashable) -> bool:
        """One unit or more flows from u to v (the reverse residual holds it)."""
        return self.res.get(v, {}).get(u, 0) > 0
