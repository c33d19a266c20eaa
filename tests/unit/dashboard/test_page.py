"""The page: plotly.js embedded once, one element per chart, a notice where a table is
missing, the build's id where `--serve` and the browser test read it."""

from __future__ import annotations

import re
from pathlib import Path

import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from journeylake.core.config import ConfigError, load_config
from journeylake.dashboard.job import check_settings, write_atomically
from journeylake.dashboard.page import BUILD_META, Panel, render_page
from tests.conftest import CONF_DIR


def _page(*panels: Panel) -> str:
    return render_page(panels, title="journeylake <test>", build_id="b-1",
                       built_at="2026-07-01 06:00:00 UTC",
                       versions={"gold_funnels": 3, "gold_scores": None})


def test_plotly_js_is_embedded_once_for_any_number_of_charts() -> None:
    bars = go.Figure(go.Bar(x=["a"], y=[1]))
    html = _page(Panel("one", "One", "c", bars), Panel("two", "Two", "c", bars))
    assert html.count(get_plotlyjs()[:300]) == 1
    assert html.count('class="plotly-graph-div"') == 2
    assert 'id="chart-one"' in html and 'id="chart-two"' in html
    assert not re.search(r"<script[^>]+src=", html)  # nothing to fetch: it opens from disk


def test_a_missing_table_is_a_notice_with_the_command_and_the_page_still_renders() -> None:
    html = _page(Panel("scores", "Scores", "Share per bin",
                       missing="gold_scores not built yet: run `journeylake score`"),
                 Panel("funnel", "Funnels", "c", go.Figure(go.Funnel(x=[2, 1], y=["a", "b"]))))
    assert ('<p class="missing" id="chart-scores-missing">gold_scores not built yet: run '
            '<code>journeylake score</code></p>') in html
    assert 'id="chart-funnel"' in html


def test_the_build_id_and_the_versions_drawn_are_on_the_page_and_text_is_escaped() -> None:
    html = _page()
    assert f'<meta name="{BUILD_META}" content="b-1">' in html
    assert "gold_funnels v3" in html and "gold_scores" not in html
    assert "<title>journeylake &lt;test&gt;</title>" in html


def test_the_page_is_replaced_whole(tmp_path: Path) -> None:
    page = tmp_path / "site" / "index.html"
    write_atomically(page, "first")
    write_atomically(page, "second")
    assert page.read_text() == "second"
    assert [p.name for p in page.parent.iterdir()] == ["index.html"]  # no temporary left


def test_an_unknown_kpi_is_named_before_spark() -> None:
    config = load_config("local", ["dashboard.kpis=[visitors,bounce_rate]"], conf_dir=CONF_DIR)
    with pytest.raises(ConfigError, match=r"dashboard.kpis: \['bounce_rate'\] unknown"):
        check_settings(config)
