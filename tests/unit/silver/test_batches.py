"""Which bronze batches silver still has to read, and the id of a set of batches."""

from __future__ import annotations

from pyspark.sql import SparkSession

from journeylake.silver.batches import unprocessed_batches, work_id


def test_only_batches_not_yet_processed_for_that_source_are_new(spark: SparkSession) -> None:
    bronze = spark.createDataFrame([("b1",), ("b1",), ("b2",), ("b3",)], "_batch_id string")
    processed = spark.createDataFrame(
        [("clickstream", "b1"), ("social", "b2")], "source string, batch_id string")
    new = unprocessed_batches(bronze, processed, "clickstream")
    assert sorted(r.batch_id for r in new.collect()) == ["b2", "b3"]


def test_the_work_id_depends_on_the_batches_not_on_their_order() -> None:
    one = work_id({"social": ("s1",), "clickstream": ("c1", "c2")})
    assert one == work_id({"clickstream": ("c1", "c2"), "social": ("s1",)})
    assert one != work_id({"clickstream": ("c1",), "social": ("s1", "c2")})
    assert len(one) == 20
