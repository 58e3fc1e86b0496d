"""The user's documentation (docs/, built with MkDocs) stays complete, current and self-contained.

- the blocks generated from the code (settings table, policy schema reference) are current:
  running `python docs/generate.py` would change nothing;
- `mkdocs build --strict` passes (every link and anchor resolves, every page is in the nav);
- no page and not the README points outside the project;
- every configuration key and every object of the policy format is documented.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import types
import typing
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import BaseModel, Field

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GENERATOR = DOCS / "generate.py"
PAGES = (
    "index.md",
    "caseload.md",
    "policies.md",
    "counsellor.md",
    "guarantees.md",
    "operations.md",
    "faq.md",
)


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", GENERATOR)
    assert spec is not None and spec.loader is not None, f"{GENERATOR} cannot be loaded"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_generator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATOR), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_generated_blocks_are_current() -> None:
    """Running the generator changes nothing; if this fails, run `python docs/generate.py`."""
    result = _run_generator("--check")
    assert result.returncode == 0, (
        f"generated blocks are stale, run `python docs/generate.py`:\n{result.stdout}{result.stderr}"
    )
    for page, block in (("operations.md", "settings"), ("policies.md", "policy-schema")):
        text = (DOCS / page).read_text(encoding="utf-8")
        assert f"<!-- generated: {block} -->" in text, f"docs/{page} lost its generated block {block}"
        # every type in words a reader knows, never Python's spelling of it
        spelled = re.findall(r"typing\.\w+|FieldInfo|<class '[^']*'>|NoneType", text)
        assert not spelled, f"docs/{page} shows Python types: {spelled}"


def test_generator_rewrites_a_stale_block_and_check_reports_it(tmp_path: Path) -> None:
    """The check above can fail: an emptied block is reported, then rewritten to the current text."""
    docs = tmp_path / "docs"
    docs.mkdir()
    current = (DOCS / "operations.md").read_text(encoding="utf-8")
    stale = re.sub(
        r"(<!-- generated: settings -->\n).*?(<!-- end generated -->)",
        r"\1| key |\n\2",
        current,
        flags=re.DOTALL,
    )
    assert stale != current
    (docs / "operations.md").write_text(stale, encoding="utf-8")

    checked = _run_generator("--check", "--docs", str(docs))
    assert checked.returncode == 1
    assert "operations.md: is stale" in checked.stdout
    assert (docs / "operations.md").read_text(encoding="utf-8") == stale  # --check writes nothing

    written = _run_generator("--docs", str(docs))
    assert written.returncode == 0, written.stderr
    assert (docs / "operations.md").read_text(encoding="utf-8") == current


def test_generator_refuses_unknown_blocks_and_undescribed_settings(tmp_path: Path) -> None:
    gen = _generator()
    (tmp_path / "x.md").write_text("<!-- generated: nonsense -->\n<!-- end generated -->\n", encoding="utf-8")
    result = _run_generator("--docs", str(tmp_path))
    assert result.returncode == 2
    assert "unknown generated block 'nonsense'" in result.stderr

    class Inner(BaseModel):
        described: int = Field(default=1, description="has one")
        bare: int = 2

    class Outer(BaseModel):
        section: Inner = Field(default_factory=Inner, description="a described table")

    with pytest.raises(gen.GenerateError, match=r"setting section\.bare has no description"):
        list(gen.setting_rows(Outer))


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.fail("mkdocs is not installed: install the test extra, `pip install -e '.[test]'`")
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}{result.stderr}"
    for page in PAGES:
        built = site / ("index.html" if page == "index.md" else f"{page[:-3]}/index.html")
        assert built.is_file(), f"{page} was not built ({built} missing)"
    faq = (site / "faq" / "index.html").read_text(encoding="utf-8")
    assert "caseload unreadable" in faq
    assert not (site / "generate.py").exists(), "the generator must not be published with the site"


def _documents() -> list[Path]:
    return [ROOT / "README.md", ROOT / "mkdocs.yml", *sorted(DOCS.glob("*.md"))]


def test_docs_and_readme_stay_inside_the_project() -> None:
    offenders = []
    for path in _documents():
        text = path.read_text(encoding="utf-8")
        for needle in ("../shared", "shared/spec"):
            for match in re.finditer(re.escape(needle), text):
                line = text.count("\n", 0, match.start()) + 1
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {needle}")
    assert offenders == []


def test_readme_lists_every_page_and_its_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Documentation" in readme
    for page in PAGES:
        assert f"docs/{page}" in readme, f"README.md does not link docs/{page}"
    for target in re.findall(r"\]\((docs/[^)#]+)(?:#[^)]*)?\)", readme):
        assert (ROOT / target).is_file(), f"README.md links {target}, which does not exist"


def _setting_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every dotted key of the settings model, walked here independently of the generator."""
    keys = []
    for name, info in model.model_fields.items():
        dotted = prefix + name
        keys.append(dotted)
        annotation = info.annotation
        members = (
            typing.get_args(annotation)
            if typing.get_origin(annotation) in (typing.Union, types.UnionType)
            else (annotation,)
        )
        for member in members:
            if isinstance(member, type) and issubclass(member, BaseModel):
                keys.extend(_setting_keys(member, dotted + "."))
    return keys


