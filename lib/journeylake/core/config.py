"""Configuration: `conf/base.yaml`, one file per environment and one per source, merged into one
frozen, typed object and validated before any Spark work starts.

Order of precedence, last wins: base.yaml, the stage files (silver.yaml), <env>.yaml,
conf/sources/*.yaml (under `sources`), then `--conf key=value` overrides from the command line
(dotted keys, YAML values).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

# Source contracts are configuration too; they live in their own module and are named here so
# that `journeylake.core.config` is the one import for settings.
from journeylake.core.source_spec import (  # noqa: F401 - re-exported
    ConfigError,
    CsvOptions,
    FieldSpec,
    SourceSpec,
    validate_source,
)

ENVIRONMENTS = ("local", "cluster", "databricks")
CONF_DIR_ENV = "JOURNEYLAKE_CONF_DIR"
# Per-stage settings (rules a data engineer edits), merged after base.yaml, before <env>.yaml.
STAGE_FILES = ("silver.yaml", "gold.yaml", "models.yaml", "kpis.yaml", "streaming.yaml",
               "dashboard.yaml", "quality.yaml")
JARS_DIR_ENV = "JOURNEYLAKE_JARS_DIR"


@dataclass(frozen=True)
class SparkSettings:
    app_name: str = "journeylake"
    master: str = "local[2]"
    # On a cluster (spark-submit) or Databricks the session and its jars come from outside.
    use_existing_session: bool = False
    jars_dir: str | None = None
    checkpoint_dir: str = "data/checkpoints"
    # "hive" keeps table names in a Derby metastore under metastore_dir, so they outlive the
    # session and spark-sql sees them; "in-memory" forgets them (tests).
    catalog: str = "in-memory"
    metastore_dir: str = "data/metastore"
    conf: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LakehouseSettings:
    root: str = "data/lakehouse"
    database: str = "journeylake"
    # Where raw files land before ingestion; source paths are relative to it.
    landing_root: str = "data/landing"
    # A commit that loses a race to another writer (Delta's optimistic concurrency) is tried
    # again this many times, after a random wait of about backoff x 2^attempt seconds.
    commit_retries: int = 5
    commit_backoff_seconds: float = 0.5


@dataclass(frozen=True)
class IngestSettings:
    sources: tuple[str, ...] = ()
    # Event time later than ingestion time by more than this is quarantined.
    max_future_hours: float = 24.0


@dataclass(frozen=True)
class Anomaly:
    """A disruption the generator plants on one UTC day, for the alerts to catch
    (`generator.anomalies` says what each kind does and what it should look like)."""

    kind: str
    date: str
    # The hours [start_hour, end_hour) of the day it lasts.
    start_hour: int = 0
    end_hour: int = 24
    # campaign_spike and tracking_outage: the entry channel it hits.
    channel: str | None = None
    # campaign_spike: the channel's sessions that day, times this (about).
    lift: float = 3.0


@dataclass(frozen=True)
class ConsentGeneration:
    """The planted consent history (`generator.consent`): per customer and purpose, whether
    they ever granted it, when, and whether they withdrew and granted it again."""

    # Share of customers who grant each purpose at some point.
    analytics_share: float = 0.9
    marketing_share: float = 0.6
    profiling_share: float = 0.85
    # Of those, the share granted before the window starts (the rest grant inside it).
    before_window_share: float = 0.7
    # Of those, the share who withdraw inside the window; of the withdrawn, the share who grant
    # again later (through the web site's cookie banner, keyed by their cookie).
    withdrawn_share: float = 0.1
    regranted_share: float = 0.4
    # Share of anonymous visitors who answer the cookie banner (each purpose then granted with
    # its share above).
    anonymous_share: float = 0.5


@dataclass(frozen=True)
class GenerateSettings:
    customers: int = 2000
    days: int = 30
    seed: int = 42
    end_date: str = "2026-06-30"
    bad_share: float = 0.02
    stores: int = 25
    files_per_source: int = 2
    # Sessions on each weekday, Monday first, relative to the segment's rate (at least 1: the
    # weekly cycle only adds sessions, so weekday data is the same with or without it).
    weekday_traffic: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    anomalies: tuple[Anomaly, ...] = ()
    consent: ConsentGeneration = field(default_factory=ConsentGeneration)


# The purposes a consent is given for; `profiling` gates the models, `marketing` the leads'
# consent_status.
CONSENT_PURPOSES = ("analytics", "marketing", "profiling")
CONSENT_DEFAULTS = ("deny", "grant")


@dataclass(frozen=True)
class ConsentSettings:
    # What a person without any consent decision at the time of a check gets: deny (opt-in,
    # the GDPR reading) or grant (an opt-out regime). A recorded decision always wins.
    default: str = "deny"


@dataclass(frozen=True)
class PrivacySettings:
    # A file holding the pseudonymisation key; $JOURNEYLAKE_PII_KEY and
    # $JOURNEYLAKE_PII_KEY_FILE take precedence. Never the key itself.
    key_file: str | None = None
    consent: ConsentSettings = field(default_factory=ConsentSettings)
    # Tables an erasure deletes from and vacuums at once: each is a few small Delta jobs that
    # mostly wait on the driver, so a few in flight keep the cores busy.
    erase_parallelism: int = 3


@dataclass(frozen=True)
class CardinalityRule:
    """An identifier of `identifier_type` linked to more than `max` distinct identifiers of
    `linked_type` is not trusted as a link (a shared tablet, a family email, a public cookie)."""

    identifier_type: str
    linked_type: str
    max: int = 1


@dataclass(frozen=True)
class IdentitySettings:
    cardinality_rules: tuple[CardinalityRule, ...] = ()
    # A person holds at most this many customer ids; a component with more is split around its
    # customers and the identifiers bridging them are reported.
    max_customers_per_person: int = 1


@dataclass(frozen=True)
class ChannelRule:
    """`channel` when the Spark SQL predicate `when` holds; the first matching rule wins."""

    channel: str
    when: str


@dataclass(frozen=True)
class StoreVisitSettings:
    radius_m: float = 75.0
    min_dwell_minutes: float = 5.0
    # Consecutive pings further apart than this end a visit.
    max_gap_minutes: float = 20.0


@dataclass(frozen=True)
class ExchangeRate:
    """One unit of `currency` is worth `rate` units of the reporting currency from `valid_from`
    (a date, YYYY-MM-DD) until the currency's next rate."""

    currency: str
    valid_from: str
    rate: float


