"""Which bronze batches a silver run reads: those `audit_silver_batches` has not seen yet."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from journeylake.bronze.tables import BATCH_ID


def unprocessed_batches(bronze: DataFrame, processed: DataFrame, source: str) -> DataFrame:
    """batch_id of the batches in a bronze table (`_batch_id`) that `processed` (source,
    batch_id) does not list for `source`, once each."""
    return (
        bronze.select(F.col(BATCH_ID).alias("batch_id")).distinct()
        .join(processed.where(F.col("source") == source).select("batch_id"), "batch_id",
              "left_anti")
    )


def work_id(batches: Mapping[str, Sequence[str]]) -> str:
    """A stable id of a set of batches: a run retried on the same batches has the same one, so
    its idempotent writes (Delta txnAppId) are skipped instead of repeated."""
    text = ";".join(f"{s}={','.join(ids)}" for s, ids in sorted(batches.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:20]