def test_every_settings_key_is_documented_in_operations() -> None:
    from kontaktsync.sync.config.models import Settings

    text = (DOCS / "operations.md").read_text(encoding="utf-8")
    keys = _setting_keys(Settings)
    assert "target.caldav.deadline_seconds" in keys  # the walk reaches nested, optional tables
    missing = [k for k in keys if f"`{k}`" not in text]
    assert missing == [], f"settings not in docs/operations.md (run python docs/generate.py): {missing}"


def test_every_part_of_the_policy_format_is_in_the_reference() -> None:
    schema = json.loads((ROOT / "rules" / "policy.schema.json").read_text(encoding="utf-8"))
    text = (DOCS / "policies.md").read_text(encoding="utf-8")
    reference = text.split("## Reference", 1)[1]
    for name, definition in schema["$defs"].items():
        assert re.search(rf"^### {name}\b", reference, re.MULTILINE), f"{name} has no section"
        for field in definition.get("properties", {}):
            assert f"| `{field}` |" in reference, f"{name}.{field} is not in the reference"
    for field in schema["properties"]:
        assert f"| `{field}` |" in reference, f"Policy.{field} is not in the reference"


def _kontaktsync(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("kontaktsync", path=str(Path(sys.executable).parent))
    assert exe, "the kontaktsync command is not installed: pip install -e '.[test]'"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)


def test_worked_policy_example_is_valid(tmp_path: Path) -> None:
    """The worked example of docs/policies.md, done with the real CLI: copy, edit, check."""
    shown = _kontaktsync("policies", "show", "coburg-2016")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "id: coburg-2016\n" in text, "the worked example no longer matches coburg-2016"
    text = text.replace("id: coburg-2016\n", "id: jc-beispielstadt\n")
    rule = text.index("  - id: 2mm-ue25-marktnah\n")
    interval = text.index("interval: 2M", rule)
    text = text[:interval] + "interval: 6W" + text[interval + len("interval: 2M") :]
    mine = tmp_path / "jc-beispielstadt.yaml"
    mine.write_text(text, encoding="utf-8")

    checked = _kontaktsync("policies", "check", str(mine))
    assert checked.returncode == 0, checked.stderr
    assert "valid policy 'jc-beispielstadt' with 7 contact" in checked.stdout

    planned = _kontaktsync(
        "plan", "--policy", str(mine), "--cases", str(ROOT / "sync" / "examples"), "--as-of", "2026-11-22"
    )
    assert planned.returncode == 0, planned.stderr
    tags = {(o["tag"], o["rule"]) for o in json.loads(planned.stdout)["obligations"]}
    assert ("6WM", "jc-beispielstadt/2mm-ue25-marktnah") in tags
    assert not any(rule == "jc-beispielstadt/2mm-ue25-marktnah" and tag == "2MM" for tag, rule in tags)

    mine.write_text(text.replace("interval: 6W", "interval: 6 Wochen"), encoding="utf-8")
    broken = _kontaktsync("policies", "check", str(mine))
    assert broken.returncode == 2
    message = " ".join(broken.stderr.split())
    expected = "contact rule 6 (id 2mm-ue25-marktnah), interval: '6 Wochen' is not a duration"
    assert expected in message
    doc = (DOCS / "policies.md").read_text(encoding="utf-8")
    assert expected in doc


def test_the_minimal_configuration_in_operations_is_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first TOML example of docs/operations.md loads as it is, with no other source."""
    from kontaktsync.sync.config.loading import load_settings

    text = (DOCS / "operations.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(.*?)```", text, re.DOTALL)
    assert example, "docs/operations.md lost its configuration example"
    config = tmp_path / "kontaktsync.toml"
    config.write_text(example.group(1), encoding="utf-8")
    for name in [n for n in os.environ if n.upper().startswith("KONTAKTSYNC_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    settings = load_settings(config, secrets_dir=tmp_path / "no-secrets", env_file=tmp_path / "no.env")
    assert settings.target.kind == "caldav"
    assert settings.target.caldav is not None and "{counsellor}" in settings.target.caldav.url
    assert settings.sync.namespace == "jc-beispielstadt"
