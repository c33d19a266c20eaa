"""Point-in-time customer features: one row per person and reference date, built only from what
was known before the reference date (the cutoff), with labels only from the days after it.

The feature catalogue (`feature_catalogue`) says what each column means. The journey-graph
features are rebuilt for each reference date from the sessions before it, so that no feature of
a past reference date moves when later events arrive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from journeylake.core.columns import require_columns
from journeylake.core.config import SocialGraphSettings
from journeylake.core.frames import union_all
from journeylake.gold.social_influence import person_influence, social_edges
from journeylake.gold.touchpoint_graph import touchpoint_pagerank, transition_edges
from journeylake.models.feature_catalogue import FEATURE_NAMES, LABELS
from journeylake.models.tables import CUSTOMER_FEATURES

# The touchpoints (silver's taxonomy, conf/silver.yaml) behind the behaviour counts.
COUNTED_TOUCHPOINTS = {
    "page_views": "page_view", "product_views": "product_view", "searches": "search",
    "add_to_carts": "add_to_cart", "checkout_starts": "checkout_start", "chats": "chat",
    "offer_clicks": "offer_click", "store_locator_uses": "store_locator",
    "store_visits": "store_visit", "email_opens": "email_open", "email_clicks": "email_click",
    "unsubscribes": "unsubscribe",
}
UNSUBSCRIBE = "unsubscribe"
MOTIF_LENGTH = 3
MOTIFS_PER_OUTCOME = 3
SECONDS_PER_DAY = 86_400.0
KEY_COLUMNS = ("person_id", "reference_date")
FEATURE_COLUMNS = (*KEY_COLUMNS, *FEATURE_NAMES, *(label.name for label in LABELS))


@dataclass(frozen=True)
class ReferenceDates:
    """The cutoffs models use: training ones, the holdout one (labels are known for all of
    these) and the scoring one (today: the midnight after the last event, no labels yet)."""

    training: tuple[date, ...]
    holdout: date
    scoring: date

    @property
    def labelled(self) -> tuple[date, ...]:
        return (*self.training, self.holdout)

    @property
    def all(self) -> tuple[date, ...]:
        return (*self.labelled, self.scoring)


def reference_dates(data_end: datetime, label_days: int, training_references: int
                    ) -> ReferenceDates:
    """Scoring at the midnight after `data_end` (the latest event); the holdout `label_days`
    before it, so its labels are complete; training dates `label_days` apart before that, so
    no training label window overlaps the holdout's."""
    if label_days < 1 or training_references < 1:
        raise ValueError("label_days and training_references must be at least 1")
    scoring = data_end.date() + timedelta(days=1)
    holdout = scoring - timedelta(days=label_days)
    training = tuple(holdout - timedelta(days=label_days * i)
                     for i in range(training_references, 0, -1))
    return ReferenceDates(training, holdout, scoring)


def midnight(day: date) -> datetime:
    """The start (UTC) of `day`: a reference date's cutoff."""
    return datetime.combine(day, time())


def _references(spark: SparkSession, references: Sequence[date], window_days: int,
                label_days: int, labels_until: date) -> DataFrame:
    """reference_date, cutoff, window_start, label_end, labelled: one small row per date."""
    rows = [(day, midnight(day), midnight(day - timedelta(days=window_days)),
             midnight(day + timedelta(days=label_days)),
             day + timedelta(days=label_days) <= labels_until) for day in references]
    return spark.createDataFrame(rows, "reference_date date, cutoff timestamp, "
                                       "window_start timestamp, label_end timestamp, "
                                       "labelled boolean")


def _days_before(moment: Column) -> Column:
    return (F.unix_timestamp("cutoff") - F.unix_timestamp(moment)) / SECONDS_PER_DAY


def _ratio(numerator: Column, denominator: Column) -> Column:
    return F.when(denominator > 0, numerator / denominator)


