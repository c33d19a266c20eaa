"""The journey graph: touchpoints as vertices (plus start, conversion and drop-off), observed
transitions as edges, and what they say about which touchpoints matter.

Everything here reads journeys (`journeylake.gold.journeys.build_journeys`) and is distributed; the
only small results are per touchpoint or per edge, bounded by the size of the taxonomy.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphframes import GraphFrame
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from journeylake.core.columns import require_columns
from journeylake.core.frames import union_all
from journeylake.gold.attribution import markov_removal_effects, transition_counts
from journeylake.gold.journeys import attribution_paths
from journeylake.gold.outcomes import CONVERSION, DROPOFF, START
from journeylake.graphs.algorithms import pagerank


def _states(journeys: DataFrame) -> Column:
    """start, the touchpoints, then the outcome: the walk a journey takes through the graph."""
    outcome = F.when(F.col("converted"), F.lit(CONVERSION)).otherwise(F.lit(DROPOFF))
    return F.concat(F.array(F.lit(START)), F.col("touchpoints"), F.array(outcome))


def transition_edges(journeys: DataFrame, keys: Sequence[str] = ()) -> DataFrame:
    """*keys, src, dst, transitions, probability (of dst given src), journeys (taking the edge at
    least once), converted_journeys, conversion_rate (of those journeys). With `keys`, one graph
    per value of the keys (a day, a channel)."""
    require_columns(journeys, ("journey_id", "converted", "touchpoints", *keys),
                    "transition_edges")
    walks = journeys.select(*keys, "journey_id", "converted", _states(journeys).alias("states"))
    steps = walks.select(
        *keys, "journey_id", "converted",
        F.explode(F.arrays_zip(
            F.slice("states", 1, F.size("states") - 1).alias("src"),
            F.slice("states", 2, F.size("states") - 1).alias("dst"),
        )).alias("edge"),
    ).select(*keys, "journey_id", "converted", "edge.src", "edge.dst")
    per_edge = steps.groupBy(*keys, "src", "dst").agg(
        F.count(F.lit(1)).alias("transitions"),
        F.count_distinct("journey_id").alias("journeys"),
        F.count_distinct(F.when(F.col("converted"), F.col("journey_id"))).alias(
            "converted_journeys"),
    )
    out_of = Window.partitionBy(*keys, "src")
    return per_edge.select(
        *keys, "src", "dst", "transitions",
        (F.col("transitions") / F.sum("transitions").over(out_of)).alias("probability"),
        "journeys", "converted_journeys",
        (F.col("converted_journeys") / F.col("journeys")).alias("conversion_rate"),
    )


def touchpoint_pagerank(edges: DataFrame, iterations: int = 30) -> DataFrame:
    """touchpoint, pagerank on the transition graph weighted by transition counts: where the
    flow of journeys concentrates. The outcomes have no out-edges: their rank restarts the walk
    (see `graphs.algorithms.pagerank`), and they are rows here like the touchpoints."""
    require_columns(edges, ("src", "dst", "transitions"), "touchpoint_pagerank")
    ranked = pagerank(
        edges.select(F.col("src").alias("id")), edges, weight="transitions",
        iterations=iterations,
    )
    return ranked.select(F.col("id").alias("touchpoint"), "pagerank")


def dropoff_rates(edges: DataFrame) -> DataFrame:
    """touchpoint, dropoff_rate: the share of transitions out of the touchpoint that end the
    journey without a conversion."""
    require_columns(edges, ("src", "dst", "transitions"), "dropoff_rates")
    return edges.where(F.col("src") != START).groupBy(F.col("src").alias("touchpoint")).agg(
        (F.sum(F.when(F.col("dst") == DROPOFF, F.col("transitions")).otherwise(0))
         / F.sum("transitions")).alias("dropoff_rate")
    )


def odds_ratios(journeys: DataFrame, prior: float = 0.5, min_support: int = 30) -> DataFrame:
    """touchpoint, journeys_with, converted_with, odds_ratio, log_odds_ratio, supported.

    For each touchpoint: the odds of converting among journeys that contain it over the odds
    among journeys that do not, with `prior` added to every cell of the 2x2 table (Haldane-
    Anscombe smoothing for 0.5) so a rare touchpoint cannot reach 0 or infinity. Touchpoints in
    fewer than `min_support` journeys are kept but flagged `supported = false`.
    """
    require_columns(journeys, ("converted", "touchpoints"), "odds_ratios")
    if prior < 0 or min_support < 0:
        raise ValueError("prior and min_support must not be negative")
    totals = journeys.agg(
        F.count(F.lit(1)).alias("all_journeys"),
        F.count_if(F.col("converted")).alias("all_converted"),
    )
    contains = journeys.select(
        "converted", F.explode(F.array_distinct("touchpoints")).alias("touchpoint"))
    counted = contains.groupBy("touchpoint").agg(
        F.count(F.lit(1)).alias("journeys_with"),
        F.count_if(F.col("converted")).alias("converted_with"),
    ).crossJoin(totals)
    a = F.col("converted_with") + prior
    b = F.col("journeys_with") - F.col("converted_with") + prior
    c = F.col("all_converted") - F.col("converted_with") + prior
    d = (F.col("all_journeys") - F.col("all_converted")
         - (F.col("journeys_with") - F.col("converted_with")) + prior)
    ratio = (a * d) / (b * c)
    return counted.select(
        "touchpoint", "journeys_with", "converted_with",
        ratio.alias("odds_ratio"), F.log(ratio).alias("log_odds_ratio"),
        (F.col("journeys_with") >= min_support).alias("supported"),
    )


def step_graph(journeys: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(vertices, edges) of every journey's walk: vertex id `<journey_id>#<position>` with its
    `touchpoint`, edges between consecutive positions; the last vertex is the outcome."""
    require_columns(journeys, ("journey_id", "converted", "touchpoints"), "step_graph")
    positioned = journeys.select(
        "journey_id", F.posexplode(_states(journeys)).alias("position", "touchpoint"))
    vertices = positioned.select(
        F.concat_ws("#", "journey_id", F.col("position").cast("string")).alias("id"),
        "journey_id", "position", "touchpoint",
    )
    following = vertices.select(
        F.col("id").alias("dst"), "journey_id", (F.col("position") - 1).alias("position"))
    edges = vertices.select(F.col("id").alias("src"), "journey_id", "position").join(
        following, ["journey_id", "position"]).select("src", "dst")
    return vertices, edges


