"""Where the settings come from, in which order, and what a wrong one says.

Sources, from lowest to highest precedence (a later one overrides an earlier one, key by key;
tables are merged, not replaced):

1. the defaults of the settings model (kontaktsync.sync.config.models);
2. the TOML file: ``--config PATH``, else ``$KONTAKTSYNC_CONFIG``, else ``./kontaktsync.toml``,
   else ``/etc/kontaktsync/kontaktsync.toml``. Relative paths inside it (caseload files,
   state path, CA bundle) are taken relative to the folder of the TOML file;
3. the secrets directory: ``--secrets-dir``, else ``$KONTAKTSYNC_SECRETS_DIR``, else systemd's
   ``$CREDENTIALS_DIRECTORY`` (``LoadCredential=``), else ``/run/secrets`` (Docker/Podman
   secrets; a mounted Kubernetes Secret). One file per setting, named like the environment variable,
   any letter case: ``kontaktsync_target__caldav__password`` holds the CalDAV password;
4. a ``.env`` file: ``./.env`` (override with ``$KONTAKTSYNC_ENV_FILE``), lines
   ``KONTAKTSYNC_…=value``;
5. the environment: ``KONTAKTSYNC_<SECTION>__<KEY>``, e.g. ``KONTAKTSYNC_SYNC__STATE_PATH``;
6. explicit overrides passed by the program (command-line options).

So the file holds the shape of a deployment, secrets come from the secret store, and an
operator can still override any single value for one start from the environment.

A wrong setting raises ``ConfigError`` whose text names each setting by its dotted path
(``target.caldav.url``), says what is wrong, where the value came from and how to fix it,
without ever echoing a secret value.
"""

from __future__ import annotations

import difflib
import os
import re
import string
import tomllib
import types
import typing
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.targets.transport import insecure_http_problem
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsError,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "KONTAKTSYNC_"
CONFIG_ENV = "KONTAKTSYNC_CONFIG"
SECRETS_DIR_ENV = "KONTAKTSYNC_SECRETS_DIR"
ENV_FILE_ENV = "KONTAKTSYNC_ENV_FILE"
DEFAULT_CONFIG_PATHS = (Path("kontaktsync.toml"), Path("/etc/kontaktsync/kontaktsync.toml"))
DEFAULT_SECRETS_DIR = Path("/run/secrets")
DEFAULT_ENV_FILE = Path(".env")
# Variables of the loader itself; they are not settings and must not reach the model.
LOADER_VARIABLES = frozenset({CONFIG_ENV, SECRETS_DIR_ENV, ENV_FILE_ENV})

# Settings holding a path, resolved against the TOML file's folder when relative.
_RELATIVE_PATHS = (
    ("source", "cases"),
    ("source", "measures"),
    ("source", "contacts"),
    ("sync", "state_path"),
    ("target", "caldav", "verify_tls"),
    ("target", "exchange", "verify_tls"),
)


@dataclass(frozen=True)
class ConfigFiles:
    """The files one load reads; any of them may be absent."""

    toml: Path | None = None
    env_file: Path | None = None
    secrets_dir: Path | None = None


_FILES: ContextVar[ConfigFiles | None] = ContextVar("kontaktsync_config_files", default=None)


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


class _TomlSource(TomlConfigSettingsSource):
    """TOML source whose relative paths count from the TOML file's own folder."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        data = super()._read_file(file_path)
        base = Path(file_path).resolve().parent
        for keys in _RELATIVE_PATHS:
            table: Any = data
            for key in keys[:-1]:
                table = table.get(key) if isinstance(table, dict) else None
            if isinstance(table, dict):
                value = table.get(keys[-1])
                if isinstance(value, str) and value and not Path(value).is_absolute():
                    table[keys[-1]] = str(base / value)
        return data


class _DotEnvSource(DotEnvSettingsSource):
    """The .env source, minus the loader's own variables (they are not settings)."""

    def _load_env_vars(self) -> Any:
        found = super()._load_env_vars()
        return {k: v for k, v in found.items() if k.upper() not in LOADER_VARIABLES}


