"""The one retry policy of the targets (targets/retry.py), with a fake sleep: how many
attempts, how long each wait, what is retried, and that both targets use it."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from exchangelib.errors import ErrorServerBusy, RateLimitError
from kontaktsync.sync.config.models import Settings
from kontaktsync.sync.targets.caldav.session import TransientFailure
from kontaktsync.sync.targets.caldav.target import CalDAVTarget
from kontaktsync.sync.targets.exchange.connection import transient
from kontaktsync.sync.targets.exchange.target import ExchangeTarget
from kontaktsync.sync.targets.retry import RetryPolicy

from tests.builders import caseload
from tests.configs import settings_for
from tests.faultproxy import FaultProxy
from tests.servers import start_radicale, stop


class Flaky:
    """Fails `failures` times with `exc`, then returns "done"; counts its calls."""

    def __init__(self, failures: int, exc: Exception) -> None:
        self.failures, self.exc, self.calls = failures, exc, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc
        return "done"


def policy(retries: int = 3, backoff: float = 1.0, **kw: object) -> tuple[RetryPolicy, list[float]]:
    slept: list[float] = []
    return RetryPolicy(retries=retries, backoff=backoff, sleep=slept.append, **kw), slept  # type: ignore[arg-type]


def is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError)


def test_waits_double_from_the_backoff_and_the_call_succeeds_in_the_end() -> None:
    retry, slept = policy(retries=3, backoff=0.5)
    fn = Flaky(3, TimeoutError("slow"))
    assert retry.call(fn, is_timeout) == "done"
    assert fn.calls == 4
    assert slept == [0.5, 1.0, 2.0]


def test_after_the_last_attempt_the_last_exception_is_raised() -> None:
    retry, slept = policy(retries=2, backoff=1.0)
    fn = Flaky(10, TimeoutError("still slow"))
    with pytest.raises(TimeoutError, match="still slow"):
        retry.call(fn, is_timeout)
    assert fn.calls == 3 == retry.attempts
    assert slept == [1.0, 2.0]


def test_what_is_not_transient_fails_at_once() -> None:
    retry, slept = policy()
    fn = Flaky(1, ValueError("bad answer"))
    with pytest.raises(ValueError, match="bad answer"):
        retry.call(fn, is_timeout)
    assert fn.calls == 1 and slept == []


def test_no_retries_means_one_attempt() -> None:
    retry, slept = policy(retries=0)
    fn = Flaky(1, TimeoutError())
    with pytest.raises(TimeoutError):
        retry.call(fn, is_timeout)
    assert fn.calls == 1 and slept == []


def test_each_wait_is_capped() -> None:
    retry, slept = policy(retries=4, backoff=4.0, cap=10.0)
    with pytest.raises(TimeoutError):
        retry.call(Flaky(9, TimeoutError()), is_timeout)
    assert slept == [4.0, 8.0, 10.0, 10.0]


@pytest.mark.parametrize(("rand", "factor"), [(0.0, 0.5), (0.75, 1.25)])
def test_jitter_spreads_waits_between_half_and_one_and_a_half(rand: float, factor: float) -> None:
    retry, slept = policy(retries=2, backoff=2.0, jitter=True, rand=lambda: rand)
    with pytest.raises(TimeoutError):
        retry.call(Flaky(9, TimeoutError()), is_timeout)
    assert slept == [2.0 * factor, 4.0 * factor]


def test_the_policy_comes_from_the_sync_settings() -> None:
    settings = Settings(
        source={"cases": Path("cases.csv")},
        target={"kind": "caldav", "caldav": {"url": "http://127.0.0.1:1/{counsellor}/k/"}},
        sync={"retries": 5, "retry_backoff_seconds": 0.25},
    )
    retry = RetryPolicy.from_settings(settings)
    assert (retry.attempts, retry.backoff, retry.cap, retry.jitter) == (6, 0.25, None, False)
    assert RetryPolicy.from_settings(settings, backoff=3.0, cap=7.0).wait(3) == 7.0
    negative = settings.model_copy(update={"sync": settings.sync.model_copy(update={"retries": -1})})
    assert RetryPolicy.from_settings(negative).attempts == 1


def test_the_caldav_target_retries_503_by_the_policy(tmp_path: Path) -> None:
    """A real server behind a proxy answering 503 twice: the third attempt lists the
    calendar; the waits are the policy's (with jitter); with fewer retries it fails."""
    server = start_radicale(tmp_path / "radicale")
    try:
        with FaultProxy(server.url) as proxy:
            src = caseload(tmp_path / "src")
            settings = settings_for(proxy.url, tmp_path, src, retries=2, retry_backoff_seconds=1.0)
            slept: list[float] = []
            target = CalDAVTarget(settings, sleep=slept.append)
            target.create_calendar("anna")
            proxy.fault = lambda req: "503" if req.method == "REPORT" and len(slept) < 2 else None
            before = proxy.count(method="REPORT")
            listing = target.list_ours("anna", None, {})
            assert listing.refs == {} and listing.full
            assert proxy.count(method="REPORT") - before == 3
            assert len(slept) == 2 and 0.5 <= slept[0] <= 1.5 and 1.0 <= slept[1] <= 3.0
            proxy.fault = lambda req: "503" if req.method == "REPORT" else None
            with pytest.raises(TransientFailure, match=r"server busy \(429/503\) after 3 attempts"):
                target.list_ours("anna", None, {})
            target.close()
    finally:
        stop(server)


def test_the_exchange_target_uses_the_policy_capped_by_the_throttle_wait() -> None:
    settings = Settings(
        source={"cases": Path("cases.csv")},
        target={
            "kind": "exchange",
            "exchange": {
                "endpoint": "http://127.0.0.1:9/EWS/Exchange.asmx",
                "auth": "basic",
                "username": "svc",
                "max_throttle_wait_seconds": 3,
            },
        },
        sync={"retries": 4, "retry_backoff_seconds": 1.0},
    )
    slept: list[float] = []
    target = ExchangeTarget(settings, sleep=slept.append)
    try:
        with pytest.raises(requests.exceptions.ConnectionError):
            target._retrying(Flaky(9, requests.exceptions.ConnectionError("dropped")))
    finally:
        target.close()
    assert slept == [1.0, 2.0, 3.0, 3.0]
    assert transient(ErrorServerBusy("busy")) and transient(requests.exceptions.Timeout())
    assert not transient(RateLimitError("waited already", wait=300))
    assert not transient(ValueError("bad"))
