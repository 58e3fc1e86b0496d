"""A calendar address never leaves the template's base; a mailbox is one plain address.

The caseload reader validates counsellor values as well; these tests go round it and hand
hostile values to the targets directly, and once through a whole sync against Radicale.
"""

from __future__ import annotations

import csv
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.core.runner import run_sync
from kontaktsync.sync.targets.base import TargetError
from kontaktsync.sync.targets.caldav.target import CalDAVTarget
from kontaktsync.sync.targets.exchange.target import ExchangeTarget
from kontaktsync.sync.targets.transport import calendar_url, mail_address

from tests.builders import AS_OF, caseload
from tests.calendars import read_calendar
from tests.configs import settings_for
from tests.faultproxy import FaultProxy
from tests.servers import start_radicale, stop

TEMPLATE = "https://dav.invalid/dav/{counsellor}/kontaktdichte/"
HOSTILE = [
    "../bob",
    "x/../bob",
    "bob/kontaktdichte/../../eve",
    "%2F",
    "bob%2Fkontaktdichte",
    "%2e%2e",
    "%2E%2E%2Fbob",
    "..",
    ".",
    "",
    "x\\..\\bob",
    "%252e%252e",
]


@pytest.mark.parametrize("counsellor", HOSTILE)
def test_hostile_counsellor_values_are_refused(counsellor: str) -> None:
    with pytest.raises(TargetError) as err:
        calendar_url(TEMPLATE, counsellor)
    text = str(err.value)
    assert repr(counsellor) in text and "/dav/" in text and "refused before any request" in text


@pytest.mark.parametrize(
    "counsellor", ["anna", "m.mueller", "j.müller", "a+b@team", "o'neil", "x y", "50%", "...", "a..b"]
)
def test_ordinary_counsellor_values_stay_one_segment(counsellor: str) -> None:
    url = calendar_url(TEMPLATE, counsellor)
    path = urlsplit(url).path
    assert url.startswith("https://dav.invalid/dav/") and url.endswith("/kontaktdichte/")
    segments = path.strip("/").split("/")
    assert len(segments) == 3 and unquote(segments[1]) == counsellor


def test_text_around_the_placeholder_in_its_segment() -> None:
    template = "https://dav.invalid/kd-{counsellor}/kontaktdichte/"
    assert calendar_url(template, "anna") == "https://dav.invalid/kd-anna/kontaktdichte/"
    for bad in ("x/../../eve", "%2F..", "a/b"):
        with pytest.raises(TargetError):
            calendar_url(template, bad)


def test_template_without_placeholder_is_one_shared_calendar() -> None:
    assert calendar_url("https://dav.invalid/team/kontaktdichte", "../eve") == (
        "https://dav.invalid/team/kontaktdichte/"
    )


def test_placeholder_outside_the_path_is_refused() -> None:
    with pytest.raises(TargetError, match="placeholder must be in the path"):
        calendar_url("https://{counsellor}.dav.invalid/kontaktdichte/", "anna")


@pytest.mark.parametrize(
    "counsellor",
    ["eve@evil.invalid", "a,b", "a b", "<a>", 'a"b', "a@", "", "a..b", "../x", "a\nb"],
)
def test_mailbox_must_be_one_plain_address(counsellor: str) -> None:
    with pytest.raises(TargetError) as err:
        mail_address("{counsellor}@jobcenter.invalid", counsellor)
    assert "is not an e-mail address" in str(err.value)


def test_mailbox_of_ordinary_counsellors() -> None:
    assert mail_address("{counsellor}@Jobcenter.invalid", "M.Mueller") == "m.mueller@jobcenter.invalid"
    assert mail_address("{counsellor}", "anna@jobcenter.invalid") == "anna@jobcenter.invalid"


def test_exchange_target_refuses_a_hostile_mailbox_before_any_request() -> None:
    settings = Settings(
        source={"cases": "cases.csv"},
        target={
            "kind": "exchange",
            "exchange": {
                "endpoint": "https://mail.invalid/EWS/Exchange.asmx",
                "auth": "basic",
                "username": "svc",
                "password": "pw-not-used",
                "mailbox": "{counsellor}@jobcenter.invalid",
            },
        },
    )
    target = ExchangeTarget(settings)
    with pytest.raises(TargetError, match="is not an e-mail address"):
        target.account("eve@evil.invalid")
    with pytest.raises(TargetError):
        target.list_ours("eve@evil.invalid,anna", None, {})
    assert target.requests == 0


