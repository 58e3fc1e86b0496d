"""The `world` fixture: every contract test runs once per target (see worlds.py).

Servers are the session's (tests/conftest.py); each test gets calendars of its own: a path
prefix on Radicale and Xandikos, a new fake EWS server, emptied calendars on the production
servers. Every target keeps every guarantee here today; a server that cannot would get an
`xfail(strict=True)` on its parameter naming what it does, never a skip (the server limits known
today are races and dotted names: tests/test_server_matrix.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.caseload import Caseload, initial_cases
from tests.contract.worlds import CalDAVWorld, ExchangeWorld, MemoryWorld, World, dav_world, real_world
from tests.fake_ews import SERVICE_PASSWORD, SERVICE_USER, FakeEWS

WORLDS = ["memory", "radicale", "xandikos", "fake-ews", "cyrus", "davical", "sogo"]
SHARING_WORLDS = [w for w in WORLDS if w != "memory"]  # MemTarget has one calendar per counsellor


def _make_world(name: str, request: pytest.FixtureRequest) -> Iterator[World]:
    if name == "memory":
        yield MemoryWorld()
    elif name in ("radicale", "xandikos"):
        yield dav_world(request.getfixturevalue(f"{name}_server"))
    elif name == "fake-ews":
        from kontaktsync.sync.targets.exchange.target import forget_accounts  # exchangelib is heavy

        forget_accounts()
        with FakeEWS({SERVICE_USER: SERVICE_PASSWORD}) as fake:
            yield ExchangeWorld(fake, SERVICE_USER, SERVICE_PASSWORD)
    else:
        world: CalDAVWorld = real_world(request.getfixturevalue(f"{name}_server"))
        yield world


@pytest.fixture(params=WORLDS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    """Each target in turn, with calendars of this test's own."""
    yield from _make_world(request.param, request)


@pytest.fixture(params=SHARING_WORLDS)
def sharing_world(request: pytest.FixtureRequest) -> Iterator[World]:
    """The targets on which two counsellors can share one calendar."""
    yield from _make_world(request.param, request)


@pytest.fixture
def caseload(tmp_path: Path) -> Caseload:
    """The starting caseload, written where `World.settings(tmp_path)` reads it."""
    load = Caseload(tmp_path / "src")
    load.write(initial_cases())
    return load
