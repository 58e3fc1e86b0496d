"""`plan` of a large CSV caseload in several processes at once.

Each process reads and plans one share of the cases (`Share`: by the hash of the case id, with
their measures, contacts and row errors) and makes its output items; the first process merges
them in plan order. The output is byte for byte what one process writes
(tests/test_plan_workers.py): every row, and so every row error, belongs to exactly one share;
obligations are merged by the plan's own order key, unmatched cases by their row, errors by the
plan's error order.

The other processes are forked from the first once the policy is read (Linux, no threads yet)
and send their part through a pipe: first the head (unmatched, errors), then the items in
slices. A process that fails sends its exception, which the first raises as its own; one that
dies without a word is an error naming how it ended. Each process converts and plans only its
own rows. It finds them in a CSV file without quotes by their case id, line by line, without
parsing the others (formats/csvfile `share_rows`); a file with quotes each process parses whole.
On the 2-core development machine two processes took 0.7-0.85 of the time of one, and half the
memory each (benchmarks/README.md).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any, BinaryIO, Literal

from kontaktsync.rules.engine import error_order, plan
from kontaktsync.rules.model import Plan, RowError, Unmatched
from kontaktsync.sync.caseload import Share
from kontaktsync.sync.cli.inputs import Resolved
from kontaktsync.sync.cli.plan_output import csv_lines, json_item

Kind = Literal["json", "csv"]
Item = bytes | str  # a json_item or a csv line

MAX_JOBS = 4  # each process scans every row's case id again: the gain ends about here
MIN_BYTES = 1 << 20  # a cases file below ~1 MB (≈ 15,000 cases) is planned at once in one
SLICE = 8192  # items sent at a time
PIPE_BYTES = 1 << 20


@dataclass(slots=True)
class _Head:
    # (case row, case id, reason), merged by row: plain tuples, as thousands of them pickle in C
    unmatched: list[tuple[int, str, str]]
    errors: list[RowError]
    files: dict[str, str]
    count: int  # obligations to follow


# A process's part: its head, its obligations' plan order keys and output items, and the plan
# they were made from. That is kept until the process ends: freeing 50,000 obligations object
# by object took ~0.02 s, in the middle of the merge (the cases are freed while planning).
_Part = tuple[_Head, list[str], list[Item], Plan]


def usable_cpus() -> int:
    """The CPUs this process may use: its affinity, and a container's CPU quota (cgroup v2
    `cpu.max`), whichever is fewer."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
    except (OSError, ValueError):
        return cpus
    if quota == "max":
        return cpus
    return max(1, min(cpus, -(-int(quota) // int(period))))


def can_fork() -> bool:
    """Whether this process may fork planning processes: where `os.fork` exists (not on
    Windows) and no other thread runs (a thread's locks would be copied held into the fork:
    `plan` called inside a program that runs threads plans in one process)."""
    import threading

    return hasattr(os, "fork") and threading.active_count() == 1


def default_jobs(resolved: Resolved) -> int:
    """One process per usable CPU up to MAX_JOBS for a large CSV caseload, else one."""
    if not resolved.is_csv:
        return 1  # every process would open the whole workbook: no gain
    try:
        large = resolved.cases_file.stat().st_size >= MIN_BYTES
    except OSError:
        return 1  # the reader says what is wrong with the file
    return min(usable_cpus(), MAX_JOBS) if large else 1


def _plan_share(resolved: Resolved, share: Share, kind: Kind) -> _Part:
    caseload = resolved.read(share)
    rows = {c.case_id: c.row for c in caseload.cases}
    keys: list[str] = []
    result = plan(caseload, resolved.policy, resolved.day, release=True, facts=False, keys=keys)
    obs = result.obligations
    items: list[Item] = [json_item(o) for o in obs] if kind == "json" else csv_lines(obs)  # type: ignore[assignment]
    unmatched = [(rows[u.case_id], u.case_id, u.reason) for u in result.unmatched]
    return _Head(unmatched, result.errors, caseload.files, len(obs)), keys, items, result


def _serve(out: BinaryIO, work: Callable[[], _Part]) -> _Part | None:
    """In a forked process: do `work`, send its head and then its items in slices, or the
    exception that stopped it. Returns the part, for the caller to keep to the process's end."""
    try:
        part = work()
    except BaseException as exc:  # everything goes back to the first process
        try:
            said = pickle.dumps(("error", exc))
        except Exception:  # an exception that does not pickle: its text
            said = pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
        out.write(said)
        return None
    head, keys, items, _ = part
    pickle.dump(("ok", head), out, pickle.HIGHEST_PROTOCOL)
    for i in range(0, len(keys), SLICE):
        pickle.dump((keys[i : i + SLICE], items[i : i + SLICE]), out, pickle.HIGHEST_PROTOCOL)
    return part


def _fork(work: Callable[[], _Part], keep_closed: list[int]) -> tuple[int, int]:
    """(pid, read end of its pipe) of a forked process that serves `work`."""
    import fcntl  # where os.fork is (can_fork): not on Windows

    r, w = os.pipe()
    with contextlib.suppress(AttributeError, OSError):  # Linux: 1 MB (its default limit), not 64 KB
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)  # the part passes in ~15 writes, not ~230
    pid = os.fork()
    if pid == 0:  # the forked process: it never returns
        code = 0
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.close(r)
            for fd in keep_closed:
                os.close(fd)
            with os.fdopen(w, "wb") as out:
                kept = _serve(out, work)  # noqa: F841  # freed by no one: os._exit below
        except BaseException:  # the first process reports the missing part
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    return pid, r


class _Remote:
    """The part of a forked process, read as the merge needs it."""

    def __init__(self, index: int, pid: int, fd: int) -> None:
        self.index, self.pid = index, pid
        self.stream = os.fdopen(fd, "rb")

    def _load(self) -> Any:
        try:
            return pickle.load(self.stream)
        except (EOFError, pickle.UnpicklingError):
            raise RuntimeError(
                f"plan process {self.index + 1} ended without its part of the plan ({self._status()}); "
                "--jobs 1 plans in one process"
            ) from None

    def _status(self) -> str:
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        if os.WIFSIGNALED(status):
            return f"killed by signal {os.WTERMSIG(status)}"
        return f"exit status {os.waitstatus_to_exitcode(status)}"

    def head(self) -> _Head:
        what, value = self._load()
        if what == "error":
            raise value
        return value

    def items(self, count: int, keys: list[str], items: list[Item]) -> None:
        """Its `count` obligations: their keys and items appended to `keys` and `items`."""
        while count > 0:
            some_keys, some_items = self._load()
            count -= len(some_keys)
            keys += some_keys
            items += some_items

    def end(self) -> None:
        self.stream.close()
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)  # done already, or stopped by a failed merge
            os.waitpid(self.pid, 0)
            self.pid = 0


@dataclass(slots=True)
class Merged:
    """The plan of all shares: `head` holds as_of, policy, unmatched and errors (its
    obligations are empty); `items` are the obligations' output items in plan order; `kept`
    the first process's own plan (see `_Part`). `end` reaps the other processes, once
    the output is written: their ends (6 ms) are not waited for in the middle of the merge."""

    head: Plan
    items: Iterator[Item]
    kept: Plan
    end: Callable[[], None]


def plan_in_processes(resolved: Resolved, jobs: int, kind: Kind) -> Merged:
    """Plan `resolved` in `jobs` processes (see above)."""
    sys.stdout.flush()
    sys.stderr.flush()  # a forked process must not write what the first has buffered
    remotes: list[_Remote] = []

    def close() -> None:
        for remote in remotes:
            remote.end()

    try:
        for index in range(1, jobs):
            share = Share(index, jobs)
            others = [r.stream.fileno() for r in remotes]
            pid, fd = _fork(lambda s=share: _plan_share(resolved, s, kind), others)
            remotes.append(_Remote(index, pid, fd))
        own, keys, items, kept = _plan_share(resolved, Share(0, jobs), kind)
        heads = [own] + [remote.head() for remote in remotes]
        for remote, h in zip(remotes, heads[1:], strict=True):
            remote.items(h.count, keys, items)
    except BaseException:
        close()
        raise
    head = Plan(resolved.day, resolved.policy.id)
    unmatched = sorted(chain(*(h.unmatched for h in heads)), key=itemgetter(0))
    head.unmatched = [Unmatched(case_id, reason) for _, case_id, reason in unmatched]
    head.errors = sorted(chain(*(h.errors for h in heads)), key=error_order(own.files))
    # Each share's keys are in plan order already: the sort merges those runs (in C). Equal
    # keys come from one case, so from one share, whose order the stable sort keeps.
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return Merged(head, map(items.__getitem__, order), kept, close)