@dataclass(frozen=True)
class CurrencySettings:
    # Sessions, journeys, attribution and profiles add up amounts in this currency.
    reporting: str = "EUR"
    rates: tuple[ExchangeRate, ...] = ()


@dataclass(frozen=True)
class SilverSettings:
    # Sessions end after this much inactivity; a gap of exactly this length continues them.
    session_gap_minutes: float = 30.0
    # Events older than the timeline's latest event by more than this count as late arrivals in
    # the audit; they are still placed on the timeline and their sessions rebuilt.
    late_lookback_hours: float = 72.0
    channel_rules: tuple[ChannelRule, ...] = ()
    default_channel: str = "direct"
    # Source value -> touchpoint, per source (see conf/silver.yaml).
    touchpoints: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    conversion_touchpoints: tuple[str, ...] = ("purchase", "store_purchase")
    store_visits: StoreVisitSettings = field(default_factory=StoreVisitSettings)
    currency: CurrencySettings = field(default_factory=CurrencySettings)


@dataclass(frozen=True)
class FunnelSettings:
    name: str
    steps: tuple[str, ...]
    window_hours: float = 24.0
    order: str = "strict"  # or "any"


@dataclass(frozen=True)
class SocialGraphSettings:
    reset_probability: float = 0.15
    pagerank_iterations: int = 20
    label_propagation_iterations: int = 5


@dataclass(frozen=True)
class GoldSettings:
    # Touchpoints this long before a conversion (or the last step of a journey without one)
    # belong to its path.
    lookback_days: float = 30.0
    # A journey without a conversion is a drop-off only once its person has been inactive this
    # long before the end of the data; until then it is open (it may still convert).
    dropoff_after_days: float = 7.0
    # What the journey graph, significance, motifs and top paths read: "session" (a visit and
    # its outcome: where a touchpoint acts on a decision made in the same visit) or "journey"
    # (every touchpoint since the person's last conversion, within lookback_days).
    graph_scope: str = "session"
    collapse_repeats: bool = True
    top_paths: int = 20
    odds_ratio_prior: float = 0.5
    odds_ratio_min_support: int = 30
    # Steps of the purchase itself (cart, checkout): they follow the decision rather than cause
    # it, so the significance table flags them.
    outcome_stage_touchpoints: tuple[str, ...] = ()
    time_decay_half_life_days: float = 7.0
    markov_orders: tuple[int, ...] = (1, 2)
    funnels: tuple[FunnelSettings, ...] = ()
    funnel_breakdowns: tuple[str, ...] = ("entry_channel",)
    cohort_periods: tuple[str, ...] = ("day", "week", "month")
    social: SocialGraphSettings = field(default_factory=SocialGraphSettings)


@dataclass(frozen=True)
class MlflowSettings:
    # None: a SQLite tracking store and registry in store_dir (a file store has no registry).
    # Or a tracking server, `http://host:5000`, or any URI MLflow accepts.
    tracking_uri: str | None = None
    store_dir: str = "data/mlflow"
    experiment: str = "journeylake"
    # Registered models are named <model_prefix>_<model> (journeylake_purchase, ...).
    model_prefix: str = "journeylake"
    ui_port: int = 5000


