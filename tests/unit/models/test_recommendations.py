"""Association rules, ALS on implicit feedback and the popularity baseline, on a time holdout."""

from __future__ import annotations

from datetime import datetime

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from journeylake.models.recommendations import (
    also_bought,
    association_rules,
    baskets,
    dense_index,
    evaluate,
    fit_als,
    holdout_cutoff,
    holdout_purchases,
    interactions,
    personal_recommendations,
    popularity_recommendations,
    ranking_metrics,
    time_split,
)

EVENT_SCHEMA = ("person_id string, ts timestamp, touchpoint string, source string, "
                "attributes map<string,string>")
WEIGHTS = {"product_view": 1.0, "add_to_cart": 3.0, "purchase": 5.0, "store_purchase": 5.0}
RULE_SCHEMA = ("antecedent array<string>, consequent string, support double, confidence double, "
               "lift double")
RECOMMENDATION_SCHEMA = "person_id string, product_id string, rank int, score double"
T0 = datetime(2026, 3, 1, 12, 0)


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, 0)


def view(person: str | None, product: str, ts: datetime = T0) -> tuple:
    return (person, ts, "product_view", "clickstream", {"product_id": product})


def cart(person: str, product: str, ts: datetime = T0) -> tuple:
    return (person, ts, "add_to_cart", "clickstream", {"product_id": product})


def order(person: str | None, order_id: str, products: str | None, ts: datetime = T0,
          touchpoint: str = "purchase") -> tuple:
    return (person, ts, touchpoint, "transactions", {"order_id": order_id, "product_ids": products})


def events_of(spark: SparkSession, *rows: tuple) -> DataFrame:
    return spark.createDataFrame(list(rows), EVENT_SCHEMA)


def assert_frames(actual: DataFrame, expected: DataFrame) -> None:
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def assert_close(actual: DataFrame, expected: DataFrame) -> None:
    assert_approx_df_equality(actual, expected, 1e-9, ignore_row_order=True,
                              ignore_nullable=True)


def test_baskets_are_the_distinct_products_of_each_transactions_order(
    spark: SparkSession
) -> None:
    events = events_of(
        spark,
        order("a", "o1", "P2,P1,P2", at(1)),  # a product twice in one basket counts once
        order(None, "o2", "P3", at(2), "store_purchase"),  # anonymous till purchase: kept
        order("b", "o3", None, at(3), "store_purchase"),  # the source had no items
        order("b", "o4", "", at(3)),
        view("a", "P1", at(1)),
        # The clickstream's confirmation page is not an order, even with an order_id.
        ("a", at(1), "purchase_confirmation", "clickstream",
         {"order_id": "o1", "product_ids": "P9"}),
    )
    expected = spark.createDataFrame([
        ("o1", "a", at(1), ["P1", "P2"]),
        ("o2", None, at(2), ["P3"]),
    ], "order_id string, person_id string, ts timestamp, items array<string>")
    assert_frames(baskets(events), expected)


def test_interactions_sum_the_weights_of_views_carts_and_basket_items(
    spark: SparkSession
) -> None:
    events = events_of(
        spark,
        view("a", "P1"), view("a", "P1"), cart("a", "P1"),
        order("a", "o1", "P1,P2,P2"),  # P2 twice in the basket: one purchase of P2
        order("a", "o2", "P2", touchpoint="store_purchase"),
        view("b", "P3"),
        order("b", "o3", None, touchpoint="store_purchase"),  # no items: nothing to learn
        ("a", T0, "page_view", "clickstream", {"url": "/"}),  # no product
        ("a", T0, "search", "clickstream", {"product_id": "P9"}),  # touchpoint without weight
        view(None, "P4"),  # no person
    )
    expected = spark.createDataFrame([
        ("a", "P1", 1.0 + 1.0 + 3.0 + 5.0),
        ("a", "P2", 5.0 + 5.0),
        ("b", "P3", 1.0),
    ], "person_id string, product_id string, weight double")
    assert_frames(interactions(events, WEIGHTS), expected)


@pytest.fixture(scope="module")
def six_baskets(spark: SparkSession) -> DataFrame:
    # Counts out of 6: A 4, B 4, C 3, D 2; AB 3, AC 3, BC 2, ABC 2; BD 1.
    return spark.createDataFrame([
        ("o1", ["A", "B", "C"]),
        ("o2", ["A", "B", "C"]),
        ("o3", ["A", "B"]),
        ("o4", ["A", "C"]),
        ("o5", ["B", "D"]),
        ("o6", ["D"]),
    ], "order_id string, items array<string>")


