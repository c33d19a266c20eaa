"""The tables the dashboard reads, and the command that builds each (what a panel says when its
table is missing)."""

from __future__ import annotations

from dataclasses import dataclass

from journeylake.core.lakehouse import Table
from journeylake.gold import tables as gold
from journeylake.kpis import tables as kpis
from journeylake.models import tables as models
from journeylake.quality import tables as quality


@dataclass(frozen=True)
class Source:
    table: Table
    command: str  # the `journeylake <command>` that builds the table

    @property
    def name(self) -> str:
        return self.table if isinstance(self.table, str) else self.table.name


KPIS_DAILY = Source(kpis.KPIS_DAILY, "kpis")
BASELINES = Source(kpis.KPI_BASELINES, "kpis")
ALERT_LIST = Source(kpis.ALERTS, "kpis")
FUNNELS = Source(gold.FUNNELS, "gold")
TOP_PATHS = Source(gold.TOP_PATHS, "gold")
JOURNEY_EDGES = Source(gold.JOURNEY_EDGES, "gold")
SIGNIFICANCE = Source(gold.TOUCHPOINT_SIGNIFICANCE, "gold")
ATTRIBUTION = Source(gold.ATTRIBUTION, "gold")
COHORT_RETENTION = Source(gold.COHORT_RETENTION, "gold")
SEGMENT_PROFILES = Source(models.SEGMENT_PROFILES, "train")
SCORES = Source(models.SCORES, "score")
CLV = Source(models.CLV, "train")
# Every job that writes a table records its expectations; silver is the first.
QUALITY = Source(quality.AUDIT_QUALITY, "silver")

SOURCES: tuple[Source, ...] = (KPIS_DAILY, BASELINES, ALERT_LIST, FUNNELS, TOP_PATHS,
                               JOURNEY_EDGES, SIGNIFICANCE, ATTRIBUTION, COHORT_RETENTION,
                               SEGMENT_PROFILES, SCORES, CLV, QUALITY)


def missing_notice(source: Source) -> str:
    return f"{source.name} not built yet: run `journeylake {source.command}`"
