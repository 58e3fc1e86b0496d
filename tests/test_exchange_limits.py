"""What the Exchange target learns from ErrorExceededFindCountLimit (limits.py): where a
request starts once a size was refused and a smaller one accepted. The requests it saves are
counted against the fake EWS in test_exchange_realism.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kontaktsync.sync.targets.exchange import limits
from kontaktsync.sync.targets.exchange.target import ExchangeTarget, forget_accounts

from tests.exchange_helpers import SERVICE_PASSWORD, SERVICE_USER, exchange_settings, make_plan, run
from tests.fake_ews import FakeEWS

SERVER = ("https://ews.example.invalid/EWS/Exchange.asmx", "ntlm", "svc", "", "", "impersonation")


@pytest.fixture(autouse=True)
def _nothing_learned() -> Iterator[None]:
    limits.forget_limits()
    yield
    limits.forget_limits()


def test_nothing_refused_asks_for_the_full_size() -> None:
    limits.accepted(SERVER, 3)  # accepted without a refusal: says nothing
    assert limits.size(SERVER, 512) == 512


def test_the_largest_size_accepted_below_a_refused_one_is_where_requests_start() -> None:
    for asked in (512, 256, 128, 64, 32, 16):
        limits.refused(SERVER, asked)
    limits.accepted(SERVER, 8)
    assert limits.size(SERVER, 512) == 8
    assert limits.size(SERVER, 5) == 5  # a smaller request stays as it is
    limits.accepted(SERVER, 2)  # a small request accepted later does not lower it
    assert limits.size(SERVER, 512) == 8
    assert limits.size(("another server",), 512) == 512


def test_a_refusal_alone_starts_from_half_of_it() -> None:
    limits.refused(SERVER, 30)
    assert limits.size(SERVER, 100) == 15
    limits.refused(SERVER, 1)
    assert limits.size(SERVER, 100) == 1


def test_a_lowered_policy_is_learned_again() -> None:
    limits.refused(SERVER, 16)
    limits.accepted(SERVER, 8)
    limits.refused(SERVER, 8)  # the policy now allows fewer
    assert limits.size(SERVER, 512) == 4
    limits.accepted(SERVER, 5)
    assert limits.size(SERVER, 512) == 5


def test_what_was_learned_is_kept_a_day_at_most(monkeypatch: pytest.MonkeyPatch) -> None:
    limits.refused(SERVER, 16)
    limits.accepted(SERVER, 8)
    monkeypatch.setattr(limits._LEARNED, "keep_seconds", -1.0)  # as if a day had passed
    assert limits.size(SERVER, 512) == 512


def test_a_policy_lowered_between_runs_costs_one_round_of_refusals(tmp_path: Path) -> None:
    with FakeEWS({SERVICE_USER: SERVICE_PASSWORD}, strict_change_keys=True) as fake:
        forget_accounts()
        settings = exchange_settings(fake, tmp_path)
        fake.max_find_count = 8
        assert run(settings, make_plan(12)).created == 12
        assert fake.find_count_refusals == [512, 256, 128, 64, 32, 16]
        fake.max_find_count = 4
        fake.reset_counts()
        target = ExchangeTarget(settings, retry_wait=0.01)
        first = target.list_ours("anna", None, {})
        second = target.list_ours("anna", None, {})
        target.close()
        forget_accounts()
        assert fake.find_count_refusals == [8]  # then 4 is accepted and kept
        assert first.refs == second.refs and len(first.refs) == 12
