"""The graph algorithms on GraphFrames, held to plain-Python answers and hand-checked examples:
components as a union-find, weighted PageRank as the power iteration and as the exact linear
solve, label propagation's ties, and the same answers under another partitioning."""

from __future__ import annotations

import random

import numpy as np
import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from journeylake.graphs.algorithms import connected_components, label_propagation, pagerank
from tests.oracles import union_find_groups


def frame_of(spark: SparkSession, rows: list[tuple], ddl: str) -> DataFrame:
    return spark.createDataFrame(rows, ddl)


def test_components_are_labelled_by_their_smallest_member(spark: SparkSession) -> None:
    vertices = frame_of(spark, [(v,) for v in "abcdefg"], "id string")
    # a chain e-c-a-d, a pair b-f (given twice and backwards), g alone, a self-loop on g
    edges = frame_of(spark, [("e", "c"), ("c", "a"), ("a", "d"), ("f", "b"), ("b", "f"),
                             ("g", "g")], "src string, dst string")
    expected = frame_of(
        spark,
        [("a", "a"), ("c", "a"), ("d", "a"), ("e", "a"), ("b", "b"), ("f", "b"), ("g", "g")],
        "id string, component string",
    )
    actual = connected_components(vertices, edges)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_edge_ends_missing_from_the_vertices_are_added(spark: SparkSession) -> None:
    actual = connected_components(frame_of(spark, [("x",)], "id string"),
                                  frame_of(spark, [("z", "y")], "src string, dst string"))
    assert sorted(map(tuple, actual.collect())) == [("x", "x"), ("y", "y"), ("z", "y")]


def random_graph(seed: int) -> tuple[list[str], list[tuple[str, str]]]:
    rng = random.Random(seed)
    vertices = [f"v{i:03d}" for i in range(120)]
    edges = [(rng.choice(vertices), rng.choice(vertices)) for _ in range(90)]
    edges += [(f"v{i:03d}", f"v{i + 1:03d}") for i in range(60, 100)]  # a long path
    return vertices, edges


@pytest.mark.parametrize("seed", [3, 11])
def test_random_graphs_match_a_union_find(spark: SparkSession, seed: int) -> None:
    vertices, edges = random_graph(seed)
    actual = connected_components(frame_of(spark, [(v,) for v in vertices], "id string"),
                                  frame_of(spark, edges, "src string, dst string"))
    assert dict(map(tuple, actual.collect())) == union_find_groups(vertices, edges)


EDGES = [("a", "b", 3.0), ("a", "c", 1.0), ("b", "c", 1.0), ("c", "a", 2.0), ("d", "c", 1.0),
         ("d", "c", 1.0), ("b", "a", 0.0)]  # d -> c twice: weights add; a zero weight is no edge
NODES = ["a", "b", "c", "d", "e"]  # e: no edges at all


def leaky_power_iteration(reset: float, iterations: int) -> dict[str, float]:
    """The supersteps written out plainly: a vertex without out-edges passes nothing on, and
    the ranks are divided by their sum at the end."""
    n = len(NODES)
    weights: dict[tuple[str, str], float] = {}
    for s, d, w in EDGES:
        if w > 0:
            weights[(s, d)] = weights.get((s, d), 0.0) + w
    out = {v: sum(w for (s, _), w in weights.items() if s == v) for v in NODES}
    rank = {v: 1.0 / n for v in NODES}
    for _ in range(iterations):
        received = {v: 0.0 for v in NODES}
        for (s, d), w in weights.items():
            received[d] += rank[s] * w / out[s]
        rank = {v: reset / n + (1 - reset) * received[v] for v in NODES}
    total = sum(rank.values())
    return {v: r / total for v, r in rank.items()}


