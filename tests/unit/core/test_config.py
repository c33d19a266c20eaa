"""Configuration is read and validated before any Spark work, and names the key that is wrong."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest

from journeylake.core.config import ConfigError, load_config
from tests.conftest import CONF_DIR


def test_loading_and_validating_the_configuration_does_not_start_spark() -> None:
    # Source contracts are validated too; none of it may need pyspark (no import cycle through
    # the Spark side of the contracts), so a wrong setting fails in milliseconds.
    script = textwrap.dedent(f"""
        import sys
        from journeylake.core.config import load_config
        config = load_config("local", conf_dir={str(CONF_DIR)!r})
        assert config.sources["clickstream"].fields
        loaded = sorted(name for name in sys.modules if name.split(".")[0] == "pyspark")
        print(loaded)
        sys.exit(1 if loaded else 0)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_source_field_of_an_unknown_type_is_named() -> None:
    with pytest.raises(ConfigError,
                       match=r"sources.stores.fields.lat.type: unknown type 'float64'"):
        load_config("local", ["sources.stores.fields=[{name: lat, type: float64}]",
                              "sources.stores.key=[lat]"], conf_dir=CONF_DIR)


def test_gold_settings_are_validated_with_the_rest() -> None:
    with pytest.raises(ConfigError, match="gold.graph_scope: 'visit' is not one of"):
        load_config("local", ["gold.graph_scope=visit"], conf_dir=CONF_DIR)


@pytest.mark.parametrize(("override", "message"), [
    ("models.propensity.targets=[purchase,upsell]", "targets: ['upsell'] unknown"),
    ("models.propensity.calibration=sigmoid", "models.propensity.calibration: 'sigmoid'"),
    ("models.segmentation.k_min=1", "need 2 <= k_min <= k_max"),
    ("models.segmentation.algorithms=[dbscan]", "models.segmentation.algorithms"),
    ("models.propensity.cv_folds=1", "models.propensity.cv_folds: must be at least 2"),
])
def test_model_settings_are_validated_before_spark(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config("local", [override], conf_dir=CONF_DIR)


def test_kpi_settings_come_from_their_file_and_are_validated() -> None:
    assert load_config("local", conf_dir=CONF_DIR).kpis.churn_days == 14
    with pytest.raises(ConfigError, match=re.escape("kpis.churn_days: must be at least 1")):
        load_config("local", ["kpis.churn_days=0"], conf_dir=CONF_DIR)


def test_alert_rules_come_from_the_kpi_file_and_are_validated() -> None:
    alerts = load_config("local", conf_dir=CONF_DIR).kpis.alerts
    assert (alerts.window_days, alerts.warning_deviations, alerts.critical_deviations) == (
        28, 4.0, 6.0)
    assert "conversion_rate" in alerts.kpis and "new_customers" not in alerts.kpis
    for override, message in [
        ("kpis.alerts.window_days=6", "kpis.alerts.window_days: must cover a week"),
        ("kpis.alerts.min_history_days=40", "kpis.alerts.min_history_days: must be in"),
        ("kpis.alerts.critical_deviations=3", "need 0 < warning_deviations <= critical"),
        ("kpis.alerts.min_orders=-1", "kpis.alerts.min_orders: must not be negative"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_config("local", [override], conf_dir=CONF_DIR)


def test_planted_anomalies_and_the_weekly_cycle_are_generator_settings() -> None:
    config = load_config("local", [
        'generate.anomalies=[{kind: campaign_spike, date: "2026-06-26", channel: email}]'],
        conf_dir=CONF_DIR)
    [spike] = config.generate.anomalies
    assert (spike.kind, spike.channel, spike.lift, spike.start_hour) == (
        "campaign_spike", "email", 3.0, 0)
    assert len(config.generate.weekday_traffic) == 7


def test_streaming_settings_come_from_their_file() -> None:
    streaming = load_config("local", conf_dir=CONF_DIR).streaming
    assert streaming.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert (streaming.live_kpis.window_minutes, streaming.live_kpis.watermark_minutes) == (5, 10)


@pytest.mark.parametrize(("override", "message"), [
    ("streaming.kafka.bootstrap_servers=localhost", "'localhost' is not host:port"),
    ("streaming.kafka.starting_offsets=first", "'first' is not one of earliest, latest"),
    ("streaming.live_kpis.window_minutes=0", "streaming.live_kpis.window_minutes: must be "
     "positive"),
    ("streaming.source=stores", "must be a JSON source with an event_time"),
    ("streaming.kafka.port=1", "unknown key(s) ['port']"),
])
def test_streaming_settings_are_validated_before_spark(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config("local", [override], conf_dir=CONF_DIR)


def test_dashboard_settings_come_from_their_file_and_are_validated() -> None:
    dashboard = load_config("local", conf_dir=CONF_DIR).dashboard
    assert (dashboard.output, dashboard.port, dashboard.cohort_period) == (
        "data/dashboard/index.html", 8050, "week")
    assert "revenue" in dashboard.kpis


@pytest.mark.parametrize(("override", "message"), [
    ("dashboard.port=70000", "dashboard.port: 70000 is not a TCP port"),
    ("dashboard.poll_seconds=0", "dashboard.poll_seconds: must be positive"),
    ("dashboard.top_paths=0", "dashboard.top_paths: must be at least 1"),
    ("dashboard.score_bins=1", "dashboard.score_bins: must be between 2 and 100"),
    ("dashboard.cohort_period=year", "dashboard.cohort_period: 'year' is not one of"),
    ("dashboard.output=site/", "dashboard.output: 'site/' should name an .html file"),
    ("dashboard.colour=blue", "dashboard: unknown key(s) ['colour']"),
])
def test_a_wrong_dashboard_setting_is_named(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config("local", [override], conf_dir=CONF_DIR)


def test_the_consent_default_is_opt_in_and_checked() -> None:
    assert load_config("local", conf_dir=CONF_DIR).privacy.consent.default == "deny"
    assert load_config("local", ["privacy.consent.default=grant"],
                       conf_dir=CONF_DIR).privacy.consent.default == "grant"
    with pytest.raises(ConfigError, match=re.escape(
            "privacy.consent.default: 'maybe' is not one of deny, grant")):
        load_config("local", ["privacy.consent.default=maybe"], conf_dir=CONF_DIR)
