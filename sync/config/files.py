"""Which files one configuration load reads, and the names that choose them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ENV_PREFIX = "KONTAKTSYNC_"
CONFIG_ENV = "KONTAKTSYNC_CONFIG"
SECRETS_DIR_ENV = "KONTAKTSYNC_SECRETS_DIR"
ENV_FILE_ENV = "KONTAKTSYNC_ENV_FILE"
DEFAULT_CONFIG_PATHS = (Path("kontaktsync.toml"), Path("/etc/kontaktsync/kontaktsync.toml"))
DEFAULT_SECRETS_DIR = Path("/run/secrets")
DEFAULT_ENV_FILE = Path(".env")
# Variables of the loader itself; they are not settings and must not reach the model.
LOADER_VARIABLES = frozenset({CONFIG_ENV, SECRETS_DIR_ENV, ENV_FILE_ENV})


@dataclass(frozen=True)
class ConfigFiles:
    """The files one load reads; any of them may be absent.

    `missing_secrets_dir` is a secrets directory someone named (``--secrets-dir`` or
    ``$KONTAKTSYNC_SECRETS_DIR``) that does not exist: worth a warning, not an error.
    """

    toml: Path | None = None
    env_file: Path | None = None
    secrets_dir: Path | None = None
    missing_secrets_dir: Path | None = None


def env_name(dotted: str) -> str:
    """target.caldav.password -> KONTAKTSYNC_TARGET__CALDAV__PASSWORD"""
    return ENV_PREFIX + dotted.replace(".", "__").upper()


def secret_file_name(dotted: str) -> str:
    """target.caldav.password -> kontaktsync_target__caldav__password"""
    return "kontaktsync_" + dotted.replace(".", "__")
