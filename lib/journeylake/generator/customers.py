"""Customers and the identifiers they leave behind: cookies, app devices, email and handle, and
the contact details of their orders (phone number and name).

Everything about customer `C000042` is a function of the seed and the number 42, so the table is
built with `spark.range` and no joins. Families: a few shared "family tablets" are used by 2-4
customers each (noisy identity). Anonymous visitors: cookies that browse but never log in.
"""

from __future__ import annotations

import hashlib
import math

from pyspark.sql import DataFrame, SparkSession

from journeylake.core.config import GenerateSettings
from journeylake.generator.draws import (
    composite_number,
    integer_below,
    opaque_id,
    pick,
    pick_weighted,
    uniform,
)
from journeylake.generator.expressions import Sql, extend, lit, named_struct, select
from journeylake.generator.formats import day_to_date
from journeylake.generator.model import (
    ANONYMOUS,
    CHURNER,
    NEW,
    OFFER_AFFINITY_MAX,
    SEGMENTS,
    TASTE_FAMILIES,
    UNSUBSCRIBE_SHARE,
    segment_value,
)
from journeylake.generator.reference import FIRST_NAMES, LAST_NAMES
from journeylake.generator.stores import cities_used, store_in_city, stores_in_city
from journeylake.generator.window import DataWindow, people

CUSTOMER = 0
ANONYMOUS_VISITOR = 1
FAMILY_SIZE_MAX = 4
# Id number spaces: each kind of identifier draws its numbers from its own space (the first
# part of `composite_number`), so two kinds can never produce the same number.
_WEB_COOKIE, _APP_COOKIE, _SHARED_COOKIE, _ANONYMOUS_COOKIE = 0, 1, 2, 3
_PERSONAL_DEVICE, _SHARED_DEVICE = 0, 1
PHONE, TABLET = "phone", "tablet"
DEVICE_TYPE = "STRUCT<device_id: STRING, app_cookie: STRING, kind: STRING, shared: BOOLEAN>"

VISITOR_COLUMNS = (
    "kind", "person", "customer_id", "segment", "email", "first_day", "last_day",
    "unsubscribe_day", "churn_day", "offer_affinity", "taste", "cookies", "app_devices",
)


def cookie_id(seed: int, space: int, number: Sql, slot: Sql | int) -> Sql:
    """`ck_...` of cookie `slot` of person `number` in id space `space` (unique per triple)."""
    return opaque_id("ck_", composite_number((space, 0), (number, 24), (slot, 3)), seed, "cookie")


def device_id(seed: int, space: int, number: Sql, slot: Sql | int) -> Sql:
    """`dv_...` of device `slot` of person `number` in id space `space` (unique per triple)."""
    return opaque_id("dv_", composite_number((space, 0), (number, 24), (slot, 3)), seed, "device")