@dataclass(frozen=True)
class SegmentationSettings:
    algorithms: tuple[str, ...] = ("kmeans", "bisecting_kmeans", "gaussian_mixture")
    k_min: int = 3
    k_max: int = 8
    # The features that describe a customer for clustering (names of gold_customer_features).
    features: tuple[str, ...] = ()
    max_iterations: int = 30
    seed: int = 7


@dataclass(frozen=True)
class PropensitySettings:
    targets: tuple[str, ...] = ("purchase", "churn", "unsubscribe")
    # Labels look this many days past the reference date (N of "purchase in the next N days").
    label_days: int = 7
    # Training reference dates before the holdout one, each label_days apart.
    training_references: int = 2
    cv_folds: int = 3
    logistic_reg_params: tuple[float, ...] = (0.05, 0.1, 0.3)
    gbt_max_depths: tuple[int, ...] = (3, 5)
    gbt_max_iter: int = 30
    # "auc_pr" or "auc_roc": what picks the better model and decides the champion.
    selection_metric: str = "auc_pr"
    calibration: str = "isotonic"  # or "platt"
    leads: int = 200
    lead_drivers: int = 3
    seed: int = 11


@dataclass(frozen=True)
class ClvSettings:
    horizon_days: int = 365
    # The last holdout_days of transactions check the model against a naive baseline.
    holdout_days: int = 14


@dataclass(frozen=True)
class RecommendationSettings:
    k: int = 10
    min_support: float = 0.002
    min_confidence: float = 0.05
    # Implicit feedback weights of the touchpoints ALS learns from.
    weights: Mapping[str, float] = field(default_factory=dict)
    als_rank: int = 16
    als_reg_param: float = 0.05
    als_alpha: float = 10.0
    als_max_iter: int = 10
    holdout_days: int = 7
    seed: int = 13


@dataclass(frozen=True)
class ModelSettings:
    # Counts and rates look this far back from the reference date; recency and tenure use all
    # history before it.
    feature_window_days: int = 28
    mlflow: MlflowSettings = field(default_factory=MlflowSettings)
    segmentation: SegmentationSettings = field(default_factory=SegmentationSettings)
    propensity: PropensitySettings = field(default_factory=PropensitySettings)
    clv: ClvSettings = field(default_factory=ClvSettings)
    recommendations: RecommendationSettings = field(default_factory=RecommendationSettings)


@dataclass(frozen=True)
class AlertSettings:
    """Baselines and alerts (kpis.alerts; `journeylake.kpis.alerts` explains each rule)."""

    # The KPIs judged (names of journeylake.kpis.definitions.KPIS).
    kpis: tuple[str, ...] = ("visitors", "sessions", "conversion_rate", "add_to_cart_rate",
                             "cart_abandonment", "orders", "revenue", "average_order_value",
                             "unsubscribes")
    # A day's baseline comes from this many days before it.
    window_days: int = 28
    min_history_days: int = 14
    warning_deviations: float = 4.0
    critical_deviations: float = 6.0
    min_expected: float = 10.0
    min_denominator: float = 50.0
    min_relative_sd: float = 0.05
    # Revenue and the average order value of fewer orders are not judged (too skewed).
    min_orders: float = 30.0
    # Live alerts (gold_alerts_live): a window against the same window of the day on this many
    # days before, judged with at least live_min_history_days of them.
    live_days: int = 7
    live_min_history_days: int = 3
    # The journey change: the edges listed, and the transitions a touchpoint needs on each side.
    journey_changes: int = 5
    journey_min_transitions: int = 20


@dataclass(frozen=True)
class KpiSettings:
    # A person lapses (the `churned` KPI) this many days after their last event.
    churn_days: int = 14
    alerts: AlertSettings = field(default_factory=AlertSettings)


@dataclass(frozen=True)
class KafkaSettings:
    # host:port[,host:port...]; `make kafka-up` runs a broker on the first one (127.0.0.1 only).
    bootstrap_servers: str = "127.0.0.1:9092"
    topic: str = "clickstream"
    # Where a query without a checkpoint starts: "earliest" (all the topic holds) or "latest".
    starting_offsets: str = "earliest"
    # At most this many messages per micro-batch, so one batch stays small after a backlog.
    max_offsets_per_trigger: int = 20000
    # How long to wait for the broker to answer before the job says it is not reachable.
    connect_timeout_seconds: float = 5.0


@dataclass(frozen=True)
class StreamFileSettings:
    # Landing folder of the file source, relative to lakehouse.landing_root.
    path: str = "clickstream-stream"
    max_files_per_trigger: int = 20


@dataclass(frozen=True)
class LiveKpiSettings:
    window_minutes: int = 5
    # Events arriving more than this behind the latest event time seen are dropped: their
    # windows are final.
    watermark_minutes: int = 10


