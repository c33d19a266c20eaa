"""Funnels: how far each person gets through an ordered list of touchpoints within a time window.

A person's attempt starts at their first step-1 event (the entry) and only events up to
entry_ts + window_hours count; there is one attempt per person, a later step-1 event does not
start another. A person's events are ordered by (ts, event_key), so ties are broken the same way
on every run, and "before the entry" means earlier in that order.

- strict order: step k+1 is reached by the earliest event of its touchpoint that comes after the
  event that reached step k.
- any order: each step is reached by the earliest event of its touchpoint at or after the entry
  (the entry itself is step 1), whatever the order of the other steps. A touchpoint listed twice
  needs two events: its n-th listing is reached by its n-th event. As in a funnel chart, step k
  counts as reached only when steps 1..k all are, so step_ts is NULL from the first step missing
  on, even if a later step's touchpoint did occur.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from journeylake.core.clock import epoch_seconds
from journeylake.core.columns import require_columns
from journeylake.core.config import FunnelSettings
from journeylake.core.frames import union_all

ORDERS = ("strict", "any")
PROGRESS_COLUMNS = (
    "funnel", "person_id", "entry_channel", "entry_ts", "step_ts", "steps_reached",
)
REPORT_COLUMNS = (
    "funnel", "group_by", "group_value", "step_index", "step", "persons",
    "conversion_from_previous", "conversion_overall", "median_seconds_from_previous",
)
# The group_by and group_value of the report over all persons.
ALL = "all"
_MICROS_PER_HOUR = 3_600_000_000


@dataclass(frozen=True)
class FunnelSpec:
    """A named funnel: the touchpoints to reach in turn, within window_hours of the entry."""

    name: str
    steps: tuple[str, ...]
    window_hours: float
    order: str = "strict"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if isinstance(self.steps, str):
            raise ValueError(f"steps must be a sequence of touchpoints, got {self.steps!r}")
        steps = tuple(self.steps)
        if len(steps) < 2:
            raise ValueError(f"steps needs at least 2 touchpoints, got {list(steps)}")
        if not all(isinstance(step, str) and step for step in steps):
            raise ValueError(f"steps must be non-empty strings, got {list(steps)}")
        object.__setattr__(self, "steps", steps)  # a list given by a caller becomes a tuple
        if isinstance(self.window_hours, bool) or not isinstance(self.window_hours, (int, float)):
            raise ValueError(f"window_hours must be a number, got {self.window_hours!r}")
        if not self.window_hours > 0:
            raise ValueError(f"window_hours must be positive, got {self.window_hours}")
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {list(ORDERS)}, got {self.order!r}")


def _strict_steps(attempt: Column, spec: FunnelSpec) -> list[Column]:
    """Walk the attempt's events in order, each one able to reach only the next step."""
    steps = F.array(*[F.lit(step) for step in spec.steps])
    start = F.struct(F.lit(0).alias("k"), F.array().cast("array<timestamp>").alias("at"))

    def step(acc: Column, event: Column) -> Column:
        # get() is NULL past the last step (element_at would fail under ANSI mode).
        advances = event["touchpoint"] == F.get(steps, acc["k"])
        return F.when(
            advances,
            F.struct((acc["k"] + 1).alias("k"), F.array_append(acc["at"], event["ts"]).alias("at")),
        ).otherwise(acc)

    reached = F.aggregate(attempt, start, step)["at"]
    return [F.get(reached, index) for index in range(len(spec.steps))]


def _is(touchpoint: str) -> Callable[[Column], Column]:
    # A default argument would not do: F.filter reads a 2-argument lambda as (element, index).
    return lambda event: event["touchpoint"] == touchpoint


def _any_order_steps(attempt: Column, spec: FunnelSpec) -> list[Column]:
    """Each step's own earliest event; a step is reached only if the steps before it are."""
    own = []
    for index, touchpoint in enumerate(spec.steps):
        nth = spec.steps[:index].count(touchpoint)
        matching = F.filter(attempt, _is(touchpoint))
        own.append(F.get(matching, nth)["ts"])
    reached = [F.lit(True)]
    for ts in own:
        reached.append(reached[-1] & ts.isNotNull())
    return [F.when(reached[index + 1], ts) for index, ts in enumerate(own)]