def test_rules_have_hand_computed_support_confidence_and_lift(
    spark: SparkSession, six_baskets: DataFrame
) -> None:
    # min_support 1/3 keeps itemsets in 2 or more baskets (BD, in one, is out); min_confidence
    # 0.6 drops B -> C (2/4). lift = confidence / share of baskets with the consequent.
    expected = spark.createDataFrame([
        (["A"], "B", 3 / 6, 3 / 4, (3 / 4) / (4 / 6)),
        (["B"], "A", 3 / 6, 3 / 4, (3 / 4) / (4 / 6)),
        (["A"], "C", 3 / 6, 3 / 4, (3 / 4) / (3 / 6)),
        (["C"], "A", 3 / 6, 3 / 3, (3 / 3) / (4 / 6)),
        (["C"], "B", 2 / 6, 2 / 3, (2 / 3) / (4 / 6)),
        (["A", "B"], "C", 2 / 6, 2 / 3, (2 / 3) / (3 / 6)),
        (["A", "C"], "B", 2 / 6, 2 / 3, (2 / 3) / (4 / 6)),
        (["B", "C"], "A", 2 / 6, 2 / 2, (2 / 2) / (4 / 6)),
    ], RULE_SCHEMA)
    rules = association_rules(six_baskets, 1 / 3, 0.6).withColumn(
        "antecedent", F.array_sort("antecedent"))
    assert_close(rules, expected)


def test_also_bought_ranks_single_product_rules_by_confidence_then_lift(
    spark: SparkSession, six_baskets: DataFrame
) -> None:
    # A: C and B both at confidence 3/4, C has the higher lift (1.5 against 1.125). Rules with
    # two products as antecedent (AB -> C ...) are not "bought this also bought".
    rules = association_rules(six_baskets, 1 / 3, 0.6)
    expected = spark.createDataFrame([
        ("A", "C", 1, 3 / 6, 3 / 4, 1.5),
        ("A", "B", 2, 3 / 6, 3 / 4, 1.125),
        ("B", "A", 1, 3 / 6, 3 / 4, 1.125),
        ("C", "A", 1, 3 / 6, 1.0, 1.5),
        ("C", "B", 2, 2 / 6, 2 / 3, 1.0),
    ], "product_id string, recommended_product_id string, rank int, support double, "
       "confidence double, lift double")
    assert_close(also_bought(rules, 2), expected)
    assert_close(also_bought(rules, 1), expected.where("rank = 1"))


def test_precision_and_recall_at_k_are_averaged_over_holdout_persons(
    spark: SparkSession
) -> None:
    recommended = spark.createDataFrame([
        ("p1", "X", 1, 0.9), ("p1", "Y", 2, 0.8), ("p1", "W", 3, 0.7),  # W is beyond k = 2
        ("p2", "X", 1, 0.9), ("p2", "Z", 2, 0.8),
        ("p3", "Y", 1, 0.9),  # one recommendation only: precision still divides by k
        ("p5", "X", 1, 0.9),  # not in the holdout: ignored
    ], RECOMMENDATION_SCHEMA)
    holdout = spark.createDataFrame([
        ("p1", "Y"), ("p1", "Y"), ("p1", "W"),  # Y bought twice counts once
        ("p2", "Q"),
        ("p3", "Y"),
        ("p4", "X"),  # bought, but got no recommendations: 0 and 0
    ], "person_id string, product_id string")
    # precision: p1 1/2, p2 0, p3 1/2, p4 0; recall: p1 1/2, p2 0, p3 1, p4 0.
    expected = spark.createDataFrame(
        [(2, 4, (0.5 + 0 + 0.5 + 0) / 4, (0.5 + 0 + 1 + 0) / 4)],
        "k int, persons long, precision_at_k double, recall_at_k double")
    assert_close(ranking_metrics(recommended, holdout, 2), expected)


def test_time_split_puts_events_at_the_cutoff_in_the_holdout(spark: SparkSession) -> None:
    events = events_of(spark, view("a", "P1", at(1)), view("a", "P2", at(2)),
                       view("a", "P3", at(3)))
    train, holdout = time_split(events, at(2))
    # chispa cannot sort rows with a map column: compare the products.
    def products(frame: DataFrame) -> DataFrame:
        return frame.select("ts", F.col("attributes")["product_id"].alias("product_id"))

    schema = "ts timestamp, product_id string"
    assert_frames(products(train), spark.createDataFrame([(at(1), "P1")], schema))
    assert_frames(products(holdout),
                  spark.createDataFrame([(at(2), "P2"), (at(3), "P3")], schema))


def test_the_holdout_is_the_last_days_before_the_latest_event(spark: SparkSession) -> None:
    events = events_of(spark, view("a", "P1", at(1)), view("b", "P2", at(10, 18)),
                       view("c", "P3", at(4)))
    assert holdout_cutoff(events, 7) == at(3, 18)


