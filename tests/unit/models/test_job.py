"""What decides whether training rebuilds gold_customer_features."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

from journeylake.models.features import ReferenceDates
from journeylake.models.job import features_fingerprint
from tests.conftest import make_config

VERSIONS = {"silver_events": 4, "silver_sessions": 4, "silver_identity_map": 2}
REFS = ReferenceDates((date(2026, 6, 1), date(2026, 6, 8)), date(2026, 6, 15), date(2026, 6, 22))


def test_the_same_inputs_give_the_same_fingerprint_and_any_change_another(tmp_path: Path
                                                                           ) -> None:
    config = make_config(tmp_path)
    same = features_fingerprint(make_config(tmp_path), dict(VERSIONS), REFS)
    assert features_fingerprint(config, VERSIONS, REFS) == same
    longer_window = replace(config, models=replace(config.models, feature_window_days=56))
    changed = [
        features_fingerprint(config, {**VERSIONS, "silver_events": 5}, REFS),
        features_fingerprint(config, VERSIONS, replace(REFS, scoring=date(2026, 6, 23))),
        features_fingerprint(longer_window, VERSIONS, REFS),
    ]
    assert len({same, *changed}) == 4