def funnel_progress(events: DataFrame, spec: FunnelSpec) -> DataFrame:
    """PROGRESS_COLUMNS: one row per person with a step-1 event, from events (person_id, ts,
    touchpoint, channel, event_key; other columns are ignored).

    entry_channel and entry_ts are those of the entry event. step_ts holds, for each step, the
    ts of the event that reached it (see the module docstring for the two orders) and is NULL
    from the first step not reached on; steps_reached is the number of steps reached (>= 1).
    An event exactly at entry_ts + window_hours still counts. Events without a person or a ts
    are ignored.
    """
    require_columns(events, ("person_id", "ts", "touchpoint", "channel", "event_key"),
                    "funnel_progress")
    window_micros = round(spec.window_hours * _MICROS_PER_HOUR)
    timeline = events.where(
        F.col("person_id").isNotNull() & F.col("ts").isNotNull()
        & F.col("touchpoint").isin(sorted(set(spec.steps)))
    )
    # Struct order is field order, and event_key is unique: (ts, event_key) sorts the list.
    ordered = timeline.groupBy("person_id").agg(
        F.array_sort(F.collect_list(F.struct("ts", "event_key", "touchpoint", "channel")))
        .alias("_events")
    )
    entry_at = F.array_position(F.transform("_events", lambda e: e["touchpoint"]), spec.steps[0])
    with_entry = (
        ordered.withColumn("_entry_at", entry_at)
        .where(F.col("_entry_at") > 0)
        .withColumn("_entry", F.get("_events", F.col("_entry_at") - 1))
    )
    deadline = F.timestamp_micros(F.unix_micros(F.col("_entry")["ts"]) + F.lit(window_micros))
    # The entry and everything after it in order, up to the deadline.
    attempt = F.filter(
        F.slice("_events", F.col("_entry_at"), F.size("_events")),
        lambda event: event["ts"] <= deadline,
    )
    steps = (_strict_steps if spec.order == "strict" else _any_order_steps)(attempt, spec)
    return with_entry.select(
        F.lit(spec.name).alias("funnel"),
        "person_id",
        F.col("_entry")["channel"].alias("entry_channel"),
        F.col("_entry")["ts"].alias("entry_ts"),
        F.array(*steps).alias("step_ts"),
    ).withColumn(
        "steps_reached", F.size(F.filter("step_ts", lambda ts: ts.isNotNull())).cast("int")
    )


def funnel_report(progress: DataFrame, spec: FunnelSpec, by: str | None = None) -> DataFrame:
    """REPORT_COLUMNS: one row per step of spec (and per value of `by`) from funnel_progress
    rows (funnel, person_id, step_ts, steps_reached, and `by`); rows of other funnels are left
    out, so the progress of several funnels can be passed together.

    group_by is the column name and group_value its value cast to string (NULL stays NULL);
    by=None reports all persons together with group_by and group_value both 'all'. Every step
    gets a row, with persons 0 when nobody reached it. conversion_from_previous is persons /
    persons at the previous step (1.0 for step 1, NULL when the previous step has 0 persons);
    conversion_overall is persons / persons at step 1.

    median_seconds_from_previous is the exact median (percentile 0.5, halfway between the two
    middle values for an even count) over persons who reached step k of the seconds between
    reaching step k-1 and step k, NULL for step 1 and for a step nobody reached. "Reaching step
    k" is the moment steps 1..k had all happened: the latest of step_ts[1..k]. In strict order
    that is step_ts[k] itself; in any order it never goes back, so the time is never negative,
    and it is 0 when step k happened before step k-1 did (nothing more to wait for).
    """
    needs = ("funnel", "person_id", "step_ts", "steps_reached") + ((by,) if by else ())
    require_columns(progress, needs, "funnel_report")
    if by is not None and by in REPORT_COLUMNS:
        raise ValueError(f"by must not be a report column {list(REPORT_COLUMNS)}, got {by!r}")
    count = len(spec.steps)
    names = F.array(*[F.lit(step) for step in spec.steps])

    def reached_at(k: Column) -> Column:  # k is 1-based
        return F.array_max(F.slice("step_ts", 1, k))

    per_step = F.transform(
        F.sequence(F.lit(1), F.lit(count)),
        lambda k: F.struct(
            k.alias("step_index"),
            (F.col("steps_reached") >= k).alias("reached"),
            F.when((k > 1) & (F.col("steps_reached") >= k),
                   epoch_seconds(reached_at(k)) - epoch_seconds(reached_at(k - 1))
                   ).alias("seconds"),
        ),
    )
    steps = progress.where(F.col("funnel") == spec.name).select(
        "funnel",
        F.lit(by or ALL).alias("group_by"),
        (F.col(by).cast("string") if by else F.lit(ALL)).alias("group_value"),
        F.inline(per_step),
    )
    counted = steps.groupBy("funnel", "group_by", "group_value", "step_index").agg(
        F.count_if("reached").alias("persons"),
        F.percentile(F.col("seconds").cast("double"), F.lit(0.5))
        .alias("median_seconds_from_previous"),
    )
    funnel = Window.partitionBy("funnel", "group_by", "group_value").orderBy("step_index")
    previous = F.lag("persons").over(funnel)
    first = F.first("persons").over(funnel)
    return counted.select(
        "funnel",
        "group_by",
        "group_value",
        F.col("step_index").cast("int").alias("step_index"),
        F.get(names, F.col("step_index") - 1).alias("step"),
        "persons",
        F.when(F.col("step_index") == 1, F.lit(1.0))
        .otherwise(F.try_divide(F.col("persons").cast("double"), previous))
        .alias("conversion_from_previous"),
        F.try_divide(F.col("persons").cast("double"), first).alias("conversion_overall"),
        F.col("median_seconds_from_previous").cast("double").alias("median_seconds_from_previous"),
    )


def funnel_reports(
    events: DataFrame, funnels: Sequence[FunnelSettings], breakdowns: Sequence[str] = ()
) -> DataFrame | None:
    """REPORT_COLUMNS of every configured funnel, over all persons and by each column of
    `breakdowns` (a funnel_progress column such as entry_channel); None without funnels."""
    reports = []
    for funnel in funnels:
        spec = FunnelSpec(funnel.name, funnel.steps, funnel.window_hours, funnel.order)
        # Checkpointed: every breakdown reads the same progress.
        progress = funnel_progress(events, spec).localCheckpoint()
        reports.append(funnel_report(progress, spec))
        reports.extend(funnel_report(progress, spec, by=column) for column in breakdowns)
    return union_all(reports) if reports else None
