"""`Target.probe`, what `kontaktsync config check` prints per calendar, against a real
Radicale: read-only, one request per calendar, clear messages, no credentials."""

from __future__ import annotations

from pathlib import Path

from kontaktsync.sync.targets.caldav.target import CalDAVTarget
from pydantic import SecretStr

from tests.builders import caseload
from tests.calendars import make_calendar, request
from tests.configs import settings_for
from tests.servers import start_radicale, stop

PASSWORD = "pr0be-secret"


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file() and ".Radicale.cache" not in p.parts}


def test_caldav_probe_says_what_is_there_and_writes_nothing(tmp_path: Path) -> None:
    server = start_radicale(tmp_path / "radicale")
    try:
        make_calendar(server.calendar_url("anna"))
        assert request(server.url + "carl/", "MKCOL")[0] == 201  # a plain collection, no calendar
        before = _files(server.folder / "collections")
        settings = settings_for(server.url, tmp_path, caseload(tmp_path / "src"))
        assert settings.target.caldav is not None
        settings.target.caldav.calendars = {"carl": server.url + "carl/"}
        target = CalDAVTarget(settings)
        try:
            anna, bernd, carl, server_itself = (target.probe(c) for c in ("anna", "bernd", "carl", None))
            assert target.requests == 4
        finally:
            target.close()
        assert _files(server.folder / "collections") == before
    finally:
        stop(server)
    assert anna.ok and anna.label == "anna" and anna.detail.startswith("calendar") and "VTODO" in anna.detail
    assert anna.address == server.calendar_url("anna")
    assert bernd.ok and bernd.detail == "not there yet; will be created at the first sync"
    assert not carl.ok and carl.detail == "exists but is not a calendar collection"
    assert server_itself.label == "(server)" and server_itself.address == server.url


def test_caldav_probe_without_create_calendars_fails_a_missing_calendar(tmp_path: Path) -> None:
    server = start_radicale(tmp_path / "radicale")
    try:
        settings = settings_for(server.url, tmp_path, caseload(tmp_path / "src"))
        assert settings.target.caldav is not None
        settings.target.caldav.create_calendars = False
        target = CalDAVTarget(settings)
        try:
            missing = target.probe("bernd")
        finally:
            target.close()
    finally:
        stop(server)
    assert not missing.ok and "create_calendars = true" in missing.detail


def test_caldav_probe_reports_refused_credentials_and_hostile_names(tmp_path: Path) -> None:
    server = start_radicale(tmp_path / "radicale", users={"svc": PASSWORD})
    try:
        settings = settings_for(server.url, tmp_path, caseload(tmp_path / "src"))
        assert settings.target.caldav is not None
        settings.target.caldav.username = "svc"
        settings.target.caldav.password = SecretStr("wrong-" + PASSWORD)
        target = CalDAVTarget(settings)
        try:
            refused = target.probe("anna")
            hostile = target.probe("../../etc")
            requests = target.requests
        finally:
            target.close()
    finally:
        stop(server)
    assert not refused.ok and refused.detail.startswith("HTTP 401: access refused")
    assert "target.caldav.username" in refused.detail and PASSWORD not in repr(refused)
    assert not hostile.ok and hostile.address == "" and requests == 1  # refused before any request


def test_caldav_probe_of_a_dead_port_says_unreachable(tmp_path: Path) -> None:
    settings = settings_for("http://127.0.0.1:9/", tmp_path, caseload(tmp_path / "src"), retries=3)
    target = CalDAVTarget(settings)
    try:
        dead = target.probe("anna")
        assert target.requests == 1  # one attempt: a probe does not retry
    finally:
        target.close()
    assert not dead.ok and dead.detail.startswith("unreachable (") and "target.caldav.url" in dead.detail
