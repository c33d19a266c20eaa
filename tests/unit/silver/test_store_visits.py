"""Pings to store visits: the geofence, the grid that avoids comparing every ping with every
store, and the runs of pings that make a visit.

Expected values come from plain Python (a destination-point formula, a brute-force haversine,
hashlib), never from the code under test.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake.silver.store_visits import (
    STORE_VISITS_SCHEMA,
    grid_cell,
    nearest_store,
    store_visits,
    visits_from_pings,
)

EARTH_RADIUS_M = 6_371_008.8
PINGS_DDL = "device_id string, lat double, lon double, ts timestamp"
STORES_DDL = "store_id string, lat double, lon double"
TAGGED_DDL = f"{PINGS_DDL}, store_id string, distance_m double"
# Tagged pings as store_visits receives them (the distance is not needed there).
VISIT_INPUT_DDL = f"{PINGS_DDL}, store_id string"
T0 = datetime(2026, 7, 1, 10, 0, 0, tzinfo=timezone.utc)


# --- plain-Python geometry, independent of the code under test --------------------------------


def destination(lat: float, lon: float, bearing_deg: float, metres: float) -> tuple[float, float]:
    """The point `metres` away from (lat, lon) along the initial bearing, on the sphere."""
    phi1, lambda1, theta = math.radians(lat), math.radians(lon), math.radians(bearing_deg)
    delta = metres / EARTH_RADIUS_M
    phi2 = math.asin(
        math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta)
    )
    lambda2 = lambda1 + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi1),
        math.cos(delta) - math.sin(phi1) * math.sin(phi2),
    )
    lon2 = (math.degrees(lambda2) + 540.0) % 360.0 - 180.0
    return math.degrees(phi2), lon2


def haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dphi = math.radians(lat2 - lat1)
    dlambda = math.radians(lon2 - lon1)
    a = (
        math.sin(dphi / 2) ** 2
        + math.cos(math.radians(lat1)) * math.cos(math.radians(lat2)) * math.sin(dlambda / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


def row_height(radius_m: float) -> float:
    return 2 * radius_m / 111_320


def row_of(lat: float, radius_m: float) -> int:
    return math.floor((lat + 90) / row_height(radius_m))


def column_width(row: int, radius_m: float) -> float:
    """A row holds a whole number of columns, each at least 2R/111_320/cos(row centre) wide."""
    height = row_height(radius_m)
    centre = min(max(-90 + (row + 0.5) * height, -90.0), 90.0)
    return 360 / max(1, math.floor(360 * math.cos(math.radians(centre)) / height))


def column_of(lon: float, row: int, radius_m: float) -> int:
    return math.floor((lon + 180) / column_width(row, radius_m))


def row_boundary_near(lat: float, radius_m: float) -> float:
    return -90 + round((lat + 90) / row_height(radius_m)) * row_height(radius_m)


def column_boundary_near(lon: float, row: int, radius_m: float) -> float:
    width = column_width(row, radius_m)
    return -180 + round((lon + 180) / width) * width


def metres_to_lon(metres: float, lat: float) -> float:
    return math.degrees(metres / (EARTH_RADIUS_M * math.cos(math.radians(lat))))


def metres_to_lat(metres: float) -> float:
    return math.degrees(metres / EARTH_RADIUS_M)


# --- helpers --------------------------------------------------------------------------------


def pings_frame(
    spark: SparkSession, points: list[tuple[str, float | None, float | None]]
) -> DataFrame:
    """Pings a minute apart from (name, lat, lon); the name goes into `device_id`, so a failing
    row says which case it is."""
    rows = [
        (name, lat, lon, T0 + timedelta(minutes=i)) for i, (name, lat, lon) in enumerate(points)
    ]
    return spark.createDataFrame(rows, PINGS_DDL)


def tagged_frame(
    spark: SparkSession,
    points: list[tuple[str, float | None, float | None]],
    matches: list[tuple[str | None, float | None]],
) -> DataFrame:
    rows = [
        (name, lat, lon, T0 + timedelta(minutes=i), store, distance)
        for i, ((name, lat, lon), (store, distance)) in enumerate(zip(points, matches, strict=True))
    ]
    return spark.createDataFrame(rows, TAGGED_DDL)


def cells_of(
    spark: SparkSession, points: list[tuple[float, float]], radius_m: float
) -> list[tuple[int, int]]:
    frame = spark.createDataFrame(points, "lat double, lon double")
    row, col = grid_cell(F.col("lat"), F.col("lon"), radius_m)
    return [(r[0], r[1]) for r in frame.select(row, col).collect()]


@contextmanager
def spark_conf(spark: SparkSession, key: str, value: str) -> Iterator[None]:
    before = spark.conf.get(key)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        spark.conf.set(key, before)


def at(minutes: float, day: date = date(2026, 7, 1), hour: int = 10) -> datetime:
    start = datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)
    return start + timedelta(seconds=round(minutes * 60))


def expected_visit_id(device: str, store: str, start: datetime) -> str:
    micros = int(start.timestamp()) * 1_000_000 + start.microsecond
    text = f"{device}\x1f{store}\x1f{micros}"
    return "sv_" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def visit(device: str, store: str, start: datetime, end: datetime, pings: int) -> tuple[Any, ...]:
    dwell = (end - start).total_seconds() / 60
    start_date = start.astimezone(timezone.utc).date()
    return (
        expected_visit_id(device, store, start),
        device,
        store,
        start,
        end,
        dwell,
        pings,
        start_date,
    )


def visits_frame(spark: SparkSession, visits: list[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame(visits, STORE_VISITS_SCHEMA)


def visit_input(spark: SparkSession, rows: list[tuple[str, datetime, str | None]]) -> DataFrame:
    """Tagged pings from (device, ts, store); positions only order same-time pings."""
    return spark.createDataFrame(
        [(device, 0.0, 0.0, ts, store) for device, ts, store in rows], VISIT_INPUT_DDL
    )


def assert_visits(actual: DataFrame, expected: DataFrame) -> None:
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


# --- nearest_store: the geofence -------------------------------------------------------------


def test_a_ping_a_metre_inside_the_radius_matches_and_a_metre_outside_does_not(
    spark: SparkSession,
) -> None:
    radius = 100.0
    # Paris and 60 degrees north, where a degree of longitude is half as long.
    sites = {"paris": (48.8566, 2.3522), "oslo": (60.0, 10.75)}
    stores = spark.createDataFrame([(name, *at) for name, at in sites.items()], STORES_DDL)
    points, matches = [], []
    for name, (lat, lon) in sites.items():
        for bearing in (0.0, 90.0):
            for metres, match in ((radius - 1, (name, radius - 1)), (radius + 1, (None, None))):
                ping = destination(lat, lon, bearing, metres)
                points.append((f"{name}-{bearing}-{metres}", *ping))
                matches.append(match)
    assert_approx_df_equality(
        nearest_store(pings_frame(spark, points), stores, radius),
        tagged_frame(spark, points, matches),
        precision=1e-6,
        ignore_row_order=True,
        ignore_nullable=True,
    )


def straddling_pair(case: str, lat: float, lon: float, radius: float) -> tuple[tuple, tuple]:
    """A store and a ping 60 m apart (well within `radius`) deliberately put into different grid
    cells: across a row boundary, a column boundary, or both (diagonal neighbours)."""
    if case == "row":
        boundary = row_boundary_near(lat, radius)
        store = (boundary + metres_to_lat(30), lon)
        ping = destination(*store, 180.0, 60.0)
    elif case == "column":
        centre_row = row_of(lat, radius)
        centre = -90 + (centre_row + 0.5) * row_height(radius)
        boundary = column_boundary_near(lon, centre_row, radius)
        store = (centre, boundary - metres_to_lon(30, centre))
        ping = destination(*store, 90.0, 60.0)
    else:
        # The store sits just north of a row boundary and just west of a column boundary of the
        # row below, whose columns are a different width: the ping lies south-east, across both.
        boundary = row_boundary_near(lat, radius)
        store_lat = boundary + metres_to_lat(20)
        below = row_of(boundary - metres_to_lat(20), radius)
        column_boundary = column_boundary_near(lon, below, radius)
        store = (store_lat, column_boundary - metres_to_lon(20, store_lat))
        ping = destination(*store, 135.0, 60.0)
    return store, ping


def test_a_store_and_a_ping_in_neighbouring_grid_cells_still_match(spark: SparkSession) -> None:
    radius = 100.0
    stores, points, store_cells, ping_cells = [], [], [], []
    # Near the equator, in Paris and at 60 degrees north; cases a few km apart, out of each
    # other's reach.
    for lat, lon in ((0.4, 3.3), (48.8566, 2.3522), (60.0, 10.75)):
        for i, case in enumerate(("row", "column", "diagonal")):
            store, ping = straddling_pair(case, lat, lon + 0.1 * i, radius)
            store_row, ping_row = row_of(store[0], radius), row_of(ping[0], radius)
            store_cell = (store_row, column_of(store[1], store_row, radius))
            ping_cell = (ping_row, column_of(ping[1], ping_row, radius))
            # Each case is what it claims to be by the cell formula.
            if case == "row":
                assert ping_cell[0] == store_cell[0] - 1
            elif case == "column":
                assert ping_cell == (store_cell[0], store_cell[1] + 1)
            else:
                assert ping_cell[0] == store_cell[0] - 1
                assert ping_cell[1] == column_of(store[1], ping_cell[0], radius) + 1
            stores.append((f"{case}@{lat}", *store))
            points.append((f"{case}@{lat}", *ping))
            store_cells.append(store_cell)
            ping_cells.append(ping_cell)
    # ... and by the module's own grid, so the cases cannot silently stop straddling.
    both = [p for pair in zip(stores, points, strict=True) for p in pair]
    assert cells_of(spark, [(lat, lon) for _, lat, lon in both], radius) == [
        c for pair in zip(store_cells, ping_cells, strict=True) for c in pair
    ]
    stores_frame = spark.createDataFrame(stores, STORES_DDL)
    assert_approx_df_equality(
        nearest_store(pings_frame(spark, points), stores_frame, radius),
        tagged_frame(spark, points, [(name, 60.0) for name, _, _ in points]),
        precision=1e-6,
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_the_grid_finds_exactly_the_brute_force_nearest_store_everywhere(
    spark: SparkSession,
) -> None:
    """Random pings around stores at the equator, 60 and 85 degrees, across the antimeridian and
    beside the north pole, against a brute-force nearest store within the radius."""
    radius = 200.0
    rng = random.Random(20260701)
    stores = [
        ("eq", 0.0, 0.0),
        ("eq2", 0.001, 0.002),
        ("n60", 60.0, 10.75),
        ("n60b", 60.0015, 10.7525),
        ("n85", 85.0, -40.0),
        ("fiji", -16.8, 179.9995),
        ("fiji2", -16.8005, -179.999),
        ("pole", 89.9995, 12.0),
        ("pole2", 89.999, -170.0),
    ]
    points = []
    for i in range(400):
        _, lat, lon = stores[i % len(stores)]
        ping = destination(lat, lon, rng.uniform(0, 360), rng.uniform(0, 2.5 * radius))
        points.append((f"p{i}", *ping))

    def brute_force(lat: float, lon: float) -> str | None:
        near = sorted((haversine(lat, lon, s_lat, s_lon), s) for s, s_lat, s_lon in stores)
        within = [(d, s) for d, s in near if d <= radius]
        return within[0][1] if within else None

    # Floating-point differences between Python and the JVM only matter within a hair of the
    # radius or of a tie; leave such pings out so that the comparison is exact.
    def clear_cut(lat: float, lon: float) -> bool:
        distances = sorted(haversine(lat, lon, s_lat, s_lon) for _, s_lat, s_lon in stores)
        return all(abs(d - radius) > 1e-6 for d in distances) and distances[1] - distances[0] > 1e-6

    points = [p for p in points if clear_cut(p[1], p[2])]
    assert len(points) > 390
    expected = {name: brute_force(lat, lon) for name, lat, lon in points}
    assert sum(store is not None for store in expected.values()) > 150
    assert sum(store is None for store in expected.values()) > 100
    assert {"fiji", "fiji2", "pole", "pole2", "n85"} <= set(expected.values())

    tagged = nearest_store(
        pings_frame(spark, points), spark.createDataFrame(stores, STORES_DDL), radius
    )
    actual = {row["device_id"]: row["store_id"] for row in tagged.collect()}
    assert actual == expected


def test_the_nearer_of_two_stores_wins_and_a_tie_goes_to_the_smaller_store_id(
    spark: SparkSession,
) -> None:
    radius = 100.0
    lat, lon = 48.5, 2.25
    near, far = destination(lat, lon, 0.0, 30.0), destination(lat, lon, 180.0, 60.0)
    # Mirrored east and west by an exactly representable offset: an exact tie in distance.
    offset = 2.0**-12
    stores = spark.createDataFrame(
        [
            ("z-near", *near),
            ("a-far", *far),
            ("tie-b", 10.5, 20.25),
            ("tie-a", 10.5, 20.25),
            ("mirror-d", 30.5, 40.25 + offset),
            ("mirror-c", 30.5, 40.25 - offset),
        ],
        STORES_DDL,
    )
    points = [
        ("nearest", lat, lon),
        ("same-spot", *destination(10.5, 20.25, 45.0, 40.0)),
        ("mirrored", 30.5, 40.25),
    ]
    matches = [
        ("z-near", 30.0),
        ("tie-a", 40.0),
        ("mirror-c", haversine(30.5, 40.25, 30.5, 40.25 - offset)),
    ]
    assert_approx_df_equality(
        nearest_store(pings_frame(spark, points), stores, radius),
        tagged_frame(spark, points, matches),
        precision=1e-6,
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_every_ping_is_kept_once_and_pings_near_no_store_get_null(spark: SparkSession) -> None:
    radius = 100.0
    stores = spark.createDataFrame(
        [("s1", 48.85, 2.35), ("s2", *destination(48.85, 2.35, 90.0, 50.0)), ("s3", None, 2.0)],
        STORES_DDL,
    )
    near = destination(48.85, 2.35, 270.0, 10.0)
    points = [
        ("twice", *near),
        ("twice", *near),
        ("far", -33.86, 151.21),
        ("no-position", None, None),
        ("also-far", 48.86, 2.35),
    ]
    # The same ping twice stays twice; a row meets one cell's candidates, never several.
    pings = pings_frame(spark, points).withColumn("ts", F.lit(T0).cast("timestamp"))
    actual = nearest_store(pings, stores, radius)
    expected = spark.createDataFrame(
        [(name, lat, lon, T0) for name, lat, lon in points], PINGS_DDL
    ).select(
        "*",
        F.when(F.col("device_id") == "twice", "s1").alias("store_id"),
        F.when(F.col("device_id") == "twice", 10.0).alias("distance_m"),
    )
    assert actual.count() == len(points)
    assert actual.columns == [*pings.columns, "store_id", "distance_m"]
    assert_approx_df_equality(
        actual, expected, precision=1e-6, ignore_row_order=True, ignore_nullable=True
    )


def test_nearest_store_joins_on_broadcast_cells_without_comparing_every_pair(
    spark: SparkSession,
) -> None:
    stores = spark.createDataFrame([("s1", 48.85, 2.35), ("s2", 60.0, 10.0)], STORES_DDL)
    pings = pings_frame(spark, [("p", 48.85, 2.35)])
    # With automatic broadcasting off, only the function's own hint can give a broadcast join.
    with spark_conf(spark, "spark.sql.autoBroadcastJoinThreshold", "-1"):
        plan = nearest_store(pings, stores, 100.0)._jdf.queryExecution().executedPlan().toString()
    assert "BroadcastHashJoin" in plan
    assert "CartesianProduct" not in plan
    assert "BroadcastNestedLoopJoin" not in plan


# --- store_visits: runs of pings ---------------------------------------------------------------


def test_a_stay_of_exactly_the_minimum_dwell_is_a_visit_and_a_second_less_is_not(
    spark: SparkSession,
) -> None:
    rows = [
        ("exact", at(10), "s1"),
        ("exact", at(0), "s1"),
        ("exact", at(5), "s1"),
        ("short", at(0), "s1"),
        ("short", at(5), "s1"),
        ("short", at(10 - 1 / 60), "s1"),
    ]
    actual = store_visits(visit_input(spark, rows).repartition(2), 10.0, 15.0)
    assert_visits(actual, visits_frame(spark, [visit("exact", "s1", at(0), at(10), 3)]))


def test_a_gap_longer_than_the_maximum_splits_a_stay_and_one_exactly_at_it_does_not(
    spark: SparkSession,
) -> None:
    rows = [
        ("at-max", at(0), "s1"),
        ("at-max", at(15), "s1"),
        ("at-max", at(30), "s1"),
        ("over", at(0), "s1"),
        ("over", at(10), "s1"),
        ("over", at(25 + 1 / 60), "s1"),
        ("over", at(35 + 1 / 60), "s1"),
    ]
    expected = [
        visit("at-max", "s1", at(0), at(30), 3),
        visit("over", "s1", at(0), at(10), 2),
        visit("over", "s1", at(25 + 1 / 60), at(35 + 1 / 60), 2),
    ]
    assert_visits(store_visits(visit_input(spark, rows), 10.0, 15.0), visits_frame(spark, expected))


def test_a_ping_at_no_store_or_another_store_ends_a_run(spark: SparkSession) -> None:
    rows = []
    for device, between in (("nowhere", None), ("elsewhere", "s2")):
        rows += [
            (device, at(0), "s1"),
            (device, at(10), "s1"),
            (device, at(12), between),
            (device, at(15), "s1"),
            (device, at(25), "s1"),
        ]
    expected = [
        visit(device, "s1", start, end, 2)
        for device in ("nowhere", "elsewhere")
        for start, end in ((at(0), at(10)), (at(15), at(25)))
    ]
    assert_visits(store_visits(visit_input(spark, rows), 10.0, 15.0), visits_frame(spark, expected))


def test_devices_are_independent_even_when_their_pings_interleave(spark: SparkSession) -> None:
    rows = [
        ("a", at(0), "s1"),
        ("b", at(5), "s2"),
        ("a", at(10), "s1"),
        ("b", at(15), "s2"),
    ]
    expected = [visit("a", "s1", at(0), at(10), 2), visit("b", "s2", at(5), at(15), 2)]
    assert_visits(store_visits(visit_input(spark, rows), 10.0, 15.0), visits_frame(spark, expected))


def test_visit_id_and_date_are_fixed_by_device_store_and_utc_start_in_any_session_time_zone(
    spark: SparkSession,
) -> None:
    # 02:30 UTC on 2 July is still 1 July in New York: the date must stay UTC's.
    start = at(30, day=date(2026, 7, 2), hour=2)
    end = start + timedelta(minutes=12)
    rows = [("d1", start, "s1"), ("d1", end, "s1")]
    expected = visits_frame(spark, [visit("d1", "s1", start, end, 2)])
    assert expected.first()["visit_id"] == expected_visit_id("d1", "s1", start)
    assert expected.first()["visit_date"] == date(2026, 7, 2)
    assert_visits(store_visits(visit_input(spark, rows), 10.0, 15.0), expected)
    with spark_conf(spark, "spark.sql.session.timeZone", "America/New_York"):
        actual = store_visits(visit_input(spark, rows), 10.0, 15.0)
        assert_visits(actual, expected)
        assert actual.select("visit_id", "visit_date").collect() == [
            (expected_visit_id("d1", "s1", start), date(2026, 7, 2))
        ]


def test_visits_from_pings_tags_then_groups(spark: SparkSession) -> None:
    stores = spark.createDataFrame([("s1", 48.85, 2.35)], STORES_DDL)
    inside = destination(48.85, 2.35, 0.0, 20.0)
    pings = spark.createDataFrame(
        [
            ("d1", *inside, at(0)),
            ("d1", *inside, at(6)),
            ("d1", *inside, at(12)),
            ("d1", 48.86, 2.35, at(13)),
            ("d2", 48.86, 2.35, at(0)),
            ("d2", 48.86, 2.35, at(30)),
        ],
        PINGS_DDL,
    )
    assert_visits(
        visits_from_pings(pings, stores, 100.0, 10.0, 15.0),
        visits_frame(spark, [visit("d1", "s1", at(0), at(12), 3)]),
    )


# --- arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, parameter",
    [
        (lambda p, s: nearest_store(p, s, 0.0), "radius_m"),
        (lambda p, s: nearest_store(p, s, float("nan")), "radius_m"),
        (lambda p, s: visits_from_pings(p, s, -5.0, 10.0, 15.0), "radius_m"),
        (lambda p, s: visits_from_pings(p, s, 100.0, -1.0, 15.0), "min_dwell_minutes"),
        (lambda p, s: visits_from_pings(p, s, 100.0, 10.0, 0.0), "max_gap_minutes"),
        (
            lambda p, s: store_visits(p.withColumn("store_id", F.lit("s")), -0.5, 15.0),
            "min_dwell_minutes",
        ),
        (
            lambda p, s: store_visits(p.withColumn("store_id", F.lit("s")), 10.0, float("inf")),
            "max_gap_minutes",
        ),
    ],
)
def test_a_bad_argument_is_refused_by_name_before_any_spark_work(
    spark: SparkSession, call: Any, parameter: str
) -> None:
    pings = spark.createDataFrame([], PINGS_DDL)
    stores = spark.createDataFrame([], STORES_DDL)
    with pytest.raises(ValueError, match=parameter):
        call(pings, stores)


def test_missing_columns_are_named_with_the_columns_present(spark: SparkSession) -> None:
    pings = spark.createDataFrame([], "device_id string, latitude double, lon double")
    stores = spark.createDataFrame([], STORES_DDL)
    with pytest.raises(ValueError,
                       match=r"nearest_store pings needs .* missing \['lat'\], present .*latitude"):
        nearest_store(pings, stores, 100.0)
    with pytest.raises(ValueError, match=r"missing \['ts', 'lat', 'store_id'\]"):
        store_visits(pings, 10.0, 15.0)


def test_rescan_starts_before_any_run_new_pings_can_extend(spark: SparkSession) -> None:
    from journeylake.silver.store_visits import visit_rescan_window

    t0 = datetime(2026, 6, 1, 12, 0, 0)
    visits = spark.createDataFrame(
        [("d1", t0 - timedelta(minutes=40), t0 - timedelta(minutes=20)),   # ends within reach
         ("d1", t0 - timedelta(hours=5), t0 - timedelta(hours=4)),         # long before
         ("d2", t0 - timedelta(hours=3), t0 - timedelta(hours=2))],
        "device_id string, start_ts timestamp, end_ts timestamp",
    )
    cutoffs = spark.createDataFrame([("d1", t0), ("d2", t0), ("d3", t0)],
                                    "device_id string, cutoff timestamp")
    window = {r.device_id: r.rescan_from
              for r in visit_rescan_window(cutoffs, visits, 5, 20).collect()}
    assert window == {
        "d1": t0 - timedelta(minutes=40),   # the stored visit is rebuilt whole
        "d2": t0 - timedelta(minutes=25),   # max gap + min dwell before the cutoff
        "d3": t0 - timedelta(minutes=25),
    }


def test_a_rescan_reads_each_device_from_its_own_point_and_replaces_what_follows(
    spark: SparkSession,
) -> None:
    from journeylake.silver.store_visits import pings_to_rescan, replaced_visits

    t0 = datetime(2026, 6, 1, 12, 0, 0)
    window = spark.createDataFrame([("d1", t0)], "device_id string, rescan_from timestamp")
    pings = spark.createDataFrame(
        [("d1", t0 - timedelta(minutes=1)), ("d1", t0), ("d2", t0)],
        "device_id string, ts timestamp")
    assert [(r.device_id, r.ts) for r in pings_to_rescan(pings, window).collect()] == [("d1", t0)]
    visits = spark.createDataFrame(
        [("v_before", "d1", t0 - timedelta(hours=1)), ("v_at", "d1", t0),
         ("v_other", "d2", t0)],
        "visit_id string, device_id string, start_ts timestamp")
    assert [r.visit_id for r in replaced_visits(visits, window).collect()] == ["v_at"]


def test_a_visit_belongs_to_the_person_of_its_device(spark: SparkSession) -> None:
    from journeylake.silver.store_visits import STORE_VISITS_SCHEMA, visits_with_persons

    t0 = datetime(2026, 6, 1, 12, 0, 0)
    visits = spark.createDataFrame(
        [("v1", "d1", "S1", t0, t0, 5.0, 3, t0.date()),
         ("v2", "d_unknown", "S1", t0, t0, 5.0, 3, t0.date())], STORE_VISITS_SCHEMA)
    owners = spark.createDataFrame([("d1", "p1")], "device_id string, person_id string")
    rows = visits_with_persons(visits, owners)
    assert rows.columns == [*STORE_VISITS_SCHEMA.fieldNames(), "person_id"]
    assert {r.visit_id: r.person_id for r in rows.collect()} == {"v1": "p1", "v2": None}
