"""Where the settings come from, in which order; `load_settings` is the one way in.

Sources, from lowest to highest precedence (a later one overrides an earlier one, key by key;
tables are merged, not replaced):

1. the defaults of the settings model (kontaktsync.sync.config.models);
2. the TOML file: ``--config PATH``, else ``$KONTAKTSYNC_CONFIG``, else ``./kontaktsync.toml``,
   else ``/etc/kontaktsync/kontaktsync.toml``. Relative paths inside it (caseload files, a policy
   file, state path, CA bundle) are taken relative to the folder of the TOML file
   (kontaktsync.sync.config.toml_source);
3. the secrets directory: ``--secrets-dir``, else ``$KONTAKTSYNC_SECRETS_DIR``, else systemd's
   ``$CREDENTIALS_DIRECTORY`` (``LoadCredential=``), else ``/run/secrets`` (Docker/Podman
   secrets; a mounted Kubernetes Secret). One file per setting, named like the environment variable,
   any letter case: ``kontaktsync_target__caldav__password`` holds the CalDAV password
   (kontaktsync.sync.config.secrets_source);
4. a ``.env`` file: ``./.env`` (override with ``$KONTAKTSYNC_ENV_FILE``), lines
   ``KONTAKTSYNC_…=value`` (kontaktsync.sync.config.env_source);
5. the environment: ``KONTAKTSYNC_<SECTION>__<KEY>``, e.g. ``KONTAKTSYNC_SYNC__STATE_PATH``;
6. explicit overrides passed by the program (command-line options).

Each source is a pydantic-settings source returning a dict; pydantic-settings merges them and
the model validates. A wrong setting raises ``ConfigError`` (kontaktsync.sync.config.errors).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from kontaktsync.sync.config import models
from kontaktsync.sync.config.checks import (
    credential_warnings,
    missing_password_problems,
    semantic_problems,
)
from kontaktsync.sync.config.env_source import DotEnvSource
from kontaktsync.sync.config.errors import ConfigError, Problem
from kontaktsync.sync.config.files import (
    CONFIG_ENV,
    DEFAULT_CONFIG_PATHS,
    DEFAULT_ENV_FILE,
    DEFAULT_SECRETS_DIR,
    ENV_FILE_ENV,
    ENV_PREFIX,
    SECRETS_DIR_ENV,
    ConfigFiles,
)
from kontaktsync.sync.config.masking import MASK, is_secret_setting, mask_userinfo, secret_values
from kontaktsync.sync.config.provenance import Provenance
from kontaktsync.sync.config.secrets_source import secrets_source, secrets_warnings
from kontaktsync.sync.config.show import masked_dump, to_toml
from kontaktsync.sync.config.toml_source import TomlFileSource, read_toml
from kontaktsync.sync.config.validation_errors import problems_from_validation_error
from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsError

Settings = models.Settings

# Names other modules import from here; each is defined in the module named in the import.
__all__ = [
    "MASK",
    "ConfigError",
    "ConfigFiles",
    "Problem",
    "credential_warnings",
    "find_config_file",
    "is_secret_setting",
    "load_settings",
    "mask_userinfo",
    "masked_dump",
    "missing_password_problems",
    "resolve_files",
    "secret_values",
    "settings_warnings",
    "to_toml",
]


def find_config_file(config_path: Path | None = None) -> Path | None:
    """The TOML file to read: the explicit path, $KONTAKTSYNC_CONFIG, or the first default.

    An explicitly named file must exist; the defaults are optional (everything may come from
    the environment).
    """
    explicit = config_path or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    if explicit is not None:
        if not explicit.is_file():
            how = "--config" if config_path else f"${CONFIG_ENV}"
            raise ConfigError(
                [
                    Problem(
                        "config file",
                        f"{explicit} does not exist or is not a file (named by {how})",
                        "give the path of an existing kontaktsync.toml; see deploy/*.toml",
                    )
                ]
            )
        return explicit
    return next((p for p in DEFAULT_CONFIG_PATHS if p.is_file()), None)


def resolve_files(
    config_path: Path | None = None,
    *,
    secrets_dir: Path | None = None,
    env_file: Path | None = None,
) -> ConfigFiles:
    """The files a load reads: the TOML file, the .env file, the secrets directory."""
    toml = find_config_file(config_path)
    named_dir = secrets_dir or (
        Path(os.environ[SECRETS_DIR_ENV]) if os.environ.get(SECRETS_DIR_ENV) else None
    )
    if secrets_dir is None:
        secrets_dir = named_dir or Path(os.environ.get("CREDENTIALS_DIRECTORY") or DEFAULT_SECRETS_DIR)
    if env_file is None:
        env_file = Path(os.environ.get(ENV_FILE_ENV) or DEFAULT_ENV_FILE)
    return ConfigFiles(
        toml=toml,
        env_file=env_file if env_file.is_file() else None,
        secrets_dir=secrets_dir if secrets_dir.is_dir() else None,
        missing_secrets_dir=named_dir if named_dir is not None and not named_dir.is_dir() else None,
    )


def settings_warnings(files: ConfigFiles) -> list[str]:
    """Usable, but probably not what was meant: see `secrets_warnings`."""
    return secrets_warnings(files, Settings)


def _settings_class(
    files: ConfigFiles, toml_data: dict[str, Any] | None, dotenv: DotEnvSource | None
) -> type[models.Settings]:
    """`Settings` reading exactly the sources of `files`, the TOML file and the .env file as
    the load read them (public pydantic-settings hook)."""

    class LoadedSettings(models.Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if dotenv is not None:
                sources.append(dotenv)
            if files.secrets_dir is not None:
                sources.append(secrets_source(settings_cls, files.secrets_dir))
            if toml_data is not None:
                sources.append(TomlFileSource(settings_cls, toml_data))
            return tuple(sources)

    LoadedSettings.__name__ = LoadedSettings.__qualname__ = "Settings"
    return LoadedSettings


def _file_problem(files: ConfigFiles, exc: Exception) -> ConfigError:
    """A config file cannot be read (the TOML file, the .env file, a secret file) or the TOML
    file cannot be parsed."""
    if isinstance(exc, tomllib.TOMLDecodeError):
        problem = Problem(
            "config file",
            f"{files.toml} is not valid TOML: {exc}",
            "correct the syntax at that line (strings need quotes, tables [like.this])",
        )
    else:
        assert isinstance(exc, OSError)
        problem = Problem(
            "config file",
            f"cannot read {exc.filename or files.toml}: {exc.strerror or exc}",
            "make the file readable for the service's user",
        )
    return ConfigError([problem], files)


def _settings_error(provenance: Provenance, exc: SettingsError) -> ConfigError:
    """e.g. KONTAKTSYNC_TARGET='{not json' for a whole table."""
    match = re.search(r'field "([^"]+)"', str(exc))
    setting = match.group(1) if match else "(unknown)"
    fix = f"give a table as JSON, or set its keys one by one ({ENV_PREFIX}{setting.upper()}__<KEY>)"
    problem = Problem(setting, f"cannot be parsed: {exc}", fix, provenance.origin_of(setting))
    return ConfigError([problem], provenance.files)


def load_settings(
    config_path: Path | None = None,
    *,
    secrets_dir: Path | None = None,
    env_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    require_target: bool = True,
) -> models.Settings:
    """Read, merge and validate the configuration (order: see the module docstring).

    `require_target=False` skips the checks that only a sync needs (a configured target),
    for commands such as `plan`. Raises `ConfigError` naming every wrong setting.
    """
    files = resolve_files(config_path, secrets_dir=secrets_dir, env_file=env_file)
    try:
        toml_data = read_toml(files.toml) if files.toml is not None else None
        # the .env file, read when its source is made: for the settings and for the provenance
        dotenv = DotEnvSource(Settings, files.env_file) if files.env_file is not None else None
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise _file_problem(files, exc) from None
    # explains every problem below, each file read once
    names = [k.upper() for k in dotenv.env_vars] if dotenv is not None else []  # read in lower case
    provenance = Provenance(files, toml_data, names)
    try:
        settings = _settings_class(files, toml_data, dotenv)(**(overrides or {}))
    except OSError as exc:  # a secret file cannot be read
        raise _file_problem(files, exc) from None
    except SettingsError as exc:
        raise _settings_error(provenance, exc) from None
    except ValidationError as exc:
        problems = problems_from_validation_error(exc, provenance, Settings)
        known = {p.setting for p in problems}
        extra = [p for p in provenance.unknown_setting_problems(Settings) if p.setting not in known]
        raise ConfigError(problems + extra, files) from None
    problems = provenance.unknown_setting_problems(Settings)
    problems += semantic_problems(settings, require_target=require_target)
    if problems:
        explained = [replace(p, origin=p.origin or provenance.origin_of(p.setting)) for p in problems]
        raise ConfigError(explained, files)
    return settings
