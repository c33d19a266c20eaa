from __future__ import annotations

import re

from pyspark.sql import SparkSession

from journeylake.generator.draws import opaque_id, pick_weighted, uniform


def test_draws_depend_on_the_row_not_on_the_partitioning(spark: SparkSession) -> None:
    draw = f"{uniform(7, 'test', 'id')} AS u"
    one_partition = spark.range(0, 2000, 1, 1).selectExpr("id", draw)
    seven_partitions = spark.range(0, 2000, 1, 7).selectExpr("id", draw)
    assert one_partition.exceptAll(seven_partitions).isEmpty()
    low, high, distinct = one_partition.selectExpr(
        "min(u)", "max(u)", "count(DISTINCT u)"
    ).first()
    assert 0.0 <= low < 0.01 and 0.99 < high < 1.0
    assert distinct == 2000


def test_weighted_picks_follow_their_weights(spark: SparkSession) -> None:
    weights = {"a": 0.6, "b": 0.3, "c": 0.1}
    picked = spark.range(20_000).selectExpr(
        f"{pick_weighted(uniform(3, 'weights', 'id'), weights)} AS key"
    )
    shares = {row.key: row["count"] / 20_000 for row in picked.groupBy("key").count().collect()}
    assert shares.keys() == weights.keys()
    for key, weight in weights.items():
        assert abs(shares[key] - weight) < 0.02, (key, shares)


def test_opaque_ids_never_collide_and_do_not_follow_the_numbers(spark: SparkSession) -> None:
    ids = [
        row.id
        for row in spark.range(50_000).selectExpr(f"{opaque_id('ev_', 'id', 42, 'test')} AS id")
        .collect()
    ]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"ev_[0-9a-f]{16}", value) for value in ids)
    assert ids[:5] != sorted(ids[:5])