@dataclass(frozen=True)
class ReplaySettings:
    # The generated day: this many customers (plus the generator's anonymous visitors).
    customers: int = 300
    events_per_second: float = 50.0


@dataclass(frozen=True)
class StreamingSettings:
    # The contract the streamed lines follow (a JSON source of conf/sources with an event time).
    source: str = "clickstream"
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    files: StreamFileSettings = field(default_factory=StreamFileSettings)
    # Seconds between micro-batches of a running stream.
    trigger_seconds: float = 5.0
    # --until-idle stops a stream after this long without new input.
    idle_seconds: float = 15.0
    live_kpis: LiveKpiSettings = field(default_factory=LiveKpiSettings)
    replay: ReplaySettings = field(default_factory=ReplaySettings)


@dataclass(frozen=True)
class DashboardSettings:
    # The one HTML page `journeylake dashboard` writes (plotly.js inside it: it opens from disk).
    output: str = "data/dashboard/index.html"
    title: str = "journeylake dashboard"
    # `--serve` listens on 127.0.0.1 only (the page shows business numbers; no login); 0 picks
    # a free port and prints it.
    port: int = 8050
    # How often `--serve` looks at the source tables' Delta versions.
    poll_seconds: float = 10.0
    # KPI trends: these KPIs (names in kpis/definitions.py) over the `all` breakdown, the last
    # kpi_days days; the latest `alerts` alerts are listed.
    kpis: tuple[str, ...] = ("visitors", "conversion_rate", "orders", "revenue")
    kpi_days: int = 90
    alerts: int = 15
    # Top paths per outcome in the Sankey; edges of the touchpoint graph (the most travelled).
    top_paths: int = 10
    graph_edges: int = 40
    score_bins: int = 20
    # Cohort retention heatmap: one period (day, week, month) and its latest `cohorts` cohorts.
    cohort_period: str = "week"
    cohorts: int = 12


EXPECTATION_KINDS = ("not_null", "range", "unique", "references", "freshness", "accepted_values")
SEVERITIES = ("hard", "soft")


@dataclass(frozen=True)
class Expectation:
    """One rule a table's rows must keep (`core.quality` says how each kind is evaluated). A
    hard one stops the job (and Delta enforces it as a CHECK constraint where it can); a soft
    one is recorded in audit_quality and shown on the dashboard."""

    kind: str
    severity: str = "soft"
    # Unique within the table; derived from the kind and columns when not given. Hard row rules
    # become the Delta constraint `expect_<name>`.
    name: str | None = None
    # not_null: the columns; unique: the key columns (none: the table's keys).
    columns: tuple[str, ...] = ()
    # range, accepted_values, references, freshness: the one column.
    column: str | None = None
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] = ()
    # references: `<table>.<column>` holding every non-null value of `column`.
    references: str | None = None
    # freshness: the latest `column` is at most this many hours older than `relative_to`: the
    # run's clock ("clock") or the latest value of `<table>.<column>` (the data's own time).
    max_age_hours: float | None = None
    relative_to: str = "clock"


@dataclass(frozen=True)
class TableQuality:
    expectations: tuple[Expectation, ...] = ()
    # The columns that name a failing row in the samples (none: the table's keys).
    sample_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class QualitySettings:
    # At most this many failing keys are kept per expectation (audit_quality, error messages).
    sample_size: int = 5
    # Hard not_null, range and accepted_values rules as Delta CHECK constraints on the tables.
    delta_constraints: bool = True
    tables: Mapping[str, TableQuality] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    env: str
    project_root: str
    spark: SparkSettings
    lakehouse: LakehouseSettings
    ingest: IngestSettings
    generate: GenerateSettings
    sources: Mapping[str, SourceSpec]
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    silver: SilverSettings = field(default_factory=SilverSettings)
    gold: GoldSettings = field(default_factory=GoldSettings)
    models: ModelSettings = field(default_factory=ModelSettings)
    kpis: KpiSettings = field(default_factory=KpiSettings)
    streaming: StreamingSettings = field(default_factory=StreamingSettings)
    dashboard: DashboardSettings = field(default_factory=DashboardSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)

    def resolve(self, path: str) -> str:
        """An absolute path or URI for a configured path; relative ones hang off the project."""
        return resolve_path(path, self.project_root)

    def table_path(self, table: str) -> str:
        return f"{self.resolve(self.lakehouse.root).rstrip('/')}/{table}"

    def source_path(self, source: SourceSpec) -> str:
        if _is_absolute(source.path):
            return source.path
        return f"{self.resolve(self.lakehouse.landing_root).rstrip('/')}/{source.path}"

    def ingest_sources(self) -> list[SourceSpec]:
        return [self.sources[name] for name in self.ingest.sources]

    def stream_checkpoint(self, query: str) -> str:
        """The checkpoint folder of streaming query `query`, under spark.checkpoint_dir."""
        return f"{self.resolve(self.spark.checkpoint_dir).rstrip('/')}/streaming/{query}"


