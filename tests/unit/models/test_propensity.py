"""Propensity models: metrics worked out by hand, deciles from fixed cuts, and on data whose
driver is planted, the driver comes first and the calibrated scores stay probabilities."""

from __future__ import annotations

import random

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake.models.propensity import (
    CALIBRATED,
    LABEL,
    SingleClass,
    binary_metrics,
    deciles_of,
    score_drivers,
    score_persons,
    train_propensity,
)


def test_metrics_of_a_hand_scored_holdout(spark: SparkSession) -> None:
    # Positives 0.9, 0.8, 0.3; negatives 0.7, 0.2, 0.1, 0.05, 0.04, 0.03, 0.02. Of the 21
    # (positive, negative) pairs, the positives outrank the negatives in all but 0.3 < 0.7.
    rows = [(0.9, 1.0), (0.8, 1.0), (0.3, 1.0), (0.7, 0.0), (0.2, 0.0), (0.1, 0.0),
            (0.05, 0.0), (0.04, 0.0), (0.03, 0.0), (0.02, 0.0)]
    scored = spark.createDataFrame(rows, f"p double, {LABEL} double")
    metrics = binary_metrics(scored, "p")
    assert metrics["auc_roc"] == pytest.approx(20 / 21)
    brier = sum((p - y) ** 2 for p, y in rows) / len(rows)
    assert metrics["brier"] == pytest.approx(brier)
    # The top decile of ten rows is the 0.9 row: a positive rate of 1 against 0.3 overall.
    assert metrics["lift_top_decile"] == pytest.approx(1 / 0.3)


def test_deciles_count_from_the_top(spark: SparkSession) -> None:
    cuts = [0.1 * i for i in range(1, 10)]
    # A score on a cut belongs to the tenth below it.
    frame = spark.createDataFrame([(0.95,), (0.85,), (0.55,), (0.05,), (0.1,)], "p double")
    got = [row.d for row in frame.select(deciles_of(F.col("p"), cuts).alias("d")).collect()]
    assert got == [1, 2, 5, 10, 10]


def _planted(spark: SparkSession, persons: int, seed: int) -> DataFrame:
    """`driver` sets the log-odds; `noise` and `echo` (a noisy copy of noise) do not."""
    generator = random.Random(seed)
    rows = []
    for i in range(persons):
        driver, noise = generator.random(), generator.random()
        odds = -3.0 + 6.0 * driver
        label = generator.random() < 1 / (1 + 2.718281828 ** -odds)
        rows.append((f"p{i}", "2026-06-01", driver, noise, noise + generator.gauss(0, 0.1),
                     None if i % 7 == 0 else noise, float(label)))
    return spark.createDataFrame(
        rows, f"person_id string, reference_date string, driver double, noise double, "
              f"echo double, gappy double, {LABEL} double").withColumn(
        "reference_date", F.to_date("reference_date"))


FEATURES = ("driver", "noise", "echo", "gappy")


@pytest.fixture(scope="module")
def fitted(spark: SparkSession):  # noqa: ANN201
    return train_propensity("purchase", _planted(spark, 600, 1), _planted(spark, 400, 2),
                            FEATURES, folds=2, reg_params=(0.0, 0.1), max_depths=(2,),
                            max_iter=10, seed=3)


def test_the_planted_driver_is_the_most_important_feature(fitted) -> None:  # noqa: ANN001
    for report in fitted.reports.values():
        ranked = sorted(report.importances, key=report.importances.get, reverse=True)
        assert ranked[0] == "driver", (report.kind, report.importances)
    assert fitted.reports[fitted.winner].metrics["auc_roc"] > 0.75


def test_calibrated_scores_are_probabilities_and_scores_are_percent(
    spark: SparkSession, fitted  # noqa: ANN001
) -> None:
    scored = score_persons(fitted.model, _planted(spark, 200, 4), FEATURES)
    bounds = scored.agg(F.min(CALIBRATED), F.max(CALIBRATED), F.min("score"),
                        F.max("score")).first()
    assert 0.0 <= bounds[0] <= bounds[1] <= 1.0
    assert 0 <= bounds[2] <= bounds[3] <= 100
    assert scored.where(F.col("score") != F.round(F.col(CALIBRATED) * 100)).count() == 0
    # Calibration on one half of the holdout, judged on the other: observed rates follow.
    for predicted, observed, persons in fitted.calibration_curve:
        if persons >= 30:
            assert abs(predicted - observed) < 0.2


def test_drivers_of_a_high_scorer_name_the_driver(spark: SparkSession, fitted) -> None:  # noqa: ANN001
    person = spark.createDataFrame(
        [("top", "2026-06-01", 0.99, 0.5, 0.5, 0.5, 1.0)],
        f"person_id string, reference_date string, driver double, noise double, echo double, "
        f"gappy double, {LABEL} double").withColumn("reference_date", F.to_date("reference_date"))
    drivers = score_drivers(fitted.model, person, FEATURES, fitted.importances, 2).first()
    assert drivers.drivers[0] == "driver"


def test_one_class_only_is_a_clear_error(spark: SparkSession) -> None:
    rows = _planted(spark, 50, 5)
    negatives = rows.withColumn(LABEL, F.lit(0.0))
    with pytest.raises(SingleClass, match="purchase: the training rows have one class only"):
        train_propensity("purchase", negatives, rows, FEATURES, folds=2)


def test_a_fold_left_without_a_class_is_a_clear_error(spark: SparkSession) -> None:
    rows = _planted(spark, 50, 5)
    # One positive: of 2 folds, the one fitted without it knows one class only.
    one = rows.withColumn(LABEL, F.when(F.col("person_id") == "p0", 1.0).otherwise(0.0))
    with pytest.raises(SingleClass, match="purchase: a 2-fold cross-validation drew a fold with "
                                          r"one class only \(1 training rows"):
        train_propensity("purchase", one, rows, FEATURES, folds=2)
