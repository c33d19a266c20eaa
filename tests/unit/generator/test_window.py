from __future__ import annotations

import dataclasses

import pytest

from journeylake.core.config import ConfigError, ConsentGeneration, GenerateSettings
from journeylake.generator.window import DataWindow, check_settings


def test_the_window_is_the_days_ending_at_end_date_inclusive() -> None:
    window = DataWindow.of(GenerateSettings(days=30, end_date="2026-06-30"))
    assert (window.start_date(), window.end_date(), window.days) == ("2026-06-01", "2026-06-30", 30)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"end_date": "30/06/2026"}, "generate.end_date"),
        ({"customers": 0}, "generate.customers"),
        ({"days": 0}, "generate.days"),
        ({"bad_share": 0.9}, "generate.bad_share"),
        ({"stores": 0}, "generate.stores"),
        ({"files_per_source": 0}, "generate.files_per_source"),
        ({"consent": ConsentGeneration(withdrawn_share=1.5)}, "generate.consent.withdrawn_share"),
    ],
)
def test_unusable_settings_fail_before_spark_naming_the_setting(
    change: dict[str, object], named: str
) -> None:
    settings = dataclasses.replace(GenerateSettings(), **change)
    with pytest.raises(ConfigError, match=named):
        check_settings(settings)
