"""Orders (CSV, contract `conf/sources/transactions.yaml`): one per converted web or app session
(store_id `online`, channel online or app) and one for a share of store visits (channel store).

Some till orders carry only an email (a receipt by email, no loyalty card): the email-customer
link. `items` is a JSON array of {product_id, quantity, unit_price} and `amount` its exact sum.
Online orders of a customer carry the delivery contact, `phone` and `billing_name`, written the
way web forms deliver them (spaces or not in a number, any case in a name): personal data that
silver pseudonymises.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

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
)
from journeylake.generator.draws import integer_below, opaque_id, uniform
from journeylake.generator.expressions import Sql, extend, lit, named_struct, select
from journeylake.generator.formats import sql_utc
from journeylake.generator.model import segment_value
from journeylake.generator.reference import (
    basket_amount,
    nth_product,
    product_id,
    product_number,
    unit_price,
)

FIELDS = ("order_id", "customer_id", "email", "store_id", "ts", "items", "amount", "currency",
          "channel", "phone", "billing_name")
HEADER = ",".join(FIELDS)
ONLINE_STORE = "online"
ONLINE_EMAIL_SHARE = 0.97
# How a till identifies the buyer: loyalty card and email, email only, card only.
TILL_BOTH, TILL_EMAIL_ONLY = 0.55, 0.85
MAX_STORE_ITEMS = 4
# (currency, units per EUR on the shop's price list, share of buyers). The lakehouse's own
# exchange rates (conf/silver.yaml) are close to these but dated, as a real ledger's would be.
ORDER_CURRENCIES = (("EUR", 1.0, 0.80), ("GBP", 0.85, 0.12), ("USD", 1.08, 0.08))

ORDER_COLUMNS = ("order_id", "customer_id", "email", "store_id", "order_ms", "items", "amount",
                 "channel")
CONTACT_COLUMNS = ("phone", "billing_name")
# Share of online orders with a delivery phone number (the name is always there).
ONLINE_PHONE_SHARE = 0.8


def online_orders(sessions: DataFrame, seed: int) -> DataFrame:
    """ORDER_COLUMNS for converted sessions; the order time is the purchase event's (the last).

    Needs the columns of `sessions.build_sessions`.
    """
    email_kept = uniform(seed, "online-email", "session_num")
    return select(
        sessions.where("converted"),
        ["order_id", "customer_id", "end_ms AS order_ms", "items", "amount"],
        {
            "email": f"CASE WHEN {email_kept} < {lit(ONLINE_EMAIL_SHARE)} THEN email END",
            "store_id": lit(ONLINE_STORE),
            "channel": "CASE WHEN platform = 'app' THEN 'app' ELSE 'online' END",
        },
    ).select(*ORDER_COLUMNS)


def store_orders(visits: DataFrame, seed: int) -> DataFrame:
    """ORDER_COLUMNS for the store visits that end with a purchase at the till, during the
    visit. Needs the columns of `geolocation.build_visits`."""

    def u(salt: str, *extra: Sql) -> Sql:
        return uniform(seed, f"till-{salt}", "visit_num", *extra)

    buying = visits.where(f"{u('buys')} < {segment_value('segment', 'store_purchase')}")
    number = nth_product(product_number(u("first-product")), "_i")
    item = named_struct(
        {
            "product_id": product_id(number),
            "quantity": f"1 + CAST({u('quantity-2', '_i')} < 0.2D AS INT) "
            f"+ CAST({u('quantity-3', '_i')} < 0.05D AS INT)",
            "unit_price": unit_price(seed, number),
        }
    )
    count = f"{integer_below(u('items'), MAX_STORE_ITEMS)} + 1"
    with_items = extend(
        buying,
        {
            "items": f"transform(sequence(0, {count} - 1), _i -> {item})",
            "identified": u("identity"),
        },
    )
    return select(
        with_items,
        ["store_id", "items"],
        {
            # Online orders use session_num * 2: odd numbers keep the two kinds apart.
            "order_id": opaque_id("ord_", "visit_num * 2 + 1", seed, "order"),
            "customer_id": f"CASE WHEN identified < {lit(TILL_BOTH)} "
            f"OR identified >= {lit(TILL_EMAIL_ONLY)} THEN customer_id END",
            "email": f"CASE WHEN identified < {lit(TILL_EMAIL_ONLY)} THEN email END",
            "order_ms": f"start_ms + CAST(floor((end_ms - start_ms) * (0.5D + {u('time')} * 0.45D))"
            " AS BIGINT)",
            "amount": basket_amount("items"),
            "channel": lit("store"),
        },
    ).select(*ORDER_COLUMNS)


def with_contact(orders: DataFrame, customers: DataFrame, seed: int) -> DataFrame:
    """ORDER_COLUMNS and CONTACT_COLUMNS: an online order of a customer gets its delivery name
    and, mostly, a phone number; till orders get neither. Needs `customer_id`, `first_name`,
    `last_name`, `phone` on `customers` (one row per customer: a small dimension)."""

    def u(salt: str) -> Sql:
        return uniform(seed, f"contact-{salt}", "order_id")

    contacts = customers.select("customer_id", "first_name", "last_name",
                                F.col("phone").alias("_phone"))
    online = f"store_id = {lit(ONLINE_STORE)} AND customer_id IS NOT NULL"
    return select(
        orders.join(F.broadcast(contacts), "customer_id", "left"),
        list(ORDER_COLUMNS),
        {
            "phone": f"CASE WHEN {online} AND {u('phone')} < {lit(ONLINE_PHONE_SHARE)} THEN "
            f"CASE WHEN {u('phone-style')} < 0.5D THEN _phone ELSE concat_ws(' ', "
            "substring(_phone, 1, 3), substring(_phone, 4, 4), substring(_phone, 8)) END END",
            "billing_name": f"CASE WHEN {online} THEN CASE WHEN {u('name-style')} < 0.2D "
            "THEN upper(concat(last_name, ', ', first_name)) "
            "ELSE concat(first_name, ' ', last_name) END END",
        },
    )


def build_orders(orders: DataFrame, seed: int) -> DataFrame:
    """The file's FIELDS (text; `items` JSON) plus `_ms` and `_key`. Needs ORDER_COLUMNS and
    CONTACT_COLUMNS.

    A buyer pays in one currency (ORDER_CURRENCIES: most in EUR, some in GBP or USD): the
    catalogue's EUR unit prices are converted at the shop's price-list rate and rounded to
    cents, and the amount is the exact sum of the converted items.
    """
    buyer = "coalesce(customer_id, email, order_id)"
    u = uniform(seed, "order-currency", buyer)
    cases, bound = [], 0.0
    for currency, _, share in ORDER_CURRENCIES[:-1]:
        bound += share
        cases.append(f"WHEN {u} < {lit(bound)} THEN {lit(currency)}")
    currency = f"CASE {' '.join(cases)} ELSE {lit(ORDER_CURRENCIES[-1][0])} END"
    per_eur = "CASE currency " + " ".join(
        f"WHEN {lit(code)} THEN {lit(rate)}" for code, rate, _ in ORDER_CURRENCIES) + " END"
    kept = [name for name in (*ORDER_COLUMNS, *CONTACT_COLUMNS) if name not in ("items", "amount")]
    priced = select(extend(orders, {"currency": currency}), [*kept, "currency"], {
        "items": "transform(items, item -> named_struct('product_id', item.product_id, "
                 "'quantity', item.quantity, 'unit_price', "
                 f"CAST(round(item.unit_price * {per_eur}, 2) AS DECIMAL(18,2))))"})
    return select(
        extend(priced, {"amount": basket_amount("items")}),
        ["order_id", "customer_id", "email", "store_id", "channel", "currency",
         *CONTACT_COLUMNS],
        {
            "ts": sql_utc("order_ms"),
            "items": "to_json(items)",
            "amount": "CAST(amount AS STRING)",
            EVENT_MS: "order_ms",
            KEY: "order_id",
        },
    )


def _unparseable_amount(draw: Draw) -> dict[str, Sql]:
    # A decimal comma, a currency suffix, a letter O for a zero: all seen in till exports.
    choice = draw("bad-amount")
    return {
        "amount": f"CASE WHEN {choice} < {lit(1 / 3)} THEN translate(amount, '.', ',') "
        f"WHEN {choice} < {lit(2 / 3)} THEN concat(amount, ' EUR') ELSE '12,5O' END"
    }


LINE_FORMAT = LineFormat(
    source="transactions",
    style="csv",
    fields=FIELDS,
    breakers={
        MALFORMED_RECORD: extra_csv_field("POS-07"),
        # Not order_id: a record without its key could not even be told apart from others.
        MISSING_REQUIRED: missing_field(("store_id", "ts", "amount", "currency", "channel"), ""),
        BAD_TYPE: Breaker(fields=_unparseable_amount),
        OUT_OF_RANGE: Breaker(fields=lambda draw: {"amount": "concat('-', amount)"}),
        FUTURE_TIMESTAMP: future_timestamp("ts", sql_utc),
    },
)
