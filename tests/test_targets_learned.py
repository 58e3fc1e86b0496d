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


def test_one_thread_learns_while_the_others_wait_for_what_it_learned() -> None:
    store: Learned[int] = Learned()
    learned: list[int] = []
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        with store.lock:  # read, learn and keep in one go, as guard.py does
            if store.get("server") is None:
                learned.append(1)
                time.sleep(0.01)  # a probe request
                store.put("server", len(learned))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert learned == [1] and store.get("server") == 1