def customise_sources(
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
    dotenv_settings: PydanticBaseSettingsSource,
    file_secret_settings: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """The sources of `Settings`, highest precedence first (pydantic-settings' convention).

    Outside `load_settings` (e.g. `Settings(...)` in a test) the pydantic-settings defaults
    apply unchanged: init arguments, then the environment.
    """
    files = _FILES.get()
    if files is None:
        return init_settings, env_settings, dotenv_settings, file_secret_settings
    sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
    if files.env_file is not None:
        sources.append(_DotEnvSource(settings_cls, env_file=files.env_file))
    if files.secrets_dir is not None:
        sources.append(
            NestedSecretsSettingsSource(
                SecretsSettingsSource(settings_cls, secrets_dir=files.secrets_dir),
                secrets_dir_missing="ok",
            )
        )
    if files.toml is not None:
        sources.append(_TomlSource(settings_cls, toml_file=files.toml))
    return tuple(sources)


@contextmanager
def _using(files: ConfigFiles) -> Iterator[None]:
    token = _FILES.set(files)
    try:
        yield
    finally:
        _FILES.reset(token)


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
    toml = find_config_file(config_path)
    if secrets_dir is None:
        secrets_dir = Path(
            os.environ.get(SECRETS_DIR_ENV) or os.environ.get("CREDENTIALS_DIRECTORY") or DEFAULT_SECRETS_DIR
        )
    if env_file is None:
        env_file = Path(os.environ.get(ENV_FILE_ENV) or DEFAULT_ENV_FILE)
    return ConfigFiles(
        toml=toml,
        env_file=env_file if env_file.is_file() else None,
        secrets_dir=secrets_dir if secrets_dir.is_dir() else None,
    )


def load_settings(
    config_path: Path | None = None,
    *,
    secrets_dir: Path | None = None,
    env_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    require_target: bool = True,
) -> Settings:
    """Read, merge and validate the configuration (order: see the module docstring).

    `require_target=False` skips the checks that only a sync needs (a configured target),
    for commands such as `plan`. Raises `ConfigError` naming every wrong setting.
    """
    files = resolve_files(config_path, secrets_dir=secrets_dir, env_file=env_file)
    try:
        with _using(files):
            settings = Settings(**(overrides or {}))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            [
                Problem(
                    "config file",
                    f"{files.toml} is not valid TOML: {exc}",
                    "correct the syntax at that line (strings need quotes, tables [like.this])",
                )
            ],
            files,
        ) from None
    except OSError as exc:
        raise ConfigError(
            [
                Problem(
                    "config file",
                    f"cannot read {exc.filename or files.toml}: {exc.strerror or exc}",
                    "make the file readable for the service's user",
                )
            ],
            files,
        ) from None
    except SettingsError as exc:
        # e.g. KONTAKTSYNC_TARGET='{not json' for a whole table
        match = re.search(r'field "([^"]+)"', str(exc))
        setting = match.group(1) if match else "(unknown)"
        raise ConfigError(
            [
                Problem(
                    setting,
                    f"cannot be parsed: {exc}",
                    f"give a table as JSON, or set its keys one by one "
                    f"({ENV_PREFIX}{setting.upper()}__<KEY>)",
                    origin_of(setting, files),
                )
            ],
            files,
        ) from None
    except ValidationError as exc:
        problems = problems_from_validation_error(exc, files)
        known = {p.setting for p in problems}
        extra = [p for p in unknown_setting_problems(files) if p.setting not in known]
        raise ConfigError(problems + extra, files) from None
    problems = unknown_setting_problems(files) + semantic_problems(settings, require_target=require_target)
    if problems:
        raise ConfigError(
            [Problem(p.setting, p.message, p.fix, p.origin or origin_of(p.setting, files)) for p in problems],
            files,
        )
    return settings


# --- friendly errors ----------------------------------------------------------------------

_SECRET_WORDS = ("password", "secret", "key", "token")


