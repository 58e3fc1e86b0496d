"""Wording of pydantic's validation errors for people editing a kontaktsync.toml.

pydantic reports a location such as ('target', 'caldav', 'timeout_seconds') and an error
type; this module turns each into the dotted setting, a message with the offending value
(never a secret) and a fix that says where to set it: the TOML table and key, or the
environment variable.
"""

from __future__ import annotations

import typing
from typing import Any

from kontaktsync.sync.config.errors import Problem
from kontaktsync.sync.config.files import ENV_PREFIX, ConfigFiles
from kontaktsync.sync.config.masking import is_secret_setting
from kontaktsync.sync.config.model_walk import did_you_mean, known_fields, unwrap
from kontaktsync.sync.config.provenance import Provenance
from pydantic import BaseModel, ValidationError


def _walk_loc(loc: tuple[Any, ...], root: type[BaseModel]) -> tuple[list[str], type[BaseModel] | None, Any]:
    """Dotted parts of a pydantic error location, without union-member tags.

    Returns the parts, the model that holds the last part (for "did you mean") and the
    annotation of the last part.
    """
    parts: list[str] = []
    current: Any = root
    holder: type[BaseModel] | None = None
    annotation: Any = None
    for item in loc:
        models = [m for m in unwrap(current) if isinstance(m, type) and issubclass(m, BaseModel)]
        dicts = [m for m in unwrap(current) if typing.get_origin(m) is dict]
        if models and isinstance(item, str):
            holder = models[0]
            parts.append(item)
            info = holder.model_fields.get(item)
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


def _described(holder: type[BaseModel] | None, parts: list[str]) -> str | None:
    info = holder.model_fields.get(parts[-1]) if holder is not None and parts else None
    return info.description if info is not None else None


def _fix_for_missing(parts: list[str], holder: type[BaseModel] | None, files: ConfigFiles, root: Any) -> str:
    model, _ = known_fields(_walk_loc(tuple(parts), root)[2]) if parts else (None, False)
    if model is not None:
        required = [n for n, f in model.model_fields.items() if f.is_required()]
        keys = ", ".join(f"{n} = …" for n in required) or "its keys"
        file_name = files.toml.name if files.toml else "kontaktsync.toml"
        return (
            f"add a [{'.'.join(parts)}] table with {keys} to {file_name}"
            f", or set {ENV_PREFIX}{'__'.join(p.upper() for p in parts)}__<KEY> variables"
        )
    description = _described(holder, parts)
    return _where_to_set(parts, files) + (f" ({description})" if description else "")


_FIXED_WORDING = {
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "int_parsing": "write a whole number, e.g. 30",
    "int_type": "write a whole number, e.g. 30",
    "int_from_float": "write a whole number, e.g. 30",
    "float_parsing": "write a number, e.g. 15 or 0.5",
    "float_type": "write a number, e.g. 15 or 0.5",
}


def _fix_for(
    err: Any, parts: list[str], holder: type[BaseModel] | None, files: ConfigFiles, root: Any
) -> str:
    kind = err["type"]
    dotted = ".".join(parts)
    if kind == "missing":
        return _fix_for_missing(parts, holder, files, root)
    if kind == "extra_forbidden":
        known = sorted(holder.model_fields) if holder is not None else sorted(root.model_fields)
        hint = did_you_mean(parts[-1] if parts else "", known)
        return f"{hint}remove or rename it; known here: {', '.join(known)}"
    if kind == "literal_error":
        return f"use one of {err.get('ctx', {}).get('expected', 'the listed values')}"
    if kind in _FIXED_WORDING:
        return _FIXED_WORDING[kind]
    if kind.startswith(("greater_than", "less_than")):
        return f"give a value that is {err['msg'].removeprefix('Input should be ')}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"make {dotted} a table ([{dotted}]) with keys, not a single value"
    if kind in ("string_type", "path_type"):
        return f"write {dotted} as a quoted string"
    if kind == "value_error":
        description = _described(holder, parts)
        if description:
            return f"{dotted} should be: {description}"
        return f"correct {dotted} as the message says"
    return f"correct {dotted or 'the value'}"


def _message(err: Any, dotted: str) -> str:
    if err["type"] == "missing":
        return "is required but not set"
    if err["type"] == "extra_forbidden":
        return "is not a known setting"
    message = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    if (
        err["type"] != "value_error"
        and not is_secret_setting(dotted)
        and isinstance(value, str | int | float | bool)
    ):
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        message += f" (got {shown})"
    return message


def problems_from_validation_error(
    exc: ValidationError, provenance: Provenance, root: type[BaseModel]
) -> list[Problem]:
    """One `Problem` per distinct setting in a pydantic ValidationError of the model `root`."""
    files = provenance.files
    seen: dict[str, Problem] = {}
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if loc and isinstance(loc[0], str) and loc[0].upper().startswith(ENV_PREFIX):
            # an unknown variable from the .env file, reported under its full name
            loc = tuple(loc[0][len(ENV_PREFIX) :].lower().split("__")) + loc[1:]
        parts, holder, _ = _walk_loc(loc, root)
        dotted = ".".join(parts) or "(top level)"
        if dotted in seen:
            continue  # a union reports once per member; the first says enough
        fix = _fix_for(err, parts, holder, files, root)
        seen[dotted] = Problem(dotted, _message(err, dotted), fix, provenance.origin_of(dotted))
    return list(seen.values())
