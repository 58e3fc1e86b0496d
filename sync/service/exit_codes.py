"""The exit codes of every `kontaktsync` command, in one place.

| code | `sync` (and `demo`)                                   | other commands                      |
|------|-------------------------------------------------------|-------------------------------------|
| 0    | everything written (or nothing to do)                 | done                                |
| 1    | some items failed; they are retried on the next run   | `plan --strict`: rows with errors;  |
|      |                                                       | `config check`: problems found;     |
|      |                                                       | `daemon`: cannot serve /healthz     |
| 2    | configuration or caseload unreadable                  | the command could not start         |
| 3    | another run holds the lock                            |                                     |
| 4    | stopped by the mass-delete guard, nothing written     |                                     |
| 5    | a calendar could not be reached, or nothing could be  |                                     |
|      | written at all (server down, credentials refused)     |                                     |

Exit 2 means "fix the configuration": the systemd unit does not restart on it. The daemon
leaves with 1 when it cannot listen on `observability.listen`, so systemd tries again later
(the port may still be held by the instance that is stopping).
"""

from __future__ import annotations

from enum import IntEnum

from kontaktsync.rules.policy import PolicyError
from kontaktsync.sync.caseload import SourceError
from kontaktsync.sync.config.errors import ConfigError
from kontaktsync.sync.core.lock import LockHeld
from kontaktsync.sync.core.reconcile import MassDeleteRefused


class ExitCode(IntEnum):
    OK = 0
    PARTIAL = 1
    CONFIG = 2
    LOCKED = 3
    MASS_DELETE = 4
    UNREACHABLE = 5


def for_outcome(outcome: str) -> ExitCode:
    """The exit code of a finished run from `SyncReport.outcome` (success, partial, failed)."""
    return {"success": ExitCode.OK, "partial": ExitCode.PARTIAL}.get(outcome, ExitCode.UNREACHABLE)


# Exceptions a command raises to stop: (type, exit code, what the message starts with).
# Commands raise; `kontaktsync.sync.cli.main` maps them here, in one place.
ERRORS: tuple[tuple[type[Exception], ExitCode, str], ...] = (
    (ConfigError, ExitCode.CONFIG, ""),
    (SourceError, ExitCode.CONFIG, "caseload unreadable: "),
    (PolicyError, ExitCode.CONFIG, "policy unusable: "),
    (LockHeld, ExitCode.LOCKED, ""),
    (MassDeleteRefused, ExitCode.MASS_DELETE, ""),
)
HANDLED: tuple[type[Exception], ...] = tuple(kind for kind, _, _ in ERRORS)


def for_error(exc: Exception) -> tuple[ExitCode, str]:
    """The exit code and the message (for stderr) of an exception in `HANDLED`."""
    for kind, code, prefix in ERRORS:
        if isinstance(exc, kind):
            return code, f"{prefix}{exc}"
    raise TypeError(f"no exit code for {type(exc).__name__}")
