"""The whole generated data set as DataFrames: the raw lines of every source and the truth.

`build_dataset` only builds lazy DataFrames; nothing is read, written or computed until an action
runs. The same settings always give the same lines (see `draws`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import reduce
from types import MappingProxyType

from pyspark.sql import DataFrame, SparkSession

from journeylake.core.config import GenerateSettings
from journeylake.generator import clickstream, consent, geolocation, social, transactions
from journeylake.generator.anomalies import anomalies_truth
from journeylake.generator.browsing import build_sessions, sessions_truth
from journeylake.generator.corruption import LineFormat, inject_bad_records
from journeylake.generator.customers import (
    build_anonymous_visitors,
    build_customers,
    customers_truth,
    identity_links,
    visitors,
)
from journeylake.generator.expressions import fence, lit
from journeylake.generator.stores import build_stores, store_lines
from journeylake.generator.window import DataWindow, check_settings

EVENT_SOURCES = ("clickstream", "social", "geolocation", "transactions", "consent")
SOURCES = (*EVENT_SOURCES, "stores")
LINE_FORMATS: Mapping[str, LineFormat] = {
    "clickstream": clickstream.LINE_FORMAT,
    "social": social.LINE_FORMAT,
    "geolocation": geolocation.LINE_FORMAT,
    "transactions": transactions.LINE_FORMAT,
    "consent": consent.LINE_FORMAT,
}


@dataclass(frozen=True)
class GeneratedData:
    """Raw lines per source (one string column `value`: the line exactly as written, CSV
    without header) and the ground truth."""

    clickstream: DataFrame
    social: DataFrame
    geolocation: DataFrame
    transactions: DataFrame
    stores: DataFrame
    consent: DataFrame
    # customer_id, segment, first_name, last_name, email, handle, phone, offer_affinity, taste,
    # signup_date, churned, churn_date, unsubscribe_date
    customers: DataFrame
    # identifier_type, identifier, customer_id, shared
    identity_links: DataFrame
    # device_id, customer_id, store_id, start_ts, end_ts
    store_visits: DataFrame
    # the planted sessions, see `sessions.sessions_truth`
    sessions: DataFrame
    # the planted anomalies and the signal each should leave, see `anomalies.anomalies_truth`
    anomalies: DataFrame
    # one row per consent line with the bad kind planted in it, see `consent.consent_truth`
    consent_truth: DataFrame
    # per source: `value` and `bad_kind` (NULL for a good line), what the writer counts
    labeled: Mapping[str, DataFrame]

    def lines(self, source: str) -> DataFrame:
        """The raw lines (`value`) of `source`, one of SOURCES."""
        if source not in SOURCES:
            raise KeyError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
        frame: DataFrame = getattr(self, source)
        return frame

    @property
    def bad_records(self) -> DataFrame:
        """source, kind, value: every planted bad line (a duplicate_key line: the extra copy).

        Built on demand: a union over every source is costly to analyse and the writer counts
        bad lines while writing instead."""
        return reduce(
            DataFrame.unionByName,
            [
                frame.where("bad_kind IS NOT NULL").selectExpr(
                    f"{lit(source)} AS source", "bad_kind AS kind", "value"
                )
                for source, frame in self.labeled.items()
                if source in EVENT_SOURCES
            ],
        )

    def truth_tables(self) -> dict[str, DataFrame]:
        """The truth DataFrames by the name they are written under in `_truth/`."""
        return {
            "customers": self.customers,
            "identity_links": self.identity_links,
            "store_visits": self.store_visits,
            "sessions": self.sessions,
            "anomalies": self.anomalies,
            "consent": self.consent_truth,
        }


def build_dataset(spark: SparkSession, settings: GenerateSettings) -> GeneratedData:
    """Every source's raw lines and the truth for `settings`; pure (no I/O, no actions)."""
    check_settings(settings)
    window = DataWindow.of(settings)
    seed = settings.seed
    customers = build_customers(spark, settings, window)
    anonymous = build_anonymous_visitors(spark, settings, window)
    sessions = build_sessions(visitors(customers, anonymous), settings)
    phones = geolocation.phone_days(customers)
    visits = geolocation.build_visits(phones, settings)
    orders = transactions.with_contact(
        transactions.online_orders(sessions, seed).unionByName(
            transactions.store_orders(visits, seed)),
        customers, seed,
    )
    consent_lines = consent.consent_lines(
        consent.customer_records(customers, settings, window).unionByName(
            consent.anonymous_records(anonymous, settings, window)), seed)
    records = {
        "clickstream": clickstream.build_click_events(sessions, seed, settings.anomalies),
        "social": social.build_social_events(
            social.build_actors(spark, customers, settings, window), settings
        ),
        "geolocation": geolocation.build_pings(
            visits, geolocation.everyday_pings(phones, settings)
        ),
        "transactions": transactions.build_orders(orders, seed),
        "consent": consent_lines,
    }
    labeled = {
        source: fence(inject_bad_records(records[source], LINE_FORMATS[source], seed,
                                         settings.bad_share))
        for source in EVENT_SOURCES
    }
    labeled["stores"] = store_lines(build_stores(spark, seed, settings.stores)).selectExpr(
        "value", "CAST(NULL AS STRING) AS bad_kind"
    )
    return GeneratedData(
        clickstream=labeled["clickstream"].select("value"),
        social=labeled["social"].select("value"),
        geolocation=labeled["geolocation"].select("value"),
        transactions=labeled["transactions"].select("value"),
        stores=labeled["stores"].select("value"),
        consent=labeled["consent"].select("value"),
        customers=fence(customers_truth(customers)),
        identity_links=fence(identity_links(customers)),
        store_visits=fence(geolocation.store_visits_truth(visits)),
        sessions=fence(sessions_truth(sessions)),
        anomalies=anomalies_truth(spark, settings.anomalies),
        consent_truth=fence(consent.consent_truth(consent_lines, seed, settings.bad_share)),
        labeled=MappingProxyType(labeled),
    )
