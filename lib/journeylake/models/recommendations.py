"""Recommendations: "customers who bought this also bought" from FPGrowth association rules, and
personal recommendations from ALS on implicit feedback, evaluated against a popularity baseline
on a time-based holdout.

A pipeline reads top to bottom:

    train, holdout = time_split(events, holdout_cutoff(events, settings.holdout_days))
    rules = association_rules(baskets(train), settings.min_support, settings.min_confidence)
    seen = interactions(train, settings.weights)
    fit = fit_als(seen, settings.als_rank, settings.als_reg_param, settings.als_alpha,
                  settings.als_max_iter, settings.seed)
    truth = holdout_purchases(holdout, seen)
    metrics = evaluate({"als": personal_recommendations(fit, seen, k),
                        "popularity": popularity_recommendations(seen, seen, k)}, truth, k)

Both methods leave out what the person already interacted with (`exclude_seen`), and the holdout
then counts only products new to the person, so precision and recall measure the same thing for
both: finding products the person has not looked at yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from pyspark.ml.fpm import FPGrowth
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from journeylake.core.columns import require_columns
from journeylake.core.frames import union_all

# Orders come from the transactions source; the clickstream's own purchase page is a different
# touchpoint (purchase_confirmation) and carries no basket.
ORDER_SOURCE = "transactions"
BASKET_COLUMNS = ("order_id", "person_id", "ts", "items")
INTERACTION_COLUMNS = ("person_id", "product_id", "weight")
RULE_COLUMNS = ("antecedent", "consequent", "support", "confidence", "lift")
ALSO_BOUGHT_COLUMNS = (
    "product_id", "recommended_product_id", "rank", "support", "confidence", "lift",
)
RECOMMENDATION_COLUMNS = ("person_id", "product_id", "rank", "score")
METRIC_COLUMNS = ("k", "persons", "precision_at_k", "recall_at_k")
_EVENT_COLUMNS = ("person_id", "ts", "touchpoint", "source", "attributes")
# Buckets of the dense id index: enough to spread millions of ids over many tasks, few enough
# that the running total over the buckets is a tiny window.
_INDEX_BUCKETS = 64


def time_split(events: DataFrame, cutoff: datetime) -> tuple[DataFrame, DataFrame]:
    """(train, holdout): the events before `cutoff` and those at or after it (needs ts). Events
    without a ts are in neither."""
    require_columns(events, ("ts",), "time_split")
    at = F.lit(cutoff).cast("timestamp")
    return events.where(F.col("ts") < at), events.where(F.col("ts") >= at)


def holdout_cutoff(events: DataFrame, holdout_days: int) -> datetime:
    """The latest ts of the events minus `holdout_days`: the last days are the holdout. An action
    (one aggregate row), meant for the job."""
    require_columns(events, ("ts",), "holdout_cutoff")
    latest = events.agg(F.max("ts").alias("latest")).first()
    if latest is None or latest.latest is None:
        raise ValueError("holdout_cutoff needs at least one event with a ts")
    return latest.latest - timedelta(days=holdout_days)


def _product_ids(listed: Column) -> Column:
    """The distinct, non-empty ids of a comma-separated list."""
    # A lambda, not F.trim itself: transform passes the index as a second argument to a
    # two-argument function, and trim's second argument is the characters to strip.
    ids = F.transform(F.split(listed, ","), lambda product: F.trim(product))
    return F.array_distinct(F.filter(ids, lambda product: product != F.lit("")))


def baskets(events: DataFrame) -> DataFrame:
    """BASKET_COLUMNS, one row per order, from events (person_id, ts, touchpoint, source,
    attributes). Orders are the transactions events with attributes.order_id; items are the
    distinct ids of attributes.product_ids. Orders without items (the source had none) are left
    out: they say nothing about what goes together. person_id may be NULL (an anonymous till
    purchase): its basket still counts for association rules. An order seen twice is one basket
    with the union of its items, at its first ts.
    """
    require_columns(events, _EVENT_COLUMNS, "baskets")
    orders = events.where(
        (F.col("source") == ORDER_SOURCE) & F.col("attributes")["order_id"].isNotNull()
    ).select(
        F.col("attributes")["order_id"].alias("order_id"),
        "person_id",
        "ts",
        _product_ids(F.col("attributes")["product_ids"]).alias("_items"),
    )
    return (
        orders.groupBy("order_id")
        .agg(
            F.min_by("person_id", "ts").alias("person_id"),
            F.min("ts").alias("ts"),
            # Sorted so that a basket is the same array whatever order its rows arrive in.
            F.array_sort(F.array_distinct(F.flatten(F.collect_list("_items")))).alias("items"),
        )
        .where(F.size("items") > 0)
        .select(*BASKET_COLUMNS)
    )


def interactions(events: DataFrame, weights: Mapping[str, float]) -> DataFrame:
    """INTERACTION_COLUMNS, one row per person and product, from events (person_id, touchpoint,
    attributes). weight is the sum of `weights[touchpoint]` over the person's events on the
    product: an event names one product in attributes.product_id (views, carts) or several in
    attributes.product_ids (orders; each distinct product of a basket once). Events of other
    touchpoints, without a person or without a product are ignored.
    """
    require_columns(events, ("person_id", "touchpoint", "attributes"), "interactions")
    if not weights:
        raise ValueError("interactions needs at least one touchpoint weight")
    if any(weight <= 0 for weight in weights.values()):
        raise ValueError(f"interaction weights must be positive, got {dict(weights)}")
    weight_of = F.create_map(*[
        item for touchpoint, weight in weights.items()
        for item in (F.lit(touchpoint), F.lit(float(weight)))
    ])
    attributes = F.col("attributes")
    products = F.when(
        attributes["product_ids"].isNotNull(), _product_ids(attributes["product_ids"])
    ).otherwise(F.array(F.trim(attributes["product_id"])))
    weighted = events.where(F.col("person_id").isNotNull()).select(
        "person_id",
        weight_of[F.col("touchpoint")].alias("weight"),
        F.explode(products).alias("product_id"),
    )
    return (
        weighted.where(F.col("weight").isNotNull() & F.col("product_id").isNotNull()
                       & (F.col("product_id") != ""))
        .groupBy("person_id", "product_id")
        .agg(F.sum("weight").cast("double").alias("weight"))
    )


def association_rules(baskets: DataFrame, min_support: float, min_confidence: float
                      ) -> DataFrame:
    """RULE_COLUMNS from baskets (items: an array of distinct products) with FPGrowth.

    support is the share of baskets holding antecedent and consequent, confidence the share of
    baskets with the antecedent that also hold the consequent, lift the confidence over the
    share of baskets holding the consequent (1 = independent). antecedent is an array of one or
    more products, consequent a single product (MLlib's rules always have one).
    """
    require_columns(baskets, ("items",), "association_rules")
    if not 0 < min_support <= 1 or not 0 <= min_confidence <= 1:
        raise ValueError(f"min_support must be in (0, 1] and min_confidence in [0, 1], got "
                         f"{min_support} and {min_confidence}")
    model = FPGrowth(
        itemsCol="items", minSupport=min_support, minConfidence=min_confidence
    ).fit(baskets.select("items"))
    return model.associationRules.select(
        "antecedent",
        F.col("consequent")[0].alias("consequent"),
        F.col("support").cast("double").alias("support"),
        F.col("confidence").cast("double").alias("confidence"),
        F.col("lift").cast("double").alias("lift"),
    )


def also_bought(rules: DataFrame, k: int) -> DataFrame:
    """ALSO_BOUGHT_COLUMNS from rules (RULE_COLUMNS): for each product, the products bought with
    it, from the rules with that product alone as antecedent. rank 1 is the highest confidence;
    ties go to the higher lift, then to the smaller product id, so the ranking is reproducible.
    At most k per product."""
    _require_k(k, "also_bought")
    require_columns(rules, RULE_COLUMNS, "also_bought")
    single = rules.where(F.size("antecedent") == 1).select(
        F.col("antecedent")[0].alias("product_id"),
        F.col("consequent").alias("recommended_product_id"),
        "support", "confidence", "lift",
    )
    order = Window.partitionBy("product_id").orderBy(
        F.desc("confidence"), F.desc("lift"), F.asc("recommended_product_id"))
    return (
        single.withColumn("rank", F.row_number().over(order))
        .where(F.col("rank") <= k)
        .select(*ALSO_BOUGHT_COLUMNS)
    )


def _require_k(k: int, what: str) -> None:
    if k < 1:
        raise ValueError(f"{what} needs k >= 1, got {k}")


def dense_index(frame: DataFrame, column: str, index_column: str) -> DataFrame:
    """(column, index_column): each distinct non-NULL value of `column` once, numbered 0..n-1
    as an int (what ALS needs for its ids).

    The numbering depends only on the values, so the same ids get the same numbers on every
    run. It is computed in parallel: values are hashed into buckets, numbered in their bucket
    and shifted by the sizes of the buckets before. A window over all values would sort them
    in one task; StringIndexer would bring every label to the driver.
    """
    require_columns(frame, (column,), "dense_index")
    values = frame.select(column).where(F.col(column).isNotNull()).distinct().withColumn(
        "_bucket", F.pmod(F.xxhash64(column), F.lit(_INDEX_BUCKETS)))
    in_bucket = values.withColumn(
        "_position", F.row_number().over(Window.partitionBy("_bucket").orderBy(column)) - 1)
    before = Window.orderBy("_bucket").rowsBetween(Window.unboundedPreceding, -1)
    offsets = values.groupBy("_bucket").agg(F.count(F.lit(1)).alias("_size")).select(
        "_bucket", F.coalesce(F.sum("_size").over(before), F.lit(0)).alias("_offset"))
    return in_bucket.join(F.broadcast(offsets), "_bucket").select(
        column, (F.col("_offset") + F.col("_position")).cast("int").alias(index_column))


@dataclass(frozen=True)
class AlsRecommender:
    """A fitted ALS model and the id mappings it was trained with: ALS only knows int ids."""

    model: ALSModel
    persons: DataFrame  # person_id, person_index
    products: DataFrame  # product_id, product_index


def fit_als(interactions: DataFrame, rank: int, reg_param: float, alpha: float, max_iter: int,
            seed: int) -> AlsRecommender:
    """ALS on implicit feedback (implicitPrefs) from interactions (INTERACTION_COLUMNS): the
    weight is the strength of the evidence, and ALS's confidence is 1 + alpha * weight."""
    require_columns(interactions, INTERACTION_COLUMNS, "fit_als")
    # Not cached: the numbering depends only on the ids, so recomputing it gives the same.
    persons = dense_index(interactions, "person_id", "person_index")
    products = dense_index(interactions, "product_id", "product_index")
    ratings = (
        interactions.join(persons, "person_id")
        .join(F.broadcast(products), "product_id")
        .select("person_index", "product_index", F.col("weight").cast("float").alias("weight"))
    )
    als = ALS(
        userCol="person_index", itemCol="product_index", ratingCol="weight",
        implicitPrefs=True, rank=rank, regParam=reg_param, alpha=alpha, maxIter=max_iter,
        seed=seed, nonnegative=False, coldStartStrategy="drop",
    )
    # ALS reads its input more than once: cached, the index joins run once. Released after
    # the fit, which keeps what it needs in its own factors.
    ratings.persist()
    try:
        model = als.fit(ratings)
    finally:
        ratings.unpersist()
    return AlsRecommender(model, persons, products)


def _most_seen(seen: DataFrame) -> int:
    """The largest number of products one person has seen: one aggregate row."""
    row = seen.groupBy("person_id").count().agg(F.max("count").alias("most")).first()
    return int(row.most) if row is not None and row.most is not None else 0


def _top_k_unseen(candidates: DataFrame, seen: DataFrame | None, k: int) -> DataFrame:
    """RECOMMENDATION_COLUMNS: per person, the k best-scored candidates (person_id, product_id,
    score) that are not in `seen` (person_id, product_id); ties go to the smaller product id."""
    if seen is not None:
        candidates = candidates.join(
            seen.select("person_id", "product_id"), ["person_id", "product_id"], "left_anti")
    order = Window.partitionBy("person_id").orderBy(F.desc("score"), F.asc("product_id"))
    return (
        candidates.withColumn("rank", F.row_number().over(order))
        .where(F.col("rank") <= k)
        .select("person_id", "product_id", "rank", F.col("score").cast("double").alias("score"))
    )


def personal_recommendations(fit: AlsRecommender, interactions: DataFrame, k: int,
                             exclude_seen: bool = True) -> DataFrame:
    """RECOMMENDATION_COLUMNS: the k products with the highest ALS score for every person the
    model was trained on (rank 1 is the best). With `exclude_seen`, products in the person's
    interactions (person_id, product_id) are left out, so each person still gets k if the
    catalogue has them."""
    _require_k(k, "personal_recommendations")
    require_columns(interactions, ("person_id", "product_id"), "personal_recommendations")
    # ALS ranks all products; asking for k + the most any person has seen leaves at least k
    # unseen ones for everybody after the seen ones are removed.
    wanted = k + (_most_seen(interactions) if exclude_seen else 0)
    ranked = fit.model.recommendForAllUsers(wanted).select(
        "person_index", F.explode("recommendations").alias("_recommendation"))
    candidates = (
        ranked.join(fit.persons, "person_index")
        .join(F.broadcast(fit.products),
              F.col("_recommendation.product_index") == F.col("product_index"))
        .select("person_id", "product_id",
                F.col("_recommendation.rating").alias("score"))
    )
    return _top_k_unseen(candidates, interactions if exclude_seen else None, k)


def popularity_recommendations(interactions: DataFrame, persons: DataFrame, k: int,
                               exclude_seen: bool = True) -> DataFrame:
    """RECOMMENDATION_COLUMNS of the baseline: every person of `persons` (person_id) gets the
    most popular products, score being a product's summed weight over all interactions
    (INTERACTION_COLUMNS). With `exclude_seen`, products in the person's interactions are left
    out, as for ALS."""
    _require_k(k, "popularity_recommendations")
    require_columns(interactions, INTERACTION_COLUMNS, "popularity_recommendations")
    require_columns(persons, ("person_id",), "popularity_recommendations")
    wanted = k + (_most_seen(interactions) if exclude_seen else 0)
    popularity = interactions.groupBy("product_id").agg(F.sum("weight").alias("score"))
    # One ranking for everybody: the window has no partition, but it runs over products only.
    top = popularity.withColumn(
        "_rank", F.row_number().over(Window.orderBy(F.desc("score"), F.asc("product_id")))
    ).where(F.col("_rank") <= wanted).drop("_rank")
    candidates = persons.select("person_id").where(F.col("person_id").isNotNull()).distinct() \
        .crossJoin(F.broadcast(top))
    return _top_k_unseen(candidates, interactions if exclude_seen else None, k)


def holdout_purchases(holdout_events: DataFrame, train_interactions: DataFrame,
                      exclude_seen: bool = True) -> DataFrame:
    """(person_id, product_id): what each person bought in the holdout (the items of their
    `baskets`), for the persons who have training interactions (INTERACTION_COLUMNS): neither
    method can personalise for a person it has never seen. With `exclude_seen`, products the
    person interacted with in training are left out, matching recommendations that leave them
    out."""
    require_columns(train_interactions, ("person_id", "product_id"), "holdout_purchases")
    bought = (
        baskets(holdout_events).where(F.col("person_id").isNotNull())
        .select("person_id", F.explode("items").alias("product_id"))
        .distinct()
    )
    warm = train_interactions.select("person_id").distinct()
    truth = bought.join(warm, "person_id", "left_semi")
    if exclude_seen:
        truth = truth.join(train_interactions.select("person_id", "product_id"),
                           ["person_id", "product_id"], "left_anti")
    return truth


def ranking_metrics(recommendations: DataFrame, holdout: DataFrame, k: int) -> DataFrame:
    """METRIC_COLUMNS, one row: precision@k and recall@k averaged over the persons of `holdout`
    (person_id, product_id: what each person went on to buy; duplicates count once).

    A person's precision@k is their hits among the recommendations (person_id, product_id,
    rank) of rank <= k, divided by k even if they got fewer; recall@k is the hits over the
    number of products they bought. A holdout person without recommendations scores 0 on both;
    recommendations for persons outside the holdout are ignored.
    """
    _require_k(k, "ranking_metrics")
    require_columns(recommendations, ("person_id", "product_id", "rank"), "ranking_metrics")
    require_columns(holdout, ("person_id", "product_id"), "ranking_metrics")
    truth = holdout.select("person_id", "product_id").where(
        F.col("person_id").isNotNull() & F.col("product_id").isNotNull()).distinct()
    top = recommendations.where(F.col("rank") <= k).select(
        "person_id", "product_id", F.lit(1).alias("_hit")).distinct()
    per_person = (
        truth.join(top, ["person_id", "product_id"], "left")
        .groupBy("person_id")
        .agg(F.count(F.lit(1)).alias("_relevant"),
             F.coalesce(F.sum("_hit"), F.lit(0)).alias("_hits"))
    )
    return per_person.agg(
        F.lit(k).alias("k"),
        F.count(F.lit(1)).alias("persons"),
        F.coalesce(F.avg(F.col("_hits") / F.lit(k)), F.lit(0.0)).cast("double")
        .alias("precision_at_k"),
        F.coalesce(F.avg(F.col("_hits") / F.col("_relevant")), F.lit(0.0)).cast("double")
        .alias("recall_at_k"),
    )


def evaluate(recommendations: Mapping[str, DataFrame], holdout: DataFrame, k: int) -> DataFrame:
    """("method", *METRIC_COLUMNS): `ranking_metrics` of each method's recommendations
    against the same holdout, one row per method."""
    if not recommendations:
        raise ValueError("evaluate needs at least one method's recommendations")
    return union_all([
        ranking_metrics(recommended, holdout, k).select(F.lit(method).alias("method"), "*")
        for method, recommended in recommendations.items()
    ])
