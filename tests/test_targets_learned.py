"""`Learned`: what a target learns about a server, kept for the process a day at most."""

from __future__ import annotations

import threading
import time

import pytest
from kontaktsync.sync.targets.learned import DAY, Learned


def test_a_fact_is_kept_until_it_is_a_day_old(monkeypatch: pytest.MonkeyPatch) -> None:
    store: Learned[str] = Learned()
    assert store.keep_seconds == DAY and store.get("https://dav.invalid") is None
    assert store.put("https://dav.invalid", "honours If-Match") == "honours If-Match"
    assert store.get("https://dav.invalid") == "honours If-Match"
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + DAY + 1)
    assert store.get("https://dav.invalid") is None  # older than a day: learned again
    store.put("https://dav.invalid", "ignores If-Match")
    assert store.get("https://dav.invalid") == "ignores If-Match"


def test_forget_drops_every_fact() -> None:
    store: Learned[int] = Learned()
    store.put(("ews.invalid", "svc"), 32)
    store.put(("other.invalid", "svc"), 64)
    store.forget()
    assert store.get(("ews.invalid", "svc")) is None and store.get(("other.invalid", "svc")) is None


def test_one_probe_per_server_however_many_threads_write_into_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """WriteGuard.preconditions from eight threads at once: one probe, one answer for all."""
    from kontaktsync.sync.targets.caldav import guard
    from kontaktsync.sync.targets.caldav.preconditions import Preconditions

    probes: list[str] = []

    def learn(http: object, url: str, prefix: str) -> Preconditions:
        probes.append(url)
        time.sleep(0.05)  # the probe's requests
        return Preconditions(True, True, True)

    monkeypatch.setattr(guard, "learn", learn)
    writer = guard.WriteGuard(None, lambda cal: f"https://dav.invalid/{cal}/", "ks")  # type: ignore[arg-type]
    start = threading.Barrier(8)
    got: list[Preconditions] = []

    def write(cal: str) -> None:
        start.wait()
        got.append(writer.preconditions(cal))

    threads = [threading.Thread(target=write, args=(f"c{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(probes) == 1 and len(got) == 8 and all(g is got[0] for g in got)


def test_a_probe_that_could_not_tell_is_made_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from kontaktsync.sync.targets.caldav import guard
    from kontaktsync.sync.targets.caldav.preconditions import Preconditions

    answers = [Preconditions(False, False, False, "probe refused: HTTP 503"), Preconditions(True, True, True)]
    monkeypatch.setattr(guard, "learn", lambda *a: answers.pop(0))
    writer = guard.WriteGuard(None, lambda cal: "https://dav.invalid/anna/", "ks")  # type: ignore[arg-type]
    assert writer.preconditions("anna").note  # unknown: checked by reading, this run
    assert writer.preconditions("anna").update  # asked again, and now kept
    assert writer.preconditions("anna").update and answers == []
