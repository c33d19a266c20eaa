"""A silver run stops, saying which source, when rows and events do not match."""

from __future__ import annotations

import pytest

from journeylake.core.errors import UserError
from journeylake.silver.checks import (
    SilverError,
    check_every_event_has_a_person,
    check_one_event_per_row,
)


def test_every_row_one_event_passes() -> None:
    check_one_event_per_row({"clickstream": 3, "social": 2}, {"clickstream": 3, "social": 2,
                                                              "store_visit": 5})


def test_a_lost_or_doubled_row_names_its_source() -> None:
    with pytest.raises(SilverError, match=r"^social: 2 bronze rows became 0 events; "
                                          r"transactions: 4 bronze rows became 5 events$"):
        check_one_event_per_row({"clickstream": 3, "social": 2, "transactions": 4},
                                {"clickstream": 3, "transactions": 5})


def test_events_without_a_person_stop_the_run_as_a_user_error() -> None:
    check_every_event_has_a_person(0)
    with pytest.raises(UserError,
                       match="3 events have identifiers but none is in the identity map"):
        check_every_event_has_a_person(3)
