"""Driver side of the dashboard: each builder collects one small, already aggregated DataFrame
(`aggregates.py`, or a gold table that is small by construction) and returns a plotly figure.

A builder refuses more than MAX_ROWS rows (aggregate first, that is a bug, not a big chart) and
raises NoRows when there is nothing to draw, so the page can say so instead of an empty axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta

import plotly.graph_objects as go
from plotly.subplots import make_subplots
from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F

from journeylake.core.columns import require_columns
from journeylake.gold.outcomes import CONVERSION, DROPOFF, START

MAX_ROWS = 5_000
TEMPLATE = "plotly_white"
CRITICAL, WARNING = "#c0392b", "#e67e22"
BAND = "rgba(52, 152, 219, 0.18)"
OUTCOME_COLOURS = {CONVERSION: "#27ae60", DROPOFF: "#95a5a6"}
OVERALL = "all"


class NoRows(ValueError):
    """The table is there but holds nothing this chart can draw."""


def _rows(frame: DataFrame, what: str) -> list[Row]:
    rows = frame.limit(MAX_ROWS + 1).collect()
    if len(rows) > MAX_ROWS:
        raise ValueError(f"{what}: more than {MAX_ROWS} rows to draw; aggregate in Spark first")
    if not rows:
        raise NoRows(f"{what}: no rows to draw")
    return rows


def _layout(figure: go.Figure, height: int, **extra: object) -> go.Figure:
    settings: dict[str, object] = dict(template=TEMPLATE, height=height,
                                       margin=dict(l=60, r=30, t=50, b=40))
    figure.update_layout(**{**settings, **extra})
    return figure


def _number(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:,.{digits}g}"


def _journey_changes(changes: Sequence[Row] | None, top: int = 3) -> str:
    """The `top` largest journey-probability changes of an alert as short text."""
    ranked = sorted(changes or [], key=lambda c: -abs(c.change or 0.0))[:top]
    return "; ".join(f"{c.from_touchpoint} → {c.to_touchpoint} {c.change:+.1%}" for c in ranked)


def _alert_text(alert: Row) -> str:
    moved = (f"moved most: {alert.moved_breakdown}={alert.moved_breakdown_value} "
             f"({_number(alert.moved_change, 3)})" if alert.moved_breakdown else "")
    journeys = _journey_changes(alert.journey_changes)
    lines = [f"<b>{alert.severity} {alert.direction}</b> {alert.alert_date}",
             f"observed {_number(alert.observed)}, expected {_number(alert.expected)} "
             f"[{_number(alert.lower)}, {_number(alert.upper)}]",
             moved, f"journeys: {journeys}" if journeys else ""]
    return "<br>".join(line for line in lines if line)


def kpi_trends(series: DataFrame, alerts: DataFrame | None, kpis: Sequence[str]) -> go.Figure:
    """One panel per KPI: its daily value, the expected band (lower..upper) shaded, and a
    marker on each alert day (hover: severity, direction, the breakdown that moved most, the
    largest journey changes).

    series: kpi_date, kpi, value, expected, lower, upper (aggregates.kpi_series). alerts:
    aggregates.alerts_on_series, or None when gold_alerts is not built. kpis: the order.
    """
    require_columns(series, ("kpi_date", "kpi", "value", "expected", "lower", "upper"),
                    "kpi_trends")
    rows = _rows(series, "kpi_trends")
    marks = [] if alerts is None else alerts.limit(MAX_ROWS).collect()
    shown = [k for k in kpis if any(r.kpi == k for r in rows)]
    figure = make_subplots(rows=len(shown), cols=1, shared_xaxes=True, subplot_titles=shown,
                           vertical_spacing=0.25 / max(len(shown), 1))
    for index, name in enumerate(shown, start=1):
        points = sorted((r for r in rows if r.kpi == name), key=lambda r: r.kpi_date)
        days = [r.kpi_date for r in points]
        first = index == 1
        if any(r.upper is not None for r in points):
            figure.add_trace(go.Scatter(
                x=days, y=[r.upper for r in points], mode="lines", line=dict(width=0),
                hoverinfo="skip", showlegend=False, legendgroup="band"), row=index, col=1)
            figure.add_trace(go.Scatter(
                x=days, y=[r.lower for r in points], mode="lines", line=dict(width=0),
                fill="tonexty", fillcolor=BAND, name="expected band", legendgroup="band",
                showlegend=first, hoverinfo="skip"), row=index, col=1)
            figure.add_trace(go.Scatter(
                x=days, y=[r.expected for r in points], mode="lines", name="expected",
                line=dict(dash="dot", color="#2980b9"), legendgroup="expected",
                showlegend=first), row=index, col=1)
        figure.add_trace(go.Scatter(
            x=days, y=[r.value for r in points], mode="lines+markers", name="value",
            line=dict(color="#2c3e50"), marker=dict(size=4), legendgroup="value",
            showlegend=first), row=index, col=1)
        hits = sorted((a for a in marks if a.kpi == name), key=lambda a: a.alert_date)
        if hits:
            figure.add_trace(go.Scatter(
                x=[a.alert_date for a in hits], y=[a.observed for a in hits], mode="markers",
                name="alert", legendgroup="alert", showlegend=first,
                marker=dict(size=13, line=dict(width=1, color="white"),
                            color=[CRITICAL if a.severity == "critical" else WARNING
                                   for a in hits],
                            symbol=["triangle-up" if a.direction == "up" else "triangle-down"
                                    for a in hits]),
                hovertext=[_alert_text(a) for a in hits], hoverinfo="text"), row=index, col=1)
    return _layout(figure, 190 * len(shown) + 80, hovermode="closest",
                   legend=dict(orientation="h", y=1.08 + 0.1 / len(shown)))


def _table(headers: Sequence[str], widths: Sequence[int], cells: list[list[str]],
           coloured: int, colours: Sequence[str]) -> go.Figure:
    """A plain table whose column `coloured` has its cells' text in `colours`, one per row."""
    return go.Figure(go.Table(
        columnwidth=list(widths),
        header=dict(values=list(headers), fill_color="#ecf0f1", align="left"),
        cells=dict(values=cells, align="left",
                   font=dict(color=["black"] * coloured + [list(colours)]))))


