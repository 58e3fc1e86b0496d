"""`kontaktsync daemon` as a child process, and a plain HTTP GET for its endpoints."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.cli import clean_env, require_console_script

WAIT_S = 60.0  # guard against hanging only; no test asserts on speed


class Daemon:
    """`kontaktsync daemon` as a child process; its stderr (JSON lines) goes to a file."""

    def __init__(
        self, config: Path, cwd: Path, name: str = "daemon", env: dict[str, str] | None = None
    ) -> None:
        exe = require_console_script()
        self.log_path = cwd / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(exe), "daemon", "--config", str(config)],
            cwd=cwd,
            env=env if env is not None else clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    def lines(self) -> list[str]:
        return self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for line in self.lines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a traceback line; shown by `describe` on failure
            if event is None or record.get("event") == event:
                out.append(record)
        return out

    def describe(self) -> str:
        return f"daemon log {self.log_path}:\n" + "\n".join(self.lines()[-40:])

    def wait_for(self, predicate: Callable[[Daemon], Any], what: str, timeout: float = WAIT_S) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate(self)
            if value:
                return value
            if self.proc.poll() is not None:
                value = predicate(self)
                if value:
                    return value
                raise AssertionError(
                    f"daemon exited ({self.proc.returncode}) before {what}\n{self.describe()}"
                )
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}\n{self.describe()}")

    def runs(self) -> list[dict[str, Any]]:
        return self.events("run_finished")

    def wait_runs(self, n: int) -> list[dict[str, Any]]:
        return self.wait_for(lambda d: len(d.runs()) >= n and d.runs(), f"{n} finished runs")

    def port(self) -> int:
        event = self.wait_for(lambda d: d.events("http_listening"), "the HTTP endpoint")
        return int(event[0]["port"])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = WAIT_S) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


def http_get(url: str) -> tuple[int, str, str]:
    """(status, content type, body) of a GET; HTTP errors are answers, not exceptions."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()
