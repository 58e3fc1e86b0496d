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
(the port may still be held by the instance that is stopping). Which exception stops a command
with which code is in `kontaktsync.sync.service.stops`.
"""

from __future__ import annotations

from enum import IntEnum


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
