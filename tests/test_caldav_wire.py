"""On the wire: credentials go with the first request, every HTTP exchange is counted, and a
connection the server closed before answering costs no retry (issue 13)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from kontaktsync.sync.core.runner import run_sync
from pydantic import SecretStr

from tests.builders import AS_OF, caseload, rewrite_csv
from tests.configs import settings_for
from tests.faultproxy import FaultProxy, Seen
from tests.servers import DavServer, start_radicale, stop

PASSWORD = "Draht-5e1c-Passwort"


@pytest.fixture
def locked_radicale(tmp_path: Path):
    server = start_radicale(tmp_path / "radicale", users={"sync": PASSWORD})
    yield server
    stop(server)


def _settings(url: str, tmp: Path, auth: str):
    settings = settings_for(url, tmp, caseload(tmp / "src"), namespace=f"wire-{auth}")
    assert settings.target.caldav is not None
    settings.target.caldav.username = "sync"
    settings.target.caldav.password = SecretStr(PASSWORD)
    settings.target.caldav.auth = auth  # type: ignore[assignment]
    return settings


def test_basic_credentials_go_up_front_and_every_exchange_is_counted(
    locked_radicale: DavServer, tmp_path: Path
) -> None:
    """With `auth = "basic"` (the default) no request goes out without credentials, so no
    401 round trip is paid; with `auto` the server's 401s are paid and counted too."""
    with FaultProxy(locked_radicale.url) as proxy:
        report = run_sync(_settings(proxy.url, tmp_path / "basic", "basic"), as_of=AS_OF)
        assert report.failed == 0 and report.created > 0, report.errors
        bare = [s for s in proxy.seen if "Authorization" not in s.headers]
        assert bare == [], [(s.method, s.path) for s in bare]
        assert report.requests == proxy.count()

        proxy.reset()
        auto = run_sync(_settings(proxy.url, tmp_path / "auto", "auto"), as_of=AS_OF)
        assert auto.failed == 0 and auto.created > 0, auto.errors
        assert any("Authorization" not in s.headers for s in proxy.seen)  # the 401 legs
        assert auto.requests == proxy.count()


def test_a_connection_closed_before_the_answer_is_sent_again_at_once(
    dav_server: DavServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The server drops every fifth request's connection without answering (what SOGo's
    closing connections look like to a client that reused one). Each such request is sent
    again at once on a fresh connection: no back-off, no attempt of the retry policy used up,
    nothing failed, and the dropped sends are counted among the requests."""
    dropped: set[tuple[str, str, bytes]] = set()

    def drop_every_fifth(seen: Seen) -> str | None:
        key = (seen.method, seen.path, seen.body)
        if seen.n % 5 == 0 and key not in dropped:
            dropped.add(key)
            return "drop"
        return None

    caplog.set_level(logging.DEBUG, logger="kontaktsync")
    with FaultProxy(dav_server.url) as proxy:
        proxy.fault = drop_every_fifth
        settings = settings_for(proxy.url, tmp_path, caseload(tmp_path / "src"))
        report = run_sync(settings, as_of=AS_OF)
        seen = proxy.count()
    assert report.failed == 0 and report.created > 0, report.errors
    assert len(dropped) >= 5
    retried = [r.getMessage() for r in caplog.records if r.name.endswith("targets.retry")]
    assert retried == []
    assert sum("sent again" in r.getMessage() for r in caplog.records) == len(dropped)
    assert report.requests == seen


def test_a_server_is_probed_once_not_at_every_run(radicale_server: DavServer, tmp_path: Path) -> None:
    """The daemon makes a new target every run: what the server honours is still learnt once
    (a probe item written and removed in a counsellor's calendar), not at every run."""
    src = caseload(tmp_path / "src")
    with FaultProxy(radicale_server.url) as proxy:
        settings = settings_for(proxy.url, tmp_path, src)
        for n in range(3):
            if n:  # a case leaves, so that each run writes
                first = next(iter(rewrite_csv(src / "cases.csv", lambda row: True)))
                rewrite_csv(src / "cases.csv", lambda row, gone=first: row["case_id"] != gone)
            report = run_sync(settings, as_of=AS_OF)
            assert report.failed == 0 and report.created + report.deleted + report.completed > 0
        probes = [s for s in proxy.seen if "probe-" in s.path and s.method == "PUT"]
    assert len({s.path for s in probes}) == 1, [s.path for s in probes]
