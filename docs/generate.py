"""Rewrite the generated blocks of the documentation from the code.

Run from anywhere, with the project installed (``pip install -e .``):

    python docs/generate.py          # rewrite the blocks in docs/*.md
    python docs/generate.py --check  # change nothing; exit 1 and name the files that are stale

A generated block sits between ``<!-- generated: NAME -->`` and ``<!-- end generated -->`` in a
Markdown file; everything between the two markers is replaced. Blocks:

- ``settings``: every configuration key of the settings model (``sync/config/models.py``), walked
  through the pydantic model: dotted key, type, default, description;
- ``policy-schema``: the policy file format, from the JSON Schema ``rules/policy.schema.json``.

Descriptions come from the models themselves (``Field(description=...)``); the tables below
fill in the keys that have none. A setting without any description stops the generator with
a message naming it, so a new setting cannot reach the docs undescribed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SCHEMA = ROOT / "rules" / "policy.schema.json"

BLOCK = re.compile(
    r"(?P<open><!-- generated: (?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(?P<close><!-- end generated -->)",
    re.DOTALL,
)

# Descriptions of settings whose model field has none (dotted key -> text).
SETTING_DESCRIPTIONS: dict[str, str] = {
    "source": "`[source]`: where the caseload export is read from",
    "target": "`[target]`: where the items are written",
    "items": "`[items]`: what is written besides the task",
    "privacy": "`[privacy]`: what an item may show of the customer",
    "sync": "`[sync]`: identity, state and safety of the sync runs",
    "schedule": "`[schedule]`: when the daemon runs",
    "observability": "`[observability]`: logs, `/healthz` and `/metrics`",
    "source.measures": "measures CSV file (optional; a workbook or folder given as `cases` provides it)",
    "source.contacts": "contacts CSV file (optional; a workbook or folder given as `cases` provides it)",
    "policy": "built-in policy id (`coburg-2016`, ...) or the path of a policy file",
    "target.kind": "where items are written: a CalDAV server or Microsoft Exchange (EWS)",
    "target.caldav": 'the CalDAV target; required when `target.kind = "caldav"`',
    "target.caldav.username": "user name for HTTP Basic or Digest authentication",
    "target.caldav.password": "password; keep it in the secret file `kontaktsync_target__caldav__password`",
    "target.caldav.verify_tls": "check the server's TLS certificate: `true`, `false`, or the path of a "
    "CA bundle",
    "target.caldav.create_calendars": "create a counsellor's calendar when it does not exist yet",
    "target.exchange": 'the Exchange target; required when `target.kind = "exchange"`',
    "target.exchange.autodiscover": "find the EWS URL by autodiscover instead of `endpoint`",
    "target.exchange.auth": "authentication: NTLM, Basic, or OAuth2 client credentials",
    "target.exchange.username": "service account, e.g. `JOBCENTER\\svc-kontaktsync` (not for oauth2)",
    "target.exchange.password": "service account's password; keep it in the secret file "
    "`kontaktsync_target__exchange__password`",
    "target.exchange.client_id": "OAuth2 application (client) id",
    "target.exchange.client_secret": "OAuth2 client secret; keep it in the secret file "
    "`kontaktsync_target__exchange__client_secret`",
    "target.exchange.tenant_id": "OAuth2 tenant (directory) id",
    "target.exchange.access": "write by impersonation (ApplicationImpersonation role) or as a delegate "
    "with full access to each mailbox",
    "target.exchange.timezone": "the mailboxes' time zone; zones west of UTC are refused",
    "target.exchange.verify_tls": "check the server's TLS certificate: `true`, `false`, or the path of a "
    "CA bundle",
    "target.exchange.max_throttle_wait_seconds": "longest wait for Exchange throttling (ErrorServerBusy) "
    "before the items concerned fail",
    "items.appointments": "besides the task: no appointment, an all-day marker on the due date, or a "
    "proposed slot (not implemented yet: writes a marker)",
    "items.first_talk_minutes": "length of a first talk (for `slot` appointments)",
    "items.follow_up_minutes": "length of a follow-up talk (for `slot` appointments)",
    "items.interpreter_minutes": "length of a talk with an interpreter (for `slot` appointments)",
    "items.opening_hours": "hours in which talks are placed (for `slot` appointments)",
    "items.talks_per_day": "daily capacity of a counsellor (for `slot` appointments)",
    "items.talks_per_week": "weekly capacity of a full-time counsellor (for `slot` appointments)",
    "privacy.show_names": "show the customer's `display_name` in item subjects",
    "privacy.pseudonymize": "show a keyed pseudonym (HMAC) instead of the customer number",
    "privacy.pseudonym_key": "key of the pseudonym; keep it in the secret file "
    "`kontaktsync_privacy__pseudonym_key`",
    "sync.state_path": "the state database (SQLite); its lock file lies beside it",
    "sync.on_case_left": "what happens to the open tasks of a case that left the caseload",
    "sync.mass_delete_share": "largest share of a calendar's open items one run may delete or close "
    "for cases that left, before the mass-delete guard stops the run",
    "sync.retries": "retries of a request that failed for a passing reason (server busy, time-out, "
    "dropped connection)",
    "observability.healthy_within_minutes": "`/healthz` answers 503 when the last successful run is "
    "older than this",
    "observability.log_format": "log lines as JSON or text; auto = text on a terminal, JSON otherwise",
    "observability.log_level": "least important level that is logged",
}

# Notes on policy fields whose schema entry has no description ("Definition.field" -> text).
POLICY_NOTES: dict[str, str] = {
    "Policy.id": "the policy's id, as `--policy` and the plan output name it",
    "Policy.title": "the document's title, shown by `kontaktsync policies` and `explain`",
    "Policy.region": "country and subdivision whose public holidays are no working days",
    "Policy.timezone": "time zone of the as-of date (today, if not given)",
    "Policy.counting_channels": "contact channels that count as a contact",
    "Policy.max_extension_months": "largest `extension_months` a case may have; 0 = no extensions",
    "Policy.profile_groups": "named lists of profiles for `profile_group` conditions "
    "(default: `market_near` and `complex`)",
    "Policy.contact_rules": "the contact-density table; first match wins",
    "Policy.measure_rules": "talks around each measure's end",
    "Policy.case_rules": "one-off obligations: care plan, its review, profile review",
    "AgeRange.min": "youngest age that matches (whole years on the as-of date)",
    "AgeRange.max": "oldest age that matches",
    "Condition.age": "age range; never matches a case without `birth_date`",
    "Condition.status": "one of these statuses",
    "Condition.profile": "one of these profiles",
    "Condition.team": "one of these teams",
    "Condition.buergerarbeit": "the `buergerarbeit` flag is set (true) or not set (false)",
    "Condition.umschueler": "the `umschueler` flag is set (true) or not set (false)",
    "Condition.needs_interpreter": "the `needs_interpreter` flag is set (true) or not set (false)",
    "ContactRule.id": "the rule's id, unique in the policy; plans name it as `policy/rule`",
    "ContactRule.when": "conditions; all given parts must hold",
    "CaseRule.id": "the rule's id, unique in the policy",
    "CaseRule.title": "the document's wording, for explain",
    "CaseRule.tag": "short label in subject lines, e.g. `BP`",
    "CaseRule.window_start": "first day on which a contact fulfils it (none: no window)",
    "CaseRule.due": "the due date",
    "CaseRule.kind": "the obligation's kind",
    "CaseRule.when": "conditions on the case; all given parts must hold",
    "MeasureRule.id": "the rule's id, unique in the policy",
    "MeasureRule.title": "the document's wording, for explain",
    "MeasureRule.tag": "short label in subject lines, e.g. `AM-V`",
    "MeasureRule.window_start": "first day on which a contact fulfils it (none: no window)",
    "MeasureRule.due": "the due date",
    "MeasureRule.kind": "the obligation's kind",
    "MeasureRule.when": "conditions on the measure",
    "MeasureCondition.qualifying": "the measure is qualifying (true) or not (false)",
    "MeasureCondition.lasts_less_than": "E < start + n - 1 day",
    "DateSpec.from": "the base date: a case field, or the measure's `start`, `end` (effective end), "
    "`completion` (completion date when later than the end, else the end) or `last_third` "
    "(start of the measure's last third)",
    "DateSpec.plus": "signed offset added to the base: `-3M`, `14D`, `1W`",
    "DateSpec.working_days_after": "then take the n-th working day after that date",
    "DateSpec.latest_of": "the latest of these dates",
    "DateSpec.earliest_of": "the earliest of these dates",
}


class GenerateError(Exception):
    """Something the generator cannot document (e.g. an undescribed setting)."""


# --- settings ---------------------------------------------------------------------------------


def _members(annotation: Any) -> list[Any]:
    """The members of a type: `X | None` -> [X, NoneType]; `Annotated[X, ...]` -> [X] (its
    constraints are said in the description); other annotations as they are."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return list(typing.get_args(annotation))
    return [annotation]


