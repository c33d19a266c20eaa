"""Write the dashboard: one self-contained HTML page of plotly charts from the gold tables.

Every source table is read at the Delta version recorded for the build (time travel), so the
versions in the page's footer are exactly what it draws, and `--serve` rebuilds only when one of
them moves. A table that is not built yet is a panel saying which command builds it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go
from pyspark.sql import DataFrame, SparkSession

from journeylake.core import lakehouse
from journeylake.core.clock import utc_now
from journeylake.core.config import Config, ConfigError
from journeylake.core.job_runner import config_from_args, configure_logging, job_parser, run_main
from journeylake.core.spark_session import build_session
from journeylake.dashboard import aggregates, figures, sources
from journeylake.dashboard.page import Panel, render_page
from journeylake.dashboard.serve import Versions, Watcher, serve
from journeylake.dashboard.sources import Source, missing_notice
from journeylake.kpis.definitions import KPI_NAMES

log = logging.getLogger("journeylake.dashboard")


@dataclass(frozen=True)
class DashboardOutcome:
    path: str
    build_id: str
    drawn: tuple[str, ...]
    missing: tuple[str, ...]
    versions: Mapping[str, int | None]


def check_settings(config: Config) -> None:
    """What config.py cannot check without importing a stage: the KPI names."""
    unknown = [name for name in config.dashboard.kpis if name not in KPI_NAMES]
    if unknown:
        raise ConfigError(f"dashboard.kpis: {unknown} unknown; known: {', '.join(KPI_NAMES)}")


def source_versions(spark: SparkSession, config: Config) -> dict[str, int | None]:
    """Each source table's latest Delta version; None for one that is not built."""
    return {source.name: (lakehouse.table_version(spark, config, source.table)
                          if lakehouse.table_exists(spark, config, source.table) else None)
            for source in sources.SOURCES}


class _Reader:
    """Reads sources at the versions of one build."""

    def __init__(self, spark: SparkSession, config: Config, versions: Versions) -> None:
        self.spark, self.config, self.versions = spark, config, versions

    def has(self, source: Source) -> bool:
        return self.versions.get(source.name) is not None

    def __call__(self, source: Source) -> DataFrame:
        return lakehouse.read_table(self.spark, self.config, source.table,
                                    version=self.versions[source.name])


def _kpi_panel(read: _Reader, config: Config) -> Panel:
    settings = config.dashboard
    panel = Panel("kpis", "KPI trends", f"Daily {', '.join(settings.kpis)} over all customers, "
                  f"the last {settings.kpi_days} days: the value, the expected band "
                  "(gold_kpi_baselines) and the alerts (gold_alerts; hover a triangle).",
                  wide=True)
    notes = []
    if read.has(sources.BASELINES):
        table = read(sources.BASELINES)
    elif read.has(sources.KPIS_DAILY):
        table = read(sources.KPIS_DAILY)
        notes.append(f"{missing_notice(sources.BASELINES)} (values without their band)")
    else:
        return _missing(panel, sources.BASELINES)
    alerts = None
    if read.has(sources.ALERT_LIST):
        alerts = aggregates.alerts_on_series(read(sources.ALERT_LIST), settings.kpis,
                                             settings.kpi_days)
    else:
        notes.append(missing_notice(sources.ALERT_LIST))
    series = aggregates.kpi_series(table, settings.kpis, settings.kpi_days)
    return _drawn(panel, lambda: figures.kpi_trends(series, alerts, settings.kpis),
                  "; ".join(notes) or None)


def _missing(panel: Panel, source: Source) -> Panel:
    return Panel(panel.key, panel.title, panel.caption, missing=missing_notice(source),
                 wide=panel.wide)


def _drawn(panel: Panel, draw: Callable[[], go.Figure], note: str | None = None) -> Panel:
    try:
        figure = draw()
    except figures.NoRows as empty:
        return Panel(panel.key, panel.title, panel.caption, missing=str(empty), note=note,
                     wide=panel.wide)
    return Panel(panel.key, panel.title, panel.caption, figure=figure, note=note,
                 wide=panel.wide)