ALERT_HEADERS = ("day", "KPI", "breakdown", "severity", "direction", "observed", "expected",
                 "band", "deviation", "moved most", "journey changes")


def alert_table(alerts: DataFrame) -> go.Figure:
    """The latest alerts as a table (aggregates.latest_alerts), newest first; an empty table
    says there are none."""
    rows = alerts.limit(MAX_ROWS).collect()
    if not rows:
        cells = [["no alerts"], *[[""] for _ in ALERT_HEADERS[1:]]]
    else:
        cells = [
            [str(r.alert_date) for r in rows], [r.kpi for r in rows],
            [f"{r.breakdown}={r.breakdown_value}" for r in rows], [r.severity for r in rows],
            [r.direction for r in rows], [_number(r.observed) for r in rows],
            [_number(r.expected) for r in rows],
            [f"{_number(r.lower)} .. {_number(r.upper)}" for r in rows],
            [_number(r.deviation, 3) for r in rows],
            [f"{r.moved_breakdown}={r.moved_breakdown_value}" if r.moved_breakdown else ""
             for r in rows],
            [_journey_changes(r.journey_changes) for r in rows],
        ]
    colours = [CRITICAL if r.severity == "critical" else WARNING for r in rows] or ["black"]
    figure = _table(ALERT_HEADERS, [70, 110, 120, 60, 60, 70, 70, 110, 60, 130, 260], cells,
                    3, colours)
    # Rows with journey changes wrap onto two lines.
    return _layout(figure, 80 + 48 * max(len(rows), 1), margin=dict(l=10, r=10, t=10, b=10))


QUALITY_HEADERS = ("table", "expectation", "kind", "severity", "result", "failing / checked",
                   "failing keys (sample)", "job", "evaluated")
PASSED = "#27ae60"


def quality_table(results: DataFrame) -> go.Figure:
    """The latest result of each expectation (aggregates.latest_quality) as a table, failed
    ones first and in red."""
    rows = _rows(results, "quality_table")
    status = ["failed" if not r.passed else "passed" for r in rows]
    colours = [PASSED if r.passed else (CRITICAL if r.severity == "hard" else WARNING)
               for r in rows]
    cells = [[r.table_name for r in rows], [r.expectation for r in rows],
             [r.kind for r in rows], [r.severity for r in rows], status,
             [f"{r.failing_rows:,} / {r.rows_checked:,}" for r in rows],
             [", ".join(r.failing_keys or []) for r in rows], [r.job for r in rows],
             [f"{r.evaluated_at:%Y-%m-%d %H:%M}" for r in rows]]
    figure = _table(QUALITY_HEADERS, [150, 190, 90, 60, 60, 110, 220, 50, 110], cells, 4,
                    colours)
    return _layout(figure, 80 + 28 * len(rows), margin=dict(l=10, r=10, t=10, b=10))


