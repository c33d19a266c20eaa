"""Multi-touch attribution: which channels get the credit for the conversions of journeys.

Input `paths`, one row per journey: `path_id`, `converted` (boolean; NULL counts as false),
`revenue` (decimal(18,2); NULL counts as 0), `conversion_ts`, `touches`
(array<struct<ts, channel>>, in ts order, already cut to the lookback window; may be empty).
A touch with a NULL channel is credited to the channel `(unknown)`, so no credit goes missing.

Every model answers with the same columns (`ATTRIBUTION_COLUMNS`): `model`, `channel`,
`conversions` (double, the fractional conversions credited) and `revenue` (double: the credit
share times the path's revenue; fractional credit is not an amount of money, and rounding each
share to cents would break the sum). What is shared out in every model is the conversions and
revenue of the converted paths with at least one touch, so the models are comparable:
- heuristics (`heuristic_credit`): first touch, last touch, linear, time decay, position based,
  computed in Spark with higher-order functions, no Python UDF and no collect;
- Markov removal effects of order k (`markov_credit`): Anderl, Becker, von Wangenheim and
  Schumann (2016), "Mapping the customer journey: lessons learned from graph-based online
  attribution modeling". The transition counts are aggregated in Spark; only that table, bounded
  by the number of states (channels^k), reaches the driver, where the absorbing chain is solved
  exactly with numpy;
- Shapley values (`shapley_credit`) of the game "conversions of the converted paths whose set of
  channels is within the coalition"; the paths are aggregated per channel set in Spark (at most
  2^channels rows) and the values computed exactly on the driver.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StructType

from journeylake.core.columns import require_columns
from journeylake.gold.outcomes import CONVERSION, DROPOFF, START

ATTRIBUTION_COLUMNS = ("model", "channel", "conversions", "revenue")
ATTRIBUTION_SCHEMA = "model string, channel string, conversions double, revenue double"
HEURISTIC_MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based")
SHAPLEY_MODEL = "shapley"
UNKNOWN_CHANNEL = "(unknown)"
STATE_SEPARATOR = " > "
TRANSITION_COLUMNS = ("from_state", "to_state", "transitions")

# Float noise of the linear solves; a removal effect within this of 0 (or 1) is 0 (or 1).
_TOLERANCE = 1e-9
_MICROS_PER_DAY = 86_400 * 1_000_000
# Decimal sums are exact and so independent of partitioning and row order; double sums are not.
_SHARE_TYPE = "decimal(38,18)"
_AMOUNT_TYPE = "decimal(38,10)"


def markov_model(order: int) -> str:
    """The `model` value of the Markov credit of this order: `markov_order_<k>`."""
    return f"markov_order_{order}"


def _require_paths(paths: DataFrame, columns: tuple[str, ...], what: str) -> None:
    require_columns(paths, columns, what)
    if "touches" in columns:
        touches = paths.schema["touches"].dataType
        fields = (touches.elementType.fieldNames()
                  if isinstance(touches, ArrayType) and isinstance(touches.elementType, StructType)
                  else [])
        if not {"ts", "channel"} <= set(fields):
            raise ValueError(f"{what} needs touches as array<struct<ts, channel>>, "
                             f"got {touches.simpleString()}")


def _check_order(order: int) -> None:
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"order must be an integer of at least 1, got {order!r}")


def _check_half_life(half_life_days: float) -> None:
    if not (math.isfinite(half_life_days) and half_life_days > 0):
        raise ValueError(f"half_life_days must be a positive number, got {half_life_days!r}")


def _check_max_channels(max_channels: int) -> None:
    if isinstance(max_channels, bool) or not isinstance(max_channels, int) or max_channels < 1:
        raise ValueError(f"max_channels must be an integer of at least 1, got {max_channels!r}")


def _converted() -> Column:
    return F.coalesce(F.col("converted"), F.lit(False))


def _revenue() -> Column:
    return F.coalesce(F.col("revenue"), F.lit(0)).cast("decimal(18,2)")


def _channels() -> Column:
    """The path's channels in touch order; a NULL `touches` is an empty path."""
    channels = F.transform("touches", lambda t: F.coalesce(t["channel"], F.lit(UNKNOWN_CHANNEL)))
    return F.coalesce(channels, F.array().cast("array<string>"))


