"""The exceptions that stop a command, and the exit code and message of each
(the codes: `kontaktsync.sync.service.exit_codes`).

Commands raise; `kontaktsync.sync.cli.main` maps them here, in one place. This module imports
the modules that define them (the sync core among them), so the command line imports it only
once a command has stopped with an exception: `--help` and `plan` never need it.
"""

from __future__ import annotations

from kontaktsync.rules.policy import PolicyError
from kontaktsync.sync.caseload import SourceError
from kontaktsync.sync.config.errors import ConfigError
from kontaktsync.sync.core.lock import LockHeld
from kontaktsync.sync.core.reconcile import MassDeleteRefused
from kontaktsync.sync.service.exit_codes import ExitCode

# Exceptions a command raises to stop: (type, exit code, what the message starts with).
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
