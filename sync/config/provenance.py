"""Where a value came from, and keys that no setting has, in every source.

pydantic-settings merges the sources into one dict and forgets which source gave which key;
the messages need it ("(from environment variable KONTAKTSYNC_SYNC__RETRIES)"), so this module
looks the dotted name up in each source again, highest precedence first.

A `Provenance` is made once per load and reads each source at most once, however many problems
it explains. It is never kept from one load to the next: a file may change in between (the
daemon restarted after an edit, `config check` run again).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from kontaktsync.sync.config.errors import Problem
from kontaktsync.sync.config.files import ENV_PREFIX, LOADER_VARIABLES, ConfigFiles
from kontaktsync.sync.config.model_walk import did_you_mean, unknown_in
from pydantic import BaseModel


@dataclass
class Provenance:
    """The sources of one load, as the load read them: `toml_data` is the TOML file as parsed
    (None: no file) and `env_file_names` the variables of the .env file as pydantic-settings'
    .env source parsed them, so neither is read again; the secrets directory is listed here,
    once, when a problem first needs it."""

    files: ConfigFiles
    toml_data: dict[str, Any] | None
    env_file_names: list[str]

    @cached_property
    def secret_file_names(self) -> list[str]:
        if self.files.secrets_dir is None:
            return []
        try:
            return sorted(p.name for p in self.files.secrets_dir.iterdir())
        except OSError:
            return []

    def origin_of(self, dotted: str) -> str | None:
        """Which source supplied the value of a setting, highest precedence first."""
        files = self.files
        parts = [p for p in dotted.split(".") if p]
        if not parts:
            return None
        # The variable itself, one naming a table above it (JSON), or one naming a key below it.
        names = [ENV_PREFIX + "__".join(parts[:i]).upper() for i in range(len(parts), 0, -1)]

        def find(keys: Iterable[str]) -> str | None:
            upper = {k.upper(): k for k in keys}
            for name in names:
                if name in upper:
                    return upper[name]
            below = sorted(k for k in upper if k.startswith(names[0] + "__"))
            return upper[below[0]] if below else None

        if found := find(os.environ):
            return f"environment variable {found}"
        if found := find(self.env_file_names):
            return f"{files.env_file} ({found.upper()})"
        if files.secrets_dir is not None and (found := find(self.secret_file_names)):
            return f"secret file {files.secrets_dir / found}"
        if files.toml is None:
            return None
        data: Any = self.toml_data or {}
        for part in parts:
            if not isinstance(data, dict) or part not in data:
                return None
            data = data[part]
        return f"config file {files.toml}"

    def unknown_setting_problems(self, model: type[BaseModel]) -> list[Problem]:
        """Keys no setting has, in any source: nested tables would otherwise drop them silently."""
        files = self.files
        found = [(d, k, f"config file {files.toml}") for d, k in unknown_in(self.toml_data or {}, model, [])]
        names: list[tuple[str, str]] = [(n, f"environment variable {n}") for n in os.environ]
        names += [(n, f"{files.env_file} ({n})") for n in self.env_file_names]
        if files.secrets_dir is not None:
            names += [(n, f"secret file {files.secrets_dir / n}") for n in self.secret_file_names]
        for name, origin in names:
            upper = name.upper()
            if not upper.startswith(ENV_PREFIX) or upper in LOADER_VARIABLES:
                continue
            if "__" not in upper and upper[len(ENV_PREFIX) :].lower() not in model.model_fields:
                # KONTAKTSYNC_FAULT_AFTER_WRITES and the like: variables of the program or its
                # tests, not settings. A nested name (with __) is clearly meant as a setting.
                continue
            found += [(d, k, origin) for d, k in unknown_in(_nested(name), model, [])]
        problems: dict[str, Problem] = {}
        for dotted, known, origin in found:
            hint = did_you_mean(dotted.rsplit(".", 1)[-1], known)
            problems.setdefault(
                dotted,
                Problem(
                    dotted,
                    "is not a known setting",
                    f"{hint}remove or rename it; known here: {', '.join(known)}",
                    origin,
                ),
            )
        return list(problems.values())


def _nested(name: str) -> dict[str, Any]:
    """KONTAKTSYNC_A__B__C -> {"a": {"b": {"c": True}}} (only the shape matters here)."""
    parts = name[len(ENV_PREFIX) :].lower().split("__")
    out: dict[str, Any] = {}
    node = out
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = True
    return out
