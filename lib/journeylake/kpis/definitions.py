"""Every daily KPI in one place: its name (a value of gold_kpis_daily.kpi), what it counts and
how a ratio is formed. The README's KPI table says the same in prose.

A day is a UTC calendar day. Breakdowns: `all` (every row), `channel` (a session's entry
channel; an event's own channel for orders, unsubscribes and churn) and `segment` (the
person's current segment label in gold_segments; `unassigned` without one).
"""

from __future__ import annotations

from dataclasses import dataclass

ALL, CHANNEL, SEGMENT = "all", "channel", "segment"
BREAKDOWNS = (ALL, CHANNEL, SEGMENT)
UNASSIGNED = "unassigned"


COUNT, SHARE, AMOUNT = "count", "share", "amount"


@dataclass(frozen=True)
class Kpi:
    name: str
    meaning: str
    # For a ratio, what its numerator and denominator count; a count has neither.
    numerator: str | None = None
    denominator: str | None = None
    # count: a number of things (its day-to-day noise is at least Poisson's); share: a part of
    # the denominator, between 0 and 1 (at least binomial noise); amount: money, whose noise
    # depends on how many things it adds up: the denominator, or the count KPI `made_of`.
    unit: str = COUNT
    made_of: str | None = None

    @property
    def is_ratio(self) -> bool:
        return self.denominator is not None


KPIS: tuple[Kpi, ...] = (
    Kpi("visitors", "distinct persons with a session starting that day"),
    Kpi("sessions", "sessions starting that day"),
    Kpi("conversion_rate", "share of the day's sessions with an order",
        "sessions with an order", "sessions", SHARE),
    Kpi("add_to_cart_rate", "share of the day's sessions with an add-to-cart",
        "sessions with an add-to-cart", "sessions", SHARE),
    Kpi("cart_abandonment", "share of the day's sessions with a cart that ended without an order",
        "sessions with an add-to-cart and no order", "sessions with an add-to-cart", SHARE),
    Kpi("orders", "orders placed that day (online and in store)"),
    Kpi("revenue", "order value that day, reporting currency", unit=AMOUNT, made_of="orders"),
    Kpi("average_order_value", "revenue per order that day", "revenue", "orders", AMOUNT),
    Kpi("new_customers", "distinct persons whose first order ever is that day"),
    Kpi("returning_customers", "distinct persons ordering that day who had ordered before"),
    Kpi("unsubscribes", "newsletter unsubscribes that day"),
    Kpi("churned", "persons whose last event is `kpis.churn_days` before that day: they lapse "
        "that day (only days up to the end of the data)"),
)
KPI_NAMES = tuple(kpi.name for kpi in KPIS)


def kpi(name: str) -> Kpi:
    for candidate in KPIS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no KPI {name!r}; known: {', '.join(KPI_NAMES)}")