def test_holdout_purchases_are_new_products_of_persons_seen_in_training(
    spark: SparkSession
) -> None:
    seen = spark.createDataFrame([("a", "P1", 1.0), ("b", "P2", 5.0)],
                                 "person_id string, product_id string, weight double")
    holdout = events_of(
        spark,
        order("a", "o1", "P1,P3"),  # P1 seen in training: not new
        view("b", "P4"),  # a view is not a purchase
        order("c", "o2", "P5"),  # c has no training history
    )
    expected = spark.createDataFrame([("a", "P3")], "person_id string, product_id string")
    assert_frames(holdout_purchases(holdout, seen), expected)
    assert_frames(holdout_purchases(holdout, seen, exclude_seen=False),
                  spark.createDataFrame([("a", "P1"), ("a", "P3")],
                                        "person_id string, product_id string"))


def test_dense_index_numbers_each_distinct_id_once_from_zero(spark: SparkSession) -> None:
    ids = spark.range(500).select(F.format_string("p%04d", F.col("id") % 300).alias("person_id"))
    indexed = dense_index(ids.union(spark.createDataFrame([(None,)], "person_id string")),
                          "person_id", "person_index")
    summary = indexed.agg(F.count("*").alias("rows"),
                          F.countDistinct("person_id").alias("ids"),
                          F.countDistinct("person_index").alias("indexes"),
                          F.min("person_index").alias("low"),
                          F.max("person_index").alias("high")).first()
    assert (summary.rows, summary.ids, summary.indexes, summary.low, summary.high) == (
        300, 300, 300, 0, 299)
    assert dict(indexed.dtypes)["person_index"] == "int"
    # The numbering depends on the ids only: the same ids in another order give the same.
    again = dense_index(ids.orderBy(F.desc("person_id")).repartition(3), "person_id",
                        "person_index")
    assert_frames(again, indexed)


def test_popularity_gives_everyone_the_most_popular_products_they_have_not_seen(
    spark: SparkSession
) -> None:
    seen = spark.createDataFrame([
        ("a", "P1", 5.0), ("b", "P1", 3.0), ("b", "P2", 4.0), ("c", "P3", 1.0),
    ], "person_id string, product_id string, weight double")
    persons = spark.createDataFrame([("a",), ("b",), ("d",)], "person_id string")
    # Popularity: P1 8, P2 4, P3 1.
    expected = spark.createDataFrame([
        ("a", "P2", 1, 4.0), ("a", "P3", 2, 1.0),
        ("b", "P3", 1, 1.0),  # b has seen P1 and P2: only P3 is left
        ("d", "P1", 1, 8.0), ("d", "P2", 2, 4.0),
    ], RECOMMENDATION_SCHEMA)
    assert_frames(popularity_recommendations(seen, persons, 2), expected)


def test_als_recommendations_map_back_to_the_person_and_product_ids(
    spark: SparkSession
) -> None:
    # Two groups with disjoint tastes. a3 saw only X, b3 only Z: each group's other product is
    # what ALS should put first for them.
    rows = [(f"a{i}", product, 3.0) for i in range(3) for product in ("X", "Y")]
    rows += [(f"b{i}", product, 3.0) for i in range(3) for product in ("Z", "W")]
    rows += [("a3", "X", 3.0), ("b3", "Z", 3.0)]
    seen = spark.createDataFrame(rows, "person_id string, product_id string, weight double")
    fit = fit_als(seen, rank=2, reg_param=0.01, alpha=10.0, max_iter=5, seed=13)
    firsts = personal_recommendations(fit, seen, 1).where(F.col("person_id").isin("a3", "b3"))
    assert_frames(firsts.select("person_id", "product_id", "rank"),
                  spark.createDataFrame([("a3", "Y", 1), ("b3", "W", 1)],
                                        "person_id string, product_id string, rank int"))


# The planted data set: 200 persons, 40 products in 4 families (family = number mod 4), low
# numbers more popular. Persons browse mostly (70%) in their own family before the cutoff and
# buy from it, mostly, after; the rest of their products come from the whole catalogue, by
# popularity, so popularity is a real baseline (it beats random picks). Random draws are hashes
# of the row, so the data does not depend on partitioning.
PERSONS, PRODUCTS, FAMILIES, K = 200, 40, 4, 5
CUTOFF = datetime(2026, 3, 15)