def _attributed(paths: DataFrame) -> DataFrame:
    """The paths whose conversion is shared out: converted, at least one touch."""
    return paths.where(_converted() & (F.coalesce(F.size("touches"), F.lit(0)) > 0))


def _credit(model: str, channel: Column, share: Column) -> Column:
    return F.struct(F.lit(model).alias("model"), channel.alias("channel"),
                    share.cast("double").alias("share"))


def heuristic_credit(paths: DataFrame, half_life_days: float) -> DataFrame:
    """ATTRIBUTION_COLUMNS for the models in HEURISTIC_MODELS; `revenue` is a double.

    paths: converted, revenue, touches (ts, channel). Only converted paths with at least one
    touch count; each shares one conversion and its revenue out over its touches:
    - first_touch / last_touch: all of it to the first / last touch in array order;
    - linear: 1/n to each of the n touches;
    - time_decay: touch weight 2^(-(conversion_ts - ts) / half_life) normalised over the path;
    - position_based: one touch 100%, two touches 50/50, three or more 40% to the first, 40% to
      the last and 20% split evenly over the ones between.
    A channel touched several times in a path gets the sum of its touches' shares. Positions are
    the array's (ts order), never an aggregate's.

    The time-decay weights are computed relative to the path's latest touch,
    2^(-(latest_ts - ts) / half_life): after normalisation that is the same share (the factor
    2^(-(conversion_ts - latest_ts) / half_life) cancels), it cannot underflow to 0/0 for old
    paths, and so conversion_ts is not needed. Touch ts must not be NULL.
    """
    _require_paths(paths, ("converted", "revenue", "touches"), "heuristic_credit")
    _check_half_life(half_life_days)
    touches = F.col("_touches")
    n = F.size(touches)
    normalised = F.transform(
        "touches",
        lambda t: F.struct(
            t["ts"].alias("ts"),
            F.coalesce(t["channel"], F.lit(UNKNOWN_CHANNEL)).alias("channel"),
        ),
    )
    latest = F.unix_micros(F.array_max(F.transform(touches, lambda t: t["ts"])))
    weights = F.transform(
        touches,
        lambda t: F.pow(
            F.lit(2.0),
            -(F.col("_latest") - F.unix_micros(t["ts"]))
            / F.lit(half_life_days * _MICROS_PER_DAY),
        ),
    )
    weight_sum = F.aggregate("_weights", F.lit(0.0), lambda total, w: total + w)

    def position_share(i: Column) -> Column:
        return (
            F.when(n == 1, F.lit(1.0))
            .when(n == 2, F.lit(0.5))
            .when((i == 0) | (i == n - 1), F.lit(0.4))
            .otherwise(F.lit(0.2) / (n - 2))
        )

    credits = F.concat(
        F.array(_credit("first_touch", touches[0]["channel"], F.lit(1.0))),
        F.array(_credit("last_touch", F.element_at(touches, -1)["channel"], F.lit(1.0))),
        F.transform(touches, lambda t: _credit("linear", t["channel"], F.lit(1.0) / n)),
        F.transform(
            touches,
            lambda t, i: _credit("time_decay", t["channel"], F.col("_weights")[i] / weight_sum),
        ),
        F.transform(
            touches, lambda t, i: _credit("position_based", t["channel"], position_share(i))
        ),
    )
    shares = (
        _attributed(paths)
        .select(normalised.alias("_touches"), _revenue().cast("double").alias("_revenue"))
        .withColumn("_latest", latest)
        .withColumn("_weights", weights)
        .select("_revenue", F.explode(credits).alias("_credit"))
    )
    return shares.groupBy(
        F.col("_credit.model").alias("model"), F.col("_credit.channel").alias("channel")
    ).agg(
        F.sum(F.col("_credit.share").cast(_SHARE_TYPE)).cast("double").alias("conversions"),
        F.sum((F.col("_credit.share") * F.col("_revenue")).cast(_AMOUNT_TYPE))
        .cast("double").alias("revenue"),
    )


