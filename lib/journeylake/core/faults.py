"""Named crash points: where a driver can be killed on purpose, to prove that a job killed
there and run again leaves the tables an uninterrupted run would.

`JOURNEYLAKE_CRASH_AT=<point>` (a point's name, e.g. `silver.after_events`) makes the process
kill itself with SIGKILL, and its process group with it (the JVM of a PySpark driver, when the
driver was started in its own session, as the crash tests do), the first time the point is
reached: nothing is flushed, no `finally` runs, no Delta transaction is finished. Unset, a
crash point costs one dictionary lookup. The points are listed in `CRASH_POINTS`, so a test
can try each of them and a typo is an error rather than a crash that never happens."""

from __future__ import annotations

import os
import signal

from journeylake.core.errors import UserError

CRASH_ENV = "JOURNEYLAKE_CRASH_AT"

CRASH_POINTS = (
    # ingest: bronze and the quarantine written, not yet recorded as ingested; and one source
    # done, the next not started
    "ingest.after_quarantine",
    "ingest.after_bronze",
    "ingest.after_source",
    # silver: the new events written, identity not yet; sessions rebuilt; all but the audit
    "silver.after_events",
    "silver.after_sessions",
    "silver.before_audit",
    # gold: some tables rebuilt, the others still from the last run
    "gold.after_journeys",
    "gold.after_attribution",
    # train: features written, no model yet; segments registered, propensity not yet
    "train.after_features",
    "train.after_segments",
    # score: scores merged, leads not yet written
    "score.after_scores",
    "score.after_leads",
    # kpis: the daily table rebuilt, baselines and alerts not yet
    "kpis.after_daily",
    "kpis.after_baselines",
    # stream: a micro-batch's quarantine rows committed, its bronze rows not; its bronze rows
    # committed, its offsets not
    "stream.after_quarantine",
    "stream.after_bronze",
)


class UnknownCrashPoint(UserError, ValueError):
    """A crash point that no job reaches: a typo in a test or in JOURNEYLAKE_CRASH_AT."""


def crash_point(name: str) -> None:
    """Kill this process here when JOURNEYLAKE_CRASH_AT names this point."""
    if name not in CRASH_POINTS:
        raise UnknownCrashPoint(f"{name!r} is not one of journeylake's crash points")
    wanted = os.environ.get(CRASH_ENV)
    if wanted != name:
        return
    try:
        group = os.getpgid(0)
        # Only a group of our own: a test's driver, never the shell or pytest that started us.
        if group == os.getpid():
            os.killpg(group, signal.SIGKILL)
    finally:
        os.kill(os.getpid(), signal.SIGKILL)


def check_crash_setting() -> None:
    """A JOURNEYLAKE_CRASH_AT that names no point fails at start, not silently never."""
    wanted = os.environ.get(CRASH_ENV)
    if wanted and wanted not in CRASH_POINTS:
        raise UnknownCrashPoint(
            f"{CRASH_ENV}={wanted!r} names no crash point; one of {', '.join(CRASH_POINTS)}")
