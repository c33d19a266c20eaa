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

from journeylake.session import graphframes_available

log = logging.getLogger(__name__)

# Safety net only: large/small-star converges in O(log^2 n) rounds.
MAX_ROUNDS = 64
CHECKPOINT_INTERVAL = 2


def _require_columns(frame: DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs columns {list(columns)}; missing {missing}, "
                         f"present {frame.columns}")


def connected_components(
    vertices: DataFrame, edges: DataFrame, use_graphframes: bool | None = None
) -> DataFrame:
    """`id`, `component`: for every vertex, the smallest `id` of its connected component.

    vertices: `id` (string); edges: `src`, `dst` (strings, undirected; self-loops and duplicates
    are harmless). Edge endpoints missing from `vertices` are added. The component is a member's
    id, never a run-dependent number, so the same graph always gives the same labels.
    use_graphframes: None picks GraphFrames when its jar is loaded.
    """
    _require_columns(vertices, ("id",), "connected_components vertices")
    _require_columns(edges, ("src", "dst"), "connected_components edges")
    spark = vertices.sparkSession
    if use_graphframes is None:
        use_graphframes = graphframes_available(spark)
    all_vertices = (
        vertices.select("id")
        .unionByName(edges.select(F.col("src").alias("id")))
        .unionByName(edges.select(F.col("dst").alias("id")))
        .where(F.col("id").isNotNull())
        .distinct()
    )
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
