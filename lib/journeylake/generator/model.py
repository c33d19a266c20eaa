"""The planted behaviour: customer segments and the causal effect of touchpoints on purchase.

These numbers are the ground truth an attribution or propensity model should recover; the
manifest of every generation records them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from journeylake.generator.expressions import Sql, lit


@dataclass(frozen=True)
class Segment:
    """A planted kind of customer and how it behaves."""

    name: str
    share: float  # of customers
    sessions_per_day: float  # expected web/app sessions on an active day
    base_log_odds: float  # purchase log-odds of a session before any touchpoint
    app_share: float  # chance the customer has the app on a phone (and so location pings)
    max_browse_steps: int  # browsing events after the entry event, at most
    store_visits_per_day: float  # for app users: chance of a store visit on an active day
    store_purchase: float  # chance a store visit ends in an order
    social_share: float  # chance the customer has a social handle
    social_actions_per_day: float


SEGMENTS: tuple[Segment, ...] = (
    Segment("loyal", 0.15, 0.50, -1.8, 0.60, 5, 0.08, 0.55, 0.70, 0.30),
    Segment("bargain_hunter", 0.20, 0.40, -2.3, 0.45, 7, 0.06, 0.45, 0.60, 0.25),
    Segment("browser", 0.30, 0.45, -3.5, 0.35, 9, 0.03, 0.20, 0.65, 0.25),
    Segment("new", 0.20, 0.30, -2.8, 0.40, 6, 0.04, 0.35, 0.55, 0.20),
    Segment("churner", 0.15, 0.35, -3.0, 0.30, 5, 0.03, 0.30, 0.50, 0.20),
)
# Visitors whose cookie never logs in: they browse, never buy, never reach a store or social.
ANONYMOUS = Segment("anonymous", 0.0, 0.15, -4.0, 0.0, 4, 0.0, 0.0, 0.0, 0.0)
CHURNER = "churner"
NEW = "new"

# Log-odds each touchpoint type adds to a session's purchase probability when it occurs at least
# once before the outcome: p = 1 / (1 + exp(-(segment base + sum of effects of types present))).
TOUCHPOINT_EFFECTS: dict[str, float] = {
    "offer_click": 2.0,
    "email_click": 0.7,
    "chat": 0.6,
    "product_view": 0.4,
    "search": 0.3,
    "email_open": 0.2,
    "store_locator": 0.2,
    "page_view": 0.0,
}
# Events that record the outcome rather than cause it: the effects leave them out.
OUTCOME_EVENTS = ("add_to_cart", "checkout_start", "purchase")
UNSUBSCRIBE = "unsubscribe"

# Chance that a churner unsubscribes from the newsletter in the days before the churn date.
UNSUBSCRIBE_SHARE = 0.6
# Churners disengage before they leave: their session rate falls linearly over this many days
# before the churn date, to DISENGAGED_RATE of the segment's rate on the last day.
DISENGAGEMENT_DAYS = 14
DISENGAGED_RATE = 0.3

# Deal-proneness, the person-level driver of purchase: at each browsing step a person clicks an
# offer with probability offer_affinity, on top of the browsing chain's own offer clicks.
# offer_affinity = OFFER_AFFINITY_MAX * u^2 (u uniform per person, any segment): many people
# rarely click offers, some click them in almost every visit, and since an offer click adds
# TOUCHPOINT_EFFECTS["offer_click"] to a visit's log-odds, those few buy more often.
OFFER_AFFINITY_MAX = 0.6
# Taste: the catalogue has TASTE_FAMILIES product families (product number mod families). A
# person's focus product is from their own family with probability TASTE_LOYALTY, else from the
# whole catalogue; personal recommendations should find it, a popularity list cannot.
TASTE_FAMILIES = 8
TASTE_LOYALTY = 0.6


def segment_value(segment: Sql, attribute: str) -> Sql:
    """The `Segment` attribute of the segment named by `segment` (anonymous included)."""
    pairs = ", ".join(
        f"{lit(profile.name)}, {lit(getattr(profile, attribute))}"
        for profile in (*SEGMENTS, ANONYMOUS)
    )
    return f"try_element_at(map({pairs}), {segment})"


def touchpoint_log_odds(touchpoints: Sql) -> Sql:
    """The summed effect of the distinct touchpoint types in the array `touchpoints`."""
    effects = ", ".join(f"{lit(name)}, {lit(value)}" for name, value in TOUCHPOINT_EFFECTS.items())
    return (
        f"aggregate(array_distinct({touchpoints}), CAST(0 AS DOUBLE), "
        f"(_total, _t) -> _total + coalesce(try_element_at(map({effects}), _t), CAST(0 AS DOUBLE)))"
    )


def truth() -> dict[str, Any]:
    """The planted parameters, for the manifest."""
    return {
        "touchpoint_effects": dict(TOUCHPOINT_EFFECTS),
        "segment_base_log_odds": {s.name: s.base_log_odds for s in SEGMENTS},
        "segments": {s.name: asdict(s) for s in (*SEGMENTS, ANONYMOUS)},
        "purchase_model": "p = 1 / (1 + exp(-(segment base + sum of effects of the distinct "
        "touchpoint types in the session before add_to_cart/checkout_start/purchase)))",
        "unsubscribe_share_of_churners": UNSUBSCRIBE_SHARE,
        "churner_disengagement": {"days_before_churn": DISENGAGEMENT_DAYS,
                                  "rate_on_last_day": DISENGAGED_RATE},
        "offer_affinity": f"{OFFER_AFFINITY_MAX} * u^2 per person: chance of an extra offer "
        "click at each browsing step",
        "taste": {"families": TASTE_FAMILIES, "loyalty": TASTE_LOYALTY,
                  "family_of_product": f"(product number - 1) mod {TASTE_FAMILIES}"},
    }
