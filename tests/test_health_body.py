"""What /healthz says about failed runs, and the one-line reason it gives (no secrets, no names)."""

from __future__ import annotations

from types import SimpleNamespace

from kontaktsync.sync.service.exit_codes import ExitCode, for_outcome
from kontaktsync.sync.service.logs import SecretMaskFilter
from kontaktsync.sync.service.observability import Health, failure_reason

SECRET = "Sehr-Geheim-1234"


def test_a_failed_run_is_shown_with_its_reason_masked_and_cleared_by_a_success() -> None:
    h = Health(healthy_within_s=60, started=1000.0, mask=SecretMaskFilter([SECRET]).mask)
    h.record("success", now=1000.0)
    h.record("failed", now=1010.0, reason=f"ConnectionError: http://svc:{SECRET}@dav.invalid/")
    ok, body = h.status(now=1020.0)
    assert ok and body["last_run_failed"] is True  # still within the window: 200, but said
    assert SECRET not in str(body) and "ConnectionError" in body["last_failure"]
    h.record("skipped_locked", now=1030.0)  # a skipped run neither fails nor clears
    ok, body = h.status(now=1100.0)
    assert not ok and body["last_run_failed"] is False and "ConnectionError" in body["last_failure"]
    h.record("partial", now=1110.0)
    ok, body = h.status(now=1110.0)
    assert ok and body["last_failure"] is None and body["last_success"] is not None


def test_refused_runs_count_as_failed_on_healthz() -> None:
    h = Health(healthy_within_s=60, started=0.0)
    h.record("refused", now=10.0, reason="refused by the mass-delete guard: anna: 9 of 10")
    body = h.status(now=100.0)[1]
    assert body["status"] == "stale" and body["last_run_failed"] is True
    assert "mass-delete" in body["last_failure"]


def test_the_reason_names_unreachable_calendars_with_their_first_error() -> None:
    report = SimpleNamespace(
        unreachable=["c", "a", "d", "b"],
        failed=9,
        errors=["cases.csv, row 3, column x: bad", "a, row 3: b", "c: PROPFIND /c/: connection failed"],
    )
    reason = failure_reason(report)
    assert reason.startswith("4 calendar(s) could not be reached: a, b, c and 1 more")
    assert reason.endswith("(c: PROPFIND /c/: connection failed)")


def test_the_reason_for_nothing_written_leaves_item_summaries_out() -> None:
    report = SimpleNamespace(unreachable=[], failed=2, errors=["anna: Erika Mustermann 2MM: HTTP 503"])
    reason = failure_reason(report)
    assert "2 items failed" in reason and "Mustermann" not in reason


def test_one_exit_code_per_outcome() -> None:
    assert [for_outcome(o) for o in ("success", "partial", "failed")] == [0, 1, 5]
    assert list(ExitCode) == [0, 1, 2, 3, 4, 5]


def test_rows_rejected_per_file_go_back_to_zero_when_fixed() -> None:
    from kontaktsync.sync.service.observability import Metrics

    m = Metrics()
    m.record_rows_rejected({"cases.csv": 2, "contacts.csv": 1})
    text = m.render().decode()
    assert 'kontaktsync_rows_rejected{file="cases.csv"} 2.0' in text
    m.record_rows_rejected({"contacts.csv": 3})
    text = m.render().decode()
    assert 'kontaktsync_rows_rejected{file="cases.csv"} 0.0' in text
    assert 'kontaktsync_rows_rejected{file="contacts.csv"} 3.0' in text
