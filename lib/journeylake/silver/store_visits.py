"""Store visits from device location pings: which store a ping is at, then how long a device
stayed there.

Both steps are pure Spark SQL. Matching pings to stores uses a latitude/longitude grid, so each
ping is compared only with the few stores that can be within the radius, never with all of them.

Why the grid finds every store within `radius_m` (R) of a ping:

* Rows are `2R / 111_320` degrees of latitude high. A great-circle distance is never shorter
  than the latitude difference, and one degree of latitude is 111_195 m on the haversine sphere,
  so a ping within R of a store is at most R / 111_195 degrees (about half a row) away in
  latitude: it lies in the store's row or in the row just above or below.
* Each row is cut into a whole number of equal columns, at least `2R / 111_320 / cos(row centre)`
  degrees wide (whole, so that the columns wrap cleanly at the antimeridian). Every point within
  R of a store at latitude phi differs from it in longitude by at most
  `asin(sin(R / earth radius) / cos(phi))`, the half-width of the spherical cap around the store
  (all longitudes when the cap holds a pole). In each of its three rows the store is placed in
  that row's own columns and spread over k columns either side, with k that half-width divided by
  that row's column width, rounded up. A ping in that row is then at most k columns from the
  store's column however it sits in its cell, even where neighbouring rows scale differently.
"""

from __future__ import annotations

import math

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DateType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from journeylake.core.clock import utc_date
from journeylake.core.columns import require_columns

# Column names of the inputs and outputs.
DEVICE_ID = "device_id"
STORE_ID = "store_id"
LAT = "lat"
LON = "lon"
TS = "ts"
DISTANCE_M = "distance_m"
VISIT_ID = "visit_id"
START_TS = "start_ts"
END_TS = "end_ts"
DWELL_MINUTES = "dwell_minutes"
PINGS = "pings"
VISIT_DATE = "visit_date"

STORE_VISITS_SCHEMA = StructType(
    [
        StructField(VISIT_ID, StringType(), False),
        StructField(DEVICE_ID, StringType(), False),
        StructField(STORE_ID, StringType(), False),
        StructField(START_TS, TimestampType(), False),
        StructField(END_TS, TimestampType(), False),
        StructField(DWELL_MINUTES, DoubleType(), False),
        StructField(PINGS, LongType(), False),
        StructField(VISIT_DATE, DateType(), False),
    ]
)

EARTH_RADIUS_M = 6_371_008.8
# Metres per degree of latitude used to size the grid rows (the WGS84 equator's figure); the
# sphere's own 111_195 m is smaller, so a row is always more than R of arc high.
METRES_PER_DEGREE = 111_320.0
VISIT_ID_PREFIX = "sv_"
# The ASCII unit separator joins the parts hashed into a visit id: identifiers do not contain
# it, so ("a|b", "c") and ("a", "b|c") cannot hash the same text as they would with "|".
VISIT_ID_SEPARATOR = "\x1f"

_MICROS_PER_MINUTE = 60_000_000
# Slack for rounding in the neighbour count: a ping whose computed distance is exactly R must
# not fall one column short.
_ROUNDING_SLACK = 1e-9

# Internal columns; the prefix keeps them apart from whatever else the pings carry.
_ROW = "_sv_cell_row"
_COL = "_sv_cell_col"
_CANDIDATES = "_sv_candidates"
_BEST = "_sv_best"
_RUN = "_sv_run"


