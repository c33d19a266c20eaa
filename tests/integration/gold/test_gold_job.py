"""Gold on generated data whose truth is known: every gold table is held to numbers worked out
again from the silver tables (plain Spark SQL or Python, never the gold code), the planted
strongest touchpoint stands out, the planted influencers rank first, and attribution hands out
exactly the conversions and revenue there are (the same numbers on every run:
tests/unit/gold/test_attribution.py)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from journeylake.core import lakehouse
from journeylake.core.table_spec import TableSpec
from journeylake.generator.reference import BRAND_HANDLE
from journeylake.generator.social import _influencer_handle, influencer_count
from journeylake.gold import tables as gold_tables
from journeylake.gold.outcomes import CONVERSION, DROPOFF, START
from journeylake.silver import tables as silver_tables
from journeylake.silver.identity import node
from journeylake.silver.pseudonymisation import load_key, pseudonymise_handle
from tests.integration.conftest import GoldLake

pytestmark = pytest.mark.slow


Lake = GoldLake


@pytest.fixture(scope="module")
def lake(gold_lake: GoldLake) -> Lake:
    # Built once per session in tests/integration/conftest.py: the dashboard's tests draw it too.
    return gold_lake


def read(spark: SparkSession, lake: Lake, table: TableSpec) -> DataFrame:
    return lakehouse.read_table(spark, lake.config, table)


def sql_conversions(lake: Lake) -> str:
    """The conversion touchpoints as a SQL list: 'purchase', 'store_purchase'."""
    return ", ".join(f"'{t}'" for t in lake.config.silver.conversion_touchpoints)


def conversion_events(spark: SparkSession, lake: Lake) -> DataFrame:
    """The timeline's conversions of known persons: what closes a journey; `revenue` is their
    reporting-currency amount, the one gold adds up."""
    return read(spark, lake, silver_tables.EVENTS).where(
        F.col("person_id").isNotNull()
        & F.col("touchpoint").isin(*lake.config.silver.conversion_touchpoints)
    ).withColumn("revenue", F.col("revenue_reporting"))


def session_walks(spark: SparkSession, lake: Lake) -> list[list[str]]:
    """Every visit's walks, worked out in Python from silver_events and silver_sessions:
    (start), the touchpoints since the visit's start or its previous order with runs of one
    touchpoint counted once, then (conversion) at each order; a visit without an order is one
    walk to (dropoff); what follows a visit's last order is no walk."""
    conversions = set(lake.config.silver.conversion_touchpoints)
    assert lake.config.gold.graph_scope == "session" and lake.config.gold.collapse_repeats
    events: dict[str, list[tuple]] = {}
    for row in read(spark, lake, silver_tables.EVENTS).where("person_id IS NOT NULL").select(
            "person_id", "ts", "event_key", "touchpoint").collect():
        events.setdefault(row.person_id, []).append((row.ts, row.event_key, row.touchpoint))
    walks = []
    for row in read(spark, lake, silver_tables.SESSIONS).select(
            "person_id", "start_ts", "end_ts").collect():
        visit = sorted(e for e in events[row.person_id] if row.start_ts <= e[0] <= row.end_ts)
        steps: list[str] = []
        ordered = False
        for _, _, touchpoint in visit:
            if touchpoint in conversions:
                walks.append([START, *steps, CONVERSION])
                steps, ordered = [], True
            elif not steps or steps[-1] != touchpoint:
                steps.append(touchpoint)
        if not ordered:
            walks.append([START, *steps, DROPOFF])
    return walks


def test_every_gold_table_has_its_declared_columns_and_types_and_is_registered(
    spark: SparkSession, lake: Lake
) -> None:
    assert set(lake.first.rows) == {spec.name for spec in gold_tables.TABLES}
    database = lake.config.lakehouse.database
    for spec in gold_tables.TABLES:
        stored = read(spark, lake, spec).schema
        assert [(f.name, f.dataType.simpleString()) for f in stored.fields] == [
            (f.name, f.dataType.simpleString()) for f in spec.schema.fields], spec.name
        assert spark.catalog.tableExists(f"{database}.{spec.name}"), spec.name


def test_each_conversion_closes_exactly_one_journey_with_its_revenue(
    spark: SparkSession, lake: Lake
) -> None:
    journeys = read(spark, lake, gold_tables.JOURNEYS)
    closed = journeys.where("converted").select(
        "person_id", F.col("conversion_ts").alias("ts"),
        F.col("conversion_touchpoint").alias("touchpoint"), "revenue")
    expected = conversion_events(spark, lake).select(
        "person_id", "ts", "touchpoint",
        F.coalesce("revenue", F.lit(0)).cast("decimal(18,2)").alias("revenue"))
    assert expected.count() > 100
    assert_df_equality(closed, expected, ignore_row_order=True, ignore_nullable=True)
    total = journeys.agg(F.sum("revenue")).first()[0]
    assert total == expected.agg(F.sum("revenue")).first()[0]
    assert total > 0


