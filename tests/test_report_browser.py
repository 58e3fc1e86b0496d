"""The HTML report in a real headless Chromium (Debian package `chromium`): the charts render.

The page is made by the CLI as a user makes it, opened from a file:// URL with every network
feature of Chromium switched off (and every host name resolving to nothing), screenshotted at
1200x1600 and dumped as DOM. The screenshot stays in the test's tmp dir (report.png).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from report_helpers import T, write_report_caseload

from tests.cli import kontaktsync_cli

INSTALL = "tests/realservers/install.sh"
WIDTH, HEIGHT = 1200, 1600
# colours the charts draw with (sync/report/html.py): bars below the quota, load bars, age buckets
BELOW_QUOTA, LOAD_BAR = (0xC6, 0x28, 0x28), (0x3F, 0x6F, 0xB5)
AGE_COLOURS = [(0xF2, 0xB8, 0x4B), (0xE8, 0x83, 0x3A), (0xC9, 0x44, 0x2C), (0x7A, 0x1F, 0x1F)]


def _chromium() -> str:
    exe = shutil.which("chromium")
    if exe is None:
        raise AssertionError(
            f"Chromium is not installed: run `bash {INSTALL}` as root (Debian package chromium)"
        )
    return exe


def _run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
    ]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)


def _html_report(tmp_path: Path) -> Path:
    paths = write_report_caseload(tmp_path / "export")
    page = tmp_path / "report.html"
    r = kontaktsync_cli(
        "report", "--policy", "coburg-2016", "--cases", str(paths["cases"]), "--contacts",
        str(paths["contacts"]), "--as-of", T, "--format", "html", "--output", str(page),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return page


def _pixels(png: Path) -> tuple[tuple[int, int], dict[tuple[int, int, int], int]]:
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - the test extra has Pillow
        raise AssertionError("Pillow is missing: pip install -e '.[test]'") from exc
    with Image.open(png) as im:
        rgb = im.convert("RGB")
        colours = rgb.getcolors(maxcolors=WIDTH * HEIGHT) or []
        return rgb.size, {colour: n for n, colour in colours}


def test_chromium_renders_the_charts(tmp_path: Path) -> None:
    page = _html_report(tmp_path)
    png = tmp_path / "report.png"
    r = _run_chromium(tmp_path, f"--screenshot={png}", f"--window-size={WIDTH},{HEIGHT}", page.as_uri())
    assert r.returncode == 0 and png.is_file(), f"chromium failed ({r.returncode}):\n{r.stderr[-3000:]}"
    size, counts = _pixels(png)
    assert size == (WIDTH, HEIGHT)
    assert len(counts) > 50, f"the screenshot looks blank: {len(counts)} colours"
    # every chart drew its bars: the density bars (both teams below 90 %), all four age buckets
    # (one overdue obligation in each), the weekly load bars
    assert counts.get(BELOW_QUOTA, 0) > 5000, "no density bars below the quota in the screenshot"
    for colour in AGE_COLOURS:
        assert counts.get(colour, 0) > 300, f"age bucket colour {colour} missing in the screenshot"
    assert counts.get(LOAD_BAR, 0) > 1000, "no weekly load bars in the screenshot"


def test_chromium_dom_holds_the_svg_charts(tmp_path: Path) -> None:
    page = _html_report(tmp_path)
    r = _run_chromium(tmp_path, "--dump-dom", page.as_uri())
    assert r.returncode == 0, r.stderr[-3000:]
    dom = r.stdout
    for chart in ("chart-density", "chart-overdue", "chart-load", "chart-load-1", "chart-load-2"):
        assert f'id="{chart}"' in dom, f"{chart} not in the rendered DOM"
        assert f'<title id="{chart}-t">' in dom
    assert dom.count("<rect") >= 20 and "target 90 %" in dom and "capacity" in dom
