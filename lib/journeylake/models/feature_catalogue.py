"""Every customer feature in one place: its name (a column of gold_customer_features), its group,
what it means and which window of the timeline it reads.

Windows, relative to a row's reference date (midnight UTC, the cutoff): "history" is every event
before the cutoff; "window" is the `models.feature_window_days` before it; "label" is the
`models.propensity.label_days` after it (labels only, never a feature).
"""

from __future__ import annotations

from dataclasses import dataclass

HISTORY, WINDOW, LABEL = "history", "window", "label"


@dataclass(frozen=True)
class Feature:
    name: str
    # rfm; behaviour (what the person does on the site, in the app and in stores); funnel (carts
    # and checkouts: how close visits came to an order); email (the newsletter relationship:
    # opens, clicks, unsubscribes); channel; session; tenure; graph
    group: str
    meaning: str
    window: str


FEATURES: tuple[Feature, ...] = (
    # Recency, frequency, monetary value, in the reporting currency.
    Feature("days_since_last_order", "rfm",
            "days from the last order (purchase or store purchase) to the cutoff; NULL: none",
            HISTORY),
    Feature("days_since_last_event", "rfm", "days from the last event of any kind to the cutoff",
            HISTORY),
    Feature("orders", "rfm", "orders in the window", WINDOW),
    Feature("revenue", "rfm", "order value in the window, reporting currency", WINDOW),
    Feature("average_order_value", "rfm", "revenue / orders in the window; NULL: no order",
            WINDOW),
    Feature("lifetime_orders", "rfm", "orders before the cutoff", HISTORY),
    Feature("lifetime_revenue", "rfm", "order value before the cutoff, reporting currency",
            HISTORY),
    # What the person did in the window.
    Feature("page_views", "behaviour", "page views", WINDOW),
    Feature("product_views", "behaviour", "product views", WINDOW),
    Feature("searches", "behaviour", "site searches", WINDOW),
    # How far visits got towards an order (the outcome stages, gold.outcome_stage_touchpoints):
    # they record buying rather than drive it.
    Feature("add_to_carts", "funnel", "add-to-cart events", WINDOW),
    Feature("add_to_cart_rate", "funnel", "add-to-carts per product view; NULL: no view",
            WINDOW),
    Feature("checkout_starts", "funnel", "checkout starts", WINDOW),
    Feature("cart_abandonment", "funnel",
            "share of sessions with a cart that ended without an order; NULL: no cart", WINDOW),
    Feature("chats", "behaviour", "chat openings", WINDOW),
    Feature("offer_clicks", "behaviour", "offer clicks", WINDOW),
    Feature("offer_click_rate", "behaviour", "share of sessions with an offer click", WINDOW),
    Feature("store_locator_uses", "behaviour", "store-locator page views", WINDOW),
    Feature("store_visits", "behaviour", "store visits found from location pings", WINDOW),
    Feature("email_opens", "email", "newsletter opens", WINDOW),
    Feature("email_clicks", "email", "newsletter clicks", WINDOW),
    Feature("unsubscribes", "email", "newsletter unsubscribes", WINDOW),
    Feature("social_actions", "behaviour", "posts, mentions, likes and follows", WINDOW),
    # Where the sessions came from.
    Feature("channel_mix", "channel",
            "map channel -> share of the window's sessions entering through it (the models "
            "read one column per channel of the silver channel rules)", WINDOW),
    # How the person browses.
    Feature("sessions", "session", "web and app sessions", WINDOW),
    Feature("active_days", "session", "days with at least one event", WINDOW),
    Feature("average_session_seconds", "session", "mean session duration; NULL: no session",
            WINDOW),
    Feature("events_per_session", "session", "mean events per session; NULL: no session",
            WINDOW),
    Feature("converted_session_rate", "session", "share of sessions with an order", WINDOW),
    Feature("tenure_days", "tenure", "days from the first event to the cutoff", HISTORY),
    # From the journey graph and the social graph, rebuilt from events before the cutoff.
    Feature("pagerank_exposure", "graph",
            "mean PageRank (on the touchpoint transition graph of the sessions before the "
            "cutoff) of the distinct touchpoints the person used in the window", WINDOW),
    Feature("path_entropy", "graph",
            "Shannon entropy (bits) of the person's touchpoints in the window: one habit is 0",
            WINDOW),
    Feature("converting_motif_walks", "graph",
            "walks (a session, or its part up to an order) containing one of the three-step "
            "motifs with the highest conversion rate among the walks before the cutoff "
            "(outcome-stage steps left out)", WINDOW),
    Feature("dropoff_motif_walks", "graph",
            "walks containing one of the three-step motifs with the lowest conversion rate",
            WINDOW),
    Feature("influence", "graph",
            "PageRank on the social graph (follows, mentions, likes before the cutoff); 0: absent",
            HISTORY),
    Feature("followers", "graph", "distinct followers before the cutoff", HISTORY),
    Feature("community_size", "graph",
            "persons in the person's label-propagation community; 1: no social ties", HISTORY),
)

LABELS: tuple[Feature, ...] = (
    Feature("label_purchase", "label", "an order in the label window", LABEL),
    Feature("label_churn", "label",
            "active in the window and no event in the label window; NULL: not active", LABEL),
    Feature("label_unsubscribe", "label",
            "an unsubscribe in the label window; NULL: unsubscribed before the cutoff", LABEL),
)
# Labels of reference dates whose label window runs past the data are NULL, not false.

FEATURE_NAMES = tuple(feature.name for feature in FEATURES)
# Whole numbers (stored as BIGINT); every other feature is a DOUBLE, channel_mix a map of them.
COUNT_FEATURES = frozenset({
    "orders", "lifetime_orders", "page_views", "product_views", "searches", "add_to_carts",
    "checkout_starts", "chats", "offer_clicks", "store_locator_uses", "store_visits",
    "email_opens", "email_clicks", "unsubscribes", "social_actions", "sessions", "active_days",
    "converting_motif_walks", "dropoff_motif_walks", "followers", "community_size",
})
LABEL_BY_TARGET = {label.name.removeprefix("label_"): label.name for label in LABELS}


def feature(name: str) -> Feature:
    for candidate in (*FEATURES, *LABELS):
        if candidate.name == name:
            return candidate
    raise KeyError(f"no feature {name!r}; known: {', '.join(FEATURE_NAMES)}")


def numeric_features(channels: tuple[str, ...]) -> tuple[str, ...]:
    """The model inputs: every numeric feature, with channel_mix as `channel_share_<channel>`."""
    expanded = []
    for item in FEATURES:
        if item.name == "channel_mix":
            expanded += [f"channel_share_{channel}" for channel in channels]
        else:
            expanded.append(item.name)
    return tuple(expanded)


def group_of(model_input: str) -> str:
    """The group of a model input (channel_share_* belong to channel_mix's group)."""
    if model_input.startswith("channel_share_"):
        return feature("channel_mix").group
    return feature(model_input).group