def nearest_store(pings: DataFrame, stores: DataFrame, radius_m: float) -> DataFrame:
    """Tag each ping with the nearest store within `radius_m` metres, so that a dwell at a store
    can be measured, without comparing every ping with every store.

    Needs `lat`, `lon` on `pings` and `store_id`, `lat`, `lon` on `stores` (small: it is
    broadcast). Keeps every ping row and column, exactly once each, and adds `store_id` (NULL
    when no store is within the radius or the ping has no position) and `distance_m`, the
    haversine distance to it. Ties in distance go to the smallest `store_id`, so reruns agree.
    Stores without an id or a position are ignored.
    """
    _check_positive("radius_m", radius_m)
    require_columns(pings, (LAT, LON), "nearest_store pings")
    require_columns(stores, (STORE_ID, LAT, LON), "nearest_store stores")
    taken = [name for name in (STORE_ID, DISTANCE_M) if name in pings.columns]
    if taken:
        raise ValueError(
            f"pings already has {taken}, which nearest_store adds; drop or rename them first "
            f"(pings columns: {pings.columns})"
        )

    row_height = 2.0 * radius_m / METRES_PER_DEGREE
    candidates = F.broadcast(_stores_by_cell(stores, radius_m, row_height))
    ping_row = _cell_row(F.col(LAT), row_height)
    tagged = pings.withColumn(_ROW, ping_row).withColumn(
        _COL, _cell_col(F.col(LON), F.col(_ROW), row_height)
    )
    joined = tagged.join(candidates, on=[_ROW, _COL], how="left")

    # Each ping meets one row of candidates at most (one per cell), so no row is repeated and
    # picking the nearest needs no shuffle: the smallest (distance, store_id) within the radius.
    within = F.filter(
        F.transform(
            F.col(_CANDIDATES),
            lambda s: F.struct(
                haversine_m(F.col(LAT), F.col(LON), s[LAT], s[LON]).alias(DISTANCE_M),
                s[STORE_ID].alias(STORE_ID),
            ),
        ),
        lambda c: c[DISTANCE_M] <= F.lit(float(radius_m)),
    )
    return joined.withColumn(_BEST, F.array_min(within)).select(
        *[F.col(name) for name in pings.columns],
        F.col(_BEST)[STORE_ID].alias(STORE_ID),
        F.col(_BEST)[DISTANCE_M].alias(DISTANCE_M),
    )


def store_visits(
    pings_with_store: DataFrame, min_dwell_minutes: float, max_gap_minutes: float
) -> DataFrame:
    """Turn a device's pings into stays at a store, so footfall counts people who stayed rather
    than ones who walked past.

    Needs `device_id`, `ts`, `lat`, `lon`, `store_id` (as `nearest_store` adds it). A visit is a
    longest run of a device's consecutive pings (by `ts`, then `lat`, `lon`) all at the same
    store, each at most `max_gap_minutes` after the previous one, lasting at least
    `min_dwell_minutes` from first to last ping. A ping at another store or at none ends a run.
    Pings without a device or a time cannot be placed in a run and are left out.

    Returns the columns of `STORE_VISITS_SCHEMA`. `visit_id` is `sv_` and the first 32 hex
    digits of the SHA-256 of device id, store id and start time in epoch microseconds, joined
    by `VISIT_ID_SEPARATOR`: the same visit gets the same id on every run and in any session
    time zone. `visit_date` is the UTC date of `start_ts`.
    """
    _check_non_negative("min_dwell_minutes", min_dwell_minutes)
    _check_positive("max_gap_minutes", max_gap_minutes)
    require_columns(pings_with_store, (DEVICE_ID, TS, LAT, LON, STORE_ID),
                    "store_visits pings_with_store")
    ts_type = pings_with_store.schema[TS].dataType
    if not isinstance(ts_type, TimestampType):
        raise ValueError(
            f"pings_with_store.{TS} must be a timestamp (UTC), not {ts_type.simpleString()}"
        )

    ts_micros = F.unix_micros(F.col(TS))
    by_device = Window.partitionBy(DEVICE_ID).orderBy(TS, LAT, LON, STORE_ID)
    previous_store = F.lag(STORE_ID).over(by_device)
    gap_micros = ts_micros - F.lag(ts_micros).over(by_device)
    # A run starts at a store ping whose predecessor is missing, elsewhere or too long ago;
    # numbering the starts cumulatively gives every run its own number within the device.
    starts_run = F.col(STORE_ID).isNotNull() & (
        previous_store.isNull()
        | (previous_store != F.col(STORE_ID))
        | (gap_micros > F.lit(float(max_gap_minutes) * _MICROS_PER_MINUTE))
    )
    run = F.sum(F.when(starts_run, 1).otherwise(0)).over(
        by_device.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )

    runs = (
        pings_with_store.where(F.col(DEVICE_ID).isNotNull() & F.col(TS).isNotNull())
        .withColumn(_RUN, run)
        .where(F.col(STORE_ID).isNotNull())
        .groupBy(DEVICE_ID, _RUN)
        .agg(
            F.min(STORE_ID).alias(STORE_ID),
            F.min(TS).alias(START_TS),
            F.max(TS).alias(END_TS),
            F.count(F.lit(1)).alias(PINGS),
        )
    )
    dwell_micros = F.unix_micros(F.col(END_TS)) - F.unix_micros(F.col(START_TS))
    return runs.where(dwell_micros >= F.lit(float(min_dwell_minutes) * _MICROS_PER_MINUTE)).select(
        visit_id(F.col(DEVICE_ID), F.col(STORE_ID), F.col(START_TS)).alias(VISIT_ID),
        F.col(DEVICE_ID),
        F.col(STORE_ID),
        F.col(START_TS),
        F.col(END_TS),
        (dwell_micros / F.lit(float(_MICROS_PER_MINUTE))).alias(DWELL_MINUTES),
        F.col(PINGS).cast(LongType()).alias(PINGS),
        utc_date(F.col(START_TS)).alias(VISIT_DATE),
    )


