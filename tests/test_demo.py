"""`kontaktsync demo` as a new user runs it: what it says, three policies, a clean SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.builders import AS_OF
from tests.cli import run_cli


def test_demo_shows_three_policies_and_says_what_it_wrote(tmp_path):
    out = run_cli(["demo", "--as-of", AS_OF.isoformat()], tmp_path)
    assert out.returncode == 0, out.stderr
    lines = {line.split(":")[0]: line for line in out.stdout.splitlines() if " tasks and " in line}
    assert set(lines) == {"coburg-2016", "hamburg-absolventenmanagement", "ams-betreuungsplan"}
    for line in lines.values():
        tasks, appointments, created = map(
            int, re.findall(r"(\d+) tasks and (\d+) appointments.*?(\d+) items created", line)[0]
        )
        assert tasks == appointments > 0 and created == tasks + appointments
    kinds = " ".join(line for line in out.stdout.splitlines() if line.strip().startswith("kinds:"))
    for kind in ("contact", "measure_window", "care_plan"):
        assert kind in kinds
    # Without --serve the server is gone when the command returns: it says so, and lists no
    # address as if one could open it.
    assert "not reachable after this command" in out.stdout and "--serve" in out.stdout
    assert "Thunderbird" not in out.stdout


def test_demo_serve_stops_radicale_on_sigterm(tmp_path):
    exe = str(Path(sys.executable).with_name("kontaktsync"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KONTAKTSYNC_")}
    proc = subprocess.Popen(
        [exe, "demo", "--serve", "--folder", str(tmp_path / "demo"), "--as-of", AS_OF.isoformat()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )  # fmt: skip
    url = None
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    while time.monotonic() < deadline and url is None:
        line = proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+/)\S*/coburg-2016/", line)
        url = m.group(1) if m else None
    assert url, "demo --serve printed no calendar address"
    while "Serving until" not in proc.stdout.readline():
        pass
    urllib.request.urlopen(urllib.request.Request(url, method="OPTIONS"), timeout=5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="OPTIONS"), timeout=2)
        alive = True
    except (urllib.error.URLError, ConnectionError):
        alive = False
    assert not alive, "Radicale is still running after the demo got SIGTERM"