def _type_name(annotation: Any) -> str:
    """A reader's name for a settings type."""
    from pydantic import SecretStr

    names = []
    for member in _members(annotation):
        origin = typing.get_origin(member)
        if member is type(None):
            continue
        if origin is typing.Literal:
            names.append(" \\| ".join(f"`{json.dumps(a)}`" for a in typing.get_args(member)))
        elif origin is dict:
            key, value = typing.get_args(member)
            names.append(f"table ({_type_name(key)} → {_type_name(value)})")
        elif origin is list:
            names.append(f"list of {_type_name(typing.get_args(member)[0])}")
        elif member is SecretStr:
            names.append("secret text")
        elif member is str:
            names.append("text")
        elif member is bool:
            names.append("boolean")
        elif member is int:
            names.append("integer")
        elif member is float:
            names.append("number")
        elif isinstance(member, type) and issubclass(member, Path):
            names.append("path")
        elif isinstance(member, type):
            names.append("table")
        else:
            names.append(str(member))
    text = " or ".join(names)
    if type(None) in _members(annotation):
        text += " (optional)"
    return text


def _default(info: Any) -> str:
    """The default as TOML would spell it; `—` for a required key."""
    from pydantic_core import PydanticUndefined

    if info.is_required():
        return "required"
    value = info.default
    if value is PydanticUndefined and info.default_factory is not None:
        value = info.default_factory()
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, dict | list):
        return f"`{json.dumps(value)}`"
    if isinstance(value, Path | str):
        return f'`"{value}"`'
    if isinstance(value, int | float):
        return f"`{value}`"
    return "(a table)"