def _event_features(events: DataFrame, refs: DataFrame, conversions: Sequence[str]
                    ) -> DataFrame:
    """RFM, behaviour counts, tenure and the labels, per person and reference date."""
    placed = events.join(F.broadcast(refs), events["ts"] < refs["label_end"])
    history = F.col("ts") < F.col("cutoff")
    window = history & (F.col("ts") >= F.col("window_start"))
    label = ~history
    order = F.col("touchpoint").isin(list(conversions))
    unsubscribe = F.col("touchpoint") == UNSUBSCRIBE
    counts = [F.count_if(window & (F.col("touchpoint") == touchpoint)).alias(name)
              for name, touchpoint in COUNTED_TOUCHPOINTS.items()]
    grouped = placed.groupBy("person_id", "reference_date").agg(
        F.first("cutoff").alias("cutoff"),
        F.first("labelled").alias("labelled"),
        F.count_if(history).alias("_history_events"),
        F.count_if(window).alias("_window_events"),
        F.count_if(label).alias("_label_events"),
        F.count_if(label & order).alias("_label_orders"),
        F.count_if(label & unsubscribe).alias("_label_unsubscribes"),
        F.count_if(history & unsubscribe).alias("_history_unsubscribes"),
        F.max(F.when(history & order, F.col("ts"))).alias("_last_order"),
        F.max(F.when(history, F.col("ts"))).alias("_last_event"),
        F.min(F.when(history, F.col("ts"))).alias("_first_event"),
        F.count_if(window & order).alias("orders"),
        F.sum(F.when(window & order, F.col("revenue"))).alias("_window_revenue"),
        F.count_if(history & order).alias("lifetime_orders"),
        F.sum(F.when(history & order, F.col("revenue"))).alias("_history_revenue"),
        F.count_distinct(F.when(window, F.to_date("ts"))).alias("active_days"),
        F.count_if(window & (F.col("source") == "social")).alias("social_actions"),
        *counts,
    ).where(F.col("_history_events") > 0)
    labelled = F.col("labelled")
    return grouped.select(
        "person_id", "reference_date", "cutoff",
        _days_before(F.col("_last_order")).alias("days_since_last_order"),
        _days_before(F.col("_last_event")).alias("days_since_last_event"),
        "orders",
        F.coalesce(F.col("_window_revenue").cast("double"), F.lit(0.0)).alias("revenue"),
        _ratio(F.col("_window_revenue").cast("double"), F.col("orders")).alias(
            "average_order_value"),
        "lifetime_orders",
        F.coalesce(F.col("_history_revenue").cast("double"), F.lit(0.0)).alias(
            "lifetime_revenue"),
        *COUNTED_TOUCHPOINTS,
        _ratio(F.col("add_to_carts"), F.col("product_views")).alias("add_to_cart_rate"),
        "social_actions", "active_days",
        _days_before(F.col("_first_event")).alias("tenure_days"),
        F.when(labelled, F.col("_label_orders") > 0).alias("label_purchase"),
        F.when(labelled & (F.col("_window_events") > 0), F.col("_label_events") == 0).alias(
            "label_churn"),
        F.when(labelled & (F.col("_history_unsubscribes") == 0),
               F.col("_label_unsubscribes") > 0).alias("label_unsubscribe"),
    )


def _session_features(sessions: DataFrame, refs: DataFrame) -> DataFrame:
    """Session statistics, conversion habits and the channel mix of the sessions that ended in
    the window (a session still running at the cutoff is not known yet)."""
    placed = sessions.join(
        F.broadcast(refs),
        (sessions["end_ts"] < refs["cutoff"]) & (sessions["start_ts"] >= refs["window_start"]))
    with_cart = F.array_contains("touchpoints", "add_to_cart")
    stats = placed.groupBy("person_id", "reference_date").agg(
        F.count(F.lit(1)).alias("sessions"),
        F.avg("duration_seconds").alias("average_session_seconds"),
        F.avg("events").alias("events_per_session"),
        F.avg(F.col("converted").cast("double")).alias("converted_session_rate"),
        F.avg(F.array_contains("touchpoints", "offer_click").cast("double")).alias(
            "offer_click_rate"),
        _ratio(F.count_if(with_cart & ~F.col("converted")), F.count_if(with_cart)).alias(
            "cart_abandonment"),
    )
    by_channel = placed.groupBy("person_id", "reference_date", "entry_channel").agg(
        F.count(F.lit(1)).alias("_sessions"))
    share = F.col("_sessions") / F.sum("_sessions").over(
        Window.partitionBy("person_id", "reference_date"))
    mix = by_channel.select("person_id", "reference_date",
                            F.struct(F.coalesce("entry_channel", F.lit("unknown")).alias("key"),
                                     share.alias("value")).alias("_entry")
                            ).groupBy("person_id", "reference_date").agg(
        F.map_from_entries(F.array_sort(F.collect_list("_entry"))).alias("channel_mix"))
    return stats.join(mix, list(KEY_COLUMNS))