def build_panels(spark: SparkSession, config: Config, versions: Versions) -> list[Panel]:
    """Every panel, in page order, from the sources at `versions`."""
    read = _Reader(spark, config, versions)
    settings = config.dashboard

    def panel(key: str, title: str, caption: str, source: Source,
              draw: Callable[[DataFrame], go.Figure], wide: bool = False) -> Panel:
        blank = Panel(key, title, caption, wide=wide)
        if not read.has(source):
            return _missing(blank, source)
        return _drawn(blank, lambda: draw(read(source)))

    significance = read(sources.SIGNIFICANCE) if read.has(sources.SIGNIFICANCE) else None
    return [
        _kpi_panel(read, config),
        panel("alerts", "Latest alerts", f"The {settings.alerts} latest alerts of any breakdown, "
              "newest first (gold_alerts).", sources.ALERT_LIST,
              lambda t: figures.alert_table(aggregates.latest_alerts(t, settings.alerts)),
              wide=True),
        panel("funnel", "Funnels", "Persons reaching each step of each configured funnel "
              "(gold_funnels, all persons), with the share of the first step.", sources.FUNNELS,
              figures.funnels, wide=True),
        panel("paths", "Top paths", f"The {settings.top_paths} most common paths to a conversion "
              "and to a drop-off (gold_top_paths), from (start) to the outcome; width is "
              "journeys.", sources.TOP_PATHS,
              lambda t: figures.paths_sankey(aggregates.top_paths(t, settings.top_paths)),
              wide=True),
        panel("graph", "Touchpoint graph", f"The {settings.graph_edges} most travelled "
              "transitions (gold_journey_edges), (start) on the left, the outcomes on the "
              "right; node size is PageRank and colour the removal effect "
              "(gold_touchpoint_significance).", sources.JOURNEY_EDGES,
              lambda t: figures.touchpoint_graph(
                  aggregates.busiest_edges(t, settings.graph_edges), significance)),
        panel("attribution", "Attribution", "Conversions credited to each channel by each "
              "attribution model (gold_attribution).", sources.ATTRIBUTION,
              figures.attribution, wide=True),
        panel("segments", "Segment profiles", "Each segment's mean of each feature "
              "(gold_segment_profiles, the latest model), coloured from the lowest to the "
              "highest segment.", sources.SEGMENT_PROFILES,
              lambda t: figures.segment_profiles(aggregates.latest_segment_profiles(t))),
        panel("scores", "Score distribution", "Share of customers in each score bin of each "
              "propensity model (gold_scores).", sources.SCORES,
              lambda t: figures.score_distribution(
                  aggregates.score_histogram(t, settings.score_bins))),
        panel("clv", "Customer lifetime value", "Predicted CLV held by each tenth of customers "
              "(gold_clv; approximate deciles).", sources.CLV,
              lambda t: figures.clv_deciles(aggregates.clv_deciles(t))),
        panel("cohorts", "Cohort retention", f"Share of each {settings.cohort_period}'s new "
              f"persons active in each later {settings.cohort_period}, the latest "
              f"{settings.cohorts} cohorts (gold_cohort_retention).", sources.COHORT_RETENTION,
              lambda t: figures.cohort_retention(aggregates.latest_cohorts(
                  t, settings.cohort_period, settings.cohorts), settings.cohort_period)),
        panel("quality", "Data quality", "The latest result of each expectation of each table "
              "(audit_quality; conf/quality.yaml), failed ones first: a failed hard one "
              "stopped its job, a failed soft one is only reported here.", sources.QUALITY,
              lambda t: figures.quality_table(aggregates.latest_quality(t)), wide=True),
    ]


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` in one rename, so a reader (the browser, `--serve`) never sees half a
    page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def output_path(config: Config) -> Path:
    return Path(config.resolve(config.dashboard.output))


def build_dashboard(spark: SparkSession, config: Config, versions: Versions | None = None
                    ) -> DashboardOutcome:
    """Draw every panel from the sources at `versions` (their latest when None) and write the
    page to dashboard.output."""
    versions = dict(versions) if versions is not None else source_versions(spark, config)
    now = utc_now()
    build_id = f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    panels = build_panels(spark, config, versions)
    path = output_path(config)
    write_atomically(path, render_page(panels, title=config.dashboard.title, build_id=build_id,
                                       built_at=f"{now:%Y-%m-%d %H:%M:%S} UTC",
                                       versions=versions))
    outcome = DashboardOutcome(
        str(path), build_id, tuple(p.key for p in panels if p.figure is not None),
        tuple(p.key for p in panels if p.figure is None), versions)
    log.info("dashboard %s: %d charts, %d not drawn (%s) -> %s", build_id, len(outcome.drawn),
             len(outcome.missing), ", ".join(outcome.missing) or "none", path)
    return outcome


def describe_dashboard(outcome: DashboardOutcome) -> str:
    missing = f"; not drawn: {', '.join(outcome.missing)}" if outcome.missing else ""
    return (f"dashboard {outcome.build_id}: {len(outcome.drawn)} charts{missing} -> "
            f"{outcome.path}")


def serve_dashboard(spark: SparkSession, config: Config, stop: threading.Event | None = None,
                    on_ready: Callable[[str], None] | None = None,
                    built: DashboardOutcome | None = None) -> None:
    """Build the page (unless `built` is the page already at dashboard.output), serve it on
    127.0.0.1:dashboard.port and rebuild it whenever a source table's version changes (looked
    at every dashboard.poll_seconds) until `stop` is set or Ctrl-C."""
    first = built if built is not None else build_dashboard(spark, config)
    watcher = Watcher(lambda: source_versions(spark, config),
                      lambda versions: print(describe_dashboard(
                          build_dashboard(spark, config, versions)), flush=True),
                      built_from=first.versions)

    def ready(url: str) -> None:
        print(f"{describe_dashboard(first)}\nserving {url} (Ctrl-C stops)", flush=True)
        if on_ready is not None:
            on_ready(url)

    serve(output_path(config), config.dashboard.port, config.dashboard.poll_seconds, watcher,
          stop, ready)


def _stop_on_ctrl_c() -> threading.Event:
    """An event the first Ctrl-C sets, so `--serve` stops after the look or rebuild under way;
    a second Ctrl-C interrupts it. PySpark's own handler would cancel the Spark jobs in the
    middle of a py4j call and print py4j's tracebacks."""
    stop = threading.Event()

    def interrupted(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        print("stopping after the current look at the tables (Ctrl-C again to interrupt)",
              file=sys.stderr, flush=True)
        stop.set()

    signal.signal(signal.SIGINT, interrupted)
    return stop


def main(argv: Sequence[str] | None = None) -> int:
    parser = job_parser("dashboard", __doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true",
                        help="serve the page on 127.0.0.1:dashboard.port and rebuild it when a "
                        "gold table changes")
    args = parser.parse_args(argv)
    configure_logging()
    config = config_from_args(args)
    check_settings(config)
    spark = build_session(config)
    if args.serve:
        serve_dashboard(spark, config, _stop_on_ctrl_c())
    else:
        print(describe_dashboard(build_dashboard(spark, config)))
    return 0


if __name__ == "__main__":
    sys.exit(run_main("dashboard", main))
