"""Running `kontaktsync` as a user does: the console script of this venv, in a child process,
with a clean environment (no KONTAKTSYNC_* of the caller, no secrets directory)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
KONTAKTSYNC = VENV_BIN / "kontaktsync"
TIMEOUT_S = 300  # guard against a hang only; no test asserts on speed


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child: no KONTAKTSYNC_* from the caller, no /run/secrets, plain
    output; `extra` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KONTAKTSYNC_")}
    env.pop("CREDENTIALS_DIRECTORY", None)
    env |= {
        "KONTAKTSYNC_SECRETS_DIR": "/nonexistent-kontaktsync-secrets",
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    return env | extra


def require_console_script() -> Path:
    """The console script, or a failure saying how to install it (tests never skip)."""
    if not KONTAKTSYNC.exists():
        raise AssertionError(
            f"the console script {KONTAKTSYNC} is missing; "
            "install the project into this environment: pip install -e '.[test]'"
        )
    return KONTAKTSYNC


def run_cli(
    args: Sequence[str], cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`kontaktsync *args` in `cwd`; `env` is laid over `clean_env()` (pass `clean_env(...)` or
    just the variables to add)."""
    return subprocess.run(
        [str(require_console_script()), *args],
        cwd=cwd,
        env=clean_env() | dict(env or {}),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def kontaktsync_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`run_cli` with the arguments spread out, for the plan/report command tests."""
    return run_cli(args, cwd)