def test_a_person_has_one_open_journey_exactly_when_their_last_event_is_not_a_conversion(
    spark: SparkSession, lake: Lake
) -> None:
    conversions = sql_conversions(lake)
    read(spark, lake, silver_tables.EVENTS).createOrReplaceTempView("gold_test_events")
    expected = spark.sql(f"""
        SELECT person_id FROM (
            SELECT person_id, max_by(touchpoint, struct(ts, event_key)) AS last_touchpoint
            FROM gold_test_events WHERE person_id IS NOT NULL GROUP BY person_id)
        WHERE last_touchpoint NOT IN ({conversions})""")
    # Duplicates kept: a second open journey of a person would be a row too many.
    open_journeys = read(spark, lake, gold_tables.JOURNEYS).where("NOT converted").select(
        "person_id")
    assert expected.count() > 100
    assert_df_equality(open_journeys, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_journey_holds_the_touchpoints_since_the_persons_previous_conversion(
    spark: SparkSession, lake: Lake
) -> None:
    events = read(spark, lake, silver_tables.EVENTS).where(F.col("person_id").isNotNull())
    first, last = events.agg(F.min("ts"), F.max("ts")).first()
    assert last - first < timedelta(days=lake.config.gold.lookback_days)  # nothing trimmed
    assert lake.config.gold.collapse_repeats
    conversions = set(lake.config.silver.conversion_touchpoints)
    by_person: dict[str, list[Row]] = {}
    for e in events.select("person_id", "ts", "event_key", "touchpoint",
                           F.col("revenue_reporting").alias("revenue")).collect():
        by_person.setdefault(e.person_id, []).append(e)
    expected: Counter[tuple] = Counter()
    for person, timeline in by_person.items():
        timeline.sort(key=lambda e: (e.ts, e.event_key))
        steps: list[Row] = []
        for e in [*timeline, None]:  # None: the end of the timeline
            if e is None or e.touchpoint in conversions:
                # The first event of each run of one touchpoint stays.
                kept = tuple(s.event_key for i, s in enumerate(steps)
                             if i == 0 or steps[i - 1].touchpoint != s.touchpoint)
                if e is not None:
                    expected[(person, True, e.ts, e.revenue or Decimal(0), kept)] += 1
                elif steps:
                    expected[(person, False, None, Decimal(0), kept)] += 1
                steps = []
            else:
                steps.append(e)
    journeys = read(spark, lake, gold_tables.JOURNEYS).collect()
    assert Counter((j.person_id, j.converted, j.conversion_ts, j.revenue,
                    tuple(s.event_key for s in j.steps)) for j in journeys) == expected


def test_the_journey_graph_counts_every_transition_of_every_session_walk(
    spark: SparkSession, lake: Lake
) -> None:
    walks = session_walks(spark, lake)
    transitions = Counter((a, b) for walk in walks for a, b in zip(walk, walk[1:], strict=False))
    edges = {(r.src, r.dst): r for r in read(spark, lake, gold_tables.JOURNEY_EDGES).collect()}
    assert {edge: r.transitions for edge, r in edges.items()} == dict(transitions)
    # Every walk leaves (start) once; every order of a person ends one.
    assert sum(r.transitions for (src, _), r in edges.items() if src == START) == len(walks)
    assert sum(r.transitions for (_, dst), r in edges.items() if dst == CONVERSION) == \
        conversion_events(spark, lake).count()
    out_of: dict[str, float] = {}
    for (src, _), r in edges.items():
        out_of[src] = out_of.get(src, 0.0) + r.probability
    assert out_of == {src: pytest.approx(1.0) for src in out_of}
    assert {r.scope for r in edges.values()} == {"session"}


def test_top_paths_are_the_most_common_session_paths_of_each_outcome(
    spark: SparkSession, lake: Lake
) -> None:
    paths = Counter((walk[-1], tuple(walk[1:-1])) for walk in session_walks(spark, lake))
    limit = lake.config.gold.top_paths
    ranked = read(spark, lake, gold_tables.TOP_PATHS).collect()
    for outcome in (CONVERSION, DROPOFF):
        counts = {path: n for (o, path), n in paths.items() if o == outcome}
        rows = sorted((r for r in ranked if r.outcome == outcome), key=lambda r: r.rank)
        assert [r.rank for r in rows] == list(range(1, min(limit, len(counts)) + 1)), outcome
        assert [r.journeys for r in rows] == sorted(counts.values(), reverse=True)[:len(rows)]
        for r in rows:
            assert r.journeys == counts[tuple(r.path)], (outcome, r.path)
            assert r.share == pytest.approx(r.journeys / sum(counts.values()))


def test_the_person_profile_has_one_row_per_person_with_their_counts(
    spark: SparkSession, lake: Lake
) -> None:
    conversions = sql_conversions(lake)
    read(spark, lake, silver_tables.EVENTS).createOrReplaceTempView("gold_test_events")
    read(spark, lake, silver_tables.SESSIONS).createOrReplaceTempView("gold_test_sessions")
    expected = spark.sql(f"""
        SELECT e.person_id, e.events, e.conversions, coalesce(s.sessions, 0) AS sessions
        FROM (SELECT person_id, count(*) AS events,
                     sum(CASE WHEN touchpoint IN ({conversions}) THEN 1 ELSE 0 END) AS conversions
              FROM gold_test_events WHERE person_id IS NOT NULL GROUP BY person_id) e
        LEFT JOIN (SELECT person_id, count(*) AS sessions FROM gold_test_sessions
                   GROUP BY person_id) s ON e.person_id = s.person_id""")
    profile = read(spark, lake, gold_tables.PERSON_PROFILE).select(
        "person_id", "events", "conversions", "sessions")
    assert expected.count() > 300
    assert_df_equality(profile, expected, ignore_row_order=True, ignore_nullable=True)


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


def test_attribution_hands_out_every_order_and_all_revenue(
    spark: SparkSession, lake: Lake
) -> None:
    # Every order on a person is one conversion (two in one visit: tests/unit/gold).
    config = lake.config
    orders = conversion_events(spark, lake)
    conversions = orders.count()
    revenue = float(orders.agg(F.sum("revenue")).first()[0])
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


def funnel_persons(spark: SparkSession, lake: Lake) -> dict[tuple[str, int], int]:
    """(funnel, step_index) -> persons of gold_funnels over all persons."""
    rows = read(spark, lake, gold_tables.FUNNELS).where(F.col("group_value") == "all")
    return {(r.funnel, r.step_index): r.persons for r in rows.collect()}


def test_each_funnel_starts_with_every_person_who_had_its_first_step(
    spark: SparkSession, lake: Lake
) -> None:
    persons = funnel_persons(spark, lake)
    events = read(spark, lake, silver_tables.EVENTS).where(
        F.col("person_id").isNotNull() & F.col("ts").isNotNull())
    assert lake.config.gold.funnels
    for funnel in lake.config.gold.funnels:
        expected = events.where(F.col("touchpoint") == funnel.steps[0]).select(
            "person_id").distinct().count()
        assert expected > 50, funnel.name
        assert persons[(funnel.name, 1)] == expected, funnel.name


def test_browse_to_buy_reaches_the_cart_within_a_day_after_the_first_product_view(
    spark: SparkSession, lake: Lake
) -> None:
    funnel = next(f for f in lake.config.gold.funnels if f.name == "browse_to_buy")
    assert (funnel.steps[:2], funnel.window_hours, funnel.order) == (
        ("product_view", "add_to_cart"), 24, "strict")
    read(spark, lake, silver_tables.EVENTS).createOrReplaceTempView("gold_test_events")
    # The entry is each person's first product view in (ts, event_key) order; a cart counts
    # when it comes after the entry in that order and at most 24 hours after it.
    carts = spark.sql("""
        WITH entries AS (
            SELECT person_id, min(struct(ts, event_key)) AS entry
            FROM gold_test_events WHERE touchpoint = 'product_view' AND person_id IS NOT NULL
            GROUP BY person_id)
        SELECT count(DISTINCT e.person_id) AS persons
        FROM gold_test_events e JOIN entries n ON e.person_id = n.person_id
        WHERE e.touchpoint = 'add_to_cart'
          AND (e.ts > n.entry.ts OR (e.ts = n.entry.ts AND e.event_key > n.entry.event_key))
          AND e.ts <= n.entry.ts + INTERVAL 24 HOURS""").first().persons
    assert carts > 50
    assert funnel_persons(spark, lake)[("browse_to_buy", 2)] == carts


def walked_funnel(events: list[Row], steps: tuple[str, ...], window_hours: float, order: str
                  ) -> tuple[str, int] | None:
    """(entry channel, steps reached) of one person's events sorted by (ts, event_key), or
    None without a first step: every step in turn (strict), or each listing of a touchpoint
    matched by its own event of the attempt, counted while all steps before it are (any)."""
    entry = next((i for i, e in enumerate(events) if e.touchpoint == steps[0]), None)
    if entry is None:
        return None
    deadline = events[entry].ts + timedelta(hours=window_hours)
    attempt = [e.touchpoint for e in events[entry:] if e.ts <= deadline]
    reached = 0
    if order == "strict":
        for touchpoint in attempt:
            if reached < len(steps) and touchpoint == steps[reached]:
                reached += 1
    else:
        while reached < len(steps) and attempt.count(steps[reached]) > steps[:reached].count(
                steps[reached]):
            reached += 1
    return events[entry].channel, reached


def test_every_funnel_step_matches_a_walk_through_each_persons_events(
    spark: SparkSession, lake: Lake
) -> None:
    funnels = lake.config.gold.funnels
    assert {f.order for f in funnels} == {"strict", "any"}
    assert lake.config.gold.funnel_breakdowns == ("entry_channel",)
    touchpoints = sorted({t for f in funnels for t in f.steps})
    by_person: dict[str, list[Row]] = {}
    for e in read(spark, lake, silver_tables.EVENTS).where(
            F.col("person_id").isNotNull() & F.col("ts").isNotNull()
            & F.col("touchpoint").isin(*touchpoints)).collect():
        by_person.setdefault(e.person_id, []).append(e)
    expected: Counter[tuple[str, str, str, int]] = Counter()
    for events in by_person.values():
        events.sort(key=lambda e: (e.ts, e.event_key))
        for f in funnels:
            walked = walked_funnel(events, f.steps, f.window_hours, f.order)
            if walked is None:
                continue
            channel, reached = walked
            for k in range(1, len(f.steps) + 1):
                for group in (("all", "all"), ("entry_channel", channel)):
                    expected[(f.name, *group, k)] += int(reached >= k)
    actual = {(r.funnel, r.group_by, r.group_value, r.step_index): r.persons
              for r in read(spark, lake, gold_tables.FUNNELS).collect()}
    assert actual == dict(expected)


def test_day_cohorts_are_the_persons_first_seen_that_day_and_those_back_the_next(
    spark: SparkSession, lake: Lake
) -> None:
    # The test session runs in UTC (conf/base.yaml), so to_date gives the UTC day.
    read(spark, lake, silver_tables.EVENTS).createOrReplaceTempView("gold_test_events")
    expected = spark.sql("""
        WITH days AS (SELECT DISTINCT person_id, to_date(ts) AS day FROM gold_test_events
                      WHERE person_id IS NOT NULL AND ts IS NOT NULL),
             firsts AS (SELECT person_id, min(day) AS cohort FROM days GROUP BY person_id)
        SELECT f.cohort, count(*) AS cohort_size,
               count_if(EXISTS (SELECT 1 FROM days d WHERE d.person_id = f.person_id
                                AND d.day = date_add(f.cohort, 1))) AS back_next_day
        FROM firsts f GROUP BY f.cohort""").collect()
    cohorts = read(spark, lake, gold_tables.COHORT_RETENTION).where("period = 'day'")
    sizes = {r.cohort_start: r.cohort_size for r in cohorts.where("period_offset = 0").collect()}
    next_day = {r.cohort_start: r.active_persons
                for r in cohorts.where("period_offset = 1").collect()}
    assert len(expected) >= 9
    assert sizes == {r.cohort: r.cohort_size for r in expected}
    # A cohort nobody came back to the next day has no offset-1 row.
    assert next_day == {r.cohort: r.back_next_day for r in expected if r.back_next_day}


def test_week_and_month_cohort_sizes_count_the_persons_first_seen_in_the_period(
    spark: SparkSession, lake: Lake
) -> None:
    read(spark, lake, silver_tables.EVENTS).createOrReplaceTempView("gold_test_events")
    cohorts = read(spark, lake, gold_tables.COHORT_RETENTION).where("period_offset = 0")
    for period in ("week", "month"):
        expected = spark.sql(f"""
            SELECT to_date(date_trunc('{period}', ts)) AS cohort, count(*) AS n
            FROM (SELECT person_id, min(ts) AS ts FROM gold_test_events
                  WHERE person_id IS NOT NULL GROUP BY person_id) GROUP BY 1""").collect()
        sizes = {r.cohort_start: r.cohort_size
                 for r in cohorts.where(F.col("period") == period).collect()}
        assert sizes == {r.cohort: r.n for r in expected}, period
