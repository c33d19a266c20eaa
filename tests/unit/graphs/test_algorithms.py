"""Connected components without GraphFrames' jar: the same partition as a union-find."""

from __future__ import annotations

import random

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession

from journeylake.graphs.algorithms import connected_components
from tests.oracles import union_find_groups


def test_components_are_labelled_by_their_smallest_member(spark: SparkSession) -> None:
    vertices = spark.createDataFrame([(v,) for v in "abcdefg"], "id string")
    # a chain e-c-a-d, a pair b-f (given twice and backwards), g alone, a self-loop on g
    edges = spark.createDataFrame(
        [("e", "c"), ("c", "a"), ("a", "d"), ("f", "b"), ("b", "f"), ("g", "g")],
        "src string, dst string",
    )
    expected = spark.createDataFrame(
        [("a", "a"), ("c", "a"), ("d", "a"), ("e", "a"), ("b", "b"), ("f", "b"), ("g", "g")],
        "id string, component string",
    )
    actual = connected_components(vertices, edges, use_graphframes=False)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_edge_ends_missing_from_the_vertices_are_added(spark: SparkSession) -> None:
    vertices = spark.createDataFrame([("x",)], "id string")
    edges = spark.createDataFrame([("z", "y")], "src string, dst string")
    actual = connected_components(vertices, edges, use_graphframes=False)
    assert sorted(map(tuple, actual.collect())) == [("x", "x"), ("y", "y"), ("z", "y")]


@pytest.mark.parametrize("seed", [3, 11])
def test_random_graphs_match_a_union_find(spark: SparkSession, seed: int) -> None:
    rng = random.Random(seed)
    vertices = [f"v{i:03d}" for i in range(120)]
    edges = [(rng.choice(vertices), rng.choice(vertices)) for _ in range(90)]
    # a long path, the worst case for label propagation, converges in few rounds here
    edges += [(f"v{i:03d}", f"v{i + 1:03d}") for i in range(60, 100)]
    actual = connected_components(
        spark.createDataFrame([(v,) for v in vertices], "id string"),
        spark.createDataFrame(edges, "src string, dst string"),
        use_graphframes=False,
    )
    assert dict(map(tuple, actual.collect())) == union_find_groups(vertices, edges)


def python_pagerank(nodes: list[str], edges: list[tuple[str, str, float]], reset: float,
                    iterations: int) -> dict[str, float]:
    """The textbook power iteration, written out plainly for comparison."""
    n = len(nodes)
    rank = {v: 1.0 / n for v in nodes}
    out = {v: sum(w for s, _, w in edges if s == v) for v in nodes}
    for _ in range(iterations):
        dangling = sum(rank[v] for v in nodes if out[v] == 0)
        received = {v: 0.0 for v in nodes}
        for s, d, w in edges:
            received[d] += rank[s] * w / out[s]
        rank = {v: reset / n + (1 - reset) * (received[v] + dangling / n) for v in nodes}
    return rank


def test_weighted_pagerank_matches_the_power_iteration(spark: SparkSession) -> None:
    from journeylake.graphs.algorithms import pagerank

    edges = [("a", "b", 3.0), ("a", "c", 1.0), ("b", "c", 1.0), ("c", "a", 2.0), ("d", "c", 1.0)]
    nodes = ["a", "b", "c", "d", "e"]  # e: no edges at all; c <- everyone
    frame = spark.createDataFrame(edges, "src string, dst string, w double")
    ranked = pagerank(spark.createDataFrame([(v,) for v in nodes], "id string"), frame,
                      weight="w", reset_probability=0.15, iterations=12, use_graphframes=False)
    found = dict(map(tuple, ranked.collect()))
    expected = python_pagerank(nodes, edges, 0.15, 12)
    assert found == pytest.approx(expected, abs=1e-12)
    assert sum(found.values()) == pytest.approx(1.0)
    assert max(found, key=found.get) == "c"


def test_label_propagation_finds_two_groups_joined_by_one_edge(spark: SparkSession) -> None:
    from journeylake.graphs.algorithms import label_propagation

    left = ["a1", "a2", "a3", "a4"]
    right = ["b1", "b2", "b3", "b4"]
    edges = [(x, y) for group in (left, right) for x in group for y in group if x < y]
    edges.append(("a4", "b1"))  # a bridge between the two cliques
    found = dict(map(tuple, label_propagation(
        spark.createDataFrame([("lonely",)], "id string"),
        spark.createDataFrame(edges, "src string, dst string"), iterations=5,
        use_graphframes=False).collect()))
    assert {found[v] for v in left} == {"a1"}
    assert {found[v] for v in right} == {"b1"}
    assert found["lonely"] == "lonely"
