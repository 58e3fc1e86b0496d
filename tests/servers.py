"""Real CalDAV servers for tests: Radicale and Xandikos as subprocesses on 127.0.0.1.

Each server gets a free port and its own temporary folder, is waited for until it answers
HTTP, and is stopped at teardown. Nothing here talks to anything but loopback.

Tests get them from fixtures in tests/conftest.py: each server is started once per session
and every test gets its own path prefix on it (`radicale_server`, `xandikos_server`, and
`dav_server`, parametrized over both). A test that stops or restarts a server, or needs
passwords, starts its own with `start_radicale`. A missing server fails the test with the
package to install; it never skips.

Both servers accept any user without a password: Radicale runs with `auth none` and a rights
file allowing everything at any depth, Xandikos has no auth at all.
Calendars are created by the client (MKCALENDAR) where needed.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tests.calendars import request

READY_TIMEOUT_S = 30.0


@dataclass
class DavServer:
    """A running server: `url` ends with `/`, `folder` holds its data."""

    name: str
    url: str
    host: str
    port: int
    folder: Path
    proc: subprocess.Popen[bytes]

    @property
    def origin(self) -> str:
        """`http://host:port`, without a path: prefix it to the absolute hrefs a server lists."""
        return f"http://{self.host}:{self.port}"

    def under(self, prefix: str) -> DavServer:
        """The same server, seen from `url` + `prefix` + `/`: a test's own part of a shared server.
        The prefix is made as a plain collection (MKCOL), since servers create a calendar's
        parent but not the parent's parent."""
        url = f"{self.url}{prefix.strip('/')}/"
        status = request(url, "MKCOL")[0]
        if status != 201:
            raise RuntimeError(f"MKCOL {url} answered {status}, not 201 Created")
        return replace(self, url=url)

    def calendar_url(self, counsellor: str, calendar: str = "kontaktdichte") -> str:
        return f"{self.url}{counsellor}/{calendar}/"

    @property
    def url_template(self) -> str:
        """A `CalDAVSettings.url` template with one calendar per counsellor on this server."""
        return self.url + "{counsellor}/kontaktdichte/"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}"
            )
        try:
            req = urllib.request.Request(url, method="OPTIONS")
            with urllib.request.urlopen(req, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it is serving
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server at {url} not ready after {READY_TIMEOUT_S}s")


def _require_module(module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{package} is not installed; install it with `pip install {package}`")


def start_radicale(folder: Path, port: int | None = None, users: dict[str, str] | None = None) -> DavServer:
    """Start Radicale: without `users` anyone may write everywhere, at any depth, so a test can
    keep its calendars under a prefix of its own (auth none, a rights file allowing all); with
    `users` (name -> password) only those users, each in every `/<principal>/<calendar>/`
    (htpasswd, plain, rights `authenticated`)."""
    _require_module("radicale", "radicale")
    port = port or free_port()
    data = folder / "collections"
    data.mkdir(parents=True, exist_ok=True)
    log = folder / "radicale.log"
    rights = folder / "rights"
    rights.write_text("[everything]\nuser: .*\ncollection: .*\npermissions: RrWw\n", encoding="utf-8")
    auth = ["--auth-type", "none", "--rights-type", "from_file", "--rights-file", str(rights)]
    if users:
        htpasswd = folder / "htpasswd"
        htpasswd.write_text("".join(f"{u}:{p}\n" for u, p in users.items()), encoding="utf-8")
        auth = [
            "--auth-type", "htpasswd",
            "--auth-htpasswd-filename", str(htpasswd),
            "--auth-htpasswd-encryption", "plain",
            "--auth-delay", "0",
            "--rights-type", "authenticated",
        ]  # fmt: skip
    cmd = [
        sys.executable,
        "-m",
        "radicale",
        "--config",
        "",
        "--server-hosts",
        f"127.0.0.1:{port}",
        "--storage-filesystem-folder",
        str(data),
        *auth,
        "--web-type",
        "none",
        "--logging-level",
        "warning",
    ]
    return _launch("radicale", cmd, folder, port, log)


def start_xandikos(folder: Path, port: int | None = None) -> DavServer:
    """Start Xandikos serving `folder/collections` with auto-created directories."""
    _require_module("xandikos", "xandikos")
    port = port or free_port()
    data = folder / "collections"
    data.mkdir(parents=True, exist_ok=True)
    log = folder / "xandikos.log"
    cmd = [
        sys.executable,
        "-m",
        "xandikos",
        "serve",
        "-d",
        str(data),
        "--autocreate",
        "-l",
        "127.0.0.1",
        "-p",
        str(port),
        "--no-detect-systemd",
        "--state-dir",
        str(folder / "state"),
    ]
    return _launch("xandikos", cmd, folder, port, log)


def _launch(name: str, cmd: list[str], folder: Path, port: int, log: Path) -> DavServer:
    """Start `cmd`, logging to `log`, and wait until it answers on 127.0.0.1:`port`."""
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=folder)
    url = f"http://127.0.0.1:{port}/"
    server = DavServer(name, url, "127.0.0.1", port, folder, proc)
    try:
        _wait_ready(url, proc, log)
    except Exception:
        stop(server)
        raise
    return server


def stop(server: DavServer) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=10)