def _constraints(info: Any) -> str:
    """Bounds from the field's metadata, e.g. `> 0`, `0 – 1`."""
    parts = []
    for item in info.metadata:
        for attr, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            value = getattr(item, attr, None)
            if value is not None:
                parts.append(f"{sign} {value}")
    return ", ".join(parts)


def _submodel(annotation: Any) -> type | None:
    from pydantic import BaseModel

    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def setting_rows(model: type | None = None, prefix: str = "") -> Iterator[tuple[str, str, str, str]]:
    """(dotted key, type, default, description) for every key of the settings model, in the
    model's order. A table (a nested model) is listed, then its keys; every one needs a
    description, from the model or from SETTING_DESCRIPTIONS."""
    if model is None:
        from kontaktsync.sync.config.models import Settings

        model = Settings
    for name, info in model.model_fields.items():
        dotted = f"{prefix}{name}"
        description = info.description or SETTING_DESCRIPTIONS.get(dotted)
        if not description:
            raise GenerateError(
                f"setting {dotted} has no description: give it Field(description=...) in "
                "sync/config/models.py, or add it to SETTING_DESCRIPTIONS in docs/generate.py"
            )
        sub = _submodel(info.annotation)
        if sub is not None:
            optional = " (optional)" if type(None) in _members(info.annotation) else ""
            yield dotted, f"table{optional}", "required" if info.is_required() else "", description
            yield from setting_rows(sub, dotted + ".")
            continue
        bounds = _constraints(info)
        kind = _type_name(info.annotation) + (f", {bounds}" if bounds else "")
        yield dotted, kind, _default(info), description


def setting_keys() -> list[str]:
    """Every dotted key a configuration can set (tables included)."""
    return [row[0] for row in setting_rows()]


def _cell(text: str) -> str:
    """Text fit for one Markdown table cell: one line, pipes escaped."""
    return re.sub(r"(?<!\\)\|", r"\\|", " ".join(text.split()))


def render_settings() -> str:
    lines = [
        "| key | type | default | description |",
        "|---|---|---|---|",
    ]
    for dotted, kind, default, description in setting_rows():
        lines.append(f"| `{dotted}` | {kind} | {default} | {_cell(description)} |")
    return "\n".join(lines) + "\n"


# --- policy schema ----------------------------------------------------------------------------