def textbook_pagerank(reset: float) -> dict[str, float]:
    """The exact stationary PageRank whose dangling vertices restart the walk uniformly."""
    n = len(NODES)
    index = {v: i for i, v in enumerate(NODES)}
    chain = np.zeros((n, n))
    for s, d, w in EDGES:
        if w > 0:
            chain[index[s], index[d]] += w
    for i in range(n):
        total = chain[i].sum()
        chain[i] = chain[i] / total if total else np.full(n, 1.0 / n)
    google = (1 - reset) * chain + reset / n
    values, vectors = np.linalg.eig(google.T)
    stationary = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    return dict(zip(NODES, stationary / stationary.sum(), strict=True))


def ranks_of(spark: SparkSession, reset: float, iterations: int) -> dict[str, float]:
    ranked = pagerank(frame_of(spark, [(v,) for v in NODES], "id string"),
                      frame_of(spark, EDGES, "src string, dst string, w double"), weight="w",
                      reset_probability=reset, iterations=iterations)
    return dict(map(tuple, ranked.collect()))


def test_weighted_pagerank_is_the_supersteps_of_the_power_iteration(spark: SparkSession) -> None:
    found = ranks_of(spark, 0.15, 8)
    assert found == pytest.approx(leaky_power_iteration(0.15, 8), abs=1e-12)
    assert sum(found.values()) == pytest.approx(1.0)


def test_converged_pagerank_is_the_textbook_one_with_dangling_restarts(
    spark: SparkSession,
) -> None:
    # With reset 0.5 the error halves every superstep: 30 are far below the tolerance.
    assert ranks_of(spark, 0.5, 30) == pytest.approx(textbook_pagerank(0.5), abs=1e-7)


def test_label_propagation_finds_two_groups_joined_by_one_edge(spark: SparkSession) -> None:
    left = ["a1", "a2", "a3", "a4"]
    right = ["b1", "b2", "b3", "b4"]
    edges = [(x, y) for group in (left, right) for x in group for y in group if x < y]
    edges.append(("a4", "b1"))  # a bridge between the two cliques
    found = dict(map(tuple, label_propagation(
        frame_of(spark, [("lonely",)], "id string"),
        frame_of(spark, edges, "src string, dst string"), iterations=5).collect()))
    assert {found[v] for v in left} == {"a1"}
    assert {found[v] for v in right} == {"b1"}
    assert found["lonely"] == "lonely"


def test_label_propagation_breaks_a_tie_toward_the_smallest_label(spark: SparkSession) -> None:
    # A triangle a-b-c after one superstep, by hand: a hears b and c once each and takes b's
    # label (the smaller); b hears a and c and takes a's; c hears a and b and takes a's. So a
    # holds b's label alone and b, c share a's: communities {a} and {b, c}, each named by its
    # smallest member. (Ties to the larger label would give {a, b} and {c}.)
    edges = frame_of(spark, [("a", "b"), ("b", "c"), ("a", "c")], "src string, dst string")
    found = dict(map(tuple, label_propagation(frame_of(spark, [], "id string"), edges,
                                              iterations=1).collect()))
    assert found == {"a": "a", "b": "b", "c": "b"}


def test_the_same_graph_gives_the_same_answers_under_another_partitioning(
    spark: SparkSession,
) -> None:
    vertices, edges = random_graph(5)
    weighted = [(s, d, float(1 + i % 3)) for i, (s, d) in enumerate(edges)]

    def answers(partitions: int) -> tuple[dict, dict, dict]:
        v = frame_of(spark, [(x,) for x in vertices], "id string").repartition(partitions)
        e = frame_of(spark, weighted, "src string, dst string, w double").repartition(partitions)
        return (dict(map(tuple, connected_components(v, e).collect())),
                dict(map(tuple, label_propagation(v, e, iterations=4).collect())),
                dict(map(tuple, pagerank(v, e, weight="w", iterations=6).collect())))

    components, communities, ranks = answers(1)
    other_components, other_communities, other_ranks = answers(7)
    assert other_components == components
    assert other_communities == communities
    assert other_ranks == pytest.approx(ranks, abs=1e-12)