def funnels(report: DataFrame) -> go.Figure:
    """One funnel per gold_funnels funnel, over all persons: persons reaching each step, with
    the share of the first step."""
    require_columns(report, ("funnel", "group_by", "step_index", "step", "persons"), "funnels")
    rows = _rows(report.where(F.col("group_by") == OVERALL), "funnels")
    names = sorted({r.funnel for r in rows})
    # Room for the step names between funnels, within plotly's limit of 1 / (cols - 1).
    figure = make_subplots(rows=1, cols=len(names), subplot_titles=names,
                           horizontal_spacing=min(0.12, 0.9 / len(names)))
    for index, name in enumerate(names, start=1):
        steps = sorted((r for r in rows if r.funnel == name), key=lambda r: r.step_index)
        figure.add_trace(go.Funnel(
            y=[r.step for r in steps], x=[r.persons for r in steps], name=name,
            textinfo="value+percent initial", showlegend=False), row=1, col=index)
    return _layout(figure, 380)


def paths_sankey(paths: DataFrame) -> go.Figure:
    """The top paths (aggregates.top_paths) as a Sankey: every path flows from (start) through
    its touchpoints, one node per touchpoint and step position, into its outcome; a link's
    value is the journeys of the paths that share it."""
    require_columns(paths, ("outcome", "path", "journeys"), "paths_sankey")
    rows = _rows(paths, "paths_sankey")
    nodes: dict[tuple[int | str, str], int] = {}
    links: dict[tuple[int, int, str], int] = {}

    def node(key: tuple[int | str, str]) -> int:
        return nodes.setdefault(key, len(nodes))

    for row in sorted(rows, key=lambda r: (r.outcome, -r.journeys, list(r.path))):
        chain = [node((0, START)), *[node((i, t)) for i, t in enumerate(row.path, start=1)],
                 node(("outcome", row.outcome))]
        for source, target in zip(chain, chain[1:], strict=False):
            key = (source, target, row.outcome)
            links[key] = links.get(key, 0) + row.journeys
    labels = [label for (_, label) in nodes]
    figure = go.Figure(go.Sankey(
        arrangement="snap",
        node=dict(label=labels, pad=12, thickness=14,
                  color=[OUTCOME_COLOURS.get(label, "#34495e") for label in labels]),
        link=dict(source=[s for s, _, _ in links], target=[t for _, t, _ in links],
                  value=list(links.values()),
                  color=["rgba(39,174,96,0.35)" if o == CONVERSION else "rgba(149,165,166,0.35)"
                         for _, _, o in links])))
    return _layout(figure, 600)


def _layout_nodes(names: Sequence[str]) -> dict[str, tuple[float, float]]:
    """(start) on the left, the outcomes on the right, the touchpoints on a circle between
    them in the given order from the top: plotly has no graph layout, and a fixed one reads
    left to right and keeps builds comparable."""
    touchpoints = [n for n in names if n not in (START, CONVERSION, DROPOFF)]
    count = max(len(touchpoints), 1)
    where = {name: (math.sin(2 * math.pi * i / count), math.cos(2 * math.pi * i / count))
             for i, name in enumerate(touchpoints)}
    fixed = {START: (-1.45, 0.0), CONVERSION: (1.45, 0.35), DROPOFF: (1.45, -0.35)}
    where.update({name: fixed[name] for name in names if name in fixed})
    return where


