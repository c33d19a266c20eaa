"""Attribution models on journeys whose right answer is worked out by hand in the comments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from journeylake.gold.attribution import (
    attribution,
    heuristic_credit,
    markov_credit,
    markov_removal_effects,
    shapley_credit,
    transition_counts,
)

CONVERTED_AT = datetime(2026, 6, 1, 12, 0, 0)
SCHEMA = ("path_id string, converted boolean, revenue decimal(18,2), conversion_ts timestamp, "
          "touches array<struct<ts: timestamp, channel: string>>")


def path(
    path_id: str,
    channels: str,
    revenue: str | None = None,
    days_before: Sequence[float] | None = None,
) -> tuple:
    """A journey through channels 'A>B>C', converted when it has a revenue. Touches are a day
    apart and the last is at the conversion time, unless days_before says when."""
    names = channels.split(">") if channels else []
    if days_before is None:
        days_before = [len(names) - 1 - i for i in range(len(names))]
    touches = [(CONVERTED_AT - timedelta(days=d), name)
               for d, name in zip(days_before, names, strict=True)]
    converted = revenue is not None
    return (path_id, converted, Decimal(revenue) if converted else None,
            CONVERTED_AT if converted else None, touches)


def paths(spark: SparkSession, *rows: tuple) -> DataFrame:
    return spark.createDataFrame(list(rows), SCHEMA)


def credits(frame: DataFrame) -> dict[tuple[str, str], tuple[float, float]]:
    return {(r.model, r.channel): (r.conversions, r.revenue) for r in frame.collect()}


def assert_credits(actual: dict, expected: dict) -> None:
    assert sorted(actual) == sorted(expected)
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value, abs=1e-9), key


def test_each_heuristic_gives_the_hand_computed_credit(spark: SparkSession) -> None:
    frame = paths(
        spark,
        path("p1", "A>B>C", "100", days_before=[14, 7, 0]),
        path("p2", "A", "50"),
        path("p3", "B>B", "10"),
        path("p4", "C"),                # not converted: no credit
        path("p5", "", "20"),           # converted without touches: nobody to credit
    )
    third = 1 / 3
    assert_credits(credits(heuristic_credit(frame, half_life_days=7)), {
        # p1 and p2 start with A, p3 with B
        ("first_touch", "A"): (2, 150), ("first_touch", "B"): (1, 10),
        ("last_touch", "C"): (1, 100), ("last_touch", "A"): (1, 50),
        ("last_touch", "B"): (1, 10),
        # p1 gives a third to each; p3's two B touches add up to all of p3
        ("linear", "A"): (third + 1, 100 * third + 50),
        ("linear", "B"): (third + 1, 100 * third + 10),
        ("linear", "C"): (third, 100 * third),
        # p1, half-life 7 days: A 14 days -> 1/4, B 7 days -> 1/2, C at conversion -> 1;
        # sum 7/4, so shares 1/7, 2/7, 4/7
        ("time_decay", "A"): (1 / 7 + 1, 100 / 7 + 50),
        ("time_decay", "B"): (2 / 7 + 1, 200 / 7 + 10),
        ("time_decay", "C"): (4 / 7, 400 / 7),
        # p1: 40% first, 20% the one middle touch, 40% last; p3: 50% + 50% to B
        ("position_based", "A"): (0.4 + 1, 40 + 50),
        ("position_based", "B"): (0.2 + 1, 20 + 10),
        ("position_based", "C"): (0.4, 40),
    })


def test_position_based_splits_the_middle_twenty_percent_evenly(spark: SparkSession) -> None:
    # A>B>C>D>A, revenue 50: A 40% + 40%, B, C, D 20% / 3 each
    frame = paths(spark, path("p1", "A>B>C>D>A", "50"))
    result = heuristic_credit(frame, 7).where("model = 'position_based'")
    assert_credits(credits(result), {
        ("position_based", "A"): (0.8, 40),
        ("position_based", "B"): (0.2 / 3, 10 / 3),
        ("position_based", "C"): (0.2 / 3, 10 / 3),
        ("position_based", "D"): (0.2 / 3, 10 / 3),
    })


def test_time_decay_halves_the_weight_one_half_life_before_conversion(
    spark: SparkSession,
) -> None:
    frame = paths(
        spark,
        # 7 days before (weight 1/2) and at conversion (weight 1): 1/3 and 2/3
        path("p1", "X>Y", "30", days_before=[7, 0]),
        # 30 and 23 days before: weights 2^(-30/7) and 2^(-23/7), still 1 : 2
        path("p2", "Z>W", "3", days_before=[30, 23]),
    )
    result = heuristic_credit(frame, half_life_days=7).where("model = 'time_decay'")
    assert_credits(credits(result), {
        ("time_decay", "X"): (1 / 3, 10), ("time_decay", "Y"): (2 / 3, 20),
        ("time_decay", "Z"): (1 / 3, 1), ("time_decay", "W"): (2 / 3, 2),
    })


def test_markov_order_1_credit_follows_the_hand_solved_chain(spark: SparkSession) -> None:
    # Paths A > conv (100), A > B > null, B > conv (50). Transitions and probabilities:
    #   start -> A 2, start -> B 1          start: A 2/3, B 1/3
    #   A -> conv 1, A -> B 1               A: conv 1/2, B 1/2
    #   B -> null 1, B -> conv 1            B: conv 1/2, null 1/2
    # p_B = 1/2, p_A = 1/2 + 1/2 * 1/2 = 3/4, P = 2/3 * 3/4 + 1/3 * 1/2 = 2/3 (2 of 3 convert).
    # Without A: start -> A goes to null, P = 1/3 * 1/2 = 1/6, RE_A = 1 - (1/6)/(2/3) = 3/4.
    # Without B: start -> B and A -> B go to null, p_A = 1/2, P = 2/3 * 1/2 = 1/3, RE_B = 1/2.
    # Sum of RE 5/4: A gets 3/5 and B 2/5 of 2 conversions and 150 revenue.
    frame = paths(spark, path("p1", "A", "100"), path("p2", "A>B"), path("p3", "B", "50"))
    rows = [("(start)", "A", 2), ("(start)", "B", 1), ("A", "(conversion)", 1), ("A", "B", 1),
            ("B", "(dropoff)", 1), ("B", "(conversion)", 1)]
    effects = markov_removal_effects(rows, order=1)
    assert effects.conversion_probability == pytest.approx(2 / 3)
    assert effects.removal_effects == pytest.approx({"A": 3 / 4, "B": 1 / 2})
    assert_credits(credits(markov_credit(frame, order=1)), {
        ("markov_order_1", "A"): (6 / 5, 90), ("markov_order_1", "B"): (4 / 5, 60),
    })


def test_removal_effects_of_a_looping_chain_are_exact_not_path_counts() -> None:
    # Paths A > B > A > conv and B > null:
    #   start -> A 1, start -> B 1, A -> B 1, B -> A 1, A -> conv 1, B -> null 1
    # p_A = 1/2 + 1/2 p_B and p_B = 1/2 p_A, so p_A = 2/3, p_B = 1/3 and
    # P = 1/2 * 2/3 + 1/2 * 1/3 = 1/2 (1 of 2 converts). Summing only the loop-free routes
    # start > A > conv (1/4) and start > B > A > conv (1/8) would give 3/8.
    # Without A: every route to conversion passes A, P = 0, RE_A = 1.
    # Without B: p_A = 1/2, P = 1/2 * 1/2 = 1/4, RE_B = 1/2.
    # Credits 2/3 and 1/3, where counting converting paths per channel would give 1/2 each.
    rows = [("(start)", "A", 1), ("(start)", "B", 1), ("A", "B", 1), ("B", "A", 1),
            ("A", "(conversion)", 1), ("B", "(dropoff)", 1)]
    effects = markov_removal_effects(rows, order=1)
    assert effects.conversion_probability == pytest.approx(1 / 2)
    assert effects.removal_effects == pytest.approx({"A": 1.0, "B": 1 / 2})


def test_markov_credit_of_a_loop_and_a_channel_that_never_converts(spark: SparkSession) -> None:
    frame = paths(
        spark,
        path("p1", "A>B>A", "30"),      # the looping chain above: A 2/3, B 1/3
        path("p2", "B"),
        path("p3", "C"),                # C only ever leads to null
        path("p4", "B>C"),
    )
    # start: A 1/4, B 2/4, C 1/4; A: B 1/2, conv 1/2; B: A 1/3, null 1/3, C 1/3; C: null 1.
    # p_C = 0, p_A = 1/2 + 1/2 p_B, p_B = 1/3 p_A -> p_A = 3/5, p_B = 1/5, P = 1/4 (1 of 4).
    # Without A: P = 0, RE_A = 1. Without B: p_A = 1/2, P = 1/8, RE_B = 1/2.
    # Without C: B -> C already ended at null, P unchanged, RE_C = 0.
    assert_credits(credits(markov_credit(frame, order=1)), {
        ("markov_order_1", "A"): (2 / 3, 20), ("markov_order_1", "B"): (1 / 3, 10),
        ("markov_order_1", "C"): (0, 0),
    })


def test_removal_effects_are_never_negative() -> None:
    # Loops, a self-loop and a direct start -> conv:
    #   start: A 3/6, B 2/6, conv 1/6     A: A 2/5, B 2/5, null 1/5     B: A 1/3, C 2/3
    #   C: conv 1/4, null 2/4, B 1/4
    # p_A = 2/5 p_A + 2/5 p_B -> p_A = 2/3 p_B; p_C = 1/4 + 1/4 p_B;
    # p_B = 1/3 p_A + 2/3 p_C = 2/9 p_B + 1/6 + 1/6 p_B -> p_B = 3/11, p_A = 2/11;
    # P = 3/6 * 2/11 + 2/6 * 3/11 + 1/6 = 23/66.
    # Without A: p_B = 2/3 p_C, p_C = 1/4 + 1/4 p_B -> p_B = 1/5, P = 2/6 * 1/5 + 1/6 = 7/30,
    #   RE_A = 1 - (7/30) / (23/66) = 38/115.
    # Without B: p_A = 2/5 p_A -> 0, P = 1/6, RE_B = 1 - (1/6) / (23/66) = 12/23.
    # Without C: p_B = 1/3 p_A and p_A = 2/3 p_B -> both 0, P = 1/6, RE_C = 12/23.
    rows = [("(start)", "A", 3), ("(start)", "B", 2), ("(start)", "(conversion)", 1),
            ("A", "A", 2), ("A", "B", 2), ("A", "(dropoff)", 1), ("B", "A", 1),
            ("B", "C", 2), ("C", "(conversion)", 1), ("C", "(dropoff)", 2), ("C", "B", 1)]
    effects = markov_removal_effects(rows, order=1)
    assert effects.conversion_probability == pytest.approx(23 / 66)
    assert effects.removal_effects == pytest.approx({"A": 38 / 115, "B": 12 / 23, "C": 12 / 23})
    assert all(0 <= effect <= 1 for effect in effects.removal_effects.values())


def test_markov_order_2_states_are_the_last_two_channels(spark: SparkSession) -> None:
    frame = paths(
        spark,
        path("p1", "A>B>A", "30"),
        path("p2", "A>B"),
        path("p3", "B"),
        path("p4", "", "5"),            # no touches: start straight to conversion
    )
    counts = transition_counts(frame, order=2)
    expected = spark.createDataFrame([
        ("(start)", "(start) > A", 2),          # p1, p2
        ("(start)", "(start) > B", 1),          # p3
        ("(start)", "(conversion)", 1),         # p4
        ("(start) > A", "A > B", 2),            # p1, p2
        ("A > B", "B > A", 1),                  # p1
        ("A > B", "(dropoff)", 1),                 # p2
        ("B > A", "(conversion)", 1),           # p1
        ("(start) > B", "(dropoff)", 1),           # p3
    ], "from_state string, to_state string, transitions long")
    assert_df_equality(counts, expected, ignore_row_order=True, ignore_nullable=True)
    # start: (start) > A 2/4, (start) > B 1/4, conv 1/4; (start) > A: A > B 1;
    # A > B: B > A 1/2, null 1/2; B > A: conv 1; (start) > B: null 1.
    # P = 2/4 * 1/2 + 1/4 = 1/2. Without A (or B) the only route left is start > conv: P = 1/4,
    # RE 1/2 for both.
    effects = markov_removal_effects(counts.collect(), order=2)
    assert effects.conversion_probability == pytest.approx(1 / 2)
    assert effects.removal_effects == pytest.approx({"A": 1 / 2, "B": 1 / 2})


def test_shapley_on_two_channels_by_hand(spark: SparkSession) -> None:
    frame = paths(
        spark,
        path("p1", "A", "100"),
        path("p2", "A", "40"),
        path("p3", "A>B", "60"),
        path("p4", "B>B", "20"),
        path("p5", "B"),                # not converted
        path("p6", "", "5"),            # no touches
    )
    # v({A}) = 2 (140), v({B}) = 1 (20), v({A, B}) = 4 (220), v({}) = 0.
    # phi_A = 1/2 (v(A) - v({})) + 1/2 (v(AB) - v(B)) = 1/2 * 2 + 1/2 * 3 = 2.5;
    #   revenue 1/2 * 140 + 1/2 * 200 = 170.
    # phi_B = 1/2 (v(B) - v({})) + 1/2 (v(AB) - v(A)) = 1/2 * 1 + 1/2 * 2 = 1.5;
    #   revenue 1/2 * 20 + 1/2 * 80 = 50.
    assert_credits(credits(shapley_credit(frame)), {
        ("shapley", "A"): (2.5, 170), ("shapley", "B"): (1.5, 50),
    })


def test_shapley_values_add_up_to_the_grand_coalition(spark: SparkSession) -> None:
    frame = paths(
        spark,
        path("p1", "A>B>C", "30"),
        path("p2", "A>C", "12"),
        path("p3", "B", "5"),
        path("p4", "C>A>C", "9"),       # the set {A, C} again
        path("p5", "C", "4"),
        path("p6", "B>C"),              # not converted
    )
    result = credits(shapley_credit(frame))
    # v({A, B, C}) = 5 conversions, 60 revenue.
    assert sum(conversions for conversions, _ in result.values()) == pytest.approx(5)
    assert sum(revenue for _, revenue in result.values()) == pytest.approx(60)
    # v is a sum of unanimity games (one per channel set), so each set's value is split evenly
    # over its channels: A 1/3 + 1/2 + 1/2, B 1/3 + 1, C 1/3 + 1/2 + 1/2 + 1;
    # revenue A 10 + 6 + 4.5, B 10 + 5, C 10 + 6 + 4.5 + 4.
    assert_credits(result, {
        ("shapley", "A"): (4 / 3, 20.5), ("shapley", "B"): (4 / 3, 15),
        ("shapley", "C"): (7 / 3, 24.5),
    })
    with pytest.raises(ValueError, match="max_channels=2"):
        shapley_credit(frame, max_channels=2)


def test_attribution_is_identical_however_the_paths_arrive(spark: SparkSession) -> None:
    rows = [
        path("p1", "A>B>C", "100.10", days_before=[14, 7, 0]),
        path("p2", "A", "50"),
        path("p3", "B>B", "10.05"),
        path("p4", "C"),
        path("p5", "A>B>A", "33.33"),
        path("p6", "B>C>A>C", "7"),
        path("p7", "", "20"),
    ]
    ordered = paths(spark, *rows).coalesce(1)
    shuffled = paths(spark, *reversed(rows)).repartition(3)
    first = sorted(tuple(r) for r in attribution(ordered, 7).collect())
    second = sorted(tuple(r) for r in attribution(shuffled, 7).collect())
    assert first == second
    models = {model for model, *_ in first}
    assert models == {"first_touch", "last_touch", "linear", "time_decay", "position_based",
                      "markov_order_1", "markov_order_2", "shapley"}
    # Every model shares out the 5 touched conversions (p7 has no touch, p4 no conversion).
    for model in models:
        assert sum(c for m, _, c, _ in first if m == model) == pytest.approx(5), model
        assert sum(r for m, _, _, r in first if m == model) == pytest.approx(200.48), model


def test_bad_arguments_are_refused_before_any_spark_work(spark: SparkSession) -> None:
    frame = paths(spark, path("p1", "A", "1"))
    with pytest.raises(ValueError, match=r"missing \['revenue'\], present \['path_id'"):
        heuristic_credit(frame.drop("revenue"), 7)
    with pytest.raises(ValueError, match="half_life_days"):
        heuristic_credit(frame, 0)
    with pytest.raises(ValueError, match="order"):
        transition_counts(frame, order=0)
    with pytest.raises(ValueError, match="order"):
        attribution(frame, 7, markov_orders=(1, 0))
    with pytest.raises(ValueError, match="touches as array<struct<ts, channel>>"):
        markov_credit(frame.withColumn("touches", frame["path_id"]), 1)
    with pytest.raises(ValueError, match="not a state of order 1"):
        markov_removal_effects([("(start)", "A > B", 1), ("A > B", "(dropoff)", 1)], order=1)