def _transitions(paths: DataFrame, order: int) -> DataFrame:
    """from_state, to_state, transitions, revenue (the paths' revenue summed on the transitions
    into the conversion, 0 elsewhere)."""
    channels = F.col("_channels")
    padded = F.concat(F.array_repeat(F.lit(START), order - 1), channels)
    states = F.transform(
        channels, lambda _, i: F.array_join(F.slice(padded, i + 1, order), STATE_SEPARATOR)
    )
    outcome = F.when(_converted(), F.lit(CONVERSION)).otherwise(F.lit(DROPOFF))
    sequence = F.concat(F.array(F.lit(START)), states, F.array(outcome))
    length = F.size("_sequence")
    steps = F.zip_with(
        F.slice("_sequence", 1, length - 1),
        F.slice("_sequence", 2, length - 1),
        lambda from_state, to_state: F.struct(from_state.alias("from_state"),
                                              to_state.alias("to_state")),
    )
    return (
        paths.select(_channels().alias("_channels"), _converted().alias("converted"),
                     _revenue().alias("_revenue"))
        .select(sequence.alias("_sequence"), "_revenue")
        .select(F.explode(steps).alias("_step"), "_revenue")
        .groupBy(F.col("_step.from_state").alias("from_state"),
                 F.col("_step.to_state").alias("to_state"))
        .agg(
            F.count(F.lit(1)).alias("transitions"),
            F.sum(F.when(F.col("_step.to_state") == CONVERSION, F.col("_revenue"))
                  .otherwise(F.lit(0).cast("decimal(18,2)"))).alias("revenue"),
        )
    )


def transition_counts(paths: DataFrame, order: int = 1) -> DataFrame:
    """TRANSITION_COLUMNS: how often the journeys moved between the states of a Markov chain of
    this order. paths: converted, touches (channel).

    A state is the tuple of the last `order` channels joined with ' > ', padded at the front with
    '(start)' while the path is shorter (order 2: '(start) > A', then 'A > B'). Each path goes
    '(start)' -> its states -> '(conversion)' if converted else '(dropoff)'; a path without touches
    goes from '(start)' straight to its outcome. Repeats are kept (A > A is a self-loop, which the
    exact solution handles). At most channels^order states, so the result is small.
    Channel names must not contain ' > ' nor be '(start)', '(conversion)' or '(dropoff)'.
    """
    _require_paths(paths, ("converted", "touches"), "transition_counts")
    _check_order(order)
    return _transitions(paths, order).select(*TRANSITION_COLUMNS)


@dataclass(frozen=True)
class MarkovRemovalEffects:
    """The exact conversion probability from '(start)' and each channel's removal effect
    (in [0, 1]), channels in sorted order."""

    order: int
    conversion_probability: float
    removal_effects: dict[str, float]


def _state_channels(state: str, order: int) -> list[str]:
    """The channels of a non-start state; refuses names the state encoding cannot carry."""
    parts = state.split(STATE_SEPARATOR)
    padding = 0
    while padding < len(parts) and parts[padding] == START:
        padding += 1
    channels = parts[padding:]
    if (len(parts) != order or not channels or START in channels
            or CONVERSION in parts or DROPOFF in parts):
        raise ValueError(
            f"state {state!r} is not a state of order {order}: channel names must not contain "
            f"{STATE_SEPARATOR!r} nor be {START!r}, {CONVERSION!r} or {DROPOFF!r}")
    return channels


