"""Gold: journeys, the journey graph, funnels, cohorts, attribution, social influence and the
person profile. Every gold table ends with `_built_at` and `_run_id`: gold is rebuilt whole, and
these say by which run."""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from journeylake.core.table_spec import TableSpec, schema

_STRING, _TS, _LONG, _DOUBLE, _INT = (StringType(), TimestampType(), LongType(), DoubleType(),
                                       IntegerType())
_STRINGS = ArrayType(_STRING)
BUILT_AT, RUN_ID = "_built_at", "_run_id"
JOURNEY_STEP = StructType([StructField("ts", _TS), StructField("event_key", _STRING),
                           StructField("touchpoint", _STRING), StructField("channel", _STRING)])


def _gold(name: str, *columns: tuple[str, DataType], partition_by: tuple[str, ...] = ()
          ) -> TableSpec:
    return TableSpec(name, schema(*columns, (BUILT_AT, _TS), (RUN_ID, _STRING)), partition_by)


JOURNEYS = _gold(
    "gold_journeys",
    ("journey_id", _STRING), ("person_id", _STRING), ("start_ts", _TS), ("end_ts", _TS),
    ("converted", BooleanType()), ("conversion_ts", _TS), ("conversion_touchpoint", _STRING),
    ("revenue", DecimalType(18, 2)), ("steps", ArrayType(JOURNEY_STEP)),
    ("touchpoints", _STRINGS), ("channels", _STRINGS), ("open", BooleanType()),
    ("start_date", DateType()),
    partition_by=("start_date",),
)
JOURNEY_EDGES = _gold(
    "gold_journey_edges",
    ("scope", _STRING), ("src", _STRING), ("dst", _STRING), ("transitions", _LONG),
    ("probability", _DOUBLE), ("journeys", _LONG), ("converted_journeys", _LONG),
    ("conversion_rate", _DOUBLE),
)
TOUCHPOINT_SIGNIFICANCE = _gold(
    "gold_touchpoint_significance",
    ("scope", _STRING), ("touchpoint", _STRING), ("pagerank", _DOUBLE),
    ("removal_effect", _DOUBLE), ("dropoff_rate", _DOUBLE), ("odds_ratio", _DOUBLE),
    ("log_odds_ratio", _DOUBLE), ("journeys_with", _LONG), ("converted_with", _LONG),
    ("supported", BooleanType()), ("outcome_stage", BooleanType()),
)
JOURNEY_MOTIFS = _gold(
    "gold_journey_motifs",
    ("scope", _STRING), ("outcome", _STRING), ("pattern", _STRINGS), ("journeys", _LONG),
    ("length", _INT),
)
TOP_PATHS = _gold(
    "gold_top_paths",
    ("scope", _STRING), ("outcome", _STRING), ("rank", _INT), ("path", _STRINGS),
    ("journeys", _LONG), ("share", _DOUBLE),
)
FUNNELS = _gold(
    "gold_funnels",
    ("funnel", _STRING), ("group_by", _STRING), ("group_value", _STRING),
    ("step_index", _INT), ("step", _STRING), ("persons", _LONG),
    ("conversion_from_previous", _DOUBLE), ("conversion_overall", _DOUBLE),
    ("median_seconds_from_previous", _DOUBLE),
)
COHORT_RETENTION = _gold(
    "gold_cohort_retention",
    ("period", _STRING), ("cohort_start", DateType()), ("period_offset", _INT),
    ("cohort_size", _LONG), ("active_persons", _LONG), ("retention", _DOUBLE),
)
ATTRIBUTION = _gold(
    "gold_attribution",
    ("model", _STRING), ("channel", _STRING), ("conversions", _DOUBLE), ("revenue", _DOUBLE),
)
PERSON_INFLUENCE = _gold(
    "gold_person_influence",
    ("person_id", _STRING), ("influence", _DOUBLE), ("influence_rank", _INT),
    ("community", _STRING), ("followers", _LONG), ("mentioned_by", _LONG),
    ("liked_by", _LONG), ("following", _LONG),
)
PERSON_PROFILE = _gold(
    "gold_person_profile",
    ("person_id", _STRING), ("first_seen_at", _TS), ("last_seen_at", _TS), ("events", _LONG),
    ("sessions", _LONG), ("converted_sessions", _LONG), ("conversions", _LONG),
    ("revenue", DecimalType(18, 2)), ("channels", _STRINGS), ("top_channel", _STRING),
    ("store_visits", _LONG), ("social_actions", _LONG), ("influence", _DOUBLE),
    ("influence_rank", _INT), ("community", _STRING), ("followers", _LONG),
)

TABLES = (JOURNEYS, JOURNEY_EDGES, TOUCHPOINT_SIGNIFICANCE, JOURNEY_MOTIFS, TOP_PATHS, FUNNELS,
          COHORT_RETENTION, ATTRIBUTION, PERSON_INFLUENCE, PERSON_PROFILE)
