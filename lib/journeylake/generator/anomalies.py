"""Planted anomalies: disruptions of one UTC day that the KPI alerts should catch.

- `checkout_broken`: during the hours, a buyer's checkout fails: the session shows its
  add-to-cart and checkout_start events but no purchase, and no order is recorded.
- `campaign_spike`: a campaign on `channel` brings extra sessions that day, about `lift` times
  the channel's usual number.
- `tracking_outage`: during the hours, the tracker sends no clickstream event of sessions that
  enter through `channel` (orders are still recorded by the shop's back end).

Each kind states the signal it should leave in gold_kpis_daily (`expected_signal`), which the
generator writes with the anomaly to `_truth/anomalies`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from journeylake.core.config import Anomaly, ConfigError
from journeylake.generator.expressions import Sql, lit
from journeylake.generator.formats import MS_PER_DAY, epoch_day

CHECKOUT_BROKEN, CAMPAIGN_SPIKE, TRACKING_OUTAGE = (
    "checkout_broken", "campaign_spike", "tracking_outage")
KINDS = (CHECKOUT_BROKEN, CAMPAIGN_SPIKE, TRACKING_OUTAGE)
# The entry channels of the generated sessions (`browsing.WEB_CHANNELS`, `APP_CHANNELS`).
CHANNELS = ("organic_search", "paid_search", "email", "social", "display", "direct")
MS_PER_HOUR = 3_600_000


@dataclass(frozen=True)
class Signal:
    """What an anomaly should look like in gold_kpis_daily on its day."""

    kpi: str
    breakdown: str
    breakdown_value: str
    direction: str


def expected_signal(anomaly: Anomaly) -> Signal:
    if anomaly.kind == CHECKOUT_BROKEN:
        return Signal("conversion_rate", "all", "all", "down")
    if anomaly.kind == CAMPAIGN_SPIKE:
        return Signal("sessions", "channel", str(anomaly.channel), "up")
    return Signal("sessions", "channel", str(anomaly.channel), "down")


def parse_anomaly(text: str) -> Anomaly:
    """`kind=K,date=YYYY-MM-DD[,start_hour=H][,end_hour=H][,channel=C][,lift=X]`, the form of
    `journeylake generate --anomaly`."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--anomaly {text!r}: expected KEY=VALUE pairs separated by commas, "
                              "e.g. kind=campaign_spike,date=2026-06-20,channel=email,lift=3")
        fields[key.strip()] = value.strip()
    known = ("kind", "date", "start_hour", "end_hour", "channel", "lift")
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise ConfigError(f"--anomaly {text!r}: unknown key(s) {unknown}; known: {list(known)}")
    if "kind" not in fields or "date" not in fields:
        raise ConfigError(f"--anomaly {text!r}: kind and date are required")
    try:
        return Anomaly(
            kind=fields["kind"], date=fields["date"],
            start_hour=int(fields.get("start_hour", 0)), end_hour=int(fields.get("end_hour", 24)),
            channel=fields.get("channel"), lift=float(fields.get("lift", 3.0)))
    except ValueError as error:
        raise ConfigError(f"--anomaly {text!r}: {error}") from None


def check_anomalies(anomalies: tuple[Anomaly, ...], first_day: int, last_day: int) -> None:
    """Fail, naming the setting, on an anomaly the generator cannot plant."""
    for index, anomaly in enumerate(anomalies):
        where = f"generate.anomalies[{index}]"
        if anomaly.kind not in KINDS:
            raise ConfigError(f"{where}.kind: {anomaly.kind!r} is not one of {', '.join(KINDS)}")
        try:
            day = epoch_day(anomaly.date)
        except ValueError:
            raise ConfigError(f"{where}.date: {anomaly.date!r} is not a date YYYY-MM-DD") from None
        if not first_day <= day <= last_day:
            raise ConfigError(f"{where}.date: {anomaly.date} is outside the generated days")
        if not 0 <= anomaly.start_hour < anomaly.end_hour <= 24:
            raise ConfigError(f"{where}: need 0 <= start_hour < end_hour <= 24, got "
                              f"{anomaly.start_hour}..{anomaly.end_hour}")
        if anomaly.kind == CHECKOUT_BROKEN:
            if anomaly.channel is not None:
                raise ConfigError(f"{where}.channel: checkout_broken hits every channel")
        elif anomaly.channel not in CHANNELS:
            raise ConfigError(f"{where}.channel: {anomaly.channel!r} is not one of "
                              f"{', '.join(CHANNELS)}")
        if anomaly.kind == CAMPAIGN_SPIKE and not anomaly.lift > 1:
            raise ConfigError(f"{where}.lift: a spike needs a lift above 1, got {anomaly.lift}")


def _of(anomalies: tuple[Anomaly, ...], kind: str) -> list[Anomaly]:
    return [anomaly for anomaly in anomalies if anomaly.kind == kind]


def _window(anomaly: Anomaly) -> tuple[int, int]:
    start = epoch_day(anomaly.date) * MS_PER_DAY
    return start + anomaly.start_hour * MS_PER_HOUR, start + anomaly.end_hour * MS_PER_HOUR


def during(anomalies: tuple[Anomaly, ...], kind: str, ms: Sql, channel: Sql | None = None
           ) -> Sql:
    """A predicate: the epoch-ms column `ms` (of a row on `channel`) falls in an anomaly of
    `kind`; FALSE without one."""
    terms = []
    for anomaly in _of(anomalies, kind):
        start, end = _window(anomaly)
        on_channel = f" AND {channel} = {lit(anomaly.channel)}" if channel else ""
        terms.append(f"({ms} >= {start}L AND {ms} < {end}L{on_channel})")
    return f"({' OR '.join(terms)})" if terms else "FALSE"


def campaign_lift(anomalies: tuple[Anomaly, ...], day: Sql) -> Sql:
    """The (channel, lift) struct of the campaign spike on epoch day `day`, else NULL."""
    cases = " ".join(
        f"WHEN {day} = {epoch_day(a.date)} THEN named_struct('channel', {lit(a.channel)}, "
        f"'lift', {lit(a.lift)})" for a in _of(anomalies, CAMPAIGN_SPIKE))
    return f"CASE {cases} END" if cases else "CAST(NULL AS STRUCT<channel: STRING, lift: DOUBLE>)"


def anomalies_truth(spark: SparkSession, anomalies: tuple[Anomaly, ...]) -> DataFrame:
    """kind, date, start_hour, end_hour, channel, lift and the signal each should leave (kpi,
    breakdown, breakdown_value, direction): the `_truth/anomalies` table."""
    rows = [
        (a.kind, dt.date.fromisoformat(a.date), a.start_hour, a.end_hour, a.channel,
         float(a.lift), *vars(expected_signal(a)).values())
        for a in anomalies
    ]
    return spark.createDataFrame(
        rows, "kind string, date date, start_hour int, end_hour int, channel string, "
        "lift double, kpi string, breakdown string, breakdown_value string, direction string")
