"""Location pings of the app on customers' phones (CSV, contract
`conf/sources/geolocation.yaml`) and the planted store visits behind them.

Every day a phone pings at home, along the commute and at work, all at least ~2 km from any
store: home and work lie on a ring around the home city beyond the outermost store. On some
days it also dwells 10-40 minutes within 25 m of a store, pinging every 2-5 minutes: a store
visit, planted in the truth. Everyday pings happen 06:30-09:35 and 18:00-22:30, visits
10:00-16:40, so a phone never pings in two places at once.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from journeylake.core.config import GenerateSettings
from journeylake.generator.corruption import (
    BAD_TYPE,
    EVENT_MS,
    FUTURE_TIMESTAMP,
    KEY,
    MALFORMED_RECORD,
    MISSING_REQUIRED,
    OUT_OF_RANGE,
    Breaker,
    Draw,
    LineFormat,
    extra_csv_field,
    future_timestamp,
    missing_field,
    replaced_field,
)
from journeylake.generator.draws import composite_number, integer_below, uniform
from journeylake.generator.expressions import Sql, extend, lit, named_struct, select
from journeylake.generator.formats import MS_PER_DAY, MS_PER_MINUTE, decimal_text
from journeylake.generator.geo import full_turn, offset
from journeylake.generator.model import segment_value
from journeylake.generator.stores import (
    city_lat,
    city_lon,
    outer_store_radius_m,
    store_id,
    store_in_city,
    store_position,
    stores_in_city,
)

FIELDS = ("device_id", "lat", "lon", "timestamp_ms", "accuracy_m")
HEADER = ",".join(FIELDS)
# (fraction of the way from home to work, first minute of the day, spread in minutes)
EVERYDAY_PINGS = (
    (0.0, 390, 40), (0.25, 450, 10), (0.5, 470, 10), (0.75, 490, 10), (1.0, 540, 35),
    (0.75, 1080, 10), (0.5, 1100, 10), (0.25, 1120, 10), (0.0, 1200, 150),
)
PING_KEPT = 0.85  # the OS drops some pings
PHONE_ON = 0.9  # share of days a phone pings at all
NEIGHBOURHOOD_M = 8_000.0  # width of the ring where people live and work
STORE_CLEARANCE_M = 2_000.0  # everyday pings keep at least this from the outermost store ring
VISIT_RADIUS_M = 25.0
VISIT_FIRST_MINUTE, VISIT_START_SPREAD = 600, 360
VISIT_MIN_MINUTES, VISIT_SPREAD_MINUTES = 10, 30
PING_GAP_MIN_MS, PING_GAP_SPREAD_MS = 2 * MS_PER_MINUTE, 3 * MS_PER_MINUTE
MAX_VISIT_PINGS = 21  # 40 minutes / 2 minutes + the first ping
HOME_STORE_SHARE = 0.75

PING_COLUMNS = ("device_id", "ping_ms", "lat", "lon", "accuracy_m")


def phone_days(customers: DataFrame) -> DataFrame:
    """One row per customer phone and active day: person, customer_id, email, segment,
    phone_id, home_city, home_store, day. Needs the columns of `customers.build_customers`."""
    days = ("CASE WHEN first_day <= last_day THEN sequence(first_day, last_day) "
            "ELSE CAST(array() AS ARRAY<INT>) END")
    return select(
        customers.where("phone_id IS NOT NULL"),
        ["person", "customer_id", "email", "segment", "phone_id", "home_city", "home_store"],
        {"day": f"explode({days})"},
    )


def build_visits(phones: DataFrame, settings: GenerateSettings) -> DataFrame:
    """One row per planted store visit: visit_num, device_id, customer_id, email, segment,
    store_index, store_id, start_ms, end_ms, pings (array of PING_COLUMNS structs).

    Needs the columns of `phone_days`. At most one visit per phone and day.
    """
    seed, n_stores = settings.seed, settings.stores

    def u(salt: str, *extra: Sql) -> Sql:
        return uniform(seed, f"visit-{salt}", "visit_num", *extra)

    numbered = extend(phones, {"visit_num": composite_number(("person", 0), ("day", 15))})
    candidates = numbered.where(
        f"{u('happens')} < {segment_value('segment', 'store_visits_per_day')}"
    )
    other_store = store_in_city(
        "home_city", integer_below(u("other-store"), stores_in_city("home_city", n_stores)),
        n_stores,
    )
    duration = (
        f"({VISIT_MIN_MINUTES * MS_PER_MINUTE}L "
        f"+ floor({u('duration')} * {VISIT_SPREAD_MINUTES * MS_PER_MINUTE}L))"
    )
    gap = f"({PING_GAP_MIN_MS}L + floor({u('gap', '_j')} * {PING_GAP_SPREAD_MS}L))"
    offsets = (
        f"aggregate(sequence(1, {MAX_VISIT_PINGS - 1}), array(0L), "
        f"(_acc, _j) -> concat(_acc, array(element_at(_acc, -1) + {gap})))"
    )
    visits = select(
        candidates,
        ["visit_num", "phone_id AS device_id", "customer_id", "email", "segment"],
        {
            "store_index": f"CAST(CASE WHEN {u('home-store')} < {lit(HOME_STORE_SHARE)} "
            f"THEN home_store ELSE {other_store} END AS INT)",
            "start_ms": f"day * {MS_PER_DAY}L + {VISIT_FIRST_MINUTE * MS_PER_MINUTE}L "
            f"+ floor({u('start')} * {VISIT_START_SPREAD * MS_PER_MINUTE}L)",
            "offsets": f"filter({offsets}, _o -> _o <= {duration})",
        },
    )
    store_lat, store_lon = store_position(seed, "store_index", n_stores)
    lat, lon = offset(
        store_lat, store_lon, f"{u('ping-distance', '_i')} * {VISIT_RADIUS_M}D",
        full_turn(u("ping-angle", "_i")),
    )
    ping = named_struct(
        {
            "device_id": "device_id",
            "ping_ms": "start_ms + _o",
            "lat": lat,
            "lon": lon,
            "accuracy_m": f"5 + {u('ping-accuracy', '_i')} * 25",
        }
    )
    return select(
        visits,
        ["visit_num", "device_id", "customer_id", "email", "segment", "store_index", "start_ms"],
        {
            "store_id": store_id("store_index"),
            "end_ms": "start_ms + element_at(offsets, -1)",
            "pings": f"transform(offsets, (_o, _i) -> {ping})",
        },
    )


def everyday_pings(phones: DataFrame, settings: GenerateSettings) -> DataFrame:
    """Home, commute and work pings: PING_COLUMNS. Needs the columns of `phone_days`."""
    seed = settings.seed
    inner = outer_store_radius_m(settings.stores) + STORE_CLEARANCE_M

    def per_person(salt: str) -> Sql:
        return uniform(seed, f"place-{salt}", "person")

    def per_ping(salt: str) -> Sql:
        return uniform(seed, f"ping-{salt}", "person", "day", "t.i")

    template = ", ".join(
        named_struct({"i": lit(i), "frac": lit(frac), "minute": lit(minute),
                      "spread": lit(spread)})
        for i, (frac, minute, spread) in enumerate(EVERYDAY_PINGS)
    )
    kept = (
        f"filter(array({template}), "
        f"_t -> {uniform(seed, 'ping-kept', 'person', 'day', '_t.i')} < {lit(PING_KEPT)})"
    )
    on = phones.where(f"{uniform(seed, 'phone-on', 'person', 'day')} < {lit(PHONE_ON)}")
    slots = select(on, ["person", "phone_id", "home_city", "day"], {"t": f"explode({kept})"})
    home_r = f"({inner}D + {per_person('home-r')} * {NEIGHBOURHOOD_M}D)"
    work_r = f"({inner}D + {per_person('work-r')} * {NEIGHBOURHOOD_M}D)"
    home_a, work_a = full_turn(per_person("home-a")), full_turn(per_person("work-a"))
    # Along the commute the point moves between home and work on the ring, never through the
    # centre where the stores are.
    on_ring = offset(
        city_lat("home_city"), city_lon("home_city"),
        f"{home_r} + ({work_r} - {home_r}) * t.frac", f"{home_a} + ({work_a} - {home_a}) * t.frac",
    )
    placed = extend(slots, {"ring_lat": on_ring[0], "ring_lon": on_ring[1]})
    lat, lon = offset("ring_lat", "ring_lon", f"{per_ping('jitter')} * 30",
                      full_turn(per_ping("jitter-a")))
    return select(
        placed,
        ["phone_id AS device_id"],
        {
            "ping_ms": f"day * {MS_PER_DAY}L + t.minute * {MS_PER_MINUTE}L "
            f"+ floor({per_ping('time')} * t.spread * {MS_PER_MINUTE}L)",
            "lat": lat,
            "lon": lon,
            "accuracy_m": f"5 + {per_ping('accuracy')} * 60",
        },
    )


def build_pings(visits: DataFrame, everyday: DataFrame) -> DataFrame:
    """All pings as the file's FIELDS (text) plus `_ms` and `_key` (device and time).

    Needs `pings` of `build_visits` and PING_COLUMNS of `everyday_pings`.
    """
    at_stores = visits.selectExpr("inline(pings)")
    pings = at_stores.select(*PING_COLUMNS).unionByName(everyday.select(*PING_COLUMNS))
    return select(
        pings,
        ["device_id"],
        {
            "lat": decimal_text("lat", 6),
            "lon": decimal_text("lon", 6),
            "timestamp_ms": "CAST(ping_ms AS STRING)",
            "accuracy_m": decimal_text("accuracy_m", 1),
            EVENT_MS: "ping_ms",
            KEY: "concat(device_id, ':', CAST(ping_ms AS STRING))",
        },
    )


def store_visits_truth(visits: DataFrame) -> DataFrame:
    """device_id, customer_id, store_id, start_ts (first ping), end_ts (last ping)."""
    return visits.selectExpr(
        "device_id", "customer_id", "store_id", "timestamp_millis(start_ms) AS start_ts",
        "timestamp_millis(end_ms) AS end_ts",
    )


def _out_of_range(draw: Draw) -> dict[str, Sql]:
    # Either the latitude beyond a pole or the longitude beyond the date line, not both.
    on_lat = f"{draw('range-field')} < 0.5D"
    beyond = draw("range-value")
    return {
        "lat": f"CASE WHEN {on_lat} THEN {decimal_text(f'90.5D + {beyond} * 60', 6)} "
        "ELSE lat END",
        "lon": f"CASE WHEN {on_lat} THEN lon "
        f"ELSE {decimal_text(f'180.5D + {beyond} * 100', 6)} END",
    }


LINE_FORMAT = LineFormat(
    source="geolocation",
    style="csv",
    fields=FIELDS,
    breakers={
        MALFORMED_RECORD: extra_csv_field("fused"),
        MISSING_REQUIRED: missing_field(("device_id", "lat", "lon", "timestamp_ms"), ""),
        # "48,85" is a locale bug: quoted in the file, then not a number.
        BAD_TYPE: replaced_field("lat", ("abc", "n/a", "48,85")),
        OUT_OF_RANGE: Breaker(fields=_out_of_range),
        FUTURE_TIMESTAMP: future_timestamp("timestamp_ms", lambda ms: f"CAST({ms} AS STRING)"),
    },
)
