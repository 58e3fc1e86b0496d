"""The one error that stops a run before anything is planned: a caseload file that cannot be read."""

from __future__ import annotations


class SourceError(Exception):
    """A caseload file that cannot be read at all: nothing is planned, nothing is written."""
