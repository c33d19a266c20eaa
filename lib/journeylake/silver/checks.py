"""What a silver run must hold before it writes, and the error it stops with otherwise."""

from __future__ import annotations

from collections.abc import Mapping

from journeylake.core.job_runner import JobError


class SilverError(JobError):
    """A silver run that cannot be trusted: the message says which check failed."""


def check_one_event_per_row(rows_in: Mapping[str, int], events: Mapping[str, int]) -> None:
    """Every bronze row of a timeline source became exactly one event. rows_in: source ->
    bronze rows read; events: source -> events made (a source without events may be absent)."""
    wrong = {source: (expected, events.get(source, 0)) for source, expected in rows_in.items()
             if events.get(source, 0) != expected}
    if wrong:
        raise SilverError("; ".join(f"{source}: {expected} bronze rows became {made} events"
                                    for source, (expected, made) in sorted(wrong.items())))


def check_every_event_has_a_person(unresolved: int) -> None:
    if unresolved:
        raise SilverError(f"{unresolved} events have no identifier in the identity map")