def _planted_events(spark: SparkSession) -> DataFrame:
    def draw(salt: str) -> str:
        return f"pmod(xxhash64(person, i, '{salt}'), 1000000) / 1000000D"

    def popular(salt: str, among: int) -> str:  # u * u leans to 0: to the low numbers
        return f"CAST(floor({among} * {draw(salt)} * {draw(salt)}) AS INT)"

    in_family = f"family + {FAMILIES} * {popular('j', PRODUCTS // FAMILIES)}"
    product = (f"format_string('Q%02d', CASE WHEN {draw('taste')} < 0.7D THEN {in_family} "
               f"ELSE {popular('any', PRODUCTS)} END)")
    persons = spark.range(PERSONS).selectExpr("CAST(id AS INT) AS person",
                                              f"CAST(id % {FAMILIES} AS INT) AS family")
    before = persons.selectExpr("*", "explode(sequence(0, 11)) AS i").selectExpr(
        "format_string('u%03d', person) AS person_id",
        "timestamp'2026-03-01 00:00:00' + make_interval(0, 0, 0, CAST(i AS INT)) AS ts",
        "CASE WHEN i % 3 = 2 THEN 'add_to_cart' ELSE 'product_view' END AS touchpoint",
        "'clickstream' AS source",
        f"map('product_id', {product}) AS attributes",
    )
    # After the cutoff: three one-item orders each.
    after = persons.selectExpr("*", "explode(sequence(100, 102)) AS i").selectExpr(
        "format_string('u%03d', person) AS person_id",
        "timestamp'2026-03-16 00:00:00' + make_interval(0, 0, 0, CAST(i - 100 AS INT)) AS ts",
        "'purchase' AS touchpoint",
        "'transactions' AS source",
        f"map('order_id', format_string('o%03d-%d', person, i), 'product_ids', {product}) "
        "AS attributes",
    )
    return before.unionByName(after)


def _random_picks(seen: DataFrame) -> DataFrame:
    """K unseen products per person in an order that knows nothing: the floor both methods must
    clear, or beating the other one means little."""
    candidates = seen.select("person_id").distinct().crossJoin(
        seen.select("product_id").distinct()
    ).join(seen, ["person_id", "product_id"], "left_anti")
    order = Window.partitionBy("person_id").orderBy(F.xxhash64("person_id", "product_id"))
    return candidates.withColumn("rank", F.row_number().over(order)).where(F.col("rank") <= K)


@pytest.fixture(scope="module")
def planted(spark: SparkSession) -> dict[str, DataFrame]:
    train, holdout = time_split(_planted_events(spark), CUTOFF)
    seen = interactions(train, WEIGHTS).cache()
    fit = fit_als(seen, rank=4, reg_param=0.05, alpha=10.0, max_iter=5, seed=13)
    return {
        "seen": seen,
        "truth": holdout_purchases(holdout, seen).cache(),
        "als": personal_recommendations(fit, seen, K).cache(),
        "popularity": popularity_recommendations(seen, seen, K).cache(),
    }


def test_als_finds_the_planted_taste_better_than_popularity(
    planted: dict[str, DataFrame]
) -> None:
    metrics = {row.method: row for row in evaluate(
        {"als": planted["als"], "popularity": planted["popularity"],
         "random": _random_picks(planted["seen"])}, planted["truth"], K
    ).collect()}
    print("\n" + "; ".join(f"{method} precision@{K} {row.precision_at_k:.3f} recall@{K} "
                           f"{row.recall_at_k:.3f}" for method, row in metrics.items())
          + f"; {metrics['als'].persons} persons")
    als, popular, random = metrics["als"], metrics["popularity"], metrics["random"]
    assert als.persons == popular.persons == random.persons > PERSONS / 2
    assert als.precision_at_k > popular.precision_at_k > random.precision_at_k
    assert als.recall_at_k > popular.recall_at_k > random.recall_at_k


@pytest.mark.parametrize("method", ["als", "popularity"])
def test_every_person_gets_k_distinct_products_they_have_not_seen(
    planted: dict[str, DataFrame], method: str
) -> None:
    recommended = planted[method]
    per_person = recommended.groupBy("person_id").agg(
        F.count("*").alias("rows"), F.countDistinct("product_id").alias("products"),
        F.sort_array(F.collect_list("rank")).alias("ranks"))
    assert per_person.count() == PERSONS
    assert per_person.where(
        (F.col("rows") != K) | (F.col("products") != K)
        | (F.col("ranks") != F.sequence(F.lit(1), F.lit(K)))).count() == 0
    assert recommended.join(planted["seen"], ["person_id", "product_id"]).count() == 0
    # The ids are the data's own, not ALS's int indexes.
    assert recommended.join(planted["seen"].select("person_id").distinct(), "person_id",
                            "left_anti").count() == 0
    assert recommended.where(~F.col("product_id").rlike("^Q[0-9]{2}$")).count() == 0


def test_missing_columns_are_named(spark: SparkSession) -> None:
    events = events_of(spark, view("a", "P1"))
    with pytest.raises(ValueError, match="'attributes'"):
        interactions(events.drop("attributes"), WEIGHTS)
    with pytest.raises(ValueError, match="'source'"):
        baskets(events.drop("source"))
