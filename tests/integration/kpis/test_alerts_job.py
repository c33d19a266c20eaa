"""The alerts end to end on generated data with three planted anomalies: a broken checkout, a
campaign spike and a tracking outage, each on its own day. Each is caught on its day, the right
way and in the right breakdown (the generator's truth says which), and every other day of the
same data raises no alert at all."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from journeylake.bronze.job import ingest
from journeylake.core import lakehouse
from journeylake.core.config import Config
from journeylake.generator import generate
from journeylake.kpis import tables
from journeylake.kpis.job import KpiOutcome, build_kpis
from journeylake.silver.job import build_silver
from journeylake.silver.pseudonymisation import load_key
from tests.conftest import make_config

pytestmark = pytest.mark.slow
# 24 days to 2026-06-30: the anomalies fall after 14 days of history. The 27th is a Saturday.
ANOMALIES = (
    '[{kind: checkout_broken, date: "2026-06-23", start_hour: 6, end_hour: 24},'
    ' {kind: campaign_spike, date: "2026-06-26", channel: email, lift: 3},'
    ' {kind: tracking_outage, date: "2026-06-28", channel: organic_search}]')


@dataclasses.dataclass
class Lake:
    config: Config
    outcome: KpiOutcome
    truth: list[dict]


@pytest.fixture(scope="module")
def lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    root = tmp_path_factory.mktemp("alerts")
    config = make_config(root, "generate.customers=600", "generate.days=24",
                         "generate.files_per_source=1", "generate.bad_share=0.01",
                         f"generate.anomalies={ANOMALIES}",
                         # The KPIs need the clickstream and the orders only.
                         "ingest.sources=[clickstream,transactions]")
    landing = config.resolve(config.lakehouse.landing_root)
    generate(spark, config.generate, landing)
    ingest(spark, config)
    build_silver(spark, config, load_key(None))
    outcome = build_kpis(spark, config)
    truth = [row.asDict() for row in spark.read.parquet(f"{landing}/_truth/anomalies").collect()]
    yield Lake(config, outcome, truth)


def _alerts(spark: SparkSession, lake: Lake) -> list[dict]:
    rows = lakehouse.read_table(spark, lake.config, tables.ALERTS).collect()
    for row in rows:
        print(row.alert_date, row.kpi, row.breakdown_value, row.direction, row.severity,
              round(row.deviation, 1), row.moved_breakdown_value)
    return [row.asDict(recursive=True) for row in rows]


def test_each_planted_anomaly_is_caught_on_its_day_the_right_way_and_where(
        spark: SparkSession, lake: Lake) -> None:
    alerts = _alerts(spark, lake)
    assert len(lake.truth) == 3
    for planted in lake.truth:
        caught = [
            a for a in alerts
            if a["alert_date"] == planted["date"] and a["kpi"] == planted["kpi"]
            and a["direction"] == planted["direction"]
            and planted["breakdown_value"] in (a["breakdown_value"], a["moved_breakdown_value"])
        ]
        assert caught, f"{planted['kind']} on {planted['date']} raised no {planted['kpi']} " \
                       f"{planted['direction']} alert in {planted['breakdown_value']}"


def test_the_clean_days_of_the_same_data_raise_no_alert(spark: SparkSession, lake: Lake) -> None:
    planted_days = {planted["date"] for planted in lake.truth}
    alerts = _alerts(spark, lake)
    assert {a["alert_date"] for a in alerts} == planted_days
    assert lake.outcome.alerts == len(alerts)
    # Judged at all: the baselines cover the days after two weeks of history, weekends included.
    judged_days = lakehouse.read_table(spark, lake.config, tables.KPI_BASELINES).where(
        "kpi = 'sessions' AND breakdown = 'all' AND history >= 14").count()
    assert judged_days >= 10


def test_the_broken_checkout_names_the_checkout_as_the_journey_change(
        spark: SparkSession, lake: Lake) -> None:
    broken = next(p for p in lake.truth if p["kind"] == "checkout_broken")
    [changes] = {tuple((c["from_touchpoint"], c["to_touchpoint"]) for c in a["journey_changes"])
                 for a in _alerts(spark, lake) if a["alert_date"] == broken["date"]}
    # Buyers reached checkout_start and dropped off instead of purchasing.
    assert changes[:2] in ((("checkout_start", "(dropoff)"), ("checkout_start", "purchase")),
                           (("checkout_start", "purchase"), ("checkout_start", "(dropoff)")))


def test_the_band_of_every_kpi_value_is_in_gold_kpi_baselines(
        spark: SparkSession, lake: Lake) -> None:
    daily = lakehouse.read_table(spark, lake.config, tables.KPIS_DAILY)
    baselines = lakehouse.read_table(spark, lake.config, tables.KPI_BASELINES)
    assert baselines.count() == daily.count()
    keys = list(tables.KPIS_DAILY.keys)
    assert daily.join(baselines, keys, "left_anti").count() == 0
    inverted = baselines.where(F.col("lower") > F.col("upper")).count()
    assert inverted == 0
