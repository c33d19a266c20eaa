"""Console progress for long jobs: the step a job is in, how long it has taken, and the tasks of
the Spark stages running under it (Spark's status tracker, drawn by rich).

Shown only on an interactive terminal: CI logs, redirected output and `CI=true` get the plain
log line of each step instead. `$JOURNEYLAKE_PROGRESS` forces it: `1` on, `0` off.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

from pyspark import SparkContext

PROGRESS_ENV = "JOURNEYLAKE_PROGRESS"
POLL_SECONDS = 0.5
log = logging.getLogger("journeylake.progress")


def progress_wanted(stream: TextIO | None = None) -> bool:
    """Whether to draw progress on `stream` (stderr): forced by $JOURNEYLAKE_PROGRESS, else
    only on a terminal outside CI."""
    setting = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if setting in ("1", "true", "on", "yes"):
        return True
    if setting in ("0", "false", "off", "no"):
        return False
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false"):
        return False
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


def spark_tasks() -> tuple[int, int, str] | None:
    """(completed, total, stage names) of the active Spark stages, or None when nothing runs."""
    context = SparkContext._active_spark_context
    if context is None:
        return None
    tracker = context.statusTracker()
    done = total = 0
    names = []
    for stage_id in tracker.getActiveStageIds():
        info = tracker.getStageInfo(stage_id)
        if info is None:
            continue
        done += info.numCompletedTasks
        total += info.numTasks
        names.append(f"stage {stage_id}")
    return (done, total, ", ".join(names)) if total else None


class ConsoleProgress:
    """The running job's step and the Spark tasks under it, redrawn in place by rich."""

    def __init__(self, job: str, stream: TextIO | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._job = job
        self._bar = Progress(
            SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
            MofNCompleteColumn(), TextColumn("{task.fields[stages]}"), TimeElapsedColumn(),
            console=Console(file=stream or sys.stderr), transient=True)
        self._task = self._bar.add_task(job, total=None, stages="")
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="journeylake-progress",
                                        daemon=True)

    def __enter__(self) -> ConsoleProgress:
        self._bar.start()
        self._poller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._poller.join(timeout=2)
        self._bar.stop()

    def step(self, name: str) -> None:
        self._bar.update(self._task, description=f"{self._job}: {name}")
        self._bar.console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {self._job}: {name}")

    def _poll(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                tasks = spark_tasks()
            except Exception:  # the context is stopping; the next job's poll starts afresh
                tasks = None
            if tasks is None:
                self._bar.update(self._task, total=None, completed=0, stages="")
            else:
                done, total, stages = tasks
                self._bar.update(self._task, total=total, completed=done, stages=stages)


_current: ContextVar[ConsoleProgress | None] = ContextVar("journeylake_progress", default=None)


@contextmanager
def job_progress(job: str, wanted: bool | None = None, stream: TextIO | None = None
                 ) -> Iterator[None]:
    """Progress for the whole of `job` (every command runs in one, see `job_runner.run_main`)
    on `stream` (stderr); `wanted` overrides `progress_wanted`."""
    if not (progress_wanted(stream) if wanted is None else wanted) or _current.get() is not None:
        yield
        return
    with ConsoleProgress(job, stream) as progress:
        token = _current.set(progress)
        try:
            yield
        finally:
            _current.reset(token)


def step(name: str) -> None:
    """Say the job has entered step `name`: on the console's progress line when one is drawn,
    and always in the log."""
    log.info("step: %s", name)
    progress = _current.get()
    if progress is not None:
        progress.step(name)
