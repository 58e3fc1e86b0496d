"""`config show`: the effective settings as plain data with secrets masked, written as TOML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kontaktsync.sync.config.masking import MASK, is_secret_setting, mask_userinfo
from pydantic import BaseModel, SecretStr


def masked_dump(settings: BaseModel) -> dict[str, Any]:
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
            return mask_userinfo(value)
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
