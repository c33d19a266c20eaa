"""Graph algorithms on DataFrames, run by GraphFrames: connected components, weighted PageRank
(on GraphFrames' Pregel API) and label propagation.

GraphFrames is part of the stack like Delta: `core.spark_session.build_session` refuses a
session without its JVM classes or its Python package. Checkpoints go to the session's
checkpoint dir, which the factory sets from `spark.checkpoint_dir`.

Every result is deterministic: components and communities are named by their smallest member
id, PageRank is a fixed number of synchronous supersteps, and label propagation breaks ties by
label, so the same graph gives the same answer on every run and under any partitioning.
"""

from __future__ import annotations

from graphframes import GraphFrame
from graphframes.lib import Pregel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from journeylake.core.columns import require_columns

# Connected components: "graphx" (GraphX's Pregel over the graph, supersteps = the diameter).
# bench/graph_bench.py on Spark 4.2, GraphFrames 0.11, 2 cores (docs/benchmarks.md): 7.6 s on
# 200k vertices / 150k edges against 12.4 s for "two_phase" (broadcast threshold 1e6) and
# 12.6 s with the threshold off (-1, AQE); on a 7-vertex graph all take 1-3 s of fixed cost.
# "randomized_contraction" fails on Spark 4.2. Identity graphs are stars around a customer's
# identifiers, so few supersteps. The broadcast threshold and checkpoint interval only matter
# to "two_phase".
COMPONENTS_ALGORITHM = "graphx"
# Supersteps between checkpoints of the iterative DataFrame algorithms (Pregel, label
# propagation): each superstep adds joins to the plan, and 10 between checkpoints exhausted a
# 1 GiB driver on plan size alone.
CHECKPOINT_INTERVAL = 2


def every_vertex(vertices: DataFrame, edges: DataFrame) -> DataFrame:
    """`id` of `vertices` and of every edge end, once each (NULL ids left out)."""
    return (
        vertices.select("id")
        .unionByName(edges.select(F.col("src").alias("id")))
        .unionByName(edges.select(F.col("dst").alias("id")))
        .where(F.col("id").isNotNull())
        .distinct()
    )


def _links(edges: DataFrame) -> DataFrame:
    return edges.where(F.col("src").isNotNull() & F.col("dst").isNotNull())


def connected_components(vertices: DataFrame, edges: DataFrame) -> DataFrame:
    """`id`, `component`: for every vertex, the smallest `id` of its connected component.

    vertices: `id` (string); edges: `src`, `dst` (strings, undirected; self-loops and duplicates
    are harmless). Edge endpoints missing from `vertices` are added. The component is a member's
    id, never GraphFrames' run-dependent number, so the same graph always gives the same labels.
    """
    require_columns(vertices, ("id",), "connected_components vertices")
    require_columns(edges, ("src", "dst"), "connected_components edges")
    # Materialised first: GraphFrames numbers the vertices from the frames' row order, and a
    # shuffle evaluated twice (by a busy executor, or a job in another thread) orders them
    # differently, which silently merges or drops components (graphframes issues 159, 760).
    graph = GraphFrame(every_vertex(vertices, edges).localCheckpoint(),
                       _links(edges).select("src", "dst").localCheckpoint())
    labelled = graph.connectedComponents(algorithm=COMPONENTS_ALGORITHM,
                                         checkpointInterval=CHECKPOINT_INTERVAL)
    canonical = labelled.groupBy("component").agg(F.min("id").alias("canonical"))
    return labelled.join(canonical, "component").select(
        "id", F.col("canonical").alias("component"))