def is_secret_setting(dotted: str) -> bool:
    last = dotted.rsplit(".", 1)[-1].lower()
    return any(word in last for word in _SECRET_WORDS)


def _unwrap(annotation: Any) -> list[Any]:
    """The members of an annotation: X | None -> [X]; Annotated/Optional stripped."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                out.extend(_unwrap(arg))
        return out
    return [annotation]


def _walk_loc(loc: tuple[Any, ...]) -> tuple[list[str], type[BaseModel] | None, Any]:
    """Dotted parts of a pydantic error location, without union-member tags.

    Returns the parts, the model that holds the last part (for "did you mean") and the
    annotation of the last part.
    """
    parts: list[str] = []
    current: Any = Settings
    holder: type[BaseModel] | None = None
    annotation: Any = None
    for item in loc:
        models = [m for m in _unwrap(current) if isinstance(m, type) and issubclass(m, BaseModel)]
        dicts = [m for m in _unwrap(current) if typing.get_origin(m) is dict]
        if models and isinstance(item, str):
            model = models[0]
            holder = model
            parts.append(item)
            info = model.model_fields.get(item)
            if info is None:
                annotation = None
                break
            current = annotation = info.annotation
        elif dicts and isinstance(item, str):
            parts.append(item)
            current = annotation = typing.get_args(dicts[0])[1]
            holder = None
        elif isinstance(item, int):
            parts.append(str(item))
        else:
            break  # a union-member tag such as 'bool' or 'function-after[...]'
    return parts, holder, annotation


def _where_to_set(parts: list[str], files: ConfigFiles) -> str:
    table = ".".join(parts[:-1])
    key = parts[-1] if parts else "?"
    in_file = f"{key} = … under [{table}]" if table else f"{key} = … at the top"
    file_name = files.toml.name if files.toml else "kontaktsync.toml"
    env = ENV_PREFIX + "__".join(p.upper() for p in parts)
    return f"set {in_file} in {file_name}, or the environment variable {env}"


def _fix_for(err: Any, parts: list[str], holder: type[BaseModel] | None, files: ConfigFiles) -> str:
    kind = err["type"]
    dotted = ".".join(parts)
    if kind == "missing":
        model, _ = _known_fields(_walk_loc(tuple(parts))[2]) if parts else (None, False)
        if model is not None:
            required = [n for n, f in model.model_fields.items() if f.is_required()]
            keys = ", ".join(f"{n} = …" for n in required) or "its keys"
            file_name = files.toml.name if files.toml else "kontaktsync.toml"
            return (
                f"add a [{dotted}] table with {keys} to {file_name}"
                f", or set {ENV_PREFIX}{'__'.join(p.upper() for p in parts)}__<KEY> variables"
            )
        described = ""
        if holder is not None and parts:
            info = holder.model_fields.get(parts[-1])
            if info is not None and info.description:
                described = f" ({info.description})"
        return _where_to_set(parts, files) + described
    if kind == "extra_forbidden":
        known = sorted(holder.model_fields) if holder is not None else sorted(Settings.model_fields)
        close = difflib.get_close_matches(parts[-1] if parts else "", known, n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        return f"{hint}remove or rename it; known here: {', '.join(known)}"
    if kind == "literal_error":
        return f"use one of {err.get('ctx', {}).get('expected', 'the listed values')}"
    if kind in ("bool_parsing", "bool_type"):
        return "write true or false"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "write a whole number, e.g. 30"
    if kind in ("float_parsing", "float_type"):
        return "write a number, e.g. 15 or 0.5"
    if kind.startswith(("greater_than", "less_than")):
        return f"give a value that is {err['msg'].removeprefix('Input should be ')}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"make {dotted} a table ([{dotted}]) with keys, not a single value"
    if kind in ("string_type", "path_type"):
        return f"write {dotted} as a quoted string"
    if kind == "value_error":
        if holder is not None and parts:
            info = holder.model_fields.get(parts[-1])
            if info is not None and info.description:
                return f"{'.'.join(parts)} should be: {info.description}"
        return f"correct {dotted} as the message says"
    return f"correct {dotted or 'the value'}"


def problems_from_validation_error(exc: ValidationError, files: ConfigFiles) -> list[Problem]:
    """One `Problem` per distinct setting in a pydantic ValidationError."""
    seen: dict[str, Problem] = {}
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if loc and isinstance(loc[0], str) and loc[0].upper().startswith(ENV_PREFIX):
            # an unknown variable from the .env file, reported under its full name
            loc = tuple(loc[0][len(ENV_PREFIX) :].lower().split("__")) + loc[1:]
        parts, holder, _ = _walk_loc(loc)
        dotted = ".".join(parts) or "(top level)"
        if dotted in seen:
            continue  # a union reports once per member; the first says enough
        if err["type"] == "missing":
            message = "is required but not set"
        elif err["type"] == "extra_forbidden":
            message = "is not a known setting"
        else:
            message = err["msg"].removeprefix("Value error, ")
            value = err.get("input")
            if (
                err["type"] != "value_error"
                and not is_secret_setting(dotted)
                and isinstance(value, str | int | float | bool)
            ):
                shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
                message += f" (got {shown})"
        seen[dotted] = Problem(dotted, message, _fix_for(err, parts, holder, files), origin_of(dotted, files))
    return list(seen.values())


def origin_of(dotted: str, files: ConfigFiles) -> str | None:
    """Which source supplied the value of a setting, highest precedence first."""
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
    if files.env_file is not None:
        try:
            text = files.env_file.read_text(encoding="utf-8")
        except OSError:
            text = ""
        keys = [line.split("=", 1)[0].strip().removeprefix("export ").strip() for line in text.splitlines()]
        if found := find(k for k in keys if k and not k.startswith("#")):
            return f"{files.env_file} ({found.upper()})"
    if files.secrets_dir is not None:
        try:
            present = [p.name for p in files.secrets_dir.iterdir()]
        except OSError:
            present = []
        if found := find(present):
            return f"secret file {files.secrets_dir / found}"
    if files.toml is not None:
        try:
            data: Any = tomllib.loads(files.toml.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            return None
        for part in parts:
            if not isinstance(data, dict) or part not in data:
                return None
            data = data[part]
        return f"config file {files.toml}"
    return None


def _known_fields(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model inside an annotation, and whether it is a free-form dict instead."""
    for member in _unwrap(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member, False
        if typing.get_origin(member) is dict or member is dict:
            return None, True
    return None, False


def _unknown_in(data: Any, model: type[BaseModel], prefix: list[str]) -> Iterator[tuple[str, list[str]]]:
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        info = model.model_fields.get(key)
        if info is None:
            yield ".".join([*prefix, key]), sorted(model.model_fields)
            continue
        inner, _ = _known_fields(info.annotation)
        if inner is not None:
            yield from _unknown_in(value, inner, [*prefix, key])


def _nested(name: str) -> dict[str, Any]:
    """KONTAKTSYNC_A__B__C -> {"a": {"b": {"c": True}}} (only the shape matters here)."""
    parts = name[len(ENV_PREFIX) :].lower().split("__")
    out: dict[str, Any] = {}
    node = out
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = True
    return out


def unknown_setting_problems(files: ConfigFiles) -> list[Problem]:
    """Keys no setting has, in any source: nested tables would otherwise drop them silently."""
    found: list[tuple[str, list[str], str]] = []
    if files.toml is not None:
        try:
            data = tomllib.loads(files.toml.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            data = {}
        found += [(d, k, f"config file {files.toml}") for d, k in _unknown_in(data, Settings, [])]
    names: list[tuple[str, str]] = [(n, f"environment variable {n}") for n in os.environ]
    if files.env_file is not None:
        for line in files.env_file.read_text(encoding="utf-8").splitlines():
            name = line.split("=", 1)[0].strip().removeprefix("export ").strip()
            if "=" in line and not line.lstrip().startswith("#"):
                names.append((name, f"{files.env_file} ({name})"))
    if files.secrets_dir is not None:
        names += [(p.name, f"secret file {p}") for p in sorted(files.secrets_dir.iterdir())]
    for name, origin in names:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in LOADER_VARIABLES:
            continue
        if "__" not in upper and upper[len(ENV_PREFIX) :].lower() not in Settings.model_fields:
            # KONTAKTSYNC_FAULT_AFTER_WRITES and the like: variables of the program or its
            # tests, not settings. A nested name (with __) is clearly meant as a setting.
            continue
        found += [(d, k, origin) for d, k in _unknown_in(_nested(name), Settings, [])]
    problems: dict[str, Problem] = {}
    for dotted, known, origin in found:
        close = difflib.get_close_matches(dotted.rsplit(".", 1)[-1], known, n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
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


# --- checks across settings ---------------------------------------------------------------


def semantic_problems(settings: Settings, *, require_target: bool = True) -> list[Problem]:
    """What the model alone cannot see: a target without its table, missing credentials."""
    problems: list[Problem] = []
    target = settings.target
    if require_target and target.kind == "caldav":
        if target.caldav is None:
            problems.append(
                Problem(
                    "target.caldav",
                    "is missing, but target.kind is 'caldav'",
                    'add a [target.caldav] table with url = "https://dav.example/{counsellor}/'
                    'kontaktdichte/" (or set target.kind = "exchange")',
                )
            )
        else:
            problems.extend(_caldav_problems(settings))
    if require_target and target.kind == "exchange":
        ex = target.exchange
        if ex is None:
            problems.append(
                Problem(
                    "target.exchange",
                    "is missing, but target.kind is 'exchange'",
                    'add a [target.exchange] table with endpoint = "https://mail.example/EWS/'
                    'Exchange.asmx" (or set target.kind = "caldav")',
                )
            )
        else:
            if ex.endpoint:
                allow = "target.exchange.allow_insecure_http"
                why = insecure_http_problem(ex.endpoint, True, ex.allow_insecure_http, allow)
                if why:
                    problems.append(
                        Problem("target.exchange.endpoint", why, _INSECURE_FIX.format(kind="exchange"))
                    )
            if ex.endpoint is None and not ex.autodiscover:
                problems.append(
                    Problem(
                        "target.exchange.endpoint",
                        "is not set and autodiscover is off",
                        "set endpoint to the EWS URL, or autodiscover = true",
                    )
                )
            if ex.auth == "oauth2":
                for name in ("client_id", "client_secret", "tenant_id"):
                    if getattr(ex, name) is None:
                        where = (
                            "put it in the secret file kontaktsync_target__exchange__client_secret"
                            if name == "client_secret"
                            else f"set {name} under [target.exchange]"
                        )
                        problems.append(
                            Problem(
                                f"target.exchange.{name}",
                                "is required when target.exchange.auth is 'oauth2'",
                                where,
                            )
                        )
            elif ex.username is None or ex.password is None:
                missing = "username" if ex.username is None else "password"
                problems.append(
                    Problem(
                        f"target.exchange.{missing}",
                        f"is required when target.exchange.auth is '{ex.auth}'",
                        "set it; keep the password in the secret file kontaktsync_target__exchange__password "
                        "(or the environment variable KONTAKTSYNC_TARGET__EXCHANGE__PASSWORD)",
                    )
                )
    if settings.privacy.pseudonymize and settings.privacy.pseudonym_key is None:
        problems.append(
            Problem(
                "privacy.pseudonym_key",
                "is required when privacy.pseudonymize is true",
                "put a long random key in the secret file kontaktsync_privacy__pseudonym_key",
            )
        )
    if settings.schedule.cron is None and settings.schedule.interval_minutes is None:
        problems.append(
            Problem(
                "schedule.interval_minutes",
                "is empty and no schedule.cron is set, so the daemon would never run",
                "set interval_minutes = 15 or cron = '*/15 * * * *' under [schedule]",
            )
        )
    return problems


def _caldav_problems(settings: Settings) -> list[Problem]:
    caldav = settings.target.caldav
    assert caldav is not None
    problems: list[Problem] = []
    urls = [("target.caldav.url", caldav.url)] + [
        (f"target.caldav.calendars.{who}", url) for who, url in caldav.calendars.items()
    ]
    for dotted, url in urls:
        if not url.startswith(("http://", "https://")):
            problems.append(
                Problem(
                    dotted,
                    f"must start with http:// or https:// (got {_mask_userinfo(url)!r})",
                    "write the full calendar URL, e.g. https://dav.example/{counsellor}/kontaktdichte/",
                )
            )
            continue
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(url) if name is not None}
        except ValueError as exc:
            problems.append(Problem(dotted, f"is not a valid template: {exc}", "balance { and }"))
            continue
        unknown = fields - {"counsellor"}
        if unknown:
            problems.append(
                Problem(
                    dotted,
                    f"uses the unknown placeholder(s) {', '.join(sorted(unknown))}",
                    "the only placeholder is {counsellor}",
                )
            )
        probe = url.replace("{counsellor}", "kontaktsync-placeholder")
        if "{counsellor}" in url and "kontaktsync-placeholder" not in urlsplit(probe).path:
            problems.append(
                Problem(
                    dotted,
                    "has the {counsellor} placeholder outside the path",
                    "put {counsellor} into the path, e.g. https://dav.example/{counsellor}/kontaktdichte/",
                )
            )
        has_credentials = caldav.username is not None or bool(urlsplit(url).username)
        why = insecure_http_problem(
            url, has_credentials, caldav.allow_insecure_http, "target.caldav.allow_insecure_http"
        )
        if why:
            problems.append(Problem(dotted, why, _INSECURE_FIX.format(kind="caldav")))
    if caldav.password is not None and caldav.username is None:
        problems.append(
            Problem(
                "target.caldav.username",
                "is not set, but a password is",
                "set username under [target.caldav] (the password belongs in a secret file)",
            )
        )
    return problems


_INSECURE_FIX = (
    "use https://; or, only on a network you trust (a container network, a VPN), "
    "set allow_insecure_http = true under [target.{kind}]"
)


def _url_credential_warning(dotted: str, url: str) -> Problem | None:
    """A password (or token) written into a URL's user-info: it ends up in shell histories,
    process lists and copies of the file. The value is never echoed."""
    netloc = urlsplit(url).netloc
    userinfo = netloc.rpartition("@")[0]
    if not userinfo:
        return None
    kind = "a password" if ":" in userinfo else "user-info (a user name or token)"
    table = dotted.rsplit(".", 1)[0] if dotted.count(".") == 2 else "target.caldav"
    return Problem(
        dotted,
        f"holds {kind} in the URL; credentials belong in the secrets directory, not the URL",
        f"remove 'user:password@' from the URL, set username under [{table}] and put the password "
        f"into the secret file {_secret_file(table + '.password')}",
    )


def _secret_file(dotted: str) -> str:
    return "kontaktsync_" + dotted.replace(".", "__")


def _env_name(dotted: str) -> str:
    return ENV_PREFIX + dotted.replace(".", "__").upper()


def credential_warnings(settings: Settings) -> list[Problem]:
    """Usable but unsafe: credentials written into URLs (for `config check`)."""
    urls: list[tuple[str, str]] = []
    if settings.target.caldav is not None:
        cal = settings.target.caldav
        urls += [("target.caldav.url", cal.url)]
        urls += [(f"target.caldav.calendars.{who}", url) for who, url in cal.calendars.items()]
    if settings.target.exchange is not None and settings.target.exchange.endpoint:
        urls.append(("target.exchange.endpoint", settings.target.exchange.endpoint))
    found = [_url_credential_warning(dotted, url) for dotted, url in urls]
    return [p for p in found if p is not None]


def missing_password_problems(settings: Settings, files: ConfigFiles) -> list[Problem]:
    """A CalDAV username without a password from any source (for `config check`): names the
    secret file and the environment variable that would hold it."""
    cal = settings.target.caldav
    if settings.target.kind != "caldav" or cal is None or cal.username is None or cal.password is not None:
        return []
    if urlsplit(cal.url).password is not None:
        return []  # in the URL (warned about separately)
    name = "target.caldav.password"
    where = f"in {files.secrets_dir}" if files.secrets_dir else "(no secrets directory was found)"
    return [
        Problem(
            name,
            f"is missing: target.caldav.username is set, but there is no secret file "
            f"{_secret_file(name)} {where} and no environment variable {_env_name(name)}",
            f"put the password into the secret file {_secret_file(name)} (secrets directory: "
            f"--secrets-dir, $KONTAKTSYNC_SECRETS_DIR, $CREDENTIALS_DIRECTORY or /run/secrets), "
            f"or set {_env_name(name)}; or remove username if the server needs no login",
        )
    ]


# --- masking ------------------------------------------------------------------------------

MASK = "********"

# scheme://user-info@ — the user-info may hold ':' and '@' (unencoded), never '/', '?', '#'
# or white space; everything up to the last '@' before the host is user-info.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s/?#'\"<>]*)@")


def mask_userinfo(text: str) -> str:
    """Mask the user-info of every URL in a text: https://user:pw@host/ -> user:********@,
    https://token@host/ -> ********@ (a user-info without ':' may be a token)."""

    def repl(match: re.Match[str]) -> str:
        userinfo = match.group(2)
        if not userinfo:
            return match.group(0)
        user, colon, _ = userinfo.partition(":")
        shown = f"{user}:{MASK}" if colon else MASK
        return f"{match.group(1)}{shown}@"

    return _USERINFO.sub(repl, text)


_mask_userinfo = mask_userinfo  # the name used before


def secret_values(settings: BaseModel) -> list[str]:
    """Every secret the settings hold (SecretStr values, passwords inside URLs)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)
        elif isinstance(value, str) and "://" in value and "@" in value:
            for match in _USERINFO.finditer(value):
                user, colon, password = match.group(2).partition(":")
                found.append(password if colon else user)

    walk(settings)
    return sorted({s for s in found if s}, key=len, reverse=True)


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, every secret replaced by a mask."""

    def walk(value: Any, dotted: str) -> Any:
        if isinstance(value, SecretStr):
            return MASK if value.get_secret_value() else ""
        if isinstance(value, BaseModel):
            return {
                name: walk(getattr(value, name), f"{dotted}.{name}".lstrip("."))
                for name in type(value).model_fields
            }
        if isinstance(value, dict):
            return {k: walk(v, f"{dotted}.{k}") for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v, dotted) for v in value]
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, str):
            if is_secret_setting(dotted) and value:
                return MASK
            return _mask_userinfo(value)
        return value

    return walk(settings, "")


