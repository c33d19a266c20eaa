"""How well stitched persons match a known truth: pairwise precision and recall.

Two identifiers form a pair when they belong to the same person. Precision is the share of the
pairs journeylake made that the truth also has; recall the share of the truth's pairs it made.
Only identifiers present on both sides count (the truth lists identifiers that never appeared in
the data). Computed from group sizes, never by listing pairs, so it scales with identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from journeylake.silver.identity import node
from journeylake.silver.pseudonymisation import PiiKey, pseudonymise_email, pseudonymise_handle


@dataclass(frozen=True)
class PairQuality:
    identifiers: int
    predicted_pairs: int
    true_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0


def _pairs(count: Column) -> Column:
    return count * (count - 1) / 2


def truth_nodes(links: DataFrame, key: PiiKey) -> DataFrame:
    """node, customer_id of a truth table (identifier_type, identifier, customer_id, shared);
    shared identifiers belong to no single customer and are left out."""
    value = (
        F.when(F.col("identifier_type") == "email", pseudonymise_email(F.col("identifier"), key))
        .when(F.col("identifier_type") == "handle",
              pseudonymise_handle(F.col("identifier"), key))
        .otherwise(F.col("identifier"))
    )
    typed = [
        F.when(F.col("identifier_type") == kind, node(kind, value))
        for kind in ("customer", "email", "handle", "device", "cookie")
    ]
    return links.where(~F.col("shared")).select(
        F.coalesce(*typed).alias("node"), "customer_id"
    ).distinct()


def pairwise_quality(predicted: DataFrame, truth: DataFrame) -> PairQuality:
    """predicted: node, person_id. truth: node, customer_id."""
    both = predicted.select("node", "person_id").join(truth.select("node", "customer_id"), "node")
    cells = both.groupBy("person_id", "customer_id").agg(F.count(F.lit(1)).alias("n"))
    row = cells.agg(
        F.sum("n").alias("identifiers"),
        F.sum(_pairs(F.col("n"))).alias("correct"),
    ).first()
    predicted_pairs = both.groupBy("person_id").agg(F.count(F.lit(1)).alias("n")).agg(
        F.sum(_pairs(F.col("n")))).first()[0]
    true_pairs = both.groupBy("customer_id").agg(F.count(F.lit(1)).alias("n")).agg(
        F.sum(_pairs(F.col("n")))).first()[0]
    return PairQuality(
        identifiers=int(row.identifiers or 0),
        predicted_pairs=int(predicted_pairs or 0),
        true_pairs=int(true_pairs or 0),
        correct_pairs=int(row.correct or 0),
    )
