"""What a silver run must hold before it writes, and the error it stops with otherwise."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

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


def check_every_amount_converts(unconvertible: Sequence[tuple[str, date, date, int]]) -> None:
    """unconvertible: (currency, first date, last date, amounts) that have no exchange rate."""
    if unconvertible:
        missing = "; ".join(f"{currency} from {first} to {last} ({amounts} amounts)"
                            for currency, first, last, amounts in sorted(unconvertible))
        raise SilverError(f"no exchange rate to the reporting currency for {missing}: add rates "
                          "under silver.currency.rates")


def check_every_event_has_a_person(unresolved: int) -> None:
    """Events with identifiers must all be on a person: every identifier of a run is in the
    identity map. (Events without any identifier, such as a cash purchase at a till, are
    anonymous: kept on the timeline without a person, and counted.)"""
    if unresolved:
        raise SilverError(f"{unresolved} events have identifiers but none is in the identity "
                          "map")