def pagerank(
    vertices: DataFrame,
    edges: DataFrame,
    weight: str | None = None,
    reset_probability: float = 0.15,
    iterations: int = 20,
) -> DataFrame:
    """`id`, `pagerank` (summing to 1 over the vertices) of a directed, weighted graph.

    vertices: id; edges: src, dst and, if `weight` is given, a weight column (edges of weight 0
    or less, or NULL, are left out; parallel edges add up). A vertex passes its rank to its
    out-neighbours in proportion to the weights. GraphFrames' own pageRank ignores weights, so
    this runs on its Pregel API: `iterations` synchronous supersteps of
    rank = reset/N + (1 - reset) * (weighted rank received).

    A vertex without out-edges (dangling) passes its rank nowhere, and the ranks are divided by
    their sum at the end. At convergence this is exactly the textbook PageRank whose dangling
    vertices restart the walk at a uniformly chosen vertex (both solve the same linear system up
    to a factor); after few supersteps the two differ slightly.
    """
    require_columns(vertices, ("id",), "pagerank vertices")
    require_columns(edges, ("src", "dst", *([weight] if weight else [])), "pagerank edges")
    if not 0 < reset_probability < 1:
        raise ValueError(f"reset_probability must be in (0, 1), got {reset_probability}")
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    nodes = every_vertex(vertices, edges).localCheckpoint()
    count = nodes.count()
    if count == 0:
        return nodes.select("id", F.lit(None).cast("double").alias("pagerank"))
    w = (F.col(weight) if weight else F.lit(1.0)).cast("double")
    weighted = (
        _links(edges).groupBy("src", "dst").agg(F.sum(F.when(w > 0, w)).alias("w"))
        .where(F.col("w") > 0)
    )
    out = weighted.groupBy(F.col("src").alias("id")).agg(F.sum("w").alias("out_weight"))
    graph = GraphFrame(nodes.join(out, "id", "left"), weighted)
    received = F.coalesce(Pregel.msg(), F.lit(0.0))
    updated = F.lit(reset_probability / count) + F.lit(1 - reset_probability) * received
    ranked = (
        graph.pregel.setMaxIter(iterations)
        .setCheckpointInterval(CHECKPOINT_INTERVAL)
        .withVertexColumn("rank", F.lit(1.0 / count), updated)
        .sendMsgToDst(Pregel.src("rank") * Pregel.edge("w") / Pregel.src("out_weight"))
        .aggMsgs(F.sum(Pregel.msg()))
        .run()
    ).localCheckpoint()
    total = ranked.agg(F.sum("rank")).first()[0]
    return ranked.select("id", (F.col("rank") / F.lit(total)).alias("pagerank"))


def label_propagation(vertices: DataFrame, edges: DataFrame, iterations: int = 5) -> DataFrame:
    """`id`, `community`: communities by label propagation on the undirected graph, named by
    their smallest member id.

    Every vertex starts with a label of its own and takes, in each of `iterations` synchronous
    supersteps, the label most frequent among its neighbours; a tie goes to the smallest label
    (GraphFrames' "graphframes" algorithm takes the maximum of (count, -label); its "graphx" one
    breaks ties by hash order, which can change with the partitioning). Labels are numbered in
    the order of the vertex ids, so the tie goes to the neighbour label that started at the
    smallest id. A vertex without neighbours is a community of its own.
    """
    require_columns(vertices, ("id",), "label_propagation vertices")
    require_columns(edges, ("src", "dst"), "label_propagation edges")
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    spark = vertices.sparkSession
    # The algorithm negates labels to break ties, so ids must be numbers: number them in order.
    ordered = every_vertex(vertices, edges).orderBy("id")
    numbered = spark.createDataFrame(
        ordered.rdd.zipWithIndex().map(lambda pair: (pair[0].id, pair[1])),
        StructType([StructField("name", StringType()), StructField("id", LongType())]),
    ).localCheckpoint()
    ends = _links(edges).where(F.col("src") != F.col("dst"))
    ids = numbered.select(F.col("name").alias("end"), "id")
    directed = (
        ends.join(ids.withColumnRenamed("end", "src").withColumnRenamed("id", "s"), "src")
        .join(ids.withColumnRenamed("end", "dst").withColumnRenamed("id", "d"), "dst")
        .select(F.col("s").alias("src"), F.col("d").alias("dst"))
    )
    # Messages follow edge direction in this algorithm: both directions make it undirected.
    both_ways = directed.unionByName(
        directed.select(F.col("dst").alias("src"), F.col("src").alias("dst"))).distinct()
    labelled = GraphFrame(numbered.select("id"), both_ways).labelPropagation(
        maxIter=iterations, algorithm="graphframes", checkpoint_interval=CHECKPOINT_INTERVAL)
    labels = labelled.select("id", F.coalesce("label", "id").alias("label")).join(numbered, "id")
    named = labels.groupBy("label").agg(F.min("name").alias("community"))
    return labels.join(named, "label").select(F.col("name").alias("id"), "community")
