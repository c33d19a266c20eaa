"""Silver on generated data whose truth is known: stitched persons against the planted identity
links, channels against the planted session channels, store visits against the planted visits,
no raw PII, an idempotent re-run, and a late second delivery built incrementally that equals a
build from scratch."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake.bronze.job import ingest
from journeylake.core import lakehouse
from journeylake.core.config import Config, CurrencySettings
from journeylake.core.table_spec import TableSpec
from journeylake.generator import generate
from journeylake.silver import tables as silver_tables
from journeylake.silver.identity_quality import pairwise_quality, truth_nodes
from journeylake.silver.job import SilverOutcome, build_silver
from journeylake.silver.pseudonymisation import load_key
from journeylake.silver.tables import (
    EVENTS,
    IDENTITY_DROPPED,
    IDENTITY_MAP,
    SESSIONS,
    STORE_VISITS,
)
from tests.comparisons import rows_only_in
from tests.conftest import make_config
from tests.oracles import groups, union_find_groups

pytestmark = pytest.mark.slow

SILVER_TABLES = tuple(spec.name for spec in silver_tables.TABLES)
SETTINGS = ("generate.customers=150", "generate.days=5", "generate.bad_share=0.02",
            "generate.files_per_source=1", "generate.end_date=2026-06-30")


@dataclasses.dataclass
class Lake:
    config: Config
    truth: Path
    first: SilverOutcome
    rerun: SilverOutcome
    versions_before_rerun: dict[str, int]


def table(spark: SparkSession, config: Config, name: str | TableSpec) -> DataFrame:
    return lakehouse.read_table(spark, config, name)


def versions(spark: SparkSession, config: Config) -> dict[str, int]:
    return {
        name: spark.sql(f"DESCRIBE HISTORY delta.`{config.table_path(name)}`").agg(
            F.max("version")).first()[0]
        for name in SILVER_TABLES if lakehouse.table_exists(spark, config, name)
    }


@pytest.fixture(scope="module")
def lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    root = tmp_path_factory.mktemp("silver")
    config = make_config(root, *SETTINGS)
    landing = config.resolve(config.lakehouse.landing_root)
    generate(spark, config.generate, landing)
    ingest(spark, config)
    key = load_key(None)
    first = build_silver(spark, config, key)
    before = versions(spark, config)
    rerun = build_silver(spark, config, key)
    yield Lake(config, Path(landing) / "_truth", first, rerun, before)


def test_every_bronze_event_row_is_one_event_on_a_person(spark: SparkSession, lake: Lake) -> None:
    config = lake.config
    events = table(spark, config, EVENTS)
    by_source = Counter({r.source: r.n for r in events.groupBy("source").agg(
        F.count(F.lit(1)).alias("n")).collect()})
    for source in ("clickstream", "social", "transactions"):
        bronze = table(spark, config, f"bronze_{source}").count()
        assert by_source[source] == bronze == lake.first.counts[f"rows_in_{source}"]
    assert events.where(F.col("person_id").isNull()).count() == 0
    assert events.select("event_key").distinct().count() == events.count()


def test_no_raw_personal_value_reaches_silver(spark: SparkSession, lake: Lake) -> None:
    emails = spark.read.parquet(str(lake.truth / "customers")).select("email", "handle")
    samples = [v for row in emails.limit(20).collect() for v in row if v]
    assert samples
    for name in SILVER_TABLES:
        frame = table(spark, lake.config, name)
        text = frame.select(F.to_json(F.struct(*frame.columns)).alias("row"))
        found = text.where(F.col("row").contains("@example.com")).count()
        assert found == 0, f"{name} holds raw emails"
        for value in samples[:5]:
            assert text.where(F.col("row").contains(value)).count() == 0, (name, value)


def test_stitched_persons_match_the_planted_identities(spark: SparkSession, lake: Lake) -> None:
    predicted = table(spark, lake.config, IDENTITY_MAP)
    truth = truth_nodes(spark.read.parquet(str(lake.truth / "identity_links")), load_key(None))
    quality = pairwise_quality(predicted, truth)
    assert quality.identifiers > 100 and quality.true_pairs > 100
    # No two customers' identifiers are ever put on one person.
    assert quality.precision == 1.0, quality
    # Recall against the truth is bounded by the evidence (a cookie that never logged in names
    # nobody). Against the evidence it is exact: persons are the connected groups of the links,
    # apart from the identifiers reported as dropped.
    dropped = {f"{r.identifier_type}|{r.identifier}" for r in table(
        spark, lake.config, IDENTITY_DROPPED).collect()}
    nodes = {r.node for r in predicted.collect()}
    usable = {n for n in nodes if n.split("|", 1)[1] not in dropped}
    pairs = [(r.node_a, r.node_b) for r in table(spark, lake.config, "silver_identity_links")
             .collect() if r.node_a in usable and r.node_b in usable]
    expected = groups(union_find_groups(usable, pairs)) | {frozenset([n]) for n in nodes - usable}
    persons: dict[str, set[str]] = {}
    for row in predicted.collect():
        persons.setdefault(row.person_id, set()).add(row.node)
    assert {frozenset(group) for group in persons.values()} == expected


def test_family_tablets_are_reported_and_link_nobody(spark: SparkSession, lake: Lake) -> None:
    truth = spark.read.parquet(str(lake.truth / "identity_links")).where("shared")
    shared_devices = {r.identifier for r in truth.where("identifier_type = 'device'").collect()}
    assert shared_devices
    dropped = table(spark, lake.config, IDENTITY_DROPPED)
    dropped_devices = {r.identifier for r in dropped.where("identifier_type = 'device'").collect()}
    # a tablet is only seen as shared once two of its family logged in on it
    assert dropped_devices <= shared_devices
    assert len(dropped_devices) >= 1
    shared = {(r.identifier_type, r.identifier) for r in truth.collect()}
    assert {(r.identifier_type, r.identifier) for r in dropped.collect()} <= shared
    customers_per_person = table(spark, lake.config, IDENTITY_MAP).where(
        "identifier_type = 'customer'").groupBy("person_id").count()
    assert customers_per_person.where("count > 1").count() == 0


def test_entry_channels_match_the_planted_session_channels(
    spark: SparkSession, lake: Lake
) -> None:
    config = lake.config
    planted = spark.read.parquet(str(lake.truth / "sessions")).select(
        "cookie_id", "platform", "channel", "start_ts")
    clicks = table(spark, config, "bronze_clickstream").select(
        "cookie_id", F.col("ts").alias("start_ts"), F.col("_record_key").alias("source_key"))
    events = table(spark, config, EVENTS).where("source = 'clickstream'").select(
        "source_key", F.col("channel").alias("derived"))
    compared = planted.join(clicks, ["cookie_id", "start_ts"]).join(events, "source_key")
    expected = F.when((F.col("platform") == "app") & (F.col("channel") == "direct"), "app") \
        .otherwise(F.col("channel"))
    total = compared.count()
    wrong = compared.where(F.col("derived") != expected)
    assert total > 100
    assert wrong.count() == 0, wrong.limit(5).collect()


def test_store_visits_match_the_planted_visits(spark: SparkSession, lake: Lake) -> None:
    planted = spark.read.parquet(str(lake.truth / "store_visits"))
    found = table(spark, lake.config, STORE_VISITS)
    overlap = (
        (found["device_id"] == planted["device_id"]) & (found["store_id"] == planted["store_id"])
        & (found["start_ts"] <= planted["end_ts"]) & (found["end_ts"] >= planted["start_ts"])
    )
    matched_planted = planted.join(found, overlap, "left_semi").count()
    matched_found = found.join(planted, overlap, "left_semi").count()
    assert planted.count() >= 5
    assert matched_found == found.count()  # no visit where none was planted
    assert matched_planted >= 0.9 * planted.count()
    visit_events = table(spark, lake.config, EVENTS).where("touchpoint = 'store_visit'")
    assert visit_events.count() == found.count()


def test_sessions_hold_every_event_and_all_revenue(spark: SparkSession, lake: Lake) -> None:
    config = lake.config
    sessions = table(spark, config, SESSIONS)
    events = table(spark, config, EVENTS)
    assert sessions.agg(F.sum("events")).first()[0] == events.count()
    orders = events.where(F.col("touchpoint").isin("purchase", "store_purchase"))
    # Sessions add up the amounts in the reporting currency.
    assert sessions.agg(F.sum("revenue")).first()[0] == orders.agg(
        F.sum("revenue_reporting")).first()[0]
    assert sessions.select("session_id").distinct().count() == sessions.count()


def reporting_amount(amount: Decimal, currency: str, day: date, conf: CurrencySettings
                     ) -> Decimal:
    """The amount at the latest configured rate on or before its day, worked out plainly."""
    if currency == conf.reporting:
        return amount
    rate = max((r for r in conf.rates if r.currency == currency
                and date.fromisoformat(r.valid_from) <= day), key=lambda r: r.valid_from).rate
    return (amount * Decimal(str(rate))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_every_order_keeps_its_currency_and_gets_its_dated_reporting_amount(
    spark: SparkSession, lake: Lake
) -> None:
    config = lake.config
    bronze = {r.order_id: (r.amount, r.currency, r.ts.date())
              for r in table(spark, config, "bronze_transactions").collect()}
    assert {currency for _, currency, _ in bronze.values()} == {"EUR", "GBP", "USD"}
    events = {r.source_key: (r.revenue, r.currency, r.revenue_reporting) for r in table(
        spark, config, EVENTS).where("source = 'transactions'").collect()}
    assert events.keys() == bronze.keys()
    for order_id, (amount, currency, day) in bronze.items():
        assert events[order_id] == (amount, currency, reporting_amount(
            amount, currency, day, config.silver.currency)), order_id


def test_rerun_on_the_same_bronze_changes_nothing(spark: SparkSession, lake: Lake) -> None:
    assert lake.first.status == "ok"
    assert lake.rerun.status == "no_new_data"
    assert versions(spark, lake.config) == lake.versions_before_rerun


def session_shapes(frame: DataFrame) -> Counter:
    return Counter(
        (r.start_ts, r.end_ts, r.events, tuple(r.touchpoints), r.revenue)
        for r in frame.select("start_ts", "end_ts", "events", "touchpoints", "revenue").collect()
    )


def test_a_late_delivery_built_incrementally_equals_a_build_from_scratch(
    spark: SparkSession, lake: Lake, tmp_path: Path
) -> None:
    key = load_key(None)
    config = lake.config
    landing = config.resolve(config.lakehouse.landing_root)
    # Same days, another seed: events of the same customers interleave with the first delivery.
    late_settings = dataclasses.replace(config.generate, seed=config.generate.seed + 1)
    generate(spark, late_settings, landing, batch="batch-0001")
    ingest(spark, config)
    incremental = build_silver(spark, config, key)
    assert incremental.status == "ok"
    assert incremental.counts["late_events"] > 0

    scratch_config = make_config(tmp_path, *SETTINGS,
                                 f"lakehouse.landing_root={landing}")
    ingest(spark, scratch_config)
    assert build_silver(spark, scratch_config, key).status == "ok"

    assert session_shapes(table(spark, config, SESSIONS)) == session_shapes(
        table(spark, scratch_config, SESSIONS))

    def partition(cfg: Config) -> set[frozenset[str]]:
        grouped = table(spark, cfg, EVENTS).groupBy("person_id").agg(
            F.collect_set("event_key").alias("keys"))
        return {frozenset(r.keys) for r in grouped.collect()}

    assert partition(config) == partition(scratch_config)
    visits = table(spark, config, STORE_VISITS).select(
        "device_id", "store_id", "start_ts", "end_ts").collect()
    assert Counter(map(tuple, visits)) == Counter(map(tuple, table(
        spark, scratch_config, STORE_VISITS).select(
        "device_id", "store_id", "start_ts", "end_ts").collect()))


def land(config: Config, source: str, batch: str, text: str) -> None:
    folder = Path(config.resolve(config.lakehouse.landing_root)) / source / batch
    folder.mkdir(parents=True, exist_ok=True)
    name = "part.csv" if config.sources[source].format == "csv" else "part.jsonl"
    (folder / name).write_text(text)


def test_a_delivery_of_only_location_pings_builds_the_visits_it_holds(
    spark: SparkSession, lake: Lake
) -> None:
    config = lake.config
    store = table(spark, config, "bronze_stores").orderBy("store_id").first()
    start = 1_782_000_000_000  # epoch millis within the generated days' reach
    pings = "".join(f"dev-only-pings,{store.lat},{store.lon},{start + minute * 60_000},5\n"
                    for minute in (0, 6, 12))
    land(config, "geolocation", "batch-pings-only", "device_id,lat,lon,timestamp_ms,accuracy_m\n"
         + pings)
    ingest(spark, config, ["geolocation"])
    outcome = build_silver(spark, config, load_key(None))
    assert outcome.status == "ok" and set(outcome.batches) == {"geolocation"}
    visits = table(spark, config, STORE_VISITS).where("device_id = 'dev-only-pings'").collect()
    assert [(v.store_id, v.pings, v.dwell_minutes) for v in visits] == [(store.store_id, 3, 12.0)]
    assert table(spark, config, EVENTS).where(
        F.col("source_key") == visits[0].visit_id).count() == 1


def test_an_order_without_customer_or_email_is_an_anonymous_conversion(
    spark: SparkSession, lake: Lake
) -> None:
    config = lake.config
    land(config, "transactions", "batch-till", "order_id,customer_id,email,store_id,ts,items,"
         "amount,currency,channel,phone,billing_name\n"
         "TILL-0001,,,S001,2026-06-30 12:00:00,[],19.90,EUR,store,,\n")
    ingest(spark, config, ["transactions"])
    outcome = build_silver(spark, config, load_key(None))
    assert outcome.status == "ok"
    assert outcome.counts["anonymous_events"] == 1
    order = table(spark, config, EVENTS).where("source_key = 'TILL-0001'").collect()
    assert [(o.person_id, o.touchpoint, str(o.revenue)) for o in order] == [
        (None, "store_purchase", "19.90")]
    assert table(spark, config, SESSIONS).where("person_id IS NULL").count() == 0


def test_a_crash_inside_a_session_rebuild_leaves_the_sessions_whole(
    spark: SparkSession, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = lake.config
    known = table(spark, config, "bronze_clickstream").where("user_id IS NOT NULL").orderBy(
        "event_id").first()
    line = json.dumps({"event_id": "late-click-1", "cookie_id": known.cookie_id,
                       "user_id": known.user_id, "platform": "web", "event_type": "page_view",
                       "timestamp": known.ts.strftime("%Y-%m-%dT%H:%M:%S.001Z")}) + "\n"
    land(config, "clickstream", "batch-late-click", line)
    ingest(spark, config, ["clickstream"])
    sessions_path = config.table_path(SESSIONS.name)
    version = DeltaTable.forPath(spark, sessions_path).history(1).first().version
    before = table(spark, config, SESSIONS).localCheckpoint()
    real_replace = lakehouse.replace_rows

    def crash_in_sessions(spark_: SparkSession, config_: Config, spec: TableSpec,
                          stale: DataFrame, rows: DataFrame) -> None:
        if spec.name == SESSIONS.name:  # fails while Delta writes the rebuilt sessions
            rows = rows.withColumn("events", F.when(
                F.col("events") > 0, F.raise_error(F.lit("injected crash"))).otherwise(
                F.col("events")))
        real_replace(spark_, config_, spec, stale, rows)

    monkeypatch.setattr(lakehouse, "replace_rows", crash_in_sessions)
    with pytest.raises(Exception, match="injected crash"):
        build_silver(spark, config, load_key(None))
    assert DeltaTable.forPath(spark, sessions_path).history(1).first().version == version
    assert rows_only_in(table(spark, config, SESSIONS), before) == (0, 0)

    monkeypatch.setattr(lakehouse, "replace_rows", real_replace)
    assert build_silver(spark, config, load_key(None)).status == "ok"
    sessions = table(spark, config, SESSIONS)
    on_persons = table(spark, config, EVENTS).where("person_id IS NOT NULL")
    assert sessions.agg(F.sum("events")).first()[0] == on_persons.count()
    late = on_persons.where("source_key = 'late-click-1'").first()
    assert sessions.where((F.col("person_id") == late.person_id) & (F.col("start_ts") <= late.ts)
                          & (F.col("end_ts") >= late.ts)).count() == 1
