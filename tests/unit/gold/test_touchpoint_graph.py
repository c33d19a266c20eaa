"""Touchpoint significance and motifs on a handful of session walks with hand-computed answers."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from journeylake.gold.journeys import session_journeys
from journeylake.gold.outcomes import CONVERSION, DROPOFF, START
from journeylake.gold.touchpoint_graph import motifs_of_lengths, touchpoint_significance

T0 = datetime(2026, 6, 1, 10, 0, 0)
CONVERSIONS = ("purchase", "store_purchase")
SESSION_SCHEMA = "session_id string, person_id string, start_ts timestamp, end_ts timestamp"
EVENT_SCHEMA = ("event_key string, person_id string, ts timestamp, touchpoint string, "
                "channel string, revenue decimal(18,2)")
PV, SEARCH, CART = "page_view", "search", "add_to_cart"


def walks(spark: SparkSession, *visits: tuple[str, list[str]]) -> DataFrame:
    """One session per (session_id, touchpoints), a minute between its events; a purchase in it
    is an order of 20.00."""
    sessions, events = [], []
    for i, (session_id, touchpoints) in enumerate(visits):
        start = T0 + timedelta(hours=i)
        sessions.append((session_id, f"p{i}", start, start + timedelta(minutes=len(touchpoints))))
        events += [(f"{session_id}-{k}", f"p{i}", start + timedelta(minutes=k), touchpoint,
                    "direct", Decimal("20.00") if touchpoint == "purchase" else None)
                   for k, touchpoint in enumerate(touchpoints)]
    return session_journeys(spark.createDataFrame(events, EVENT_SCHEMA),
                            spark.createDataFrame(sessions, SESSION_SCHEMA), CONVERSIONS)


@pytest.fixture(scope="module")
def five_walks(spark: SparkSession) -> DataFrame:
    # The purchase is the session's outcome, not one of its touchpoints.
    return walks(
        spark,
        ("s1", [PV, CART, "purchase"]),  # (start) > page_view > add_to_cart > (conversion)
        ("s2", [PV, SEARCH]),            # (start) > page_view > search > (dropoff)
        ("s3", [SEARCH, CART, "purchase"]),
        ("s4", [PV]),
        ("s5", [CART]),
    ).localCheckpoint()


# The transitions of the five walks, counted by hand.
TRANSITIONS = {
    (START, PV): 3, (START, SEARCH): 1, (START, CART): 1,
    (PV, CART): 1, (PV, SEARCH): 1, (PV, DROPOFF): 1,
    (SEARCH, CART): 1, (SEARCH, DROPOFF): 1,
    (CART, CONVERSION): 2, (CART, DROPOFF): 1,
}


def stationary_pagerank(transitions: dict[tuple[str, str], int], reset: float) -> dict[str, float]:
    """The fixed point of weighted PageRank (dangling vertices spread evenly), solved exactly:
    p = reset/N + (1 - reset) (W^T p + dangling(p)/N), sum(p) = 1."""
    nodes = sorted({node for edge in transitions for node in edge})
    n, at = len(nodes), {node: i for i, node in enumerate(nodes)}
    out = {src: sum(w for (s, _), w in transitions.items() if s == src) for src, _ in transitions}
    step = np.zeros((n, n))  # step[j, i]: the share of i's rank that moves to j
    for (src, dst), weight in transitions.items():
        step[at[dst], at[src]] += weight / out[src]
    for node in nodes:
        if node not in out:
            step[:, at[node]] = 1.0 / n
    ranks = np.linalg.solve(np.eye(n) - (1 - reset) * step, np.full(n, reset / n))
    return {node: float(ranks[at[node]]) for node in nodes}


def test_significance_has_removal_effect_dropoff_odds_and_flags_per_touchpoint(
    spark: SparkSession, five_walks: DataFrame
) -> None:
    found = {r.touchpoint: r for r in touchpoint_significance(
        five_walks, odds_ratio_prior=0.5, odds_ratio_min_support=3,
        outcome_stage_touchpoints=[CART]).collect()}
    assert set(found) == {PV, SEARCH, CART}
    # Conversion probability from (start), P(x) from touchpoint x: P(cart) = 2/3,
    # P(search) = 1/2 P(cart) = 1/3, P(pv) = 1/3 P(cart) + 1/3 P(search) = 1/3,
    # P(start) = 3/5 P(pv) + 1/5 P(search) + 1/5 P(cart) = 2/5 (2 of 5 walks convert).
    # Without page_view: 1/5 * 1/3 + 1/5 * 2/3 = 1/5 -> 1 - (1/5)/(2/5) = 1/2.
    # Without search: P(pv) = 1/3 * 2/3 = 2/9 -> 3/5 * 2/9 + 1/5 * 2/3 = 4/15 -> 1 - 4/6 = 1/3.
    # Without add_to_cart nothing converts -> 1.
    assert {t: r.removal_effect for t, r in found.items()} == {
        PV: pytest.approx(1 / 2), SEARCH: pytest.approx(1 / 3), CART: pytest.approx(1.0)}
    # Transitions into (dropoff) over transitions out: pv 1/3, search 1/2, cart 1/3.
    assert {t: r.dropoff_rate for t, r in found.items()} == {
        PV: pytest.approx(1 / 3), SEARCH: pytest.approx(1 / 2), CART: pytest.approx(1 / 3)}
    # 5 walks, 2 converted; a = conv with, b = not conv with, c = conv without, d = not conv
    # without, each + 0.5. pv in s1 s2 s4 (1 conv): 1.5*1.5 / (2.5*1.5) = 0.6.
    # search in s2 s3 (1 conv): 1.5*2.5 / (1.5*1.5) = 5/3. cart in s1 s3 s5 (2 conv):
    # 2.5*2.5 / (1.5*0.5) = 25/3.
    expected_odds = {PV: 0.6, SEARCH: 5 / 3, CART: 25 / 3}
    assert {t: r.odds_ratio for t, r in found.items()} == pytest.approx(expected_odds)
    assert {t: r.log_odds_ratio for t, r in found.items()} == pytest.approx(
        {t: math.log(v) for t, v in expected_odds.items()})
    assert {t: (r.journeys_with, r.converted_with) for t, r in found.items()} == {
        PV: (3, 1), SEARCH: (2, 1), CART: (3, 2)}
    assert {t: r.supported for t, r in found.items()} == {PV: True, SEARCH: False, CART: True}
    assert {t: r.outcome_stage for t, r in found.items()} == {PV: False, SEARCH: False,
                                                               CART: True}


def test_significance_pagerank_is_the_touchpoints_share_of_the_whole_graph(
    spark: SparkSession, five_walks: DataFrame
) -> None:
    found = {r.touchpoint: r.pagerank for r in touchpoint_significance(
        five_walks, 0.5, 3, [CART]).collect()}
    expected = stationary_pagerank(TRANSITIONS, reset=0.15)
    assert found == {t: pytest.approx(expected[t], abs=1e-6) for t in (PV, SEARCH, CART)}
    # (start) and the outcomes hold the rest of the rank: they are vertices, not touchpoints.
    rest = expected[START] + expected[CONVERSION] + expected[DROPOFF]
    assert rest > 0.2
    assert sum(found.values()) + rest == pytest.approx(1.0)


def test_motifs_of_each_length_are_the_runs_right_before_the_outcome(
    spark: SparkSession,
) -> None:
    email, view, cart = "email_click", "product_view", "add_to_cart"
    motifs = motifs_of_lengths(walks(
        spark,
        ("m1", ["search", view, cart, "purchase"]),
        ("m2", [email, view, cart, "purchase"]),
        ("m3", [view, cart]),         # too short for 3: (start) is not a touchpoint
        ("m4", [cart, "purchase"]),   # too short for either
        ("m5", [email, view, cart, view]),
    ))
    expected = spark.createDataFrame([
        (CONVERSION, [view, cart], 2, 2),
        (DROPOFF, [view, cart], 1, 2),
        (DROPOFF, [cart, view], 1, 2),
        (CONVERSION, ["search", view, cart], 1, 3),
        (CONVERSION, [email, view, cart], 1, 3),
        (DROPOFF, [view, cart, view], 1, 3),
    ], "outcome string, pattern array<string>, journeys long, length int")
    assert_df_equality(motifs, expected, ignore_row_order=True, ignore_nullable=True)