def markov_removal_effects(
    counts_rows: Iterable[Sequence], order: int
) -> MarkovRemovalEffects:
    """Removal effects from a collected transition table (rows of from_state, to_state,
    transitions, as `transition_counts` gives them; any further fields are ignored).

    The chain's transient states are '(start)' and the channel states, its absorbing states
    '(conversion)' and '(dropoff)'. The probability of conversion from each transient state solves
    (I - Q) p = r, Q the transient-to-transient and r the to-conversion transition
    probabilities: exact, loops included (A > B > A > conversion), no simulation and no path
    enumeration. Removing channel c sends every transition into a state containing c to
    '(dropoff)' instead; RE_c = 1 - P_without_c / P, and 0 for every channel when P is 0.
    Removing states can only lower P, so RE_c is in [0, 1]; float noise within 1e-9 is rounded
    to the bound, anything beyond is a bug and raises.
    """
    _check_order(order)
    counts: dict[tuple[str, str], int] = {}
    for row in counts_rows:
        from_state, to_state, transitions = row[0], row[1], row[2]
        if from_state in (CONVERSION, DROPOFF) or to_state == START:
            raise ValueError(f"transition {from_state!r} -> {to_state!r}: '(conversion)' and "
                             f"'(dropoff)' are absorbing and nothing leads into '(start)'")
        if transitions is None or transitions < 0:
            raise ValueError(f"transition {from_state!r} -> {to_state!r} has count "
                             f"{transitions!r}")
        counts[(from_state, to_state)] = counts.get((from_state, to_state), 0) + int(transitions)
    transient = sorted({START} | {state for pair in counts for state in pair}
                       - {CONVERSION, DROPOFF})
    index = {state: i for i, state in enumerate(transient)}
    state_channels = {state: set(_state_channels(state, order))
                      for state in transient if state != START}
    channels = sorted({channel for parts in state_channels.values() for channel in parts})

    size = len(transient)
    conversion, dropoff = size, size + 1
    column = {**index, CONVERSION: conversion, DROPOFF: dropoff}
    matrix = np.zeros((size, size + 2))
    for (from_state, to_state), transitions in sorted(counts.items()):
        matrix[index[from_state], column[to_state]] += transitions
    outgoing = matrix.sum(axis=1, keepdims=True)
    # A state without outgoing transitions converts with probability 0 (its row stays 0).
    probabilities = np.divide(matrix, outgoing, out=np.zeros_like(matrix), where=outgoing > 0)

    def conversion_probability(removed: list[int]) -> float:
        chain = probabilities.copy()
        chain[:, dropoff] += chain[:, removed].sum(axis=1)
        chain[:, removed] = 0.0
        try:
            converts = np.linalg.solve(np.eye(size) - chain[:, :size], chain[:, conversion])
        except np.linalg.LinAlgError as error:
            raise ValueError("the transition table has states from which no path is absorbed; "
                             "is it a complete transition_counts table?") from error
        return float(converts[index[START]])

    overall = min(max(conversion_probability([]), 0.0), 1.0)
    effects: dict[str, float] = {}
    for channel in channels:
        if overall <= _TOLERANCE:
            effects[channel] = 0.0
            continue
        removed = [index[state] for state, parts in state_channels.items() if channel in parts]
        effect = 1.0 - conversion_probability(removed) / overall
        if effect < -_TOLERANCE or effect > 1.0 + _TOLERANCE:
            raise ArithmeticError(f"removal effect of {channel!r} is {effect}, outside [0, 1]")
        effects[channel] = (0.0 if effect <= _TOLERANCE
                            else 1.0 if effect >= 1.0 - _TOLERANCE else effect)
    return MarkovRemovalEffects(order, overall, effects)


def markov_credit(paths: DataFrame, order: int = 1) -> DataFrame:
    """ATTRIBUTION_COLUMNS with model `markov_order_<order>`: channel c gets
    conversions x RE_c / sum(RE) and revenue x RE_c / sum(RE), where conversions and revenue are
    those of the converted paths with at least one touch (the conversions on the transitions
    from a channel state into '(conversion)'). Every channel of the chain has a row, 0 when it
    has no removal effect; all 0 when no removal effect is positive.

    paths: converted, revenue, touches (channel). Runs one Spark job: the transition table
    (with the revenue of each transition into the conversion) is the only collected data.
    """
    _require_paths(paths, ("converted", "revenue", "touches"), "markov_credit")
    _check_order(order)
    rows = sorted(tuple(row) for row in _transitions(paths, order).collect())
    effects = markov_removal_effects(rows, order)
    attributed = [row for row in rows if row[1] == CONVERSION and row[0] != START]
    conversions = float(sum(row[2] for row in attributed))
    revenue = float(sum((row[3] for row in attributed), Decimal(0)))
    total_effect = math.fsum(effects.removal_effects.values())
    credits = [
        (markov_model(order), channel,
         conversions * effect / total_effect if total_effect > 0 else 0.0,
         revenue * effect / total_effect if total_effect > 0 else 0.0)
        for channel, effect in effects.removal_effects.items()
    ]
    return paths.sparkSession.createDataFrame(credits, ATTRIBUTION_SCHEMA)