def _motifs(walks: DataFrame, outcome_stage: Sequence[str]) -> Column:
    """The walk's runs of MOTIF_LENGTH consecutive touchpoints, outcome-stage steps left out,
    each as text `a>b>c`. These are the walk graph's three-vertex path motifs; array functions
    enumerate them per walk without a self-join of the step graph."""
    kept = F.filter("touchpoints", lambda t: ~t.isin(list(outcome_stage)))
    starts = F.sequence(F.lit(1), F.size(kept) - (MOTIF_LENGTH - 1))
    return F.when(F.size(kept) >= MOTIF_LENGTH, F.array_distinct(F.transform(
        starts, lambda i: F.array_join(F.slice(kept, i, MOTIF_LENGTH), ">")))).otherwise(
        F.array().cast("array<string>"))


def _telling_motifs(walks: DataFrame, min_support: int) -> DataFrame:
    """motif, kind (converting or dropoff): the MOTIFS_PER_OUTCOME motifs with the highest and
    the lowest conversion rate among motifs in at least `min_support` walks."""
    counted = walks.select("converted", F.explode("motifs").alias("motif")).groupBy(
        "motif").agg(F.count(F.lit(1)).alias("walks"),
                     F.avg(F.col("converted").cast("double")).alias("rate")).where(
        F.col("walks") >= min_support)
    best = Window.orderBy(F.desc("rate"), "motif")
    worst = Window.orderBy(F.asc("rate"), "motif")
    # A global order over the motif vocabulary (hundreds of rows at most): one partition is fine.
    ranked = counted.select("motif", F.row_number().over(best).alias("_best"),
                            F.row_number().over(worst).alias("_worst"))
    return ranked.where(F.col("_best") <= MOTIFS_PER_OUTCOME).select(
        "motif", F.lit("converting").alias("kind")).union(
        ranked.where(F.col("_worst") <= MOTIFS_PER_OUTCOME).select(
            "motif", F.lit("dropoff").alias("kind")))


def _graph_features_at(
    reference: date, events: DataFrame, walks: DataFrame, identity_map: DataFrame,
    window_days: int, social: SocialGraphSettings, min_support: int,
) -> DataFrame:
    """The journey- and social-graph features of one reference date, from what precedes it.
    Both PageRanks run `social.pagerank_iterations` supersteps."""
    cutoff = midnight(reference)
    window_start = midnight(reference - timedelta(days=window_days))
    known_walks = walks.where(F.coalesce("conversion_ts", "end_ts") < F.lit(cutoff))
    ranks = touchpoint_pagerank(transition_edges(known_walks), social.pagerank_iterations)
    in_window = events.where((F.col("ts") < F.lit(cutoff)) & (F.col("ts") >= F.lit(window_start)))
    used = in_window.groupBy("person_id", "touchpoint").agg(F.count(F.lit(1)).alias("n"))
    share = F.col("n") / F.sum("n").over(Window.partitionBy("person_id"))
    exposure = used.join(F.broadcast(ranks), "touchpoint", "left").groupBy("person_id").agg(
        F.avg(F.coalesce("pagerank", F.lit(0.0))).alias("pagerank_exposure"))
    entropy = used.select("person_id", share.alias("p")).groupBy("person_id").agg(
        (-F.sum(F.col("p") * F.log2("p"))).alias("path_entropy"))
    telling = F.broadcast(_telling_motifs(known_walks, min_support))
    window_walks = known_walks.where(F.col("start_ts") >= F.lit(window_start))
    motif_counts = window_walks.select("person_id", "journey_id", F.explode("motifs").alias(
        "motif")).join(telling, "motif").groupBy("person_id").agg(
        F.count_distinct(F.when(F.col("kind") == "converting", F.col("journey_id"))).alias(
            "converting_motif_walks"),
        F.count_distinct(F.when(F.col("kind") == "dropoff", F.col("journey_id"))).alias(
            "dropoff_motif_walks"),
    )
    before = events.where(F.col("ts") < F.lit(cutoff))
    influence = person_influence(social_edges(before.where(F.col("source") == "social"),
                                              identity_map), social)
    community_size = F.count(F.lit(1)).over(Window.partitionBy("community"))
    social_features = influence.select("person_id", "influence", "followers",
                                       community_size.alias("community_size"))
    return (
        exposure.join(entropy, "person_id", "full")
        .join(motif_counts, "person_id", "full")
        .join(social_features, "person_id", "full")
        .withColumn("reference_date", F.lit(reference))
    )