def visits_from_pings(
    pings: DataFrame,
    stores: DataFrame,
    radius_m: float,
    min_dwell_minutes: float,
    max_gap_minutes: float,
) -> DataFrame:
    """Pings to store visits in one call, with every argument checked before any Spark work.

    Needs `device_id`, `lat`, `lon`, `ts` on `pings` and `store_id`, `lat`, `lon` on `stores`;
    returns the columns of `STORE_VISITS_SCHEMA`.
    """
    _check_positive("radius_m", radius_m)
    _check_non_negative("min_dwell_minutes", min_dwell_minutes)
    _check_positive("max_gap_minutes", max_gap_minutes)
    return nearest_store(pings, stores, radius_m).transform(
        lambda tagged: store_visits(tagged, min_dwell_minutes, max_gap_minutes)
    )


def haversine_m(lat1: Column, lon1: Column, lat2: Column, lon2: Column) -> Column:
    """Great-circle distance in metres between two points given in degrees, on a sphere of
    radius `EARTH_RADIUS_M`; accurate to about 0.5 % against the ellipsoid, plenty for a
    geofence of tens of metres."""
    phi1 = F.radians(lat1)
    phi2 = F.radians(lat2)
    # Differences are taken in degrees first so that mirrored points give identical distances.
    half_dphi = F.radians(lat2 - lat1) / 2.0
    half_dlambda = F.radians(lon2 - lon1) / 2.0
    a = F.pow(F.sin(half_dphi), 2) + F.cos(phi1) * F.cos(phi2) * F.pow(F.sin(half_dlambda), 2)
    return F.lit(2.0 * EARTH_RADIUS_M) * F.asin(F.sqrt(F.least(F.lit(1.0), a)))


def visit_id(device_id: Column, store_id: Column, start_ts: Column) -> Column:
    """The deterministic id of a visit: the same device, store and start give the same id on
    every run, so reruns can merge instead of duplicating."""
    text = F.concat_ws(
        VISIT_ID_SEPARATOR, device_id, store_id, F.unix_micros(start_ts).cast(StringType())
    )
    return F.concat(F.lit(VISIT_ID_PREFIX), F.substring(F.sha2(text, 256), 1, 32))


def grid_cell(lat: Column, lon: Column, radius_m: float) -> tuple[Column, Column]:
    """The (row, column) grid cell of a position for `radius_m`, as `nearest_store` uses it;
    public so that tests and diagnostics can see which cell a point falls in."""
    _check_positive("radius_m", radius_m)
    row_height = 2.0 * radius_m / METRES_PER_DEGREE
    row = _cell_row(lat, row_height)
    return row, _cell_col(lon, row, row_height)


def _cell_row(lat: Column, row_height: float) -> Column:
    return F.floor((lat + F.lit(90.0)) / F.lit(row_height))


def _columns_in_row(row: Column, row_height: float) -> Column:
    # The row's centre latitude, clamped to the poles: rows past them (a neighbour of the first
    # or last row) get cos = 0 and so a single column, never a negative count.
    centre = F.least(
        F.greatest(F.lit(-90.0) + (row + F.lit(0.5)) * F.lit(row_height), F.lit(-90.0)),
        F.lit(90.0),
    )
    scaled = F.floor(F.lit(360.0) * F.cos(F.radians(centre)) / F.lit(row_height))
    return F.greatest(F.lit(1).cast(LongType()), scaled)


def _column_width(row: Column, row_height: float) -> Column:
    return F.lit(360.0) / _columns_in_row(row, row_height)


def _cell_col(lon: Column, row: Column, row_height: float) -> Column:
    # pmod wraps the columns round the antimeridian (and takes longitudes outside +-180).
    return F.pmod(
        F.floor((lon + F.lit(180.0)) / _column_width(row, row_height)),
        _columns_in_row(row, row_height),
    )


