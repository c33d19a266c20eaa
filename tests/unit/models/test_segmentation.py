"""Segmentation: the silhouette picks the planted number of clusters, labels come from the
profiles, and the adjusted Rand index agrees with scikit-learn's."""

from __future__ import annotations

import random

import pytest
from pyspark.sql import SparkSession
from sklearn.metrics import adjusted_rand_score

from journeylake.models.segmentation import (
    AVERAGE,
    adjusted_rand_index,
    assign_segments,
    label_segments,
    segment_customers,
)


def test_adjusted_rand_index_matches_scikit_learn_on_random_partitions(
    spark: SparkSession,
) -> None:
    generator = random.Random(3)
    persons = [f"p{i}" for i in range(60)]
    predicted = [generator.randrange(3) for _ in persons]
    # Mostly the same partition, relabelled, with some noise: far from 0 and from 1.
    actual = [f"s{(label + 1) % 3}" if generator.random() < 0.8 else f"s{generator.randrange(3)}"
              for label in predicted]
    assigned = spark.createDataFrame(list(zip(persons, predicted, strict=True)),
                                     "person_id string, cluster int")
    truth = spark.createDataFrame(list(zip(persons, actual, strict=True)),
                                  "person_id string, segment string")
    expected = adjusted_rand_score(actual, predicted)
    assert 0.2 < expected < 0.95
    assert adjusted_rand_index(assigned, truth) == pytest.approx(expected)


def test_identical_partitions_score_one_whatever_the_names(spark: SparkSession) -> None:
    assigned = spark.createDataFrame([("a", 0), ("b", 0), ("c", 1), ("d", 1)],
                                     "person_id string, cluster int")
    truth = spark.createDataFrame([("a", "x"), ("b", "x"), ("c", "y"), ("d", "y")],
                                  "person_id string, segment string")
    assert adjusted_rand_index(assigned, truth) == pytest.approx(1.0)


def test_labels_follow_the_profile_and_are_unique() -> None:
    population = {"lifetime_revenue": (100.0, 50.0), "lifetime_orders": (2.0, 1.0),
                  "product_views": (10.0, 5.0), "converted_session_rate": (0.2, 0.1),
                  "sessions": (8.0, 4.0)}
    profiles = {
        0: {"lifetime_revenue": 300.0, "lifetime_orders": 5.0, "product_views": 12.0,
            "converted_session_rate": 0.3, "sessions": 10.0},
        1: {"lifetime_revenue": 20.0, "lifetime_orders": 0.2, "product_views": 25.0,
            "converted_session_rate": 0.02, "sessions": 12.0},
        2: {"lifetime_revenue": 100.0, "lifetime_orders": 2.0, "product_views": 10.0,
            "converted_session_rate": 0.2, "sessions": 8.0},
        3: {"lifetime_revenue": 101.0, "lifetime_orders": 2.0, "product_views": 10.0,
            "converted_session_rate": 0.2, "sessions": 8.0},
    }
    labels = label_segments(profiles, population)
    assert labels[0] == "high-value loyal"
    assert labels[1] == "browsers"
    # Two segments at the population's average: one label each, never the same.
    assert {labels[2], labels[3]} == {AVERAGE, f"{AVERAGE} 2"}


def test_the_silhouette_finds_three_planted_clusters(spark: SparkSession) -> None:
    generator = random.Random(11)
    centres = [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)]
    rows = [(f"p{c}_{i}", cx + generator.gauss(0, 0.7), cy + generator.gauss(0, 0.7), c)
            for c, (cx, cy) in enumerate(centres) for i in range(40)]
    frame = spark.createDataFrame(rows, "person_id string, x double, y double, planted int")
    fitted = segment_customers(frame, ["x", "y"], ("kmeans", "bisecting_kmeans"), range(2, 6),
                               max_iterations=20, seed=1)
    assert fitted.k == 3
    assert {(t.algorithm, t.k) for t in fitted.trials} == {
        (a, k) for a in ("kmeans", "bisecting_kmeans") for k in range(2, 6)}
    assigned = assign_segments(fitted.model, frame, ["x", "y"])
    truth = frame.selectExpr("person_id", "CAST(planted AS STRING) AS segment")
    assert adjusted_rand_index(assigned, truth) == pytest.approx(1.0)
