"""Which class implements a target kind, imported only when that kind is used.

A new target is one folder under targets/ plus one line here. Nothing is imported at module
level (exchangelib takes a second to import; a CalDAV deployment never needs it).
"""

from __future__ import annotations

import importlib
from typing import Any

TARGETS: dict[str, str] = {
    "caldav": "kontaktsync.sync.targets.caldav.target:CalDAVTarget",
    "exchange": "kontaktsync.sync.targets.exchange.target:ExchangeTarget",
}


def kinds() -> list[str]:
    """The target kinds there are."""
    return sorted(TARGETS)


def target_class(kind: str) -> Any:
    """The class of a target kind (its module imported now); KeyError for an unknown kind."""
    module, _, name = TARGETS[kind].partition(":")
    return getattr(importlib.import_module(module), name)
