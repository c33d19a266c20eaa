"""The period a generation covers and the checks on its settings."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from journeylake.core.config import ConfigError, GenerateSettings
from journeylake.generator.anomalies import check_anomalies
from journeylake.generator.formats import MS_PER_DAY, epoch_day

# Ids pack a person number and an epoch day into fixed bit widths (see `draws.composite_number`).
MAX_PEOPLE = (1 << 24) - 1
MAX_EPOCH_DAY = (1 << 15) - 1
MAX_STORES = 999


@dataclass(frozen=True)
class DataWindow:
    """The `days` days ending at `end_date` (inclusive), as epoch-day numbers (UTC)."""

    first_day: int
    last_day: int

    @classmethod
    def of(cls, settings: GenerateSettings) -> DataWindow:
        last = epoch_day(settings.end_date)
        return cls(first_day=last - settings.days + 1, last_day=last)

    @property
    def days(self) -> int:
        return self.last_day - self.first_day + 1

    @property
    def start_ms(self) -> int:
        return self.first_day * MS_PER_DAY

    @property
    def end_ms(self) -> int:
        """The first millisecond after the window."""
        return (self.last_day + 1) * MS_PER_DAY

    def start_date(self) -> str:
        return (dt.date(1970, 1, 1) + dt.timedelta(days=self.first_day)).isoformat()

    def end_date(self) -> str:
        return (dt.date(1970, 1, 1) + dt.timedelta(days=self.last_day)).isoformat()


def check_settings(settings: GenerateSettings) -> None:
    """Fail before any Spark work, naming the setting, on values the generator cannot honour."""
    where = "generate"
    try:
        dt.date.fromisoformat(settings.end_date)
    except ValueError:
        raise ConfigError(
            f"{where}.end_date: {settings.end_date!r} is not a date in the form YYYY-MM-DD"
        ) from None
    if not 1 <= settings.customers <= MAX_PEOPLE:
        raise ConfigError(f"{where}.customers: {settings.customers} is not in 1..{MAX_PEOPLE}")
    if settings.days < 1:
        raise ConfigError(f"{where}.days: {settings.days} must be at least 1")
    if not 0.0 <= settings.bad_share <= 0.5:
        raise ConfigError(f"{where}.bad_share: {settings.bad_share} is not in 0..0.5")
    if not 1 <= settings.stores <= MAX_STORES:
        raise ConfigError(f"{where}.stores: {settings.stores} is not in 1..{MAX_STORES}")
    if settings.files_per_source < 1:
        raise ConfigError(f"{where}.files_per_source: {settings.files_per_source} must be >= 1")
    if len(settings.weekday_traffic) != 7 or any(not 1 <= f <= 4 for f in settings.weekday_traffic):
        raise ConfigError(f"{where}.weekday_traffic: seven factors in 1..4, Monday first; got "
                          f"{list(settings.weekday_traffic)}")
    for name in ("analytics_share", "marketing_share", "profiling_share", "before_window_share",
                 "withdrawn_share", "regranted_share", "anonymous_share"):
        share = getattr(settings.consent, name)
        if not 0.0 <= share <= 1.0:
            raise ConfigError(f"{where}.consent.{name}: {share} is not in 0..1")
    window = DataWindow.of(settings)
    check_anomalies(settings.anomalies, window.first_day, window.last_day)
    # Signups reach about three years before the window; ids need the day to fit 15 bits.
    if window.first_day - 1200 < 0 or window.last_day > MAX_EPOCH_DAY:
        raise ConfigError(
            f"{where}.end_date/days: the window {window.start_date()}..{window.end_date()} must "
            "lie between 1973 and 2059"
        )


# How many people (customers, visitors, social handles) one partition generates. Every later
# step multiplies rows within the partition (days, sessions, events), so this sets the
# parallelism of the whole generation: 2000 customers make 2 partitions, a million 1000.
# A setting of the module, not of GenerateSettings: the output never depends on it.
PEOPLE_PER_PARTITION = 1000


def people(spark: SparkSession, count: int, start: int = 0) -> DataFrame:
    """`spark.range(start, start + count)` (column `id`) in as many partitions as the count
    needs, rather than one per core whatever the size."""
    partitions = max(1, math.ceil(count / PEOPLE_PER_PARTITION))
    return spark.range(start, start + count, 1, partitions)
