"""Graph algorithms on DataFrames: GraphFrames when its JVM jar is on the session, otherwise the
same algorithm written with Spark SQL joins and aggregations.

Why a fallback: GraphFrames' JVM artifact is not reachable from every network (Maven Central
mirrors that lack the `io.graphframes` group), and a pipeline that stops on a missing optional jar
helps nobody. The fallback of connected components is the alternating large-star / small-star
algorithm of Kiveris et al. (2014), the one GraphFrames' default "two_phase" algorithm
implements, so both paths give the same partition of the vertices.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from journeylake.core.columns import require_columns
from journeylake.core.spark_session import graphframes_available

log = logging.getLogger(__name__)

# Safety net only: large/small-star converges in O(log^2 n) rounds.
MAX_ROUNDS = 64
CHECKPOINT_INTERVAL = 2


def _every_vertex(vertices: DataFrame, edges: DataFrame) -> DataFrame:
    """The ids of `vertices` and of every edge end, once each."""
    return (
        vertices.select("id")
        .unionByName(edges.select(F.col("src").alias("id")))
        .unionByName(edges.select(F.col("dst").alias("id")))
        .where(F.col("id").isNotNull())
        .distinct()
    )


def connected_components(
    vertices: DataFrame, edges: DataFrame, use_graphframes: bool | None = None
) -> DataFrame:
    """`id`, `component`: for every vertex, the smallest `id` of its connected component.

    vertices: `id` (string); edges: `src`, `dst` (strings, undirected; self-loops and duplicates
    are harmless). Edge endpoints missing from `vertices` are added. The component is a member's
    id, never a run-dependent number, so the same graph always gives the same labels.
    use_graphframes: None picks GraphFrames when its jar is loaded.
    """
    require_columns(vertices, ("id",), "connected_components vertices")
    require_columns(edges, ("src", "dst"), "connected_components edges")
    spark = vertices.sparkSession
    if use_graphframes is None:
        use_graphframes = graphframes_available(spark)
    all_vertices = _every_vertex(vertices, edges)
    links = edges.where(F.col("src").isNotNull() & F.col("dst").isNotNull())
    if use_graphframes:
        return _components_with_graphframes(all_vertices, links)
    return _components_with_stars(all_vertices, links)


def _components_with_graphframes(vertices: DataFrame, edges: DataFrame) -> DataFrame:
    from graphframes import GraphFrame  # only importable usefully with the jar loaded

    labelled = GraphFrame(vertices, edges.select("src", "dst")).connectedComponents()
    canonical = labelled.groupBy("component").agg(F.min("id").alias("canonical"))
    return labelled.join(canonical, "component").select(
        "id", F.col("canonical").alias("component")
    )


def _normalised(edges: DataFrame) -> DataFrame:
    """Undirected edges as (big, small) with big > small, without duplicates or self-loops."""
    return (
        edges.select(
            F.greatest("src", "dst").alias("big"), F.least("src", "dst").alias("small")
        )
        .where(F.col("big") != F.col("small"))
        .distinct()
    )


def _large_star(edges: DataFrame) -> DataFrame:
    # Every vertex u links its larger neighbours to the smallest of u and its neighbours.
    both_ways = edges.select(F.col("big").alias("u"), F.col("small").alias("v")).unionByName(
        edges.select(F.col("small").alias("u"), F.col("big").alias("v"))
    )
    smallest = both_ways.groupBy("u").agg(F.least(F.min("v"), F.col("u")).alias("m"))
    return (
        both_ways.where(F.col("v") > F.col("u"))
        .join(smallest, "u")
        .select(F.col("v").alias("big"), F.col("m").alias("small"))
        .distinct()
    )


def _small_star(edges: DataFrame) -> DataFrame:
    # Every vertex u links itself and its smaller neighbours to the smallest of them.
    smallest = edges.groupBy("big").agg(F.min("small").alias("m"))
    with_min = edges.join(smallest, "big")
    neighbours = with_min.where(F.col("small") != F.col("m")).select(
        F.col("small").alias("big"), F.col("m").alias("small")
    )
    itself = smallest.select("big", F.col("m").alias("small"))
    return neighbours.unionByName(itself).distinct()


def _components_with_stars(vertices: DataFrame, edges: DataFrame) -> DataFrame:
    current = _normalised(edges).localCheckpoint(eager=True)
    for round_number in range(1, MAX_ROUNDS + 1):
        # Checkpointing cuts the lineage, which would otherwise grow with every round and make
        # planning slower than the work. Every CHECKPOINT_INTERVAL rounds to the configured
        # checkpoint dir (as GraphFrames does), so a lost executor does not cost every round.
        following = _small_star(_large_star(current))
        if round_number % CHECKPOINT_INTERVAL == 0:
            following = following.checkpoint(eager=True)
        else:
            following = following.localCheckpoint(eager=True)
        difference = following.exceptAll(current).unionByName(current.exceptAll(following))
        current = following
        if difference.limit(1).count() == 0:
            log.info("connected components converged after %d rounds", round_number)
            break
    else:
        raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
    # Converged: every edge joins a vertex to the smallest member of its component.
    roots = current.groupBy("big").agg(F.min("small").alias("component"))
    return (
        vertices.join(roots, vertices["id"] == roots["big"], "left")
        .select("id", F.coalesce("component", "id").alias("component"))
    )


def pagerank(
    vertices: DataFrame,
    edges: DataFrame,
    weight: str | None = None,
    reset_probability: float = 0.15,
    iterations: int = 20,
    use_graphframes: bool | None = None,
) -> DataFrame:
    """`id`, `pagerank` (summing to 1 over the vertices) of a directed graph.

    vertices: id; edges: src, dst and, if `weight` is given, a non-negative weight column: a
    vertex passes its rank to its out-neighbours in proportion to the weights. A vertex without
    out-edges spreads its rank evenly (the random surfer restarts). GraphFrames' PageRank ignores
    weights, so it is only used for unweighted graphs.
    """
    require_columns(vertices, ("id",), "pagerank vertices")
    require_columns(edges, ("src", "dst", *([weight] if weight else [])), "pagerank edges")
    if not 0 < reset_probability < 1:
        raise ValueError(f"reset_probability must be in (0, 1), got {reset_probability}")
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    spark = vertices.sparkSession
    if use_graphframes is None:
        use_graphframes = weight is None and graphframes_available(spark)
    nodes = _every_vertex(vertices, edges).localCheckpoint()
    if use_graphframes:
        from graphframes import GraphFrame

        ranked = GraphFrame(nodes, edges.select("src", "dst")).pageRank(
            resetProbability=reset_probability, maxIter=iterations
        ).vertices
        total = ranked.agg(F.sum("pagerank")).first()[0] or 1.0
        return ranked.select("id", (F.col("pagerank") / F.lit(total)).alias("pagerank"))
    count = nodes.count()
    weighted = edges.select("src", "dst", (F.col(weight) if weight else F.lit(1.0))
                            .cast("double").alias("w")).where("w > 0")
    out = weighted.groupBy("src").agg(F.sum("w").alias("out_w"))
    shares = weighted.join(out, "src").select(
        "src", "dst", (F.col("w") / F.col("out_w")).alias("share")
    ).localCheckpoint()
    has_out = out.select(F.col("src").alias("id"), F.lit(True).alias("_has_out"))
    ranks = nodes.select("id", F.lit(1.0 / count).alias("pagerank"))
    for iteration in range(1, iterations + 1):
        flowing = shares.join(ranks.withColumnRenamed("id", "src"), "src").groupBy("dst").agg(
            F.sum(F.col("pagerank") * F.col("share")).alias("received")
        )
        dangling = ranks.join(has_out, "id", "left").where("_has_out IS NULL").agg(
            F.coalesce(F.sum("pagerank"), F.lit(0.0))
        )
        ranks = (
            nodes.join(flowing.withColumnRenamed("dst", "id"), "id", "left")
            .crossJoin(dangling.withColumnRenamed(dangling.columns[0], "_dangling"))
            .select(
                "id",
                (F.lit(reset_probability / count) + F.lit(1 - reset_probability) * (
                    F.coalesce("received", F.lit(0.0)) + F.col("_dangling") / F.lit(count)
                )).alias("pagerank"),
            )
        )
        # Cut the lineage regularly: each round would otherwise re-plan every earlier one.
        ranks = ranks.checkpoint() if iteration % 5 == 0 else ranks.localCheckpoint()
    return ranks


def label_propagation(
    vertices: DataFrame, edges: DataFrame, iterations: int = 5,
    use_graphframes: bool | None = None,
) -> DataFrame:
    """`id`, `community`: communities by label propagation on the undirected graph. Every vertex
    starts with its own id and takes, each round, the label most frequent among its neighbours
    (ties to the smallest label, so runs agree). A community is named by its smallest member."""
    require_columns(vertices, ("id",), "label_propagation vertices")
    require_columns(edges, ("src", "dst"), "label_propagation edges")
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    spark = vertices.sparkSession
    if use_graphframes is None:
        use_graphframes = graphframes_available(spark)
    nodes = _every_vertex(vertices, edges)
    if use_graphframes:
        from graphframes import GraphFrame

        labelled = GraphFrame(nodes, edges.select("src", "dst")).labelPropagation(
            maxIter=iterations).withColumnRenamed("label", "_label")
    else:
        pairs = edges.where("src <> dst").select("src", "dst")
        neighbours = pairs.unionByName(
            pairs.select(F.col("dst").alias("src"), F.col("src").alias("dst"))
        ).distinct().localCheckpoint()
        labelled = nodes.select("id", F.col("id").alias("_label"))
        for _ in range(iterations):
            votes = neighbours.join(labelled.withColumnRenamed("id", "src"), "src").groupBy(
                "dst", "_label").agg(F.count(F.lit(1)).alias("votes"))
            best = votes.groupBy("dst").agg(
                F.min_by("_label", F.struct(-F.col("votes"), F.col("_label"))).alias("_best"))
            labelled = labelled.join(best.withColumnRenamed("dst", "id"), "id", "left").select(
                "id", F.coalesce("_best", "_label").alias("_label")
            ).localCheckpoint()
    named = labelled.groupBy("_label").agg(F.min("id").alias("community"))
    return labelled.join(named, "_label").select("id", "community")
