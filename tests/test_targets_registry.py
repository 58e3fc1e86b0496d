"""The lazy target registry (targets/registry.py): each kind names a class that implements
the whole Target protocol, and making a CalDAV target never imports exchangelib."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.targets import registry
from kontaktsync.sync.targets.base import Target, TargetError, make_target
from kontaktsync.sync.targets.memory import MemTarget

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = [n for n in dir(Target) if not n.startswith("_")] + list(Target.__annotations__)


@pytest.mark.parametrize("kind", registry.kinds())
def test_every_registered_kind_implements_the_protocol(kind: str) -> None:
    cls = registry.target_class(kind)
    assert cls.kind == kind
    missing = [name for name in PROTOCOL if not hasattr(cls, name)]
    assert not missing, f"{cls.__name__} lacks {missing}"


def test_the_memory_target_implements_the_protocol_too() -> None:
    assert not [name for name in PROTOCOL if not hasattr(MemTarget, name)]


def test_an_unknown_kind_names_the_known_ones() -> None:
    settings = Settings(
        source={"cases": Path("cases.csv")},
        target={"kind": "caldav", "caldav": {"url": "http://127.0.0.1:1/{counsellor}/k/"}},
    )
    settings.target.kind = "carddav"  # type: ignore[assignment]
    with pytest.raises(TargetError, match=r"unknown target kind 'carddav' \(known: caldav, exchange\)"):
        make_target(settings)


def test_a_caldav_target_does_not_import_exchangelib() -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from kontaktsync.sync.config.models import Settings\n"
        "from kontaktsync.sync.targets.base import make_target\n"
        "s = Settings(source={'cases': Path('c.csv')}, target={'kind': 'caldav', 'caldav': "
        "{'url': 'http://127.0.0.1:1/{counsellor}/k/'}})\n"
        "t = make_target(s); t.close()\n"
        "print(type(t).__name__, 'exchangelib' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["CalDAVTarget", "False"]