def _schema_type(prop: dict[str, Any]) -> str:
    """A reader's name for a JSON Schema property."""
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in prop:
        parts = [_schema_type(p) for p in prop["anyOf"] if p.get("type") != "null"]
        return " or ".join(parts)
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    kind = prop.get("type")
    if kind == "array":
        return f"list of {_schema_type(prop.get('items', {}))}"
    if kind == "object":
        extra = prop.get("additionalProperties")
        if isinstance(extra, dict):
            return f"mapping of name → {_schema_type(extra)}"
        return "mapping"
    words = {"string": "text", "integer": "integer", "boolean": "boolean", "number": "number"}
    text = words.get(kind, kind or "any")
    bounds = []
    for key, sign in (("minimum", "≥"), ("maximum", "≤")):
        if key in prop:
            bounds.append(f"{sign} {prop[key]}")
    if "pattern" in prop:
        bounds.append(f"pattern `{prop['pattern']}`")
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _schema_bounds(prop: dict[str, Any]) -> dict[str, Any]:
    """Numeric bounds may sit on the non-null member of an anyOf."""
    for p in prop.get("anyOf", []):
        if p.get("type") not in (None, "null"):
            return p
    return prop


def _schema_default(prop: dict[str, Any], required: bool) -> str:
    if required:
        return "required"
    if "default" not in prop:
        return "—"
    value = prop["default"]
    if value is None:
        return "—"
    if isinstance(value, dict) and not any(value.values()):
        return "`{}`"
    text = json.dumps(value, ensure_ascii=False)
    return f"`{text}`" if len(text) <= 40 else "see the schema"


def _definition_table(name: str, definition: dict[str, Any], notes_key: str) -> list[str]:
    lines = [f"### {name}", ""]
    if definition.get("description"):
        lines += [" ".join(definition["description"].split()), ""]
    if "enum" in definition:
        lines += ["One of: " + ", ".join(f"`{v}`" for v in definition["enum"]) + ".", ""]
        return lines
    required = set(definition.get("required", []))
    lines += ["| field | type | default | meaning |", "|---|---|---|---|"]
    for field, prop in definition.get("properties", {}).items():
        kind = _schema_type(prop)
        if "anyOf" in prop:
            bounded = _schema_bounds(prop)
            extra = [f"{s} {bounded[k]}" for k, s in (("minimum", "≥"), ("maximum", "≤")) if k in bounded]
            if extra and "(" not in kind:
                kind += f" ({', '.join(extra)})"
        meaning = prop.get("description") or POLICY_NOTES.get(f"{notes_key}.{field}", "")
        meaning = " ".join(meaning.split())
        default = _schema_default(prop, field in required)
        lines.append(f"| `{field}` | {kind} | {default} | {_cell(meaning) or '—'} |")
    lines.append("")
    return lines


def render_policy_schema(schema_path: Path = SCHEMA) -> str:
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    lines = _definition_table("Policy", schema, "Policy")
    lines[0] = "### Policy (the top level of the file)"
    definitions = schema.get("$defs", {})
    # Objects first, in the order a reader meets them; the value lists after them.
    order = ["ContactRule", "Condition", "AgeRange", "MeasureRule", "MeasureCondition", "CaseRule"]
    order += ["DateSpec", "Region", "Office", "TalkMinutes", "OpeningHours"]
    order += sorted(n for n in definitions if n not in order)
    for name in order:
        if name in definitions:
            lines += _definition_table(name, definitions[name], name)
    return "\n".join(lines).rstrip("\n") + "\n"


# --- the blocks -------------------------------------------------------------------------------

RENDERERS: dict[str, Callable[[], str]] = {
    "settings": render_settings,
    "policy-schema": render_policy_schema,
}


def regenerate(text: str, source: str = "?") -> str:
    """`text` with every generated block rewritten; an unknown block name is an error."""

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        renderer = RENDERERS.get(name)
        if renderer is None:
            known = ", ".join(sorted(RENDERERS))
            raise GenerateError(f"{source}: unknown generated block '{name}' (known: {known})")
        return f"{match.group('open')}\n{renderer()}\n{match.group('close')}"

    return BLOCK.sub(replace, text)


def stale_files(docs: Path = DOCS, write: bool = False) -> list[Path]:
    """The Markdown files under `docs` whose generated blocks are not current; rewritten when
    `write` is true."""
    stale = []
    for path in sorted(docs.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        new = regenerate(text, path.name)
        if new != text:
            stale.append(path)
            if write:
                path.write_text(new, encoding="utf-8")
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a block is stale")
    parser.add_argument("--docs", type=Path, default=DOCS, help="folder of the Markdown files")
    args = parser.parse_args(argv)
    try:
        stale = stale_files(args.docs, write=not args.check)
    except GenerateError as exc:
        print(f"docs/generate.py: {exc}", file=sys.stderr)
        return 2
    for path in stale:
        verb = "is stale" if args.check else "rewritten"
        print(f"{path}: {verb}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
