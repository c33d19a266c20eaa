"""Models: the customer features, segments, scores, leads, CLV and recommendations. Each table
ends with `_built_at` and `_run_id`, the run that wrote its rows."""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    TimestampType,
)

from journeylake.core.table_spec import TableSpec, schema
from journeylake.models.feature_catalogue import COUNT_FEATURES, FEATURES, LABELS

_STRING, _TS, _LONG, _DOUBLE = StringType(), TimestampType(), LongType(), DoubleType()
BUILT_AT, RUN_ID = "_built_at", "_run_id"


def _feature_type(name: str) -> DataType:
    if name == "channel_mix":
        return MapType(_STRING, _DOUBLE)
    return _LONG if name in COUNT_FEATURES else _DOUBLE


def _model_table(name: str, *columns: tuple[str, DataType], partition_by: tuple[str, ...] = (),
                 keys: tuple[str, ...] = ()) -> TableSpec:
    return TableSpec(name, schema(*columns, (BUILT_AT, _TS), (RUN_ID, _STRING)), partition_by,
                     keys)


CUSTOMER_FEATURES = _model_table(
    "gold_customer_features",
    ("person_id", _STRING), ("reference_date", DateType()),
    *[(feature.name, _feature_type(feature.name)) for feature in FEATURES],
    *[(label.name, BooleanType()) for label in LABELS],
    partition_by=("reference_date",),
    keys=("person_id", "reference_date"),
)
SEGMENTS = _model_table(
    "gold_segments",
    ("person_id", _STRING), ("reference_date", DateType()), ("segment", IntegerType()),
    ("segment_label", _STRING), ("model_version", IntegerType()),
    keys=("person_id",),
)
SEGMENT_PROFILES = _model_table(
    "gold_segment_profiles",
    ("segment", IntegerType()), ("segment_label", _STRING), ("persons", _LONG),
    ("share", _DOUBLE), ("feature_means", MapType(_STRING, _DOUBLE)), ("algorithm", _STRING),
    ("k", IntegerType()), ("silhouette", _DOUBLE), ("model_version", IntegerType()),
    ("reference_date", DateType()),
)
SCORES = _model_table(
    "gold_scores",
    ("person_id", _STRING), ("model", _STRING), ("model_version", IntegerType()),
    ("probability", _DOUBLE), ("score", IntegerType()), ("decile", IntegerType()),
    ("segment", IntegerType()), ("segment_label", _STRING), ("clv", _DOUBLE),
    ("reference_date", DateType()), ("feature_hash", _STRING), ("scored_at", _TS),
    keys=("person_id", "model"),
)
LEADS = _model_table(
    "gold_leads",
    ("model", _STRING), ("rank", IntegerType()), ("person_id", _STRING),
    ("score", IntegerType()), ("decile", IntegerType()), ("drivers", ArrayType(_STRING)),
    ("segment_label", _STRING), ("clv", _DOUBLE),
    # The person's marketing consent when the leads were written: granted, withdrawn or none
    # (no decision; privacy.consent.default says what that means).
    ("consent_status", _STRING), ("reference_date", DateType()),
)
CLV = _model_table(
    "gold_clv",
    ("person_id", _STRING), ("reference_date", DateType()), ("horizon_days", _DOUBLE),
    ("frequency", _LONG), ("recency", _DOUBLE), ("T", _DOUBLE), ("monetary_value", _DOUBLE),
    ("orders", _LONG), ("total_value", _DOUBLE), ("expected_purchases", _DOUBLE),
    ("probability_alive", _DOUBLE), ("expected_order_value", _DOUBLE), ("clv", _DOUBLE),
    keys=("person_id",),
)
RECOMMENDATIONS = _model_table(
    "gold_recommendations",
    ("person_id", _STRING), ("rank", IntegerType()), ("product_id", _STRING),
    ("score", _DOUBLE),
    # "als", or "popularity" for persons ALS has not seen.
    ("method", _STRING),
    keys=("person_id", "rank"),
)
PRODUCT_ASSOCIATIONS = _model_table(
    "gold_product_associations",
    ("product_id", _STRING), ("rank", IntegerType()), ("recommended_product_id", _STRING),
    ("support", _DOUBLE), ("confidence", _DOUBLE), ("lift", _DOUBLE),
    keys=("product_id", "rank"),
)

TABLES = (CUSTOMER_FEATURES, SEGMENTS, SEGMENT_PROFILES, SCORES, LEADS, CLV, RECOMMENDATIONS,
          PRODUCT_ASSOCIATIONS)
# The tables `journeylake score` writes; train writes the others.
SCORED = (SCORES, LEADS)
TRAINED = tuple(table for table in TABLES if table not in SCORED)
