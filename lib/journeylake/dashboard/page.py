"""One HTML page from the panels: plotly.js embedded once in the head (the page opens from
disk, with no network), then one section per panel, its chart or a notice saying which command
builds the table it needs."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import plotly
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

# What the browser test and `--serve` read back: the build's id is in this meta tag.
BUILD_META = "journeylake-build"
CHART_CLASS = "jl-chart"
PLOT_CONFIG = {"displaylogo": False, "responsive": True}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; background: #f4f6f8; color: #2c3e50; }
header { background: #2c3e50; color: white; padding: 14px 24px; }
header h1 { margin: 0; font-size: 22px; }
header p { margin: 4px 0 0; font-size: 13px; opacity: 0.8; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(620px, 1fr)); gap: 16px;
       padding: 16px; }
section { background: white; border-radius: 6px; padding: 12px 16px;
          box-shadow: 0 1px 3px rgba(0, 0, 0, 0.12); min-width: 0; }
section.wide { grid-column: 1 / -1; }
section h2 { margin: 0 0 4px; font-size: 17px; }
section p.caption { margin: 0 0 8px; font-size: 13px; color: #5d6d7e; }
p.note, p.missing { font-size: 14px; padding: 10px 12px; border-radius: 4px; }
p.note { background: #fef9e7; }
p.missing { background: #fdedec; }
footer { font-size: 12px; color: #7f8c8d; padding: 0 24px 24px; }
code { background: #eef1f3; padding: 1px 4px; border-radius: 3px; }
"""


@dataclass(frozen=True)
class Panel:
    """One section of the page: `figure` when its tables could be drawn, else `missing` (which
    table is not built and the command that builds it). `note` qualifies a drawn chart (a part
    of it whose table is missing)."""

    key: str
    title: str
    caption: str
    figure: go.Figure | None = None
    missing: str | None = None
    note: str | None = None
    wide: bool = False

    @property
    def chart_id(self) -> str:
        return chart_id(self.key)


def chart_id(key: str) -> str:
    """The id of a panel's chart element (what the browser test waits for)."""
    return f"chart-{key}"


def _code(text: str) -> str:
    """Escaped text whose `backticked` parts are shown as code."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{part}</code>" if i % 2 else part for i, part in enumerate(parts))


def _section(panel: Panel) -> str:
    body = []
    if panel.note:
        body.append(f'<p class="note">{_code(panel.note)}</p>')
    if panel.figure is not None:
        chart = panel.figure.to_html(full_html=False, include_plotlyjs=False,
                                     div_id=panel.chart_id, config=PLOT_CONFIG)
        body.append(f'<div class="{CHART_CLASS}" data-chart="{panel.key}">{chart}</div>')
    else:
        body.append(f'<p class="missing" id="{panel.chart_id}-missing">'
                    f'{_code(panel.missing or "nothing to draw")}</p>')
    wide = ' class="wide"' if panel.wide else ""
    return (f'<section id="panel-{panel.key}"{wide}><h2>{html.escape(panel.title)}</h2>'
            f'<p class="caption">{_code(panel.caption)}</p>{"".join(body)}</section>')


def render_page(panels: Sequence[Panel], *, title: str, build_id: str, built_at: str,
                versions: Mapping[str, int | None]) -> str:
    """The whole page as text. versions: source table -> the Delta version drawn (None: not
    built), listed in the footer."""
    tables = ", ".join(f"{name} v{version}" for name, version in sorted(versions.items())
                       if version is not None)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="{BUILD_META}" content="{html.escape(build_id)}">
<title>{html.escape(title)}</title>
<link rel="icon" href="data:,">
<style>{_STYLE}</style>
<script type="text/javascript">window.PlotlyConfig = {{MathJaxConfig: 'local'}};</script>
<script type="text/javascript">{get_plotlyjs()}</script>
</head>
<body>
<header><h1>{html.escape(title)}</h1><p>built {html.escape(built_at)} &middot; build
{html.escape(build_id)} &middot; plotly {plotly.__version__}</p></header>
<main>
{chr(10).join(_section(panel) for panel in panels)}
</main>
<footer>Drawn from {html.escape(tables) or "no table"}.</footer>
</body>
</html>
"""
