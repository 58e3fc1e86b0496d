"""The commands as a user runs them: `kontaktsync demo` and `kontaktsync sync`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.builders import AS_OF, caseload
from tests.calendars import request
from tests.cli import run_cli
from tests.configs import settings_for
from tests.configs import write_settings as write_config


def test_sync_command_prints_a_summary_and_is_idempotent(radicale_server, tmp_path):
    s = settings_for(radicale_server.url, tmp_path, caseload(tmp_path / "src"))
    config = write_config(s, tmp_path / "kontaktsync.toml")
    args = ["sync", "--config", str(config), "--as-of", AS_OF.isoformat()]
    first = run_cli(args, tmp_path)
    assert first.returncode == 0, first.stderr
    assert re.search(r"Summary: [1-9]\d* created, 0 updated", first.stdout)
    second = run_cli(args, tmp_path)
    assert "Summary: 0 created, 0 updated, 0 completed, 0 deleted" in second.stdout
    assert second.returncode == 0


def test_an_unknown_policy_is_a_message_and_exit_2(tmp_path):
    s = settings_for("http://127.0.0.1:9/", tmp_path, caseload(tmp_path / "src"))
    config = write_config(s, tmp_path / "kontaktsync.toml")
    text = config.read_text(encoding="utf-8").replace('policy = "coburg-2016"', 'policy = "coburg-2061"')
    config.write_text(text, encoding="utf-8")
    out = run_cli(["sync", "--config", str(config), "--as-of", AS_OF.isoformat()], tmp_path)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and "coburg-2061" in out.stderr
    assert len(out.stderr.strip().splitlines()) <= 3


def test_demo_serve_keeps_running_until_ctrl_c(tmp_path):
    exe = str(Path(sys.executable).with_name("kontaktsync"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KONTAKTSYNC_")}
    proc = subprocess.Popen(
        [exe, "demo", "--serve", "--folder", str(tmp_path / "demo"), "--as-of", AS_OF.isoformat()],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 120  # a guard against hanging, not a timing assertion
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "Serving until Ctrl-C" in line or not line:
                break
        assert any("Serving until Ctrl-C" in x for x in lines), "".join(lines) + proc.stderr.read()
        url = next(x.split()[-1] for x in lines if "/coburg-2016/" in x and x.startswith("  "))
        assert request(url, "PROPFIND", headers={"Depth": "0"})[0] == 207  # still serving
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0 and "stopped." in out
        assert (tmp_path / "demo" / "collections").is_dir()  # --folder keeps the calendars
    finally:
        if proc.poll() is None:
            proc.kill()