def to_toml(data: dict[str, Any]) -> str:
    """A small TOML writer for `config show` (tables, strings, numbers, booleans, lists)."""
    lines: list[str] = []

    def scalar(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return repr(value)
        if isinstance(value, list):
            return "[" + ", ".join(scalar(v) for v in value) + "]"
        if isinstance(value, dict):
            return "{ " + ", ".join(f"{_key(k)} = {scalar(v)}" for k, v in value.items()) + " }"
        text = str(value).replace("\\", "\\\\").replace('"', '\\"')
        return f'"{text}"'

    def table(prefix: str, values: dict[str, Any]) -> None:
        plain = {k: v for k, v in values.items() if not isinstance(v, dict)}
        nested = {k: v for k, v in values.items() if isinstance(v, dict)}
        if prefix and (plain or not nested):
            lines.append(f"\n[{prefix}]")
        for key, value in plain.items():
            if value is None:
                lines.append(f"# {_key(key)} is not set")
            else:
                lines.append(f"{_key(key)} = {scalar(value)}")
        for key, value in nested.items():
            table(f"{prefix}.{_key(key)}" if prefix else _key(key), value)

    table("", data)
    return "\n".join(lines).lstrip("\n") + "\n"


def _key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else '"' + key.replace('"', '\\"') + '"'
