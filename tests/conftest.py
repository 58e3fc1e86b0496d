"""Session-wide fixtures: the production CalDAV servers of the test matrix, each started once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.realservers import RealServer, start_cyrus, start_davical, start_sogo


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