def touchpoint_graph(edges: DataFrame, significance: DataFrame | None) -> go.Figure:
    """The journey graph: (start) left, touchpoints on a circle, the outcomes right; an arrow
    per edge (aggregates.busiest_edges), thicker for more transitions; node size by PageRank and
    colour by removal effect (gold_touchpoint_significance, when built)."""
    require_columns(edges, ("src", "dst", "transitions", "probability", "conversion_rate"),
                    "touchpoint_graph")
    rows = [r for r in _rows(edges, "touchpoint_graph") if r.src != r.dst]
    stats = {} if significance is None else {
        r.touchpoint: r for r in significance.limit(MAX_ROWS).collect()}
    seen = {r.src for r in rows} | {r.dst for r in rows}
    ends = [s for s in (CONVERSION, DROPOFF) if s in seen]
    order = [START] * (START in seen) + sorted(seen - {START, *ends}) + ends
    where = _layout_nodes(order)
    heaviest = max(r.transitions for r in rows)
    figure = go.Figure()
    for row in rows:
        (x0, y0), (x1, y1) = where[row.src], where[row.dst]
        figure.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x",
                              ayref="y", showarrow=True, arrowhead=2, arrowsize=1,
                              standoff=12, startstandoff=12, opacity=0.55,
                              arrowwidth=0.5 + 5 * row.transitions / heaviest,
                              arrowcolor="#7f8c8d")
    figure.add_trace(go.Scatter(  # invisible midpoints: hovering an edge tells its numbers
        x=[(where[r.src][0] + where[r.dst][0]) / 2 for r in rows],
        y=[(where[r.src][1] + where[r.dst][1]) / 2 for r in rows], mode="markers",
        marker=dict(size=8, opacity=0), showlegend=False, hoverinfo="text",
        hovertext=[f"{r.src} → {r.dst}<br>{r.transitions:,} transitions, "
                   f"p={r.probability:.2f}, converts {_number(r.conversion_rate, 2)}"
                   for r in rows]))
    ranks = [getattr(stats.get(n), "pagerank", None) for n in order]
    top_rank = max([r for r in ranks if r] or [1.0])
    effects = [getattr(stats.get(n), "removal_effect", None) for n in order]
    figure.add_trace(go.Scatter(
        x=[where[n][0] for n in order], y=[where[n][1] for n in order], mode="markers+text",
        text=order, textposition="top center", showlegend=False, hoverinfo="text",
        hovertext=[f"{n}<br>PageRank {_number(r, 3)}, removal effect {_number(e, 3)}"
                   for n, r, e in zip(order, ranks, effects, strict=True)],
        marker=dict(size=[14 + 30 * math.sqrt((r or 0) / top_rank) for r in ranks],
                    color=[e if e is not None else 0.0 for e in effects],
                    colorscale="Viridis", showscale=bool(stats),
                    colorbar=dict(title="removal<br>effect"),
                    line=dict(width=1, color="#2c3e50"))))
    return _layout(figure, 560, xaxis=dict(visible=False, range=[-1.7, 1.7]),
                   yaxis=dict(visible=False, range=[-1.25, 1.25], scaleanchor="x"))


def attribution(credit: DataFrame) -> go.Figure:
    """Conversions credited to each channel by each attribution model (gold_attribution),
    grouped by channel, channels by their mean credit; hover adds the revenue."""
    require_columns(credit, ("model", "channel", "conversions", "revenue"), "attribution")
    rows = _rows(credit, "attribution")
    total: dict[str, float] = {}
    for r in rows:
        total[r.channel] = total.get(r.channel, 0.0) + (r.conversions or 0.0)
    channels = sorted(total, key=lambda c: (-total[c], c))
    figure = go.Figure()
    for model in sorted({r.model for r in rows}):
        of_model = {r.channel: r for r in rows if r.model == model}
        figure.add_trace(go.Bar(
            name=model, x=channels,
            y=[of_model[c].conversions if c in of_model else 0.0 for c in channels],
            customdata=[of_model[c].revenue if c in of_model else 0.0 for c in channels],
            hovertemplate=f"{model}<br>%{{x}}: %{{y:.1f}} conversions, revenue %{{customdata:,.2f}}"
                          "<extra></extra>"))
    return _layout(figure, 420, barmode="group", yaxis_title="conversions credited")


def segment_profiles(profiles: DataFrame) -> go.Figure:
    """Each segment's mean of each feature (aggregates.latest_segment_profiles) as a heatmap,
    coloured by where the segment sits between the lowest and highest segment on that feature
    (features have different units); the cell and hover show the mean itself."""
    require_columns(profiles, ("segment", "segment_label", "persons", "share", "feature_means"),
                    "segment_profiles")
    rows = sorted(_rows(profiles, "segment_profiles"), key=lambda r: r.segment)
    features = sorted({f for r in rows for f in (r.feature_means or {})})
    if not features:
        raise NoRows("segment_profiles: no feature means")
    means = [[(r.feature_means or {}).get(f) for f in features] for r in rows]
    scaled = []
    for values in means:
        scaled.append([])
        for j, value in enumerate(values):
            column = [m[j] for m in means if m[j] is not None]
            low, high = min(column or [0.0]), max(column or [0.0])
            scaled[-1].append(None if value is None else
                              0.5 if high == low else (value - low) / (high - low))
    labels = [f"{r.segment_label} ({r.persons:,}, {r.share:.0%})" for r in rows]
    figure = go.Figure(go.Heatmap(
        z=scaled, x=features, y=labels, customdata=means, colorscale="RdBu", reversescale=True,
        zmin=0, zmax=1, text=[[_number(v, 3) for v in row] for row in means],
        texttemplate="%{text}", hovertemplate="%{y}<br>%{x}: %{customdata:.4g}<extra></extra>",
        colorbar=dict(title="low → high<br>among<br>segments")))
    return _layout(figure, 140 + 45 * len(rows), xaxis=dict(tickangle=-35))


