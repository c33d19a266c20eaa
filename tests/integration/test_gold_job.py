"""Gold on generated data whose truth is known: the planted strongest touchpoint stands out, the
planted influencers rank first, and attribution hands out exactly the conversions and revenue
there are (the same numbers on every run: tests/unit/test_attribution.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from journeylake import lakehouse
from journeylake.config import Config
from journeylake.generator import generate
from journeylake.generator.reference import BRAND_HANDLE
from journeylake.generator.social import _influencer_handle, influencer_count
from journeylake.identity import node
from journeylake.jobs.gold import GOLD_TABLES, GoldOutcome, build_gold
from journeylake.jobs.ingest import ingest
from journeylake.jobs.silver import build_silver
from journeylake.pii import load_key, pseudonymise_handle
from tests.conftest import make_config

pytestmark = pytest.mark.slow


@dataclasses.dataclass
class Lake:
    config: Config
    first: GoldOutcome


@pytest.fixture(scope="module")
def lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    root = tmp_path_factory.mktemp("gold")
    config = make_config(root, "generate.customers=300", "generate.days=10",
                         "generate.bad_share=0.01", "generate.files_per_source=1")
    generate(spark, config.generate, config.resolve(config.lakehouse.landing_root))
    ingest(spark, config)
    build_silver(spark, config, load_key(None))
    first = build_gold(spark, config)
    yield Lake(config, first)


def test_every_gold_table_is_written_and_registered(spark: SparkSession, lake: Lake) -> None:
    assert set(lake.first.rows) == set(GOLD_TABLES)
    assert all(rows > 0 for rows in lake.first.rows.values()), lake.first.rows


def test_the_planted_strongest_touchpoint_has_the_highest_odds_ratio(
    spark: SparkSession, lake: Lake
) -> None:
    significance = lakehouse.read_table(spark, lake.config, "gold_touchpoint_significance")
    causal = significance.where("supported AND NOT outcome_stage AND touchpoint NOT IN "
                                "('purchase', 'store_purchase')")
    best = causal.orderBy(F.desc("odds_ratio")).first()
    assert best.touchpoint == "offer_click", causal.orderBy(F.desc("odds_ratio")).collect()
    assert best.odds_ratio > 1.5
    assert significance.where("removal_effect < 0").count() == 0


def test_attribution_hands_out_every_conversion_and_all_revenue(
    spark: SparkSession, lake: Lake
) -> None:
    config = lake.config
    sessions = lakehouse.read_table(spark, config, "silver_sessions").where("converted")
    conversions = sessions.count()
    revenue = float(sessions.agg(F.sum("revenue")).first()[0])
    totals = lakehouse.read_table(spark, config, "gold_attribution").groupBy("model").agg(
        F.sum("conversions").alias("c"), F.sum("revenue").alias("r")).collect()
    assert {r.model for r in totals} >= {"first_touch", "last_touch", "linear", "time_decay",
                                          "position_based", "markov_order_1", "markov_order_2",
                                          "shapley"}
    for row in totals:
        assert row.c == pytest.approx(conversions), row.model
        assert float(row.r) == pytest.approx(revenue, rel=1e-6), row.model


def test_the_brand_and_the_planted_influencers_rank_first(
    spark: SparkSession, lake: Lake
) -> None:
    config = lake.config
    count = influencer_count(config.generate.customers)
    # The brand's own account is followed and mentioned by many too: a planted hub as well.
    handles = spark.range(count).select(F.expr(_influencer_handle("id")).alias("handle")).union(
        spark.createDataFrame([(BRAND_HANDLE,)], "handle string"))
    nodes = handles.select(
        node("handle", pseudonymise_handle(F.col("handle"), load_key(None))).alias("node"))
    persons = nodes.join(lakehouse.read_table(spark, config, "silver_identity_map"), "node")
    hubs = {r.person_id for r in persons.collect()}
    assert len(hubs) == count + 1
    ranked = lakehouse.read_table(spark, config, "gold_person_influence")
    top = {r.person_id for r in ranked.where(F.col("influence_rank") <= count + 1).collect()}
    assert top == hubs
    assert ranked.agg(F.sum("influence")).first()[0] == pytest.approx(1.0)


def test_funnels_and_cohorts_are_consistent(spark: SparkSession, lake: Lake) -> None:
    funnels = lakehouse.read_table(spark, lake.config, "gold_funnels").where(
        "group_value = 'all'")
    for name in ("browse_to_buy", "email_to_buy"):
        steps = [r.persons for r in funnels.where(F.col("funnel") == name)
                 .orderBy("step_index").collect()]
        assert steps and steps[0] > 0
        assert steps == sorted(steps, reverse=True), (name, steps)
    cohorts = lakehouse.read_table(spark, lake.config, "gold_cohort_retention")
    assert cohorts.where("period_offset = 0 AND retention <> 1.0").count() == 0
    assert cohorts.where("retention > 1.0 OR retention <= 0").count() == 0
