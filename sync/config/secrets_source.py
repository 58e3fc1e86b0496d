"""The secrets directory source: one file per setting, named like its environment variable.

``kontaktsync_target__caldav__password`` (any letter case) holds the CalDAV password. The
directory is systemd's $CREDENTIALS_DIRECTORY, Docker's /run/secrets or a mounted Kubernetes
Secret; pydantic-settings reads it. This module adds what an operator needs to hear about it:
a named directory that is not there, a file whose name is no setting.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from kontaktsync.sync.config.files import ENV_PREFIX, ConfigFiles, secret_file_name
from kontaktsync.sync.config.model_walk import setting_paths
from pydantic import BaseModel
from pydantic_settings import BaseSettings, NestedSecretsSettingsSource, SecretsSettingsSource


def secrets_source(settings_cls: type[BaseSettings], secrets_dir: Path) -> NestedSecretsSettingsSource:
    """The pydantic-settings source reading `secrets_dir` (nested names with ``__``)."""
    return NestedSecretsSettingsSource(
        SecretsSettingsSource(settings_cls, secrets_dir=secrets_dir), secrets_dir_missing="ok"
    )


def secrets_warnings(files: ConfigFiles, model: type[BaseModel]) -> list[str]:
    """A named secrets directory that does not exist; files in it whose name is no setting
    (they would be ignored silently), each with the closest setting's file name."""
    if files.missing_secrets_dir is not None:
        return [
            f"secrets directory {files.missing_secrets_dir} does not exist; no secret files are read "
            "(fix --secrets-dir or $KONTAKTSYNC_SECRETS_DIR)"
        ]
    if files.secrets_dir is None:
        return []
    names = [secret_file_name(".".join(path)) for path in setting_paths(model)]
    warnings = []
    for path in sorted(files.secrets_dir.iterdir()):
        name = path.name.lower()
        if name.startswith(".") or not path.is_file() or name in names:
            continue
        if name.startswith(ENV_PREFIX.lower()) and "__" in name:
            continue  # meant as a nested setting: reported as an unknown setting, with its fix
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]}?" if close else ""
        warnings.append(f"secret file {path} is no setting and is ignored{hint}")
    return warnings