def customer_features(
    events: DataFrame,
    walks: DataFrame,
    sessions: DataFrame,
    identity_map: DataFrame,
    references: Sequence[date],
    *,
    labels_until: date,
    window_days: int,
    label_days: int,
    conversion_touchpoints: Sequence[str],
    outcome_stage_touchpoints: Sequence[str],
    social: SocialGraphSettings,
    motif_min_support: int,
) -> DataFrame:
    """FEATURE_COLUMNS: one row per person seen before each reference date.

    events: the timeline of known persons (person_id, ts, touchpoint, source, revenue in the
    reporting currency, attributes). walks: `gold.journeys.session_journeys` of the same events
    (journey_id, person_id, start_ts, end_ts, conversion_ts, converted, touchpoints). sessions:
    silver_sessions. identity_map: node, person_id (for the social graph's targets).
    labels_until: the end of the known data (labels of a date whose label window runs past it
    are NULL).
    """
    require_columns(events, ("person_id", "ts", "touchpoint", "source", "revenue",
                             "attributes"), "customer_features events")
    require_columns(walks, ("journey_id", "person_id", "start_ts", "end_ts", "conversion_ts",
                            "converted", "touchpoints"), "customer_features walks")
    require_columns(sessions, ("person_id", "start_ts", "end_ts", "duration_seconds", "events",
                               "entry_channel", "touchpoints", "converted"),
                    "customer_features sessions")
    if not references:
        raise ValueError("customer_features needs at least one reference date")
    spark = events.sparkSession
    refs = _references(spark, references, window_days, label_days, labels_until)
    base = _event_features(events, refs, conversion_touchpoints)
    session_part = _session_features(sessions, refs)
    walks_with_motifs = walks.withColumn("motifs", _motifs(walks, outcome_stage_touchpoints))
    # Each date's graph features come out of iterative GraphFrames plans; materialising them
    # one by one keeps the joins below from running those plans again.
    graph_part = union_all([
        _graph_features_at(reference, events, walks_with_motifs, identity_map, window_days,
                           social, motif_min_support).localCheckpoint()
        for reference in references
    ])
    joined = base.join(session_part, list(KEY_COLUMNS), "left").join(
        graph_part, list(KEY_COLUMNS), "left")
    zero_if_absent = ("sessions", "offer_click_rate", "converted_session_rate", "influence",
                      "followers", "converting_motif_walks", "dropoff_motif_walks",
                      "pagerank_exposure", "path_entropy")
    defaults = {name: F.lit(0) for name in zero_if_absent}
    defaults["community_size"] = F.lit(1)
    defaults["channel_mix"] = F.create_map().cast("map<string,double>")
    return joined.select(*[
        (F.coalesce(F.col(field.name), defaults[field.name]) if field.name in defaults
         else F.col(field.name)).cast(field.dataType).alias(field.name)
        for field in CUSTOMER_FEATURES.schema.fields if field.name in FEATURE_COLUMNS
    ])
