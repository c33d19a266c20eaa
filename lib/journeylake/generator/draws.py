"""Deterministic randomness for the generator, as SQL expressions (see `expressions`).

Every random number is a hash of the seed, a salt that names the decision and the columns that
identify the row. Unlike `rand()`, whose stream depends on how rows fall into partitions, the
same settings then give the same data on any cluster, any partitioning and any re-run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from journeylake.generator.expressions import Sql, array, lit

_PRIME = 1_000_000_007
# `opaque_id`: a Feistel network over two 30-bit halves.
_HALF_BITS = 30
_HALF_SIZE = 1 << _HALF_BITS
_HALF_MASK = _HALF_SIZE - 1
_FEISTEL_ROUNDS = 4


def uniform(seed: int, salt: str, *parts: Sql) -> Sql:
    """A DOUBLE in [0, 1) fixed by `seed`, `salt` and the values of `parts` (a row's identity)."""
    hashed = f"xxhash64({lit(seed)}, {lit(salt)}, {', '.join(parts)})"
    return f"(pmod({hashed}, {_PRIME}L) / {_PRIME}D)"


def integer_below(u: Sql, n: Sql | int) -> Sql:
    """A whole number in [0, n) chosen by `u` in [0, 1), as INT."""
    return f"CAST(floor({u} * ({n})) AS INT)"


def pick(u: Sql, options: Sequence[object]) -> Sql:
    """One of `options`, equally likely, chosen by `u` in [0, 1)."""
    if not options:
        raise ValueError("pick needs at least one option")
    return f"element_at({array(options)}, {integer_below(u, len(options))} + 1)"


def weighted_table(weights: Mapping[str, float]) -> Sql:
    """The weights as a constant `named_struct(keys, bounds)`: `bounds[i]` is the upper bound of
    key i's share of [0, 1). Used by `pick_from_table`."""
    items = [(key, weight) for key, weight in weights.items() if weight > 0]
    if not items:
        raise ValueError(f"weights need a positive weight; got {dict(weights)}")
    total = sum(weight for _, weight in items)
    bounds, cumulative = [], 0.0
    for _, weight in items[:-1]:
        cumulative += weight / total
        bounds.append(cumulative)
    # The last option takes the rest, so rounding of the bounds can never leave a gap.
    return f"named_struct('keys', {array(k for k, _ in items)}, 'bounds', {array([*bounds, 2.0])})"


def pick_from_table(u: Sql, table: Sql) -> Sql:
    """The key of a `weighted_table` whose share of [0, 1) holds `u`. `u` appears once, so a
    draw is hashed once however many options there are."""
    return (
        f"element_at(({table}).keys, "
        f"size(filter(({table}).bounds, _bound -> _bound <= {u})) + 1)"
    )


def pick_weighted(u: Sql, weights: Mapping[str, float]) -> Sql:
    """One key of `weights`, with probability proportional to its weight, chosen by `u`."""
    return pick_from_table(u, weighted_table(weights))


def opaque_id(prefix: str, number: Sql, seed: int, salt: str) -> Sql:
    """`prefix` and 16 hex digits that look random but are unique for unique `number`s.

    `number` must be a whole number in [0, 2^60). A Feistel network is a bijection whatever its
    round function, so distinct numbers can never collide, as hashes of them could: 30-bit
    halves, four rounds, xxhash64 of the seed, salt and round as the round function.
    """
    whole = f"CAST({number} AS BIGINT)"
    left, right = f"shiftright({whole}, {_HALF_BITS})", f"({whole} & {_HALF_MASK}L)"
    for round_number in range(_FEISTEL_ROUNDS):
        mixed = f"pmod(xxhash64({lit(seed)}, {lit(salt)}, {round_number}, {right}), {_HALF_SIZE}L)"
        left, right = right, f"({left} ^ {mixed})"
    scrambled = f"({left} * {_HALF_SIZE}L + {right})"
    return f"concat({lit(prefix)}, lpad(lower(hex({scrambled})), 16, '0'))"


def composite_number(*parts: tuple[Sql | int, int]) -> Sql:
    """Pack whole numbers into one BIGINT: `((p1 * 2^b2 + p2) * 2^b3 + p3) ...`.

    Each part comes with the number of bits it may use (the first part's are not needed); the
    caller keeps each part below 2^bits, which makes the packed number unique per combination.
    """
    if not parts:
        raise ValueError("composite_number needs at least one part")
    packed = f"CAST({parts[0][0]} AS BIGINT)"
    for value, bits in parts[1:]:
        packed = f"({packed} * {1 << bits}L + CAST({value} AS BIGINT))"
    return packed