def _shapley_values(values: np.ndarray, players: int) -> np.ndarray:
    """Exact Shapley values, one row per player, of the game whose coalition S (a bit mask over
    the players) is worth the sum of `values[T]` over T within S; `values` has one row per mask
    and one column per quantity (conversions, revenue)."""
    worth = values.astype(float).copy()
    for player in range(players):
        # Subset sums, one player at a time: the masks with the player's bit also collect the
        # worth of the same masks without it.
        halves = worth.reshape(2 ** (players - player - 1), 2, 2 ** player, worth.shape[1])
        halves[:, 1] += halves[:, 0]
    masks = np.arange(2 ** players)
    sizes = np.zeros(2 ** players, dtype=int)
    for player in range(players):
        sizes += (masks >> player) & 1
    # |S|! (n - |S| - 1)! / n!: the chance that exactly S precedes the player in a random order.
    weights = np.array([
        math.factorial(size) * math.factorial(players - size - 1) / math.factorial(players)
        for size in range(players)
    ])
    shapley = np.zeros((players, worth.shape[1]))
    for player in range(players):
        without = masks[((masks >> player) & 1) == 0]
        gains = worth[without | (1 << player)] - worth[without]
        shapley[player] = (weights[sizes[without]][:, None] * gains).sum(axis=0)
    return shapley


def shapley_credit(paths: DataFrame, max_channels: int = 15) -> DataFrame:
    """ATTRIBUTION_COLUMNS with model `shapley`: exact Shapley values of the coalition value
    v(S) = the conversions (and, separately, the revenue) of the converted paths whose set of
    distinct channels is a subset of S. Paths without touches are left out, so v({}) = 0 and the
    values sum to the total conversions (revenue) of the converted paths with a touch.

    paths: converted, revenue, touches (channel). The players are the channels of those paths.
    Spark aggregates the paths per channel set; at most 2^max_channels sets are collected, and
    more than max_channels channels raise ValueError before any value is computed (the driver
    works over all 2^channels coalitions).
    """
    _require_paths(paths, ("converted", "revenue", "touches"), "shapley_credit")
    _check_max_channels(max_channels)
    channel_sets = (
        _attributed(paths)
        .groupBy(F.array_sort(F.array_distinct(_channels())).alias("channel_set"))
        .agg(F.count(F.lit(1)).alias("conversions"), F.sum(_revenue()).alias("revenue"))
    )
    limit = 2 ** max_channels
    rows = sorted((tuple(row.channel_set), row.conversions, row.revenue)
                  for row in channel_sets.limit(limit).collect())
    channels = sorted({channel for channel_set, _, _ in rows for channel in channel_set})
    if len(rows) >= limit or len(channels) > max_channels:
        found = f"{len(channels)}" if len(rows) < limit else f"more than {max_channels}"
        raise ValueError(f"shapley_credit computes over all coalitions of channels and allows "
                         f"at most max_channels={max_channels} channels; the converted paths "
                         f"have {found}")
    bit = {channel: 1 << i for i, channel in enumerate(channels)}
    values = np.zeros((2 ** len(channels), 2))
    for channel_set, conversions, revenue in rows:
        mask = sum(bit[channel] for channel in channel_set)
        values[mask] += (conversions, float(revenue))
    shapley = _shapley_values(values, len(channels))
    credits = [(SHAPLEY_MODEL, channel, float(shapley[i, 0]), float(shapley[i, 1]))
               for i, channel in enumerate(channels)]
    return paths.sparkSession.createDataFrame(credits, ATTRIBUTION_SCHEMA)


def attribution(
    paths: DataFrame,
    half_life_days: float,
    markov_orders: Sequence[int] = (1, 2),
    max_channels: int = 15,
) -> DataFrame:
    """ATTRIBUTION_COLUMNS of every model: the heuristics, Markov of each order in
    `markov_orders`, and Shapley. paths: converted, revenue, touches (ts, channel).

    The Markov and Shapley models run their (small) Spark jobs when this is called; the
    heuristics stay lazy. The same paths give the same numbers on every run, however they are
    partitioned or ordered: Spark sums are exact decimals and the driver works on sorted rows.
    Row order is unspecified.
    """
    _require_paths(paths, ("converted", "revenue", "touches"), "attribution")
    _check_half_life(half_life_days)
    for order in markov_orders:
        _check_order(order)
    if len(set(markov_orders)) != len(markov_orders):
        raise ValueError(f"markov_orders must not repeat an order, got {list(markov_orders)}")
    _check_max_channels(max_channels)
    result = heuristic_credit(paths, half_life_days).select(*ATTRIBUTION_COLUMNS)
    for order in markov_orders:
        result = result.unionByName(markov_credit(paths, order))
    return result.unionByName(shapley_credit(paths, max_channels))
