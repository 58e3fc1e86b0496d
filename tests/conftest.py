"""Session-wide fixtures: every real server of the tests is started once per session.

Radicale and Xandikos (tests/servers.py) and the production servers Cyrus, DAViCal and SOGo
(tests/realservers) run for the whole session; the fake EWS server (`fake_ews`) is cheap and
per test. Tests stay independent all the same: each test sees Radicale and Xandikos under a
path prefix of its own (`radicale_server`, `xandikos_server`, `dav_server`), so no test can see
another's calendars. A test that stops a server or needs
passwords starts its own with `tests.servers.start_radicale`.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_ews import SERVICE_PASSWORD, SERVICE_USER, FakeEWS
from tests.realservers import RealServer, start_cyrus, start_davical, start_sogo
from tests.servers import DavServer, start_radicale, start_xandikos, stop

_PREFIXES = itertools.count(1)


def _own_prefix(request: pytest.FixtureRequest) -> str:
    """A path segment no other test of this session uses (readable in server logs)."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:40].strip("-")
    return f"t{next(_PREFIXES)}-{name}"


@pytest.fixture(scope="session")
def radicale_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    folder = tmp_path_factory.mktemp("radicale")
    server = start_radicale(folder)
    yield server
    stop(server)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def xandikos_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    folder = tmp_path_factory.mktemp("xandikos")
    server = start_xandikos(folder)
    yield server
    stop(server)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def radicale_server(radicale_session: DavServer, request: pytest.FixtureRequest) -> DavServer:
    """The session's Radicale, seen from a path prefix of this test's own."""
    return radicale_session.under(_own_prefix(request))


@pytest.fixture
def xandikos_server(xandikos_session: DavServer, request: pytest.FixtureRequest) -> DavServer:
    """The session's Xandikos, seen from a path prefix of this test's own."""
    return xandikos_session.under(_own_prefix(request))


@pytest.fixture(params=["radicale", "xandikos"])
def dav_server(request: pytest.FixtureRequest) -> DavServer:
    """One test per server (Radicale, Xandikos), each under a path prefix of this test's own."""
    session: DavServer = request.getfixturevalue(f"{request.param}_session")
    return session.under(_own_prefix(request))


@pytest.fixture
def fake_ews() -> Iterator[FakeEWS]:
    """A started fake EWS server (tests/fake_ews) with the service account, one per test."""
    with FakeEWS({SERVICE_USER: SERVICE_PASSWORD}) as fake:
        yield fake


@pytest.fixture(scope="session")
def cyrus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    server = start_cyrus(tmp_path_factory.mktemp("cyrus"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def davical_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    server = start_davical(tmp_path_factory.mktemp("davical"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sogo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    server = start_sogo(tmp_path_factory.mktemp("sogo"))
    yield server
    server.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Every run says when the live Exchange tests did not run (tests/test_exchange_live.py)."""
    from tests.exchange_helpers import LIVE, NOT_RUN

    if not LIVE:
        terminalreporter.write_sep("!", NOT_RUN)


@pytest.fixture(autouse=True)
def _servers_probed_anew() -> None:
    """What a process learned about a CalDAV server's conditional writes is kept for a day
    (targets/caldav/guard.py); each test starts as a fresh process would."""
    from kontaktsync.sync.targets.caldav.guard import forget_preconditions

    forget_preconditions()


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No KONTAKTSYNC_* from outside, no /run/secrets, cwd in a tmp folder (so ./.env is its)."""
    for name in list(os.environ):
        if name.startswith("KONTAKTSYNC_") or name == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(name)
    monkeypatch.setenv("KONTAKTSYNC_SECRETS_DIR", str(tmp_path / "no-secrets"))
    monkeypatch.chdir(tmp_path)
    return tmp_path
