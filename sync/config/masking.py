"""Keeping secrets out of text: URL user-info, SecretStr values, secret-looking settings."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, SecretStr

MASK = "********"

_SECRET_WORDS = ("password", "secret", "key", "token")

# scheme://user-info@ — the user-info may hold ':' and '@' (unencoded), never '/', '?', '#'
# or white space; everything up to the last '@' before the host is user-info.
USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s/?#'\"<>]*)@")


def is_secret_setting(dotted: str) -> bool:
    """Whether a setting's name says it holds a secret (password, secret, key, token)."""
    last = dotted.rsplit(".", 1)[-1].lower()
    return any(word in last for word in _SECRET_WORDS)


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

    return USERINFO.sub(repl, text)


def secret_values(settings: BaseModel) -> list[str]:
    """Every secret the settings hold (SecretStr values, passwords inside URLs), longest first
    so that a filter masks a secret whole before any part of it."""
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
            for match in USERINFO.finditer(value):
                user, colon, password = match.group(2).partition(":")
                found.append(password if colon else user)

    walk(settings)
    return sorted({s for s in found if s}, key=len, reverse=True)


def mask_secrets(settings: BaseModel, text: str) -> str:
    """`text` with every secret of `settings` and every URL user-info masked."""
    for secret in secret_values(settings):
        text = text.replace(secret, MASK)
    return mask_userinfo(text)
