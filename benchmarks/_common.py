"""Shared by plan_process.py and sync_cycle.py: the cached caseloads and one timed child process.

Peak memory is the child's own `ru_maxrss`, read with `os.wait4` on that one process id. A
`RUSAGE_CHILDREN` delta does not work for peaks: the kernel keeps the *largest* max RSS of all
children waited for so far, so a 90 MB run after a 300 MB run would read as "no change".
`/usr/bin/time -v` would measure the right thing but adds a process and is not installed
everywhere. wait4 gives exactly the child we started, nothing else.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from plan_bench import AS_OF, generate

__all__ = ["AS_OF", "DATA", "Run", "bin_path", "caseload", "installed_env", "run_child", "verdict"]

DATA = Path(__file__).resolve().parent / ".data"


@dataclass(frozen=True)
class Run:
    wall_s: float
    peak_mb: float
    returncode: int
    stderr: str
    cpu_s: float = 0.0  # user + system time of the child: far steadier than wall on a busy machine


def caseload(n: int, data: Path = DATA) -> dict[str, Path]:
    """The three CSV files of an n-case caseload, generated once and kept in `data`.

    The folder name carries a hash of the generator's source, so a changed generator makes
    new files instead of silently reusing old ones.
    """
    stamp = hashlib.sha256(inspect.getsource(generate).encode()).hexdigest()[:10]
    folder = data / f"{n}-{stamp}"
    paths = {t: folder / f"{t}.csv" for t in ("cases", "measures", "contacts")}
    if (folder / "done").exists():
        return paths
    tmp = data / f".{n}-{stamp}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    print(f"generating {n:,} cases in {folder} ...", file=sys.stderr, flush=True)
    generate(tmp, n)
    (tmp / "done").write_text("")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return paths


@functools.cache
def installed_env() -> dict[str, str]:
    """The environment of a child run as a user's installed program runs: with its bytecode.

    pip compiles a package's modules when it installs it; an editable install (and a shell with
    PYTHONDONTWRITEBYTECODE set, as some CI and container images have) would compile every
    module of kontaktsync from source in every child, ~0.1 s that no user's run pays. So the
    package is compiled once here and the children may read and write `__pycache__`."""
    import compileall
    import importlib.util

    for name in ("kontaktsync.rules", "kontaktsync.sync"):
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.submodule_search_locations, name
        for folder in spec.submodule_search_locations:
            compileall.compile_dir(folder, quiet=1)
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_child(argv: list[str], stdout: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """Start argv, wait for it, return wall time (start to reaped) and the child's peak RSS.
    Without `env`, the child runs in `installed_env()`."""
    out = stdout.open("wb") if stdout else subprocess.DEVNULL
    if env is None:
        env = installed_env()
    err_path = DATA / f".stderr-{os.getpid()}"
    DATA.mkdir(parents=True, exist_ok=True)
    try:
        with err_path.open("wb") as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
        stderr = err_path.read_text(errors="replace")
    finally:
        if stdout:
            out.close()  # type: ignore[union-attr]
        err_path.unlink(missing_ok=True)
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall, usage.ru_maxrss / 1024, proc.returncode, stderr, cpu)


def verdict(ok: bool | None) -> str:
    """'met', 'MISSED' or '' when the issue sets no target for this figure."""
    return "" if ok is None else ("met" if ok else "MISSED")


def bin_path(name: str) -> str:
    """A console script of the interpreter running this file (the project's venv)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise SystemExit(f"{path} not found: install the project first (pip install -e .)")
    return str(path)
