"""How quickly `kontaktsync daemon` stops on SIGTERM, idle and in the middle of a run.

Starts a Radicale on loopback, writes a caseload of N cases, starts the daemon, and measures
(1) the first run's duration as the daemon logs it, (2) SIGTERM-to-exit while idle, and
(3) SIGTERM-to-exit while a run writes (the signal goes out once some items were written).

    /work/venv/bin/python benchmarks/daemon_stop.py [N]
"""

from __future__ import annotations

import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers import start_radicale, stop
from tests.service_helpers import (
    Daemon,
    calendar_items,
    case_rows,
    service_config,
    write_cases,
    write_config,
)


def _stop_timed(daemon: Daemon) -> tuple[int, float]:
    t0 = time.monotonic()
    code = daemon.stop(signal.SIGTERM)
    return code, time.monotonic() - t0


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = start_radicale(tmp / "radicale")
        try:
            write_cases(tmp / "a" / "export" / "cases.csv", case_rows(n))
            config = write_config(
                tmp / "a" / "kontaktsync.toml",
                service_config(tmp / "a", server.url_template, interval_minutes=60),
            )
            daemon = Daemon(config, tmp / "a", name="idle")
            run = daemon.wait_runs(1)[0]
            code, idle_s = _stop_timed(daemon)
            print(f"first run, {n} cases: {run['duration_s']:.2f} s, {run['counts']['created']} created")
            print(f"SIGTERM while idle: exit {code} after {idle_s:.3f} s")

            write_cases(tmp / "b" / "export" / "cases.csv", case_rows(n, start=500000))
            config = write_config(
                tmp / "b" / "kontaktsync.toml",
                service_config(tmp / "b", server.url_template.replace("kontaktdichte", "b")),
            )
            daemon = Daemon(config, tmp / "b", name="busy")
            url = server.url + "anna/b/"
            daemon.wait_for(lambda d: len(calendar_items(url)) >= 5, "the run to be writing")
            code, busy_s = _stop_timed(daemon)
            report = daemon.runs()[0]
            print(
                f"SIGTERM mid-run: exit {code} after {busy_s:.3f} s; the run had created "
                f"{report['counts']['created']} of {n} (stopped early: {report['stopped_early']})"
            )
        finally:
            stop(server)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
