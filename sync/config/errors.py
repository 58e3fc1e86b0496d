"""What a wrong configuration says: one `Problem` per setting, gathered in a `ConfigError`.

Each problem names the setting by its dotted path (``target.caldav.url``), says what is wrong,
where the value came from and how to fix it, never echoing a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kontaktsync.sync.config.files import ConfigFiles
from kontaktsync.sync.config.masking import mask_userinfo


@dataclass(frozen=True)
class Problem:
    """One wrong setting: its dotted path, what is wrong, how to fix it, where it came from."""

    setting: str
    message: str
    fix: str
    origin: str | None = None

    def __str__(self) -> str:
        where = f" (from {self.origin})" if self.origin else ""
        return f"{self.setting}{where}: {self.message}\n    fix: {self.fix}"


@dataclass
class ConfigError(Exception):
    """The configuration cannot be used; `problems` lists every wrong setting found."""

    problems: list[Problem]
    files: ConfigFiles = field(default_factory=ConfigFiles)

    def __str__(self) -> str:
        head = "kontaktsync: the configuration is not usable"
        if self.files.toml:
            head += f" (config file {self.files.toml})"
        n = len(self.problems)
        head += f" — {n} problem{'s' if n != 1 else ''}:"
        return mask_userinfo("\n".join([head, *(f"  {p}" for p in self.problems)]))
