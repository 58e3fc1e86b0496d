"""Walking the settings model: which tables and keys exist (for "did you mean" and warnings)."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel


def unwrap(annotation: Any) -> list[Any]:
    """The members of an annotation: X | None -> [X]; Annotated/Optional stripped."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                out.extend(unwrap(arg))
        return out
    return [annotation]


def known_fields(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model inside an annotation, and whether it is a free-form dict instead."""
    for member in unwrap(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member, False
        if typing.get_origin(member) is dict or member is dict:
            return None, True
    return None, False


def setting_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key a value can be given for: ('target', 'caldav', 'password'), ('policy',), ..."""
    for name, info in model.model_fields.items():
        inner, _ = known_fields(info.annotation)
        if inner is None:
            yield (*prefix, name)
        else:
            yield from setting_paths(inner, (*prefix, name))


def unknown_in(data: Any, model: type[BaseModel], prefix: list[str]) -> Iterator[tuple[str, list[str]]]:
    """(dotted key, keys known in its table) for every key of `data` that `model` lacks."""
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        info = model.model_fields.get(key)
        if info is None:
            yield ".".join([*prefix, key]), sorted(model.model_fields)
            continue
        inner, _ = known_fields(info.annotation)
        if inner is not None:
            yield from unknown_in(value, inner, [*prefix, key])


def did_you_mean(word: str, known: list[str]) -> str:
    """ "did you mean `x`? " for the closest known word, or ""."""
    close = difflib.get_close_matches(word, known, n=1)
    return f"did you mean `{close[0]}`? " if close else ""
