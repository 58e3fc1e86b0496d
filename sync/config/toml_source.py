"""The TOML file source: a dict of settings whose relative paths count from the file's folder.

A deployment's kontaktsync.toml names files next to it (caseload, state, CA bundle, a policy
file); they must not depend on the directory the service happens to be started from.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from kontaktsync.rules.policy import BUILTIN_IDS
from pydantic_settings import BaseSettings, InitSettingsSource

# Settings holding a path, resolved against the TOML file's folder when relative.
RELATIVE_PATHS = (
    ("source", "cases"),
    ("source", "measures"),
    ("source", "contacts"),
    ("sync", "state_path"),
    ("target", "caldav", "verify_tls"),
    ("target", "exchange", "verify_tls"),
)
_POLICY_SUFFIXES = (".yaml", ".yml", ".json")


def read_toml(path: Path) -> dict[str, Any]:
    """The file's tables as a dict, relative paths made absolute (raises OSError, TOMLDecodeError)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    base = path.resolve().parent
    for keys in RELATIVE_PATHS:
        table: Any = data
        for key in keys[:-1]:
            table = table.get(key) if isinstance(table, dict) else None
        if isinstance(table, dict):
            value = table.get(keys[-1])
            if isinstance(value, str) and value and not Path(value).is_absolute():
                table[keys[-1]] = str(base / value)
    policy = data.get("policy")
    if isinstance(policy, str) and _is_relative_policy_file(policy):
        data["policy"] = str(base / policy)
    return data


def _is_relative_policy_file(policy: str) -> bool:
    """`policy` names a file (not a built-in id) by a relative path."""
    if policy in BUILTIN_IDS or Path(policy).is_absolute():
        return False
    return policy.lower().endswith(_POLICY_SUFFIXES) or "/" in policy


class TomlFileSource(InitSettingsSource):
    """The settings of one TOML file (already read by `read_toml`), as a pydantic-settings source."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls, data)

    def __repr__(self) -> str:
        return f"TomlFileSource({sorted(self.init_kwargs)})"