def score_distribution(histogram: DataFrame) -> go.Figure:
    """Share of persons per score bin, one series per propensity model
    (aggregates.score_histogram); hover gives the count."""
    require_columns(histogram, ("model", "bin", "lower", "upper", "persons"),
                    "score_distribution")
    rows = _rows(histogram, "score_distribution")
    figure = go.Figure()
    for model in sorted({r.model for r in rows}):
        bins = sorted((r for r in rows if r.model == model), key=lambda r: r.bin)
        persons = sum(r.persons for r in bins) or 1
        figure.add_trace(go.Bar(
            name=model, x=[f"{r.lower:.0f}–{r.upper:.0f}" for r in bins],
            y=[r.persons / persons for r in bins], customdata=[r.persons for r in bins],
            hovertemplate=f"{model}<br>score %{{x}}: %{{customdata:,}} persons "
                          "(%{y:.1%})<extra></extra>"))
    return _layout(figure, 380, barmode="group", yaxis=dict(title="share of persons",
                                                            tickformat=".0%"),
                   xaxis_title="score (0-100)")


def clv_deciles(deciles: DataFrame) -> go.Figure:
    """Predicted CLV held by each decile of customers (aggregates.clv_deciles), labelled with
    its share of all predicted CLV; hover gives the range, mean and persons."""
    require_columns(deciles, ("decile", "persons", "lower", "upper", "total_clv", "mean_clv"),
                    "clv_deciles")
    rows = sorted(_rows(deciles, "clv_deciles"), key=lambda r: r.decile)
    total = sum(r.total_clv for r in rows) or 1.0
    figure = go.Figure(go.Bar(
        x=[f"D{r.decile}" for r in rows], y=[r.total_clv for r in rows],
        text=[f"{r.total_clv / total:.0%}" for r in rows], textposition="outside",
        customdata=[[r.persons, r.lower, r.upper, r.mean_clv] for r in rows],
        marker_color="#8e44ad",
        hovertemplate="%{x}: %{customdata[0]:,} persons, CLV %{customdata[1]:,.2f} .. "
                      "%{customdata[2]:,.2f}, mean %{customdata[3]:,.2f}<extra></extra>"))
    return _layout(figure, 380, yaxis_title="predicted CLV (sum)",
                   xaxis_title="customers by CLV decile (D10 highest)")


def _add_periods(start: date, period: str, count: int) -> date:
    if period == "day":
        return start + timedelta(days=count)
    if period == "week":
        return start + timedelta(weeks=count)
    months = start.month - 1 + count
    return date(start.year + months // 12, months % 12 + 1, 1)


def _periods_between(start: date, end: date, period: str) -> int:
    if period == "day":
        return (end - start).days
    if period == "week":
        return (end - start).days // 7
    return (end.year - start.year) * 12 + end.month - start.month


def cohort_retention(cohorts: DataFrame, period: str) -> go.Figure:
    """Retention of each cohort (rows, newest at the bottom) per period since its start
    (aggregates.latest_cohorts). gold_cohort_retention leaves out offsets with no active person:
    those are 0 up to the data's last period, and blank after it (not observed yet)."""
    require_columns(cohorts, ("cohort_start", "period_offset", "cohort_size", "retention"),
                    "cohort_retention")
    rows = _rows(cohorts, "cohort_retention")
    starts = sorted({r.cohort_start for r in rows})
    last_period = max(_add_periods(r.cohort_start, period, r.period_offset) for r in rows)
    offsets = list(range(max(r.period_offset for r in rows) + 1))
    cells = {(r.cohort_start, r.period_offset): r.retention for r in rows}
    sizes = {r.cohort_start: r.cohort_size for r in rows if r.period_offset == 0}
    z = [[cells.get((s, o), 0.0) if o <= _periods_between(s, last_period, period) else None
          for o in offsets] for s in starts]
    figure = go.Figure(go.Heatmap(
        z=z, x=offsets, y=[f"{s} ({sizes.get(s, 0):,})" for s in starts], zmin=0, zmax=1,
        colorscale="Blues", texttemplate="%{z:.0%}",
        hovertemplate="cohort %{y}<br>" + period + " %{x}: %{z:.1%} active<extra></extra>",
        colorbar=dict(title="retained", tickformat=".0%")))
    return _layout(figure, 140 + 32 * len(starts), xaxis=dict(title=f"{period}s since first seen",
                                                              dtick=1),
                   yaxis=dict(type="category"))
