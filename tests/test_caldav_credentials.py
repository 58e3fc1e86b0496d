"""Credentials: used, and never shown (not in errors, output or calendar items)."""

from __future__ import annotations

from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.core.runner import run_sync

from tests.builders import AS_OF, caseload
from tests.calendars import read_calendar
from tests.cli import run_cli
from tests.configs import write_settings as write_config
from tests.servers import start_radicale, stop

PASSWORD = "Geheim-7f3a-Passwort"
WRONG = "Falsch-91c2-Passwort"


def _settings(url: str, tmp, src, password: str) -> Settings:
    return Settings(
        source={
            "cases": src / "cases.csv",
            "measures": src / "measures.csv",
            "contacts": src / "contacts.csv",
        },
        target={
            "kind": "caldav",
            "caldav": {"url": url + "{counsellor}/kontaktdichte/", "username": "sync", "password": password},
        },
        sync={"state_path": tmp / "state.sqlite3", "retry_backoff_seconds": 0.01},
    )


def test_credentials_are_used_and_never_shown(tmp_path):
    server = start_radicale(tmp_path / "radicale", users={"sync": PASSWORD})
    try:
        src = caseload(tmp_path / "src")
        wrong = run_sync(_settings(server.url, tmp_path / "w", src, WRONG), as_of=AS_OF)
        assert wrong.created == 0 and wrong.failed == wrong.obligations_due
        assert any("refused the credentials" in e for e in wrong.errors)
        assert not any(WRONG in e or PASSWORD in e for e in wrong.errors)

        good = _settings(server.url, tmp_path, src, PASSWORD)
        report = run_sync(good, as_of=AS_OF)
        assert report.failed == 0 and report.created == report.obligations_due
        # the CLI with the password from the environment, as a deployment would pass it
        config = write_config(good, tmp_path / "kontaktsync.toml")
        out = run_cli(
            ["sync", "--config", str(config), "--as-of", AS_OF.isoformat()],
            tmp_path,
            {"KONTAKTSYNC_TARGET__CALDAV__USERNAME": "sync", "KONTAKTSYNC_TARGET__CALDAV__PASSWORD": WRONG},
        )
        assert out.returncode == 5 and "refused the credentials" in out.stderr  # outage exit
        assert WRONG not in out.stdout + out.stderr
        # nor do the items: read them back as the counsellor's client would
        who = sorted(report.per_calendar)[0]
        everything = b"".join(read_calendar(f"{server.url}{who}/kontaktdichte/", ("sync", PASSWORD)).values())
        assert b"BEGIN:VTODO" in everything and PASSWORD.encode() not in everything
    finally:
        stop(server)