def _stores_by_cell(stores: DataFrame, radius_m: float, row_height: float) -> DataFrame:
    """One row per grid cell that a ping within `radius_m` of some store can be in, with those
    stores as an array of (store_id, lat, lon)."""
    angle = radius_m / EARTH_RADIUS_M
    phi = F.radians(F.col(LAT))
    # The spherical cap of radius R around the store holds a pole when R reaches the pole.
    cap_holds_pole = F.lit(angle * (1.0 + _ROUNDING_SLACK)) >= F.lit(math.pi / 2) - F.abs(phi)
    half_width_deg = F.degrees(F.asin(F.least(F.lit(1.0), F.lit(math.sin(angle)) / F.cos(phi))))

    row = F.col(_ROW)
    columns = _columns_in_row(row, row_height)
    spread = F.ceil(
        half_width_deg * F.lit(1.0 + _ROUNDING_SLACK) / _column_width(row, row_height)
    ).cast(LongType())
    home = _cell_col(F.col(LON), row, row_height)
    every_column = F.sequence(F.lit(0).cast(LongType()), columns - 1)
    near_columns = F.transform(F.sequence(-spread, spread), lambda j: F.pmod(home + j, columns))
    cells = F.when(cap_holds_pole | (spread * 2 + 1 >= columns), every_column).otherwise(
        near_columns
    )

    store_row = _cell_row(F.col(LAT), row_height)
    return (
        stores.where(F.col(STORE_ID).isNotNull() & F.col(LAT).isNotNull() & F.col(LON).isNotNull())
        .select(STORE_ID, LAT, LON)
        .withColumn(_ROW, F.explode(F.sequence(store_row - 1, store_row + 1)))
        .withColumn(_COL, F.explode(cells))
        .groupBy(_ROW, _COL)
        .agg(F.collect_list(F.struct(STORE_ID, LAT, LON)).alias(_CANDIDATES))
    )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_positive(name: str, value: float) -> None:
    if not (_is_number(value) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _check_non_negative(name: str, value: float) -> None:
    if not (_is_number(value) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def visit_rescan_window(
    cutoffs: DataFrame, visits: DataFrame, min_dwell_minutes: float, max_gap_minutes: float
) -> DataFrame:
    """device_id, rescan_from: per device with new pings, the time from which its pings must be
    read again and its stored visits replaced so that the result equals a rebuild from scratch.

    cutoffs: device_id, cutoff (its earliest new ping). visits: the stored visits (device_id,
    start_ts, end_ts). A new ping at or after the cutoff can only extend a run whose last ping is
    at most max_gap before it; a run that is not a visit lasts less than min_dwell, so it starts
    after cutoff - max_gap - min_dwell. Stored visits ending after that point are replaced whole
    (rescan from their start), so no visit is ever cut in two by the rescan.
    """
    reach_seconds = (max_gap_minutes + min_dwell_minutes) * 60
    bound = F.timestamp_seconds(F.unix_micros("cutoff") / 1_000_000 - reach_seconds)
    joined = cutoffs.select(DEVICE_ID, "cutoff", bound.alias("_bound")).join(
        visits.select(DEVICE_ID, START_TS, END_TS), DEVICE_ID, "left"
    )
    return joined.groupBy(DEVICE_ID).agg(
        F.least(
            F.min("_bound"),
            F.min(F.when(F.col(END_TS) >= F.col("_bound"), F.col(START_TS))),
        ).alias("rescan_from")
    )


def pings_to_rescan(pings: DataFrame, window: DataFrame) -> DataFrame:
    """The pings (device_id, ts, ...) of the devices in `window` (device_id, rescan_from) from
    their rescan_from on."""
    return pings.join(window.select(DEVICE_ID, "rescan_from"), DEVICE_ID).where(
        F.col(TS) >= F.col("rescan_from")).select(*pings.columns)


def replaced_visits(visits: DataFrame, window: DataFrame) -> DataFrame:
    """The stored visits a rescan replaces: of a device in `window`, starting at or after its
    rescan_from."""
    return visits.join(window.select(DEVICE_ID, "rescan_from"), DEVICE_ID).where(
        F.col(START_TS) >= F.col("rescan_from")).select(*visits.columns)


def visits_with_persons(visits: DataFrame, device_persons: DataFrame) -> DataFrame:
    """STORE_VISITS_SCHEMA columns plus person_id, the person of the visit's device (NULL for a
    device the identity map does not know). device_persons: device_id, person_id."""
    return visits.join(device_persons.select(DEVICE_ID, "person_id"), DEVICE_ID, "left").select(
        *STORE_VISITS_SCHEMA.fieldNames(), "person_id")
