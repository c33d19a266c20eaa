"""Stores: where they are, as a function of the store number, so any DataFrame can place a store
without a join; and the stores file (`store_id,name,city,lat,lon`).

Store n sits in city `n mod cities`, on the ring `n div cities` around the city centre. Rings are
RING_SPACING_M apart, so two stores of a city are never closer than ~400 m, and the generator's
everyday pings (see `geolocation`) stay beyond `outer_store_radius_m` + 2 km.
"""

from __future__ import annotations

import math

from pyspark.sql import DataFrame, SparkSession

from journeylake.generator.draws import uniform
from journeylake.generator.expressions import Sql, array, select
from journeylake.generator.formats import csv_line, decimal_text
from journeylake.generator.geo import full_turn, offset
from journeylake.generator.reference import CITIES, DISTRICTS

FIELDS = ("store_id", "name", "city", "lat", "lon")
HEADER = ",".join(FIELDS)
RING_FIRST_M = 400.0
RING_SPACING_M = 700.0
RING_JITTER_M = 150.0


def cities_used(n_stores: int) -> int:
    """How many cities have a store: the first `n_stores` cities, at most all of them."""
    return min(n_stores, len(CITIES))


def outer_store_radius_m(n_stores: int) -> float:
    """No store is farther than this from its city centre."""
    rings = math.ceil(n_stores / cities_used(n_stores))
    return RING_FIRST_M + RING_SPACING_M * (rings - 1) + RING_JITTER_M


def city_lat(city: Sql) -> Sql:
    """Latitude of the centre of city number `city` (an index into CITIES)."""
    return f"element_at({array(lat for _, lat, _ in CITIES)}, CAST({city} AS INT) + 1)"


def city_lon(city: Sql) -> Sql:
    """Longitude of the centre of city number `city`."""
    return f"element_at({array(lon for _, _, lon in CITIES)}, CAST({city} AS INT) + 1)"


def city_name(city: Sql) -> Sql:
    """Name of city number `city`."""
    return f"element_at({array(name for name, _, _ in CITIES)}, CAST({city} AS INT) + 1)"


def store_id(index: Sql) -> Sql:
    """`S001`.. for store index 0.."""
    return f"format_string('S%03d', CAST({index} AS INT) + 1)"


def store_city(index: Sql, n_stores: int) -> Sql:
    """The city number of store `index`."""
    return f"CAST(pmod({index}, {cities_used(n_stores)}) AS INT)"


def stores_in_city(city: Sql, n_stores: int) -> Sql:
    """How many stores city `city` has (store indexes city, city + cities, ...)."""
    return f"CAST(({n_stores - 1} - ({city})) div {cities_used(n_stores)} + 1 AS INT)"


def store_in_city(city: Sql, n: Sql, n_stores: int) -> Sql:
    """The index of the `n`-th store (0-based) of `city`."""
    return f"CAST({city} + ({n}) * {cities_used(n_stores)} AS INT)"


def store_position(seed: int, index: Sql, n_stores: int) -> tuple[Sql, Sql]:
    """Latitude and longitude of store `index`."""
    city = store_city(index, n_stores)
    ring = f"(({index}) div {cities_used(n_stores)})"
    radius = (
        f"({RING_FIRST_M}D + {ring} * {RING_SPACING_M}D"
        f" + ({uniform(seed, 'store-radius', index)} * 2 - 1) * {RING_JITTER_M}D)"
    )
    angle = full_turn(uniform(seed, "store-angle", index))
    return offset(city_lat(city), city_lon(city), radius, angle)


def build_stores(spark: SparkSession, seed: int, n_stores: int) -> DataFrame:
    """One row per store: `store_index`, `store_id`, `name`, `city`, `lat`, `lon` (doubles)."""
    index = "store_index"
    lat, lon = store_position(seed, index, n_stores)
    ring = f"(store_index div {cities_used(n_stores)})"
    district = f"element_at({array(DISTRICTS)}, CAST(pmod({ring}, {len(DISTRICTS)}) AS INT) + 1)"
    lap = f"({ring} div {len(DISTRICTS)})"
    name = (
        f"concat('JourneyLake ', {city_name(store_city(index, n_stores))}, ', ', {district},"
        f" CASE WHEN {lap} > 0 THEN concat(' ', CAST({lap} + 1 AS STRING)) ELSE '' END)"
    )
    indexed = spark.range(0, n_stores, 1, 1).selectExpr("CAST(id AS INT) AS store_index")
    return select(
        indexed,
        ["store_index"],
        {
            "store_id": store_id(index),
            "name": name,
            "city": city_name(store_city(index, n_stores)),
            "lat": lat,
            "lon": lon,
        },
    )


def store_lines(stores: DataFrame) -> DataFrame:
    """The stores file's lines (no header) as `value`. Needs the columns of `build_stores`."""
    line = csv_line(["store_id", "name", "city", decimal_text("lat", 6), decimal_text("lon", 6)])
    return select(stores, columns={"value": line})