def family_tablets(customers: int) -> int:
    """How many shared family tablets: one per hundred customers, at least one from eight."""
    return max(1, customers // 100) if customers >= 8 else 0


def _family_permutation(seed: int, customers: int) -> tuple[int, int]:
    # Families are groups of FAMILY_SIZE_MAX in a shuffled order of customers: `(a*i + b) mod n`
    # with gcd(a, n) = 1 is a bijection, so each customer is in exactly one group.
    digest = hashlib.sha256(f"{seed}:families".encode()).digest()
    a = int.from_bytes(digest[:8], "big") % customers + 1
    while math.gcd(a, customers) != 1:
        a += 1
    return a, int.from_bytes(digest[8:16], "big") % customers


def build_customers(
    spark: SparkSession, settings: GenerateSettings, window: DataWindow
) -> DataFrame:
    """One row per customer with everything later steps need.

    Columns: kind, person, customer_id, segment, first_name, last_name, email, handle, phone,
    signup_day, churn_day, unsubscribe_day (epoch days), first_day, last_day (the active days
    inside the window), offer_affinity, taste (see `model`), cookies (array), app_devices (array
    of DEVICE_TYPE), phone_id, home_city, home_store.
    """
    seed, n = settings.seed, settings.customers

    def u(salt: str) -> Sql:
        return uniform(seed, f"customer-{salt}", "person")

    a, b = _family_permutation(seed, n)
    shuffled = f"pmod({a}L * (person - 1) + {b}L, {n}L)"
    family = f"({shuffled} div {FAMILY_SIZE_MAX})"
    family_draw = uniform(seed, "family-size", family)
    family_size = f"(2 + {integer_below(family_draw, FAMILY_SIZE_MAX - 1)})"
    in_family = (
        f"({family} < {family_tablets(n)} AND pmod({shuffled}, {FAMILY_SIZE_MAX}) < {family_size})"
    )
    persons = select(
        people(spark, n, start=1),
        ["id AS person"],
        {
            "segment": pick_weighted(u("segment"), {s.name: s.share for s in SEGMENTS}),
            "family": f"CASE WHEN {in_family} THEN {family} END",
            "first_name": pick(u("first-name"), FIRST_NAMES),
        },
    )
    days = window.days
    has_app = f"{u('app')} < {segment_value('segment', 'app_share')}"
    described = extend(
        persons,
        {
            # Family members share a surname, as real households sharing a tablet do.
            "last_name": f"CASE WHEN family IS NOT NULL "
            f"THEN {pick(uniform(seed, 'family-name', 'family'), LAST_NAMES)} "
            f"ELSE {pick(u('last-name'), LAST_NAMES)} END",
            "signup_day": f"CAST(CASE WHEN segment = {lit(NEW)} "
            f"THEN {window.first_day} + floor({u('signup')} * {max(1, math.floor(days * 0.7))}) "
            f"ELSE {window.first_day - 30} - floor({u('signup')} * 1065) END AS INT)",
            # Churners leave all through the window, and some only after it (still active in
            # the data, as real would-be churners are).
            "churn_day": f"CAST(CASE WHEN segment = {lit(CHURNER)} THEN {window.first_day} + "
            f"greatest(1, floor({days} * (0.2D + {u('churn')} * 0.9D))) END AS INT)",
            "has_handle": f"{u('handle')} < {segment_value('segment', 'social_share')}",
            "home_city": integer_below(u("city"), cities_used(settings.stores)),
            "has_app": has_app,
            "has_tablet": f"({has_app}) AND {u('tablet')} < 0.25D",
            "cookie_count": f"1 + CAST({u('cookie-2')} < 0.45D AS INT) "
            f"+ CAST({u('cookie-3')} < 0.2D AS INT)",
        },
    )
    personal = [
        named_struct(
            {
                "device_id": device_id(seed, _PERSONAL_DEVICE, "person", slot),
                "app_cookie": cookie_id(seed, _APP_COOKIE, "person", slot),
                "kind": lit(kind),
                "shared": "false",
                "keep": flag,
            }
        )
        for slot, kind, flag in ((0, PHONE, "has_app"), (1, TABLET, "has_tablet"))
    ]
    shared = named_struct(
        {
            "device_id": device_id(seed, _SHARED_DEVICE, "coalesce(family, 0)", 0),
            "app_cookie": cookie_id(seed, _SHARED_COOKIE, "coalesce(family, 0)", 0),
            "kind": lit(TABLET),
            "shared": "true",
            "keep": "family IS NOT NULL",
        }
    )
    devices = (
        f"transform(filter(array({', '.join([*personal, shared])}), _d -> _d.keep), "
        f"_d -> named_struct('device_id', _d.device_id, 'app_cookie', _d.app_cookie, "
        f"'kind', _d.kind, 'shared', _d.shared))"
    )
    unsubscribe_day = (
        f"CASE WHEN churn_day IS NOT NULL AND {u('unsubscribes')} < {lit(UNSUBSCRIBE_SHARE)} "
        f"THEN CAST(greatest({window.first_day}, signup_day, "
        f"churn_day - 1 - floor({u('unsubscribe-day')} * 4)) AS INT) END"
    )
    home_store = store_in_city(
        "home_city",
        integer_below(u("store"), stores_in_city("home_city", settings.stores)),
        settings.stores,
    )
    return select(
        described,
        ["person", "segment", "first_name", "last_name", "signup_day", "churn_day", "home_city"],
        {
            "offer_affinity": f"{lit(OFFER_AFFINITY_MAX)} * pow({u('offer-affinity')}, 2)",
            "taste": integer_below(u("taste"), TASTE_FAMILIES),
            "kind": lit(CUSTOMER),
            "customer_id": "format_string('C%06d', person)",
            "email": "concat(lower(concat_ws('.', first_name, last_name, CAST(person AS STRING))),"
            " '@example.com')",
            "handle": "CASE WHEN has_handle THEN lower(concat(first_name, '.', last_name, "
            "CAST(person AS STRING))) END",
            # E.164 (a UK mobile number), unique per customer: the person number is its tail.
            "phone": f"format_string('+447%03d%06d', {integer_below(u('phone'), 1000)}, person)",
            "unsubscribe_day": unsubscribe_day,
            "first_day": f"greatest({window.first_day}, signup_day)",
            "last_day": f"CAST(least({window.last_day}, "
            f"coalesce(churn_day - 1, {window.last_day})) AS INT)",
            "cookies": f"transform(sequence(0, cookie_count - 1), "
            f"_slot -> {cookie_id(seed, _WEB_COOKIE, 'person', '_slot')})",
            "app_devices": devices,
            "phone_id": f"CASE WHEN has_app "
            f"THEN {device_id(seed, _PERSONAL_DEVICE, 'person', 0)} END",
            "home_store": home_store,
        },
    )


def build_anonymous_visitors(
    spark: SparkSession, settings: GenerateSettings, window: DataWindow
) -> DataFrame:
    """Cookies that browse but never log in (one per five customers), with VISITOR_COLUMNS:
    customer_id, email and unsubscribe_day NULL, app_devices empty."""
    return select(
        people(spark, max(1, settings.customers // 5)),
        [],
        {
            "kind": lit(ANONYMOUS_VISITOR),
            "person": "id",
            "customer_id": "CAST(NULL AS STRING)",
            "segment": lit(ANONYMOUS.name),
            "email": "CAST(NULL AS STRING)",
            "first_day": lit(window.first_day),
            "last_day": lit(window.last_day),
            "unsubscribe_day": "CAST(NULL AS INT)",
            "churn_day": "CAST(NULL AS INT)",
            # Visitors who never log in still have a taste; they never buy, so no affinity.
            "offer_affinity": "0D",
            "taste": integer_below(uniform(settings.seed, "anonymous-taste", "id"), TASTE_FAMILIES),
            "cookies": f"array({cookie_id(settings.seed, _ANONYMOUS_COOKIE, 'id', 0)})",
            "app_devices": f"CAST(array() AS ARRAY<{DEVICE_TYPE}>)",
        },
    )


def visitors(customers: DataFrame, anonymous: DataFrame) -> DataFrame:
    """Customers and anonymous visitors with the VISITOR_COLUMNS sessions are built from."""
    return customers.select(*VISITOR_COLUMNS).unionByName(anonymous.select(*VISITOR_COLUMNS))


def customers_truth(customers: DataFrame) -> DataFrame:
    """customer_id, segment, first_name, last_name, email, handle, phone, signup_date, churned,
    churn_date, unsubscribe_date, offer_affinity, taste."""
    return select(
        customers,
        ["customer_id", "segment", "first_name", "last_name", "email", "handle", "phone",
         "offer_affinity", "taste"],
        {
            "signup_date": day_to_date("signup_day"),
            "churned": "churn_day IS NOT NULL",
            "churn_date": day_to_date("churn_day"),
            "unsubscribe_date": day_to_date("unsubscribe_day"),
        },
    )


def _link(kind: str, identifier: Sql, shared: Sql = "false") -> Sql:
    return named_struct({"identifier_type": lit(kind), "identifier": identifier, "shared": shared})


def identity_links(customers: DataFrame) -> DataFrame:
    """Every identifier of every customer: identifier_type (customer, cookie, device, email,
    handle), identifier, customer_id, shared. A family tablet and its app cookie appear once per
    customer who uses it, with shared = true. Anonymous cookies belong to nobody: not listed."""
    links = (
        f"concat(array({_link('customer', 'customer_id')}, {_link('email', 'email')}, "
        f"{_link('handle', 'handle')}), "
        f"transform(cookies, _c -> {_link('cookie', '_c')}), "
        f"transform(app_devices, _d -> {_link('device', '_d.device_id', '_d.shared')}), "
        f"transform(app_devices, _d -> {_link('cookie', '_d.app_cookie', '_d.shared')}))"
    )
    exploded = select(customers, ["customer_id"], {"link": f"explode({links})"})
    return exploded.where("link.identifier IS NOT NULL").selectExpr(
        "link.identifier_type", "link.identifier", "customer_id", "link.shared"
    )
