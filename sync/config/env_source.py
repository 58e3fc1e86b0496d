"""The .env file source: like the environment, minus the loader's own variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kontaktsync.sync.config.files import LOADER_VARIABLES
from pydantic_settings import BaseSettings, DotEnvSettingsSource


class DotEnvSource(DotEnvSettingsSource):
    """``KONTAKTSYNC_…=value`` lines of a .env file. KONTAKTSYNC_CONFIG and friends choose
    files; they are no settings, so they must not reach the model as unknown keys."""

    def __init__(self, settings_cls: type[BaseSettings], env_file: Path) -> None:
        super().__init__(settings_cls, env_file=env_file)

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in super().__call__().items() if k.upper() not in LOADER_VARIABLES}
