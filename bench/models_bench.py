"""Benchmark: model training and scoring at a given number of persons, from feature rows.

    .venv/bin/python bench/models_bench.py --persons 100000
    .venv/bin/python bench/models_bench.py --persons 1000000 --set models.propensity.cv_folds=2

The feature rows are synthetic (every column of gold_customer_features, for three labelled
reference dates and one to score, drawn in Spark SQL with a planted purchase driver), so the
benchmark measures the models, not the feature pipeline in front of them (`make run` and the
silver benchmark measure that). Steps: segmentation (every algorithm for k 3..5), the purchase
propensity model (LR and GBT with cross-validation, calibration), scoring with deciles, the
CLV fit on synthetic orders, and recommendations (ALS on synthetic interactions with top-k for
every person, FPGrowth on synthetic baskets). Prints a Markdown table with wall seconds per
step and the peak resident memory of the driver (the JVM and the Python process).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import datetime
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake.core.config import load_config
from journeylake.core.spark_session import build_session
from journeylake.models import clv, propensity, recommendations, segmentation
from journeylake.models.feature_catalogue import COUNT_FEATURES, FEATURES, numeric_features
from journeylake.models.job import with_channel_shares

ROOT = Path(__file__).resolve().parents[1]
CHANNELS = ("direct", "email", "organic_search", "paid_search", "social")
REFERENCES = ("2026-06-10", "2026-06-17", "2026-06-24", "2026-07-01")


def _uniform(salt: str) -> Column:
    return (F.abs(F.xxhash64(F.lit(salt), "id", "reference_date")) % 1_000_003) / 1_000_003.0


def synthetic_features(spark: SparkSession, persons: int) -> DataFrame:
    """Feature rows for `persons` x REFERENCES: counts Poisson-like from an activity level,
    rates uniform, and label_purchase driven by offer_click_rate and activity."""
    refs = spark.createDataFrame([(r,) for r in REFERENCES], "reference_date string").select(
        F.to_date("reference_date").alias("reference_date"))
    base = spark.range(persons).crossJoin(F.broadcast(refs))
    activity = _uniform("activity") * 3
    columns = [F.concat(F.lit("p"), F.col("id").cast("string")).alias("person_id"),
               "reference_date"]
    for feature in FEATURES:
        if feature.name == "channel_mix":
            share = _uniform("channel")
            columns.append(F.create_map(F.lit("direct"), share, F.lit("email"),
                                        1 - share).alias("channel_mix"))
        elif feature.name in COUNT_FEATURES:
            columns.append(F.floor(activity * 4 * _uniform(feature.name)).cast("bigint").alias(
                feature.name))
        else:
            columns.append((_uniform(feature.name) * 10).alias(feature.name))
    rows = base.select(*columns, activity.alias("_activity"), F.col("id"))
    logit = -3 + 4 * F.col("offer_click_rate") / 10 + F.col("_activity")
    label = _uniform("label") < 1 / (1 + F.exp(-logit))
    scoring = F.col("reference_date") == F.lit(REFERENCES[-1]).cast("date")
    return rows.select(
        "*", F.when(~scoring, label).alias("label_purchase"),
        F.when(~scoring, _uniform("churn") < 0.2).alias("label_churn"),
        F.lit(None).cast("boolean").alias("label_unsubscribe"),
    ).drop("_activity", "id")


def synthetic_orders(spark: SparkSession, persons: int) -> DataFrame:
    """Orders of a third of the persons over 180 days: person_id, ts, amount."""
    buyers = spark.range(persons // 3).select(
        F.concat(F.lit("p"), F.col("id").cast("string")).alias("person_id"), "id")
    orders = buyers.select("person_id", "id", F.explode(F.sequence(
        F.lit(0), (F.abs(F.xxhash64("id")) % 6).cast("int"))).alias("n"))
    day = F.abs(F.xxhash64("id", "n")) % 180
    return orders.select(
        "person_id",
        (F.lit("2026-01-01").cast("timestamp") + F.make_interval(days=day.cast("int"))).alias(
            "ts"),
        (10 + F.abs(F.xxhash64("n", "id")) % 90).cast("double").alias("amount"))


def synthetic_interactions(spark: SparkSession, persons: int, products: int = 500
                           ) -> DataFrame:
    """INTERACTION_COLUMNS: 3 to 12 products per person, skewed to the head of the catalogue."""
    picks = spark.range(persons).select("id", F.explode(F.sequence(
        F.lit(0), (2 + F.abs(F.xxhash64("id")) % 10).cast("int"))).alias("n"))
    u = (F.abs(F.xxhash64("id", "n", F.lit("product"))) % 1_000_003) / 1_000_003.0
    return picks.select(
        F.concat(F.lit("p"), F.col("id").cast("string")).alias("person_id"),
        F.concat(F.lit("P"), F.floor(F.pow(u, 2) * products).cast("string")).alias("product_id"),
        (1 + F.abs(F.xxhash64("n", "id")) % 5).cast("double").alias("weight"),
    ).groupBy("person_id", "product_id").agg(F.sum("weight").alias("weight"))


def synthetic_baskets(interactions: DataFrame) -> DataFrame:
    """BASKET_COLUMNS: one basket per person, the products they interacted with."""
    return interactions.groupBy("person_id").agg(
        F.array_sort(F.collect_set("product_id")).alias("items")).select(
        F.col("person_id").alias("order_id"), "person_id",
        F.lit("2026-06-30").cast("timestamp").alias("ts"), "items")


def peak_memory_mib(spark: SparkSession) -> tuple[float, float]:
    """(JVM driver peak resident MiB from /proc, Python peak resident MiB)."""
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    jvm = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            jvm = int(line.split()[1]) / 1024
    return jvm, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a configuration override, e.g. models.propensity.cv_folds=2")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="models-bench-"))
    config = load_config("local", [
        f"lakehouse.root={work / 'lake'}", f"spark.checkpoint_dir={work / 'checkpoints'}",
        "spark.catalog=in-memory", "spark.conf.spark.driver.memory=8g", *args.set,
    ], conf_dir=ROOT / "conf")
    spark = build_session(config)
    spark.sparkContext.setLogLevel("ERROR")
    settings = config.models
    timings: list[tuple[str, float]] = []

    def timed(step: str, run):  # noqa: ANN001, ANN202
        started = time.perf_counter()
        result = run()
        timings.append((step, time.perf_counter() - started))
        print(f"{step}: {timings[-1][1]:.1f} s", flush=True)
        return result

    rows = timed("synthesise and cache feature rows", lambda: with_channel_shares(
        synthetic_features(spark, args.persons), CHANNELS).localCheckpoint())
    inputs = numeric_features(CHANNELS)
    current = rows.where(F.col("reference_date") == F.lit(REFERENCES[-1]).cast("date"))
    timed("segmentation (3 algorithms x k 3..5)", lambda: segmentation.segment_customers(
        current, segmentation.DEFAULT_FEATURES, k_range=range(3, 6), max_iterations=20))
    training = propensity.labelled(rows.where(F.col("reference_date") < F.lit(
        REFERENCES[2]).cast("date")), "label_purchase")
    holdout = propensity.labelled(rows.where(F.col("reference_date") == F.lit(
        REFERENCES[2]).cast("date")), "label_purchase")
    p = settings.propensity
    model = timed(f"purchase propensity (LR over regParam {list(p.logistic_reg_params)} + GBT "
                  f"{p.gbt_max_iter} trees over depths {list(p.gbt_max_depths)}, "
                  f"{p.cv_folds}-fold CV, {p.calibration})",
                  lambda: propensity.train_propensity(
                      "purchase", training, holdout, inputs, folds=p.cv_folds,
                      reg_params=p.logistic_reg_params, max_depths=p.gbt_max_depths,
                      max_iter=p.gbt_max_iter, seed=p.seed))

    def scoring() -> int:
        scored = propensity.score_persons(model.model, current, inputs)
        cuts = scored.approxQuantile(propensity.CALIBRATED, [i / 10 for i in range(1, 10)],
                                     0.001)
        return scored.select(propensity.deciles_of(F.col(propensity.CALIBRATED), cuts).alias(
            "decile")).groupBy("decile").count().count()

    timed(f"score {args.persons:,} persons with deciles", scoring)
    orders = synthetic_orders(spark, args.persons).localCheckpoint()

    def clv_fit() -> int:
        summary = clv.clv_summary(orders, datetime(2026, 7, 1))
        fitted = clv.fit_bgnbd(summary), clv.fit_gamma_gamma(summary)
        return clv.predict_clv(summary, *fitted, 365).count()

    timed("CLV: BG/NBD + Gamma-Gamma fit and predict", clv_fit)
    r = settings.recommendations
    seen = synthetic_interactions(spark, args.persons).localCheckpoint()

    def personal() -> int:
        fit = recommendations.fit_als(seen, r.als_rank, r.als_reg_param, r.als_alpha,
                                      r.als_max_iter, r.seed)
        return recommendations.personal_recommendations(fit, seen, r.k).count()

    timed(f"ALS (rank {r.als_rank}, {r.als_max_iter} iterations) and top-{r.k} for everybody",
          personal)
    timed("FPGrowth association rules", lambda: recommendations.also_bought(
        recommendations.association_rules(synthetic_baskets(seen), r.min_support,
                                          r.min_confidence), r.k).count())
    jvm, python = peak_memory_mib(spark)
    command = " ".join(["bench/models_bench.py", f"--persons {args.persons}",
                        *(f"--set {item}" for item in args.set)])
    print(f"\n{args.persons:,} persons (`{command}`), winner {model.winner}\n")
    print("| step | wall s |\n|---|---:|")
    for step, seconds in timings:
        print(f"| {step} | {seconds:.1f} |")
    print(f"\npeak resident memory: driver JVM {jvm:,.0f} MiB, Python {python:,.0f} MiB")


if __name__ == "__main__":
    main()
