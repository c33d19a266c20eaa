"""Planted anomalies and the weekly cycle, read off the generated sessions and click events of
200 customers over 8 days: each anomaly changes its own day, hours and channel, and nothing
else."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
from pyspark.sql import DataFrame, SparkSession

from journeylake.core.config import Anomaly, ConfigError, GenerateSettings
from journeylake.generator.anomalies import expected_signal, parse_anomaly
from journeylake.generator.browsing import build_sessions
from journeylake.generator.clickstream import build_click_events
from journeylake.generator.customers import build_anonymous_visitors, build_customers, visitors
from journeylake.generator.window import DataWindow, check_settings

# 2026-06-23 (Tuesday) .. 2026-06-30 (Tuesday); the 27th and 28th are the weekend.
PLAIN = GenerateSettings(customers=200, days=8, seed=11, end_date="2026-06-30", bad_share=0.0,
                         stores=5)
BROKEN = Anomaly("checkout_broken", "2026-06-25", start_hour=10, end_hour=20)
SPIKE = Anomaly("campaign_spike", "2026-06-26", channel="organic_search", lift=4.0)
OUTAGE = Anomaly("tracking_outage", "2026-06-29", start_hour=6, end_hour=24,
                 channel="paid_search")
PLANTED = dataclasses.replace(PLAIN, anomalies=(BROKEN, SPIKE, OUTAGE),
                              weekday_traffic=(1.0, 1.0, 1.0, 1.0, 1.0, 1.5, 1.5))


def _sessions(spark: SparkSession, settings: GenerateSettings) -> DataFrame:
    window = DataWindow.of(settings)
    people = visitors(build_customers(spark, settings, window),
                      build_anonymous_visitors(spark, settings, window))
    return build_sessions(people, settings)


def _by_id(frame: DataFrame) -> dict[str, dict]:
    rows = frame.selectExpr(
        "session_id", "channel", "converted", "events", "order_id",
        "CAST(timestamp_millis(start_ms) AS STRING) AS start", "customer_id").collect()
    return {row.session_id: row.asDict() for row in rows}


@pytest.fixture(scope="module")
def plain(spark: SparkSession) -> dict[str, dict]:
    return _by_id(_sessions(spark, PLAIN))


@pytest.fixture(scope="module")
def planted(spark: SparkSession) -> dict[str, dict]:
    return _by_id(_sessions(spark, PLANTED))


def _day(session: dict) -> str:
    return session["start"][:10]


def _hour(session: dict) -> int:
    return int(session["start"][11:13])


def test_weekdays_without_an_anomaly_keep_exactly_their_sessions(
        plain: dict[str, dict], planted: dict[str, dict]) -> None:
    untouched_days = {"2026-06-23", "2026-06-24", "2026-06-30"}
    before = {k: v for k, v in plain.items() if _day(v) in untouched_days}
    after = {k: v for k, v in planted.items() if _day(v) in untouched_days}
    assert before and before == after


def test_the_weekly_cycle_adds_weekend_sessions_and_keeps_the_others(
        plain: dict[str, dict], planted: dict[str, dict]) -> None:
    for day in ("2026-06-27", "2026-06-28"):
        before = {k for k, v in plain.items() if _day(v) == day}
        after = {k for k, v in planted.items() if _day(v) == day}
        assert before < after
        # Factor 1.5 on every slot's chance: about half as many sessions again.
        assert 1.3 < len(after) / len(before) < 1.7, (day, len(before), len(after))


def test_a_broken_checkout_stops_every_purchase_in_its_hours_only(
        plain: dict[str, dict], planted: dict[str, dict]) -> None:
    inside = [k for k, v in plain.items()
              if _day(v) == BROKEN.date and 10 <= _hour(v) < 20]
    buyers = [k for k in inside if plain[k]["converted"]]
    assert len(buyers) >= 5
    for key in buyers:
        failed = planted[key]
        assert not failed["converted"] and failed["order_id"] is None
        # The buyer got as far as the checkout: the cart, then checkout_start, then nothing.
        assert failed["events"][-1] == "checkout_start"
        assert failed["events"][:-1] == plain[key]["events"][:-2]
    outside = [k for k, v in plain.items() if _day(v) == BROKEN.date and not 10 <= _hour(v) < 20]
    assert any(plain[k]["converted"] for k in outside)
    assert all(planted[k]["converted"] == plain[k]["converted"] for k in outside)


def test_a_campaign_spike_multiplies_its_channel_on_its_day(
        plain: dict[str, dict], planted: dict[str, dict]) -> None:
    def count(sessions: dict[str, dict], day: str, channel: str | None = None) -> int:
        return sum(1 for v in sessions.values()
                   if _day(v) == day and (channel is None or v["channel"] == channel))

    channel = "organic_search"
    before, after = count(plain, SPIKE.date, channel), count(planted, SPIKE.date, channel)
    assert before >= 15
    assert 2.5 < after / before < 5.5, (before, after)
    # The extra sessions are all on the campaign's channel.
    assert count(planted, SPIKE.date) - count(plain, SPIKE.date) == after - before
    assert count(planted, "2026-06-25", channel) == count(plain, "2026-06-25", channel)


def test_a_tracking_outage_loses_the_channels_events_in_its_hours(spark: SparkSession) -> None:
    sessions = _sessions(spark, PLANTED)
    sent = build_click_events(sessions, PLANTED.seed, PLANTED.anomalies)
    everything = build_click_events(sessions, PLANTED.seed)
    lost = everything.join(sent, "event_id", "left_anti")
    window = (dt.datetime(2026, 6, 29, 6, tzinfo=dt.timezone.utc).timestamp() * 1000,
              dt.datetime(2026, 6, 30, tzinfo=dt.timezone.utc).timestamp() * 1000)
    on_channel_in_hours = sessions.where("channel = 'paid_search'").selectExpr(
        "explode(transform(offsets, o -> start_ms + o)) AS ms").where(
        f"ms >= {window[0]} AND ms < {window[1]}")
    assert on_channel_in_hours.count() > 10
    assert lost.count() == on_channel_in_hours.count()
    assert lost.where(f"_ms < {window[0]} OR _ms >= {window[1]}").count() == 0


def test_each_anomaly_states_the_signal_it_should_leave() -> None:
    assert vars(expected_signal(BROKEN)) == {
        "kpi": "conversion_rate", "breakdown": "all", "breakdown_value": "all",
        "direction": "down"}
    assert vars(expected_signal(SPIKE))["breakdown_value"] == "organic_search"
    assert vars(expected_signal(OUTAGE))["direction"] == "down"


def test_the_command_line_form_parses_every_field() -> None:
    assert parse_anomaly("kind=tracking_outage,date=2026-06-29,start_hour=6,"
                         "channel=paid_search") == dataclasses.replace(OUTAGE, lift=3.0)
    assert parse_anomaly(
        "kind=campaign_spike, date=2026-06-26, channel=organic_search, lift=4") == SPIKE


@pytest.mark.parametrize(("text", "message"), [
    ("kind=campaign_spike", "kind and date are required"),
    ("kind=campaign_spike,date=2026-06-26,colour=red", "unknown key(s) ['colour']"),
    ("kind campaign_spike", "KEY=VALUE pairs"),
    ("kind=checkout_broken,date=2026-06-26,start_hour=x", "invalid literal"),
])
def test_a_malformed_command_line_anomaly_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_anomaly(text)


@pytest.mark.parametrize(("anomaly", "message"), [
    (Anomaly("outage", "2026-06-26"), r"kind: 'outage' is not one of"),
    (Anomaly("checkout_broken", "2026-07-26"), "outside the generated days"),
    (Anomaly("checkout_broken", "26/06/2026"), "is not a date"),
    (Anomaly("checkout_broken", "2026-06-26", start_hour=20, end_hour=10), "start_hour < end"),
    (Anomaly("checkout_broken", "2026-06-26", channel="email"), "hits every channel"),
    (Anomaly("tracking_outage", "2026-06-26"), "channel: None is not one of"),
    (Anomaly("campaign_spike", "2026-06-26", channel="email", lift=0.5), "lift above 1"),
])
def test_an_anomaly_the_generator_cannot_plant_fails_naming_its_setting(
        anomaly: Anomaly, message: str) -> None:
    with pytest.raises(ConfigError, match=r"generate\.anomalies\[0\]"):
        check_settings(dataclasses.replace(PLAIN, anomalies=(anomaly,)))
    with pytest.raises(ConfigError, match=message):
        check_settings(dataclasses.replace(PLAIN, anomalies=(anomaly,)))


def test_a_weekly_cycle_below_one_or_of_the_wrong_length_is_refused() -> None:
    for cycle in ((1.0,) * 6, (0.8, 1, 1, 1, 1, 1, 1)):
        with pytest.raises(ConfigError, match="weekday_traffic"):
            check_settings(dataclasses.replace(PLAIN, weekday_traffic=cycle))