def _is_absolute(path: str) -> bool:
    return "://" in path or path.startswith(("/", "dbfs:"))


def resolve_path(path: str, root: str) -> str:
    return path if _is_absolute(path) else str(Path(root, path).resolve())


def default_conf_dir() -> Path:
    """`$JOURNEYLAKE_CONF_DIR`, else `./conf`, else the `conf/` of the source checkout."""
    if os.environ.get(CONF_DIR_ENV):
        return Path(os.environ[CONF_DIR_ENV])
    if Path("conf", "base.yaml").is_file():
        return Path("conf")
    return Path(__file__).resolve().parents[2] / "conf"


def load_config(
    env: str = "local",
    overrides: Iterable[str] = (),
    conf_dir: str | Path | None = None,
) -> Config:
    """Read, merge and validate the configuration of one environment."""
    if env not in ENVIRONMENTS:
        raise ConfigError(f"unknown environment {env!r}; expected one of {', '.join(ENVIRONMENTS)}")
    directory = Path(conf_dir) if conf_dir else default_conf_dir()
    base_file = directory / "base.yaml"
    if not base_file.is_file():
        raise ConfigError(f"no base.yaml in configuration folder {directory.resolve()}")
    merged = _read_yaml(base_file)
    for stage in STAGE_FILES:
        if (directory / stage).is_file():
            merged = _deep_merge(merged, _read_yaml(directory / stage))
    env_file = directory / f"{env}.yaml"
    if env_file.is_file():
        merged = _deep_merge(merged, _read_yaml(env_file))
    sources = dict(merged.get("sources") or {})
    for source_file in sorted((directory / "sources").glob("*.yaml")):
        spec = _read_yaml(source_file)
        name = spec.get("name") or source_file.stem
        sources[name] = _deep_merge(sources.get(name, {}), {**spec, "name": name})
    merged["sources"] = sources
    for override in overrides:
        merged = _apply_override(merged, override)
    merged.setdefault("project_root", str(directory.resolve().parent))
    merged["env"] = env
    return _validate(merged)


def parse_overrides(pairs: Iterable[str]) -> list[str]:
    checked = []
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--conf expects key=value, got {pair!r}")
        checked.append(pair)
    return checked


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (yaml.YAMLError, ValueError) as error:  # a date like 2026-13-01 is a ValueError
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _apply_override(data: dict[str, Any], pair: str) -> dict[str, Any]:
    key, _, raw_value = pair.partition("=")
    if not key:
        raise ConfigError(f"--conf expects key=value, got {pair!r}")
    # Spark settings have dots in their own names: spark.conf.spark.sql.x=1 sets "spark.sql.x".
    if key.startswith("spark.conf."):
        parts = ["spark", "conf", key[len("spark.conf.") :]]
    else:
        parts = key.split(".")
    try:
        value = yaml.safe_load(raw_value) if raw_value else ""
    except (yaml.YAMLError, ValueError) as error:
        raise ConfigError(f"--conf {key}: {raw_value!r} is not a valid YAML value: "
                          f"{error}") from None
    patch: Any = value
    for part in reversed(parts):
        patch = {part: patch}
    return _deep_merge(data, patch)


def _validate(data: Mapping[str, Any]) -> Config:
    config = _build(Config, data, "")
    unknown = [name for name in config.ingest.sources if name not in config.sources]
    if unknown:
        raise ConfigError(
            f"ingest.sources names {unknown} but only {sorted(config.sources)} are configured"
        )
    if config.spark.catalog not in ("hive", "in-memory"):
        raise ConfigError(f"spark.catalog: {config.spark.catalog!r} is not one of hive, in-memory")
    for source in config.sources.values():
        validate_source(source)
    _validate_silver(config)
    _validate_privacy(config.privacy)
    _validate_gold(config)
    _validate_models(config)
    _validate_kpis(config.kpis)
    _validate_streaming(config)
    _validate_dashboard(config.dashboard)
    return dataclasses.replace(config, quality=_validate_quality(config.quality))


_NAME_CHARACTERS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


def _validate_quality(quality: QualitySettings) -> QualitySettings:
    """The settings with every expectation named; the columns are checked against the tables'
    specs by `journeylake.quality`, which knows them."""
    if quality.sample_size < 1:
        raise ConfigError("quality.sample_size: must be at least 1")
    tables = {}
    for table, settings in quality.tables.items():
        named, seen = [], set()
        for index, expectation in enumerate(settings.expectations):
            where = f"quality.tables.{table}.expectations[{index}]"
            expectation = _checked_expectation(expectation, where)
            if expectation.name in seen:
                raise ConfigError(f"{where}: a second expectation named {expectation.name!r}; "
                                  "give one a `name`")
            seen.add(expectation.name)
            named.append(expectation)
        tables[table] = dataclasses.replace(settings, expectations=tuple(named))
    return dataclasses.replace(quality, tables=types.MappingProxyType(tables))


