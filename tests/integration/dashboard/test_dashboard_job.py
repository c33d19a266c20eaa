"""`journeylake dashboard` on the generated gold lake (tests/integration/conftest.py), in a real
headless browser: Debian's chromium driven by Selenium through Debian's chromium-driver.

The page is drawn twice from a copy of the lake: first as gold left it (no KPI or model tables:
those panels name the command that builds them), then with small KPI baseline, alert and model
tables added, when every chart must draw. `--serve` is run in a thread on a free port.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

from journeylake.core import lakehouse
from journeylake.core.config import Config
from journeylake.dashboard import sources
from journeylake.dashboard.job import DashboardOutcome, build_dashboard, serve_dashboard
from journeylake.dashboard.page import BUILD_META, chart_id
from journeylake.gold import tables as gold_tables
from journeylake.quality.tables import AUDIT_QUALITY
from tests import dashboard_tables as fake
from tests.conftest import make_config
from tests.integration.conftest import GoldLake

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
PANELS = ("kpis", "alerts", "funnel", "paths", "graph", "attribution", "segments", "scores",
          "clv", "cohorts", "quality")
NOT_TRAINED = {"kpis": "gold_kpi_baselines not built yet: run <code>journeylake kpis</code>",
               "alerts": "gold_alerts not built yet: run <code>journeylake kpis</code>",
               "segments": "gold_segment_profiles not built yet: run <code>journeylake train"
                           "</code>",
               "scores": "gold_scores not built yet: run <code>journeylake score</code>",
               "clv": "gold_clv not built yet: run <code>journeylake train</code>"}
# What plotly.js draws for the marks of each kind of trace: points of bars, funnels and
# scatters, lines and fills, Sankey links, heatmap images, table cells.
MARKS = ".point, .js-line, .js-fill, .sankey-link, .hm image, .cell-text"
DRAWN = """
const root = document.getElementById(arguments[0]);
if (!root || !root.querySelector('.main-svg')) return 0;
return root.querySelectorAll(arguments[1]).length;
"""


@pytest.fixture(scope="module")
def browser_installed() -> None:
    """Debian's chromium and chromedriver, installed with apt (as `make browser` does) when
    missing; nothing is downloaded from anywhere else."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    root = Path(__file__).resolve().parents[3]
    result = subprocess.run(["make", "-C", str(root), "browser"], capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0 and CHROMIUM.exists() and CHROMEDRIVER.exists(), (
        "could not install Debian's chromium and chromium-driver (`make browser`):\n"
        f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")


@pytest.fixture(scope="module")
def browser(browser_installed: None) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    # Both paths given, so Selenium Manager has nothing to look up or download.
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    yield driver
    driver.quit()


@dataclasses.dataclass
class Pages:
    config: Config
    gold_only: DashboardOutcome
    gold_only_html: str
    complete: DashboardOutcome


def _copy_gold(gold_lake: GoldLake, root: Path) -> Config:
    """A lake of its own holding a copy of the gold tables: the session's gold lake stays as
    the gold tests expect it."""
    config = make_config(root, f"dashboard.output={root / 'site' / 'index.html'}")
    # audit_quality: what silver and gold recorded for the lake.
    for spec in (*gold_tables.TABLES, AUDIT_QUALITY):
        source = Path(gold_lake.config.table_path(spec.name))
        if spec.name in {s.name for s in sources.SOURCES} and source.exists():
            shutil.copytree(source, config.table_path(spec.name))
    return config


@pytest.fixture(scope="module")
def pages(spark: SparkSession, gold_lake: GoldLake, tmp_path_factory: pytest.TempPathFactory
          ) -> Pages:
    config = _copy_gold(gold_lake, tmp_path_factory.mktemp("dashboard"))
    gold_only = build_dashboard(spark, config)
    gold_only_html = Path(gold_only.path).read_text()
    kpi_start = date.fromisoformat(config.generate.end_date) - timedelta(days=13)
    fake.write_fake_tables(spark, config, kpi_start)
    return Pages(config, gold_only, gold_only_html, build_dashboard(spark, config))


def _load(browser: webdriver.Chrome, url: str, charts: tuple[str, ...]) -> None:
    browser.get_log("browser")  # drop what an earlier page logged
    browser.get(url)
    WebDriverWait(browser, 60).until(
        lambda d: all(d.execute_script(DRAWN, chart_id(key), MARKS) > 0 for key in charts),
        message=f"not every chart of {charts} drew")


def _severe(browser: webdriver.Chrome) -> list[dict]:
    return [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def _screenshot(browser: webdriver.Chrome, path: Path) -> None:
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, min(height, 9000))
    browser.save_screenshot(str(path))
    browser.set_window_size(1400, 1000)


def test_without_kpi_and_model_tables_the_page_names_the_command_that_builds_each(
    pages: Pages, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    assert set(pages.gold_only.missing) == set(NOT_TRAINED)
    assert set(pages.gold_only.drawn) == set(PANELS) - set(NOT_TRAINED)
    for key, notice in NOT_TRAINED.items():
        assert f'id="{chart_id(key)}-missing">{notice}' in pages.gold_only_html, key
    # The gold panels still draw, without an error in the console.
    Path(tmp_path / "gold_only.html").write_text(pages.gold_only_html)
    _load(browser, (tmp_path / "gold_only.html").as_uri(), pages.gold_only.drawn)
    assert _severe(browser) == []


def test_every_chart_draws_in_a_headless_browser_from_disk_without_console_errors(
    pages: Pages, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    assert pages.complete.drawn == PANELS and pages.complete.missing == ()
    html = Path(pages.complete.path).read_text()
    # Self-contained: plotly.js once, inline, and no script or stylesheet from elsewhere.
    assert html.count(get_plotlyjs()[:300]) == 1
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"(https?:)?//", html)
    _load(browser, Path(pages.complete.path).as_uri(), PANELS)
    drawn = {key: browser.execute_script(DRAWN, chart_id(key), MARKS) for key in PANELS}
    assert all(count > 0 for count in drawn.values()), drawn
    assert browser.execute_script(
        f"return document.querySelector('meta[name=\"{BUILD_META}\"]').content"
    ) == pages.complete.build_id
    assert _severe(browser) == []
    shot = tmp_path / "dashboard.png"
    _screenshot(browser, shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 100_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _build_id(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        text = response.read().decode()
    return re.search(f'<meta name="{BUILD_META}" content="([^"]+)">', text).group(1)


def test_serve_rebuilds_the_page_when_a_gold_table_changes_and_only_then(
    spark: SparkSession, pages: Pages
) -> None:
    config = dataclasses.replace(pages.config, dashboard=dataclasses.replace(
        pages.config.dashboard, port=_free_port(), poll_seconds=0.5))
    ready, stop = threading.Event(), threading.Event()
    urls: list[str] = []
    # Serving the page the fixture built: a rebuild is what this test waits for.
    server = threading.Thread(target=serve_dashboard, args=(spark, config, stop),
                              kwargs={"on_ready": lambda url: (urls.append(url), ready.set()),
                                      "built": pages.complete}, daemon=True)
    server.start()
    try:
        assert ready.wait(120), "the server did not start"
        url = urls[0]
        assert url == f"http://127.0.0.1:{config.dashboard.port}/"
        first = _build_id(url)
        assert first == pages.complete.build_id
        time.sleep(2)  # a few polls with nothing changed
        assert _build_id(url) == first
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(url + "conftest.py", timeout=10)
        attribution = lakehouse.read_table(spark, config, gold_tables.ATTRIBUTION)
        lakehouse.overwrite_table(spark, config, gold_tables.ATTRIBUTION,
                                  attribution.withColumn("conversions", F.col("conversions") * 2))
        deadline = time.monotonic() + 90
        while _build_id(url) == first:
            assert time.monotonic() < deadline, "the page was not rebuilt"
            time.sleep(0.5)
    finally:
        stop.set()
        server.join(timeout=30)
    assert not server.is_alive()
