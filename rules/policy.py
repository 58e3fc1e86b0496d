"""Policies by id or path: the built-in ones, policy files read and validated (the format:
policy_format.py), and their errors said for people.

A Jobcenter copies a built-in policy (`kontaktsync policies show coburg-2016 > mine.yaml`),
changes it and passes the path to `--policy`. `policy_json_schema()` publishes the format as
JSON Schema (shipped as `policy.schema.json`) so editors can check such a file as it is typed.
"""

from __future__ import annotations

import difflib
import json
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from kontaktsync.rules.policy_format import Policy
from pydantic import BaseModel, ValidationError

BUILTIN_IDS = (
    "coburg-2016",
    "euskirchen-2011",
    "berlin-lichtenberg-2013",
    "hamburg-absolventenmanagement",
    "ams-betreuungsplan",
)


class PolicyError(Exception):
    """A policy that cannot be found or does not validate; the message says where and why."""


_RULE_LISTS = {"contact_rules": "contact rule", "measure_rules": "measure rule", "case_rules": "case rule"}


def _describe(err: ValidationError, source: str, data: Any = None) -> str:
    """One line per error, for people: rules counted from 1 with their id ("contact rule 6
    (id 2mm-ue25)" rather than contact_rules.5), and "did you mean" for a misspelt key."""

    def submodel(model: Any, key: str) -> Any:
        info = (
            model.model_fields.get(key) if isinstance(model, type) and issubclass(model, BaseModel) else None
        )
        members = [info.annotation, *getattr(info.annotation, "__args__", ())] if info else []
        return next((m for m in members if isinstance(m, type) and issubclass(m, BaseModel)), None)

    lines = [f"{source} is not a valid policy:"]
    for e in err.errors():
        loc, parts, model, node = list(e["loc"]), [], Policy, data
        while loc:
            item = loc.pop(0)
            node = node.get(item) if isinstance(node, dict) and isinstance(item, str) else None
            if item in _RULE_LISTS and loc and isinstance(loc[0], int):
                index = loc.pop(0)
                node = node[index] if isinstance(node, list) and index < len(node) else None
                rule_id = node.get("id") if isinstance(node, dict) else None
                parts.append(
                    f"{_RULE_LISTS[str(item)]} {index + 1}" + (f" (id {rule_id})" if rule_id else "")
                )
                model = submodel(model, str(item))
                continue
            if loc and isinstance(item, str):
                model = submodel(model, item)
            parts.append(str(item))
        message = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden" and model is not None:
            known = sorted(f.alias or name for name, f in model.model_fields.items())
            close = difflib.get_close_matches(str(e["loc"][-1]), known, n=1)
            message += f"; did you mean `{close[0]}`?" if close else f"; known keys: {', '.join(known)}"
        # the rule named in words, the place inside it dotted: "case rule 1 (id wv), when.contact_rule"
        head = [x for x in parts if " rule " in f" {x}"]
        rest = ".".join(x for x in parts if x not in head)
        place = ", ".join([*head, rest] if rest else head) or "(top level)"
        lines.append(f"  {place}: {message}")
    return "\n".join(lines)


# PyYAML's libyaml parser where it is built in (the wheels have it): a sixth of the time.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_policy(text: str, source: str) -> Policy:
    try:
        data = yaml.load(text, Loader=_FAST_LOADER)  # a safe loader
    except yaml.YAMLError:
        try:  # the Python parser says where the file is wrong, in the words it always used
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PolicyError(f"{source} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{source} does not hold a policy (expected a mapping at the top)")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(_describe(exc, source, data)) from None


def builtin_policy_text(policy_id: str) -> str:
    if policy_id not in BUILTIN_IDS:
        raise PolicyError(
            f"unknown policy '{policy_id}': give a built-in id ({', '.join(BUILTIN_IDS)}) "
            "or the path of a policy file"
        )
    return (
        resources.files("kontaktsync.rules")
        .joinpath(f"policies/{policy_id}.yaml")
        .read_text(encoding="utf-8")
    )


@cache
def _builtin(policy_id: str) -> Policy:
    return parse_policy(builtin_policy_text(policy_id), f"built-in policy {policy_id}")


def load_policy(ref: str | Path) -> Policy:
    """A built-in policy by id, or a policy file by path."""
    ref_s = str(ref)
    if ref_s in BUILTIN_IDS:
        return _builtin(ref_s)
    path = Path(ref_s)
    if path.suffix.lower() in {".yaml", ".yml", ".json"} or path.exists():
        try:
            st = path.stat()
        except OSError as exc:
            raise PolicyError(f"cannot read policy file {path}: {exc.strerror}") from None
        return _from_file(str(path), st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_size)
    return _builtin(ref_s)  # raises with the list of built-ins


@lru_cache(maxsize=8)
def _from_file(path: str, mtime_ns: int, ctime_ns: int, inode: int, size: int) -> Policy:
    """A policy file, read once while it is unchanged (the daemon runs again and again): a
    changed file has another mtime, size, inode (replaced) or ctime (written, even by a copy
    that kept the mtime: no program can set a ctime)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror}") from None
    return parse_policy(text, path)


def policy_json_schema() -> dict[str, Any]:
    schema = Policy.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "kontaktsync contact-density policy"
    return schema


def policy_json_schema_text() -> str:
    return json.dumps(policy_json_schema(), indent=2, ensure_ascii=False) + "\n"