def _checked_expectation(expectation: Expectation, where: str) -> Expectation:
    kind = expectation.kind
    if kind not in EXPECTATION_KINDS:
        raise ConfigError(f"{where}.kind: {kind!r} is not one of {', '.join(EXPECTATION_KINDS)}")
    if expectation.severity not in SEVERITIES:
        raise ConfigError(f"{where}.severity: {expectation.severity!r} is not one of hard, soft")
    if kind == "not_null" and not expectation.columns:
        raise ConfigError(f"{where}: not_null needs `columns`")
    if kind in ("range", "accepted_values", "references", "freshness") and not expectation.column:
        raise ConfigError(f"{where}: {kind} needs `column`")
    if kind == "range":
        if expectation.min is None and expectation.max is None:
            raise ConfigError(f"{where}: range needs `min`, `max` or both")
        if (expectation.min is not None and expectation.max is not None
                and expectation.min > expectation.max):
            raise ConfigError(f"{where}: range has min {expectation.min} above max "
                              f"{expectation.max}")
    if kind == "accepted_values" and not expectation.values:
        raise ConfigError(f"{where}: accepted_values needs `values`")
    if kind == "references" and not _table_column(expectation.references):
        raise ConfigError(f"{where}.references: {expectation.references!r} is not "
                          "<table>.<column>")
    if kind == "freshness":
        if expectation.max_age_hours is None or expectation.max_age_hours < 0:
            raise ConfigError(f"{where}: freshness needs a non-negative `max_age_hours`")
        if expectation.relative_to != "clock" and not _table_column(expectation.relative_to):
            raise ConfigError(f"{where}.relative_to: {expectation.relative_to!r} is neither "
                              "clock nor <table>.<column>")
    name = expectation.name or "_".join(
        (kind, *(expectation.columns or (expectation.column or "keys",))))
    if not name or set(name) - _NAME_CHARACTERS:
        raise ConfigError(f"{where}.name: {name!r} must be lower-case letters, digits and _")
    return dataclasses.replace(expectation, name=name)


def _table_column(reference: str | None) -> bool:
    table, _, column = (reference or "").partition(".")
    return bool(table) and bool(column) and "." not in column


def _validate_privacy(privacy: PrivacySettings) -> None:
    if privacy.consent.default not in CONSENT_DEFAULTS:
        raise ConfigError(f"privacy.consent.default: {privacy.consent.default!r} is not one of "
                          f"{', '.join(CONSENT_DEFAULTS)}")
    if privacy.erase_parallelism < 1:
        raise ConfigError("privacy.erase_parallelism: must be at least 1")


def _validate_kpis(kpis: KpiSettings) -> None:
    if kpis.churn_days < 1:
        raise ConfigError("kpis.churn_days: must be at least 1")
    alerts = kpis.alerts
    if alerts.window_days < 7:
        raise ConfigError("kpis.alerts.window_days: must cover a week (7 or more)")
    if not 1 <= alerts.min_history_days <= alerts.window_days:
        raise ConfigError("kpis.alerts.min_history_days: must be in 1..window_days")
    if not 0 < alerts.warning_deviations <= alerts.critical_deviations:
        raise ConfigError("kpis.alerts: need 0 < warning_deviations <= critical_deviations")
    for name in ("min_expected", "min_denominator", "min_relative_sd", "min_orders"):
        if getattr(alerts, name) < 0:
            raise ConfigError(f"kpis.alerts.{name}: must not be negative")
    if not 1 <= alerts.live_min_history_days <= alerts.live_days:
        raise ConfigError("kpis.alerts.live_min_history_days: must be in 1..live_days")
    if alerts.journey_changes < 1 or alerts.journey_min_transitions < 1:
        raise ConfigError("kpis.alerts.journey_changes and journey_min_transitions: must be at "
                          "least 1")


