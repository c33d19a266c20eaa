"""Benchmark: GraphFrames' connected-components algorithms on a random graph, and the graph
algorithms journeylake runs, timed after a warm-up.

    .venv/bin/python bench/graph_bench.py --vertices 200000 --edges 150000
    make bench                       # the default scale below

Prints a Markdown table for docs/benchmarks.md. It is what chose `COMPONENTS_ALGORITHM` in
journeylake.graphs.algorithms.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from graphframes import GraphFrame
from pyspark.sql import functions as F

from journeylake.core.config import load_config
from journeylake.core.spark_session import build_session
from journeylake.graphs.algorithms import connected_components, label_propagation, pagerank

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vertices", type=int, default=200_000)
    parser.add_argument("--edges", type=int, default=150_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="graph-bench-"))
    config = load_config("local", [
        f"lakehouse.root={work / 'lake'}", f"spark.checkpoint_dir={work / 'checkpoints'}",
        "spark.catalog=in-memory", "spark.conf.spark.driver.memory=8g",
        "spark.conf.spark.ui.showConsoleProgress=false",
    ], conf_dir=ROOT / "conf")
    spark = build_session(config)
    spark.sparkContext.setLogLevel("ERROR")
    n = args.vertices
    vertices = spark.range(n).select(F.concat(F.lit("n"), F.col("id").cast("string")).alias("id"))
    edges = spark.range(args.edges).select(
        F.concat(F.lit("n"), (F.abs(F.xxhash64("id")) % n).cast("string")).alias("src"),
        F.concat(F.lit("n"), (F.abs(F.xxhash64(F.col("id") + 7)) % n).cast("string")).alias("dst"),
    ).localCheckpoint()
    tiny_v = spark.createDataFrame([(v,) for v in "abcdefg"], "id string")
    tiny_e = spark.createDataFrame([("a", "b"), ("b", "c"), ("d", "e")], "src string, dst string")
    graph = GraphFrame(vertices, edges)
    rows = []

    def timed(what: str, run: object) -> None:
        run()  # warm-up
        started = time.perf_counter()
        result = run()
        rows.append((what, result, time.perf_counter() - started))

    for algorithm, threshold in (("graphx", 1_000_000), ("two_phase", 1_000_000),
                                 ("two_phase", -1)):
        timed(f"connectedComponents {algorithm}, broadcast threshold {threshold}, 7 vertices",
              lambda a=algorithm, t=threshold: GraphFrame(tiny_v, tiny_e).connectedComponents(
                  algorithm=a, broadcastThreshold=t).count())
        timed(f"connectedComponents {algorithm}, broadcast threshold {threshold}, {n:,} vertices",
              lambda a=algorithm, t=threshold: graph.connectedComponents(
                  algorithm=a, broadcastThreshold=t).select("component").distinct().count())
    timed(f"journeylake connected_components, {n:,} vertices",
          lambda: connected_components(vertices, edges).select("component").distinct().count())
    timed(f"journeylake pagerank, 20 supersteps, {n:,} vertices",
          lambda: pagerank(vertices, edges, iterations=20).count())
    timed(f"journeylake label_propagation, 5 supersteps, {n:,} vertices",
          lambda: label_propagation(vertices, edges, iterations=5).select(
              "community").distinct().count())
    print(f"\n{n:,} vertices, {args.edges:,} random edges, local[2], after one warm-up run each\n")
    print("| what | result (rows or components) | wall s |")
    print("|---|---:|---:|")
    for what, result, seconds in rows:
        print(f"| {what} | {result:,} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
