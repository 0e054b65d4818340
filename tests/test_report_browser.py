"""The built report in a real browser: headless Chromium shows no console errors and every figure has a size.

Debian's `chromium` and `chromium-driver` are installed by scripts/install-browser.sh (run by `make test`) and
driven with Selenium; nothing is downloaded at test time. Where no browser could be installed the test skips
and says how to get one. A screenshot is saved next to the report, and to docs/img/report.png when
KETASIM_SAVE_SCREENSHOT=1 (how the README's picture is made).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from ketasim.report import SECTION_IDS
from report_build import built_report

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
#: flags for a headless run as root in a container, with nothing fetched from the network
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1800",
    "--hide-scrollbars",
]
HOW = "run scripts/install-browser.sh (Debian chromium + chromium-driver) and pip install selenium"


def _browser() -> tuple[str, str]:
    binary = next((b for b in CHROMIUM if os.access(b, os.X_OK)), None)
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if os.access("/usr/bin/chromedriver", os.X_OK) else None
    )
    if binary is None or driver is None:
        pytest.skip(f"no headless Chromium here (chromium: {binary}, chromedriver: {driver}); {HOW}")
    return binary, driver


@pytest.fixture(scope="module")
def browser() -> Any:
    webdriver = pytest.importorskip("selenium.webdriver", reason=f"selenium is not installed; {HOW}")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = _browser()
    options = Options()
    options.binary_location = binary
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def loaded(browser: Any) -> Any:
    summary = built_report()
    browser.get(summary.index.as_uri())
    browser.execute_script("return document.readyState")
    return browser


FIGURE_SIZES = """
return Array.from(document.querySelectorAll('img, svg')).map(function (e) {
  var r = e.getBoundingClientRect();
  var decoded = e.tagName.toLowerCase() !== 'img' || (e.complete && e.naturalWidth > 0);
  return {tag: e.tagName, id: (e.closest('section') || {}).id || '', w: r.width, h: r.height, ok: decoded};
});
"""


def test_no_console_errors(loaded: Any) -> None:
    logs = loaded.get_log("browser")
    errors = [entry for entry in logs if entry.get("level") == "SEVERE"]
    assert errors == [], errors


def test_every_section_and_figure_is_shown_with_a_size(loaded: Any) -> None:
    ids = loaded.execute_script("return Array.from(document.querySelectorAll('section')).map(s => s.id);")
    assert ids == SECTION_IDS
    figures = loaded.execute_script(FIGURE_SIZES)
    assert {f["id"] for f in figures} == set(SECTION_IDS)
    for f in figures:
        assert f["ok"], f"{f['id']}: image did not decode"
        assert f["w"] > 0 and f["h"] > 0, f


def test_screenshot(loaded: Any) -> None:
    target = built_report().path.parent / "report-screenshot.png"
    loaded.execute_script("window.scrollTo(0, 0);")
    assert loaded.save_screenshot(str(target))
    assert target.stat().st_size > 10000
    if os.environ.get("KETASIM_SAVE_SCREENSHOT") == "1":
        docs = ROOT / "docs" / "img" / "report.png"
        docs.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, docs)