def test_caldav_target_refuses_before_any_request(tmp_path: Path) -> None:
    server = start_radicale(tmp_path / "radicale")
    try:
        with FaultProxy(server.url) as proxy:
            settings = settings_for(proxy.url, tmp_path, tmp_path)
            target = CalDAVTarget(settings)
            try:
                for bad in HOSTILE[:6]:
                    with pytest.raises(TargetError):
                        target.create_calendar(bad)
                    with pytest.raises(TargetError):
                        target.list_ours(bad, None, {})
                target.create_calendar("anna")  # the same target still works for good values
            finally:
                target.close()
            assert [s.method for s in proxy.seen] == ["MKCALENDAR", "MKCOL", "MKCALENDAR"]
            assert all("/anna/" in s.path for s in proxy.seen)
    finally:
        stop(server)


def _retarget(src: Path, old: str, new: str) -> None:
    """Give every case of counsellor `old` the counsellor value `new`."""
    path = src / "cases.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        rows = [dict(r, counsellor=new) if r["counsellor"] == old else r for r in reader]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fields)
        writer.writeheader()
        writer.writerows(rows)


def test_sync_never_writes_into_another_counsellors_calendar(tmp_path: Path) -> None:
    """a.nowak's cases get the value `a.nowak/../k.schmidt`: a server resolving the dot
    segment would put them into k.schmidt's calendar. They must land nowhere."""
    server = start_radicale(tmp_path / "radicale")
    try:
        src = caseload(tmp_path / "src")
        first = run_sync(settings_for(server.url, tmp_path, src), as_of=AS_OF)
        assert first.failed == 0 and first.created > 0
        victim = server.calendar_url("k.schmidt")
        before = read_calendar(victim)
        assert before  # k.schmidt has items of their own

        _retarget(src, "a.nowak", "a.nowak/../k.schmidt")
        (tmp_path / "state.sqlite3").unlink()  # nothing remembered: only the address decides
        second = run_sync(settings_for(server.url, tmp_path, src), as_of=AS_OF)

        assert read_calendar(victim).keys() == before.keys()
        assert all(
            unquote(p.name) in {"a.nowak", "k.schmidt", "m.mueller", "s.yilmaz"}
            for p in (server.folder / "collections" / "collection-root").iterdir()
        )
        # Refused by the target (with the reader's own check, reported as a bad row instead).
        refused = [e for e in second.errors if "a.nowak/../k.schmidt" in e and "one path segment" in e]
        assert refused or any("counsellor" in e for e in second.errors), second.errors
    finally:
        stop(server)


def test_item_addresses_from_the_server_or_state_stay_inside_the_calendar(tmp_path: Path) -> None:
    """A listing or a state database naming an item elsewhere is refused, per item, before
    any request (the port below serves nothing: a request would fail differently)."""
    from kontaktsync.sync.targets.base import RemoteRef

    target = CalDAVTarget(settings_for("http://127.0.0.1:9/", tmp_path, tmp_path))
    try:
        base = target.address("anna")
        assert target._href_url("anna", "/anna/kontaktdichte/x.ics") == base + "x.ics"
        assert target._href_url("anna", "x.ics") == base + "x.ics"
        hostile = [
            "/bob/kontaktdichte/x.ics",
            "../../bob/kontaktdichte/x.ics",
            "/anna/kontaktdichte/sub/x.ics",
            "/anna/kontaktdichte/%2E%2E",
            "/anna/kontaktdichte/..%2F..%2Fbob%2Fkontaktdichte%2Fx.ics",
            "http://other.invalid/anna/kontaktdichte/x.ics",
            "/anna/kontaktdichte/",
        ]
        results = list(target.delete("anna", [RemoteRef(f"u{i}", h, '"e"') for i, h in enumerate(hostile)]))
        assert [r.ok for r in results] == [False] * len(hostile)
        why = "not inside the calendar /anna/kontaktdichte/; refused"
        assert all(why in (r.error or "") for r in results)
        assert target.requests == 0
    finally:
        target.close()
