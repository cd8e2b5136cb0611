"""The study report opened in headless Chromium: every plot loads and the page logs no error.

Chromium is Debian's ``chromium`` package, installed here with apt-get when missing (as root); the
driver is Playwright's Python package pointed at that browser (``executable_path``), never a browser
of its own. Without either, the tests are skipped with the reason. Nothing here reaches the network
except that apt-get install: the page's requests other than file:// ones are refused and reported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

APT_TIMEOUT = 600  # seconds, per apt-get call
PNG = b"\x89PNG\r\n\x1a\n"


def _which_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _apt(*args: str) -> subprocess.CompletedProcess | None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        return subprocess.run(
            ["apt-get", "-q", *args], env=env, capture_output=True, text=True, timeout=APT_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def _install_chromium() -> str:
    """Install Debian's chromium quietly; '' on success, else why not."""
    if os.name != "posix" or os.geteuid() != 0:
        return "not root, so it cannot be installed here (apt-get install chromium)"
    if shutil.which("apt-get") is None:
        return "apt-get is not available to install it"
    install = ("install", "-y", "--no-install-recommends", "chromium")
    done = _apt(*install)
    if done is None or done.returncode != 0:  # most often: no package lists yet
        _apt("update")
        done = _apt(*install)
    if done is None:
        return f"apt-get install chromium did not finish within {APT_TIMEOUT} s"
    if done.returncode != 0:
        return f"apt-get install chromium failed: {(done.stderr or done.stdout).strip()[-300:]}"
    return ""


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The system Chromium's path, installed with apt-get when missing; skips when it cannot be had."""
    path = _which_chromium()
    if path is None:
        why = _install_chromium()
        path = _which_chromium()
        if path is None:
            pytest.skip(f"headless Chromium is needed to open the report and none was found: {why or 'not on PATH'}")
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the Python package playwright drives Chromium: pip install -e '.[dev]'"
    )
    with sync_api.sync_playwright() as driver:
        # --no-sandbox: Chromium refuses to run as root otherwise; a test page from disk needs no sandbox.
        launched = driver.chromium.launch(
            executable_path=chromium_path, headless=True, args=["--no-sandbox", "--disable-gpu"], timeout=30_000
        )
        yield launched
        launched.close()


def _open(browser, index: Path, screenshot: Path | None = None) -> dict:
    """Open ``index`` and return what went wrong: images not loaded, console errors, page errors, requests
    that failed or left the disk; and the number of images."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    found = {"console": [], "page": [], "failed": [], "network": []}
    page.on("console", lambda m: found["console"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: found["page"].append(str(error)))
    page.on("requestfailed", lambda r: found["failed"].append(f"{r.url}: {r.failure}"))

    def route(request_route):
        if request_route.request.url.startswith(("file:", "data:")):
            request_route.continue_()
        else:
            found["network"].append(request_route.request.url)
            request_route.abort()

    page.route("**/*", route)
    try:
        page.goto(index.resolve().as_uri(), wait_until="load", timeout=15_000)
        images = page.evaluate(
            "() => Array.from(document.images, i => ({src: i.getAttribute('src'), complete: i.complete,"
            " width: i.naturalWidth}))"
        )
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
    finally:
        page.close()
    found["broken images"] = [i["src"] for i in images if not (i["complete"] and i["width"] > 0)]
    found["images"] = len(images)
    return found


def test_the_report_opens_in_chromium_with_every_plot_and_no_error(browser, study_rows, tmp_path):
    from latentid.studies.report import write_study_report

    index = write_study_report(study_rows, tmp_path / "report")
    shot = tmp_path / "report.png"
    found = _open(browser, index, screenshot=shot)
    assert found.pop("images") == 3  # depth, components, strong vs weak MCC
    assert found == {"console": [], "page": [], "failed": [], "network": [], "broken images": []}
    data = shot.read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000


def test_a_report_without_plots_opens_with_no_error(browser, make_row, tmp_path):
    from latentid.studies.report import write_study_report

    rows = [make_row("f1", status="failed", error="ValueError: <script>alert(1)</script>")]
    found = _open(browser, write_study_report(rows, tmp_path))
    assert found.pop("images") == 0
    assert found == {"console": [], "page": [], "failed": [], "network": [], "broken images": []}


def test_the_check_sees_a_broken_plot(browser, study_rows, tmp_path):
    """The control: with one plot's file gone, the same check reports it (so the tests above can fail)."""
    from latentid.studies.report import write_study_report

    index = write_study_report(study_rows, tmp_path)
    (tmp_path / "figures" / "metrics-vs-depth.png").unlink()
    found = _open(browser, index)
    assert found["broken images"] == ["figures/metrics-vs-depth.png"]
    assert found["console"] and found["failed"]