def motifs_before_outcome(journeys: DataFrame, length: int) -> DataFrame:
    """outcome, pattern (array of `length` touchpoints), journeys: how often each run of
    `length` touchpoints comes right before a conversion or a drop-off.

    GraphFrames' motif query on the step graph: `(a)-[]->(b); (b)-[]->(o)` for two steps, with
    `o` the outcome vertex. Journeys with fewer steps than `length` do not count.
    """
    if length not in (2, 3):
        raise ValueError(f"length must be 2 or 3, got {length}")
    vertices, edges = step_graph(journeys)
    names = ["a", "b", "c"][:length] + ["o"]
    pattern = "; ".join(f"({x})-[]->({y})" for x, y in zip(names, names[1:], strict=False))
    found = GraphFrame(vertices, edges).find(pattern)
    matched = found.select(*[F.col(f"{n}.touchpoint").alias(n) for n in names])
    outcome = names[-1]
    pattern_columns = F.array(*[F.col(n) for n in names[:-1]])
    return (
        matched.where(F.col(outcome).isin(CONVERSION, DROPOFF)
                      & ~F.array_contains(pattern_columns, START))
        .groupBy(F.col(outcome).alias("outcome"), pattern_columns.alias("pattern"))
        .agg(F.count(F.lit(1)).alias("journeys"))
    )


def top_paths(journeys: DataFrame, top_n: int) -> DataFrame:
    """outcome, rank, path (touchpoints), journeys, share (of the outcome's journeys): the most
    common full paths to conversion and to drop-off; ties ranked by the path's text."""
    require_columns(journeys, ("converted", "touchpoints"), "top_paths")
    outcome = F.when(F.col("converted"), F.lit(CONVERSION)).otherwise(F.lit(DROPOFF))
    counted = journeys.groupBy(outcome.alias("outcome"), F.col("touchpoints").alias("path")).agg(
        F.count(F.lit(1)).alias("journeys"))
    by_outcome = Window.partitionBy("outcome")
    ranked = counted.select(
        "*",
        F.row_number().over(by_outcome.orderBy(F.desc("journeys"),
                                               F.array_join("path", ">"))).alias("rank"),
        (F.col("journeys") / F.sum("journeys").over(by_outcome)).alias("share"),
    )
    return ranked.where(F.col("rank") <= top_n).select("outcome", "rank", "path", "journeys",
                                                       "share")


def touchpoint_significance(
    walks: DataFrame,
    odds_ratio_prior: float,
    odds_ratio_min_support: int,
    outcome_stage_touchpoints: Sequence[str],
) -> DataFrame:
    """touchpoint, pagerank, removal_effect, dropoff_rate, odds_ratio, log_odds_ratio,
    journeys_with, converted_with, supported, outcome_stage: one row per touchpoint of the
    journeys in `walks` (build_journeys or session_journeys output). pagerank is the
    touchpoint's share of the whole transition graph's rank, (start) and the outcomes included,
    so the rows sum to less than 1.

    The removal effect is the Markov chain of touchpoints (order 1), solved exactly on the
    driver: its state space is the taxonomy, not the events.
    """
    require_columns(walks, ("journey_id", "converted", "revenue", "conversion_ts", "steps",
                            "touchpoints"), "touchpoint_significance")
    edges = transition_edges(walks)
    as_paths = attribution_paths(walks.withColumn(
        "steps", F.transform("steps", lambda s: s.withField("channel", s["touchpoint"]))))
    effects = markov_removal_effects(
        [tuple(row) for row in transition_counts(as_paths, 1).collect()], 1).removal_effects
    removal = walks.sparkSession.createDataFrame(sorted(effects.items()),
                                                 "touchpoint string, removal_effect double")
    odds = odds_ratios(walks, odds_ratio_prior, odds_ratio_min_support)
    touchpoints = odds.select("touchpoint").union(removal.select("touchpoint")).distinct()
    return (
        touchpoints.join(touchpoint_pagerank(edges), "touchpoint", "left")
        .join(removal, "touchpoint", "left")
        .join(dropoff_rates(edges), "touchpoint", "left")
        .join(odds, "touchpoint", "left")
        .select(
            "touchpoint", "pagerank",
            F.coalesce("removal_effect", F.lit(0.0)).alias("removal_effect"),
            "dropoff_rate", "odds_ratio", "log_odds_ratio", "journeys_with", "converted_with",
            "supported",
            F.col("touchpoint").isin(list(outcome_stage_touchpoints)).alias("outcome_stage"),
        )
    )


def motifs_of_lengths(walks: DataFrame, lengths: Sequence[int] = (2, 3)) -> DataFrame:
    """outcome, pattern, journeys, length: `motifs_before_outcome` for each length."""
    return union_all([motifs_before_outcome(walks, length).withColumn("length", F.lit(length))
                      for length in lengths])