def _validate_streaming(config: Config) -> None:
    streaming = config.streaming
    source = config.sources.get(streaming.source)
    if source is None:
        raise ConfigError(f"streaming.source: {streaming.source!r} is not a configured source; "
                          f"configured: {sorted(config.sources)}")
    if source.format != "json" or not source.event_time:
        raise ConfigError(f"streaming.source: {streaming.source!r} must be a JSON source with an "
                          "event_time (one record per message or line)")
    kafka = streaming.kafka
    for server in kafka.bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"streaming.kafka.bootstrap_servers: {server.strip()!r} is not "
                              "host:port")
    if not kafka.topic.strip():
        raise ConfigError("streaming.kafka.topic: must not be empty")
    if kafka.starting_offsets not in ("earliest", "latest"):
        raise ConfigError(f"streaming.kafka.starting_offsets: {kafka.starting_offsets!r} is not "
                          "one of earliest, latest")
    positive = {
        "streaming.kafka.max_offsets_per_trigger": kafka.max_offsets_per_trigger,
        "streaming.kafka.connect_timeout_seconds": kafka.connect_timeout_seconds,
        "streaming.files.max_files_per_trigger": streaming.files.max_files_per_trigger,
        "streaming.trigger_seconds": streaming.trigger_seconds,
        "streaming.idle_seconds": streaming.idle_seconds,
        "streaming.live_kpis.window_minutes": streaming.live_kpis.window_minutes,
        "streaming.replay.customers": streaming.replay.customers,
        "streaming.replay.events_per_second": streaming.replay.events_per_second,
    }
    for name, value in positive.items():
        if not value > 0:
            raise ConfigError(f"{name}: must be positive, got {value}")
    if streaming.live_kpis.watermark_minutes < 0:
        raise ConfigError("streaming.live_kpis.watermark_minutes: must not be negative")


def _validate_dashboard(dashboard: DashboardSettings) -> None:
    # The KPI names are checked by the dashboard job against kpis.definitions: core imports
    # no stage.
    if not 0 <= dashboard.port <= 65535:
        raise ConfigError(f"dashboard.port: {dashboard.port} is not a TCP port (0 picks a free "
                          "one)")
    if dashboard.poll_seconds <= 0:
        raise ConfigError("dashboard.poll_seconds: must be positive")
    for name in ("kpi_days", "alerts", "top_paths", "graph_edges", "cohorts"):
        if getattr(dashboard, name) < 1:
            raise ConfigError(f"dashboard.{name}: must be at least 1")
    if not 2 <= dashboard.score_bins <= 100:
        raise ConfigError("dashboard.score_bins: must be between 2 and 100")
    if dashboard.cohort_period not in ("day", "week", "month"):
        raise ConfigError(f"dashboard.cohort_period: {dashboard.cohort_period!r} is not one of "
                          "day, week, month")
    if not dashboard.output.endswith(".html"):
        raise ConfigError(f"dashboard.output: {dashboard.output!r} should name an .html file")


IDENTIFIER_TYPES = ("customer", "email", "handle", "device", "cookie")


def _validate_gold(config: Config) -> None:
    gold = config.gold
    if gold.lookback_days <= 0:
        raise ConfigError("gold.lookback_days: must be positive")
    if gold.dropoff_after_days <= 0:
        raise ConfigError("gold.dropoff_after_days: must be positive")
    if gold.time_decay_half_life_days <= 0:
        raise ConfigError("gold.time_decay_half_life_days: must be positive")
    if gold.graph_scope not in ("session", "journey"):
        raise ConfigError(f"gold.graph_scope: {gold.graph_scope!r} is not one of session, journey")
    if gold.top_paths < 1:
        raise ConfigError("gold.top_paths: must be at least 1")
    if any(order < 1 for order in gold.markov_orders):
        raise ConfigError(f"gold.markov_orders: orders must be at least 1, got "
                          f"{list(gold.markov_orders)}")
    for period in gold.cohort_periods:
        if period not in ("day", "week", "month"):
            raise ConfigError(f"gold.cohort_periods: {period!r} is not one of day, week, month")
    for index, funnel in enumerate(gold.funnels):
        where = f"gold.funnels[{index}] ({funnel.name})"
        if len(funnel.steps) < 2:
            raise ConfigError(f"{where}.steps: a funnel needs at least two steps")
        if funnel.window_hours <= 0:
            raise ConfigError(f"{where}.window_hours: must be positive")
        if funnel.order not in ("strict", "any"):
            raise ConfigError(f"{where}.order: {funnel.order!r} is not one of strict, any")


# The models' choices, named here so a typo fails before Spark starts (the model modules use the
# same names).
PROPENSITY_TARGETS = ("purchase", "churn", "unsubscribe")
CLUSTERING_ALGORITHMS = ("kmeans", "bisecting_kmeans", "gaussian_mixture")


def _validate_models(config: Config) -> None:
    models = config.models
    if models.feature_window_days < 1:
        raise ConfigError("models.feature_window_days: must be at least 1")
    segmentation = models.segmentation
    unknown = [a for a in segmentation.algorithms if a not in CLUSTERING_ALGORITHMS]
    if unknown or not segmentation.algorithms:
        raise ConfigError(f"models.segmentation.algorithms: {list(segmentation.algorithms)}; "
                          f"each one of {', '.join(CLUSTERING_ALGORITHMS)}")
    if not 2 <= segmentation.k_min <= segmentation.k_max:
        raise ConfigError("models.segmentation: need 2 <= k_min <= k_max, got "
                          f"{segmentation.k_min}..{segmentation.k_max}")
    propensity = models.propensity
    unknown = [t for t in propensity.targets if t not in PROPENSITY_TARGETS]
    if unknown:
        raise ConfigError(f"models.propensity.targets: {unknown} unknown; each one of "
                          f"{', '.join(PROPENSITY_TARGETS)}")
    for name in ("label_days", "training_references", "gbt_max_iter", "leads"):
        if getattr(propensity, name) < 1:
            raise ConfigError(f"models.propensity.{name}: must be at least 1")
    if propensity.cv_folds < 2:
        raise ConfigError("models.propensity.cv_folds: must be at least 2")
    if propensity.selection_metric not in ("auc_pr", "auc_roc"):
        raise ConfigError(f"models.propensity.selection_metric: {propensity.selection_metric!r} "
                          "is not one of auc_pr, auc_roc")
    if propensity.calibration not in ("isotonic", "platt"):
        raise ConfigError(f"models.propensity.calibration: {propensity.calibration!r} is not "
                          "one of isotonic, platt")
    if models.clv.horizon_days < 1 or models.clv.holdout_days < 1:
        raise ConfigError("models.clv.horizon_days and holdout_days: must be at least 1")
    recommendations = models.recommendations
    if recommendations.k < 1 or recommendations.holdout_days < 1:
        raise ConfigError("models.recommendations.k and holdout_days: must be at least 1")
    if not (0 < recommendations.min_support <= 1 and 0 < recommendations.min_confidence <= 1):
        raise ConfigError("models.recommendations.min_support and min_confidence: must be in "
                          "(0, 1]")


def _validate_currency(currency: CurrencySettings) -> None:
    seen = set()
    for index, rate in enumerate(currency.rates):
        where = f"silver.currency.rates[{index}]"
        try:
            date.fromisoformat(rate.valid_from)
        except ValueError:
            raise ConfigError(f"{where}.valid_from: {rate.valid_from!r} is not a date "
                              "(YYYY-MM-DD)") from None
        if not rate.rate > 0:
            raise ConfigError(f"{where}.rate: must be positive, got {rate.rate}")
        if rate.currency == currency.reporting:
            raise ConfigError(f"{where}.currency: {rate.currency} is the reporting currency, "
                              "whose rate is 1")
        if (rate.currency, rate.valid_from) in seen:
            raise ConfigError(f"{where}: a second rate for {rate.currency} from "
                              f"{rate.valid_from}")
        seen.add((rate.currency, rate.valid_from))


def _validate_silver(config: Config) -> None:
    for index, rule in enumerate(config.identity.cardinality_rules):
        where = f"identity.cardinality_rules[{index}]"
        for name in ("identifier_type", "linked_type"):
            if getattr(rule, name) not in IDENTIFIER_TYPES:
                raise ConfigError(f"{where}.{name}: {getattr(rule, name)!r} is not one of "
                                  f"{', '.join(IDENTIFIER_TYPES)}")
        if rule.max < 1:
            raise ConfigError(f"{where}.max: must be at least 1, got {rule.max}")
    if config.identity.max_customers_per_person < 1:
        raise ConfigError("identity.max_customers_per_person: must be at least 1")
    silver = config.silver
    if silver.session_gap_minutes <= 0:
        raise ConfigError("silver.session_gap_minutes: must be positive")
    if silver.late_lookback_hours < 0:
        raise ConfigError("silver.late_lookback_hours: must not be negative")
    _validate_currency(silver.currency)
    visits = silver.store_visits
    for name in ("radius_m", "max_gap_minutes"):
        if getattr(visits, name) <= 0:
            raise ConfigError(f"silver.store_visits.{name}: must be positive")
    if visits.min_dwell_minutes < 0:
        raise ConfigError("silver.store_visits.min_dwell_minutes: must not be negative")


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'configuration'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(
            f"{where or 'configuration'}: unknown key(s) {unknown}; known: {sorted(known)}"
        )
    values = {}
    for name, spec in known.items():
        key = f"{where}.{name}" if where else name
        if name in data:
            values[name] = _convert(hints[name], data[name], key)
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{key}: required")
    return cls(**values)


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [arg for arg in args if arg is not type(None)]
        return _convert(inner[0], value, where)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin is tuple:
        items = value if isinstance(value, list | tuple) else [value]
        return tuple(_convert(args[0], item, f"{where}[{i}]") for i, item in enumerate(items))
    if origin in (Mapping, dict) or hint is Mapping:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        value_hint = args[1] if args else Any
        return types.MappingProxyType(
            {str(k): _convert(value_hint, v, f"{where}.{k}") for k, v in value.items()}
        )
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if hint is int and not float(value).is_integer():
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        return hint(value)
    if hint is str:
        if isinstance(value, Mapping | list) or value is None:
            raise ConfigError(f"{where}: expected text, got {value!r}")
        if isinstance(value, bool):  # YAML's true is Spark's "true", not Python's "True"
            return "true" if value else "false"
        return str(value)
    return value
