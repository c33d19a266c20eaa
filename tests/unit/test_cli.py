"""The console script: help, and user errors as one readable line with exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from journeylake.cli import COMMANDS, main
from journeylake.pii import KEY_ENV, KEY_FILE_ENV
from tests.conftest import CONF_DIR


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    listed = capsys.readouterr().out
    assert all(f"  {name} " in listed for name in COMMANDS)
    assert "silver" in COMMANDS


def test_a_missing_pseudonymisation_key_stops_silver_before_spark(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    status = main(["silver", "--conf-dir", str(CONF_DIR),
                   "--conf", f"privacy.key_file={tmp_path / 'absent.key'}"])
    assert status == 2
    error = capsys.readouterr().err
    assert error.startswith("journeylake silver: error: pseudonymisation key file")
    assert "Traceback" not in error


def test_a_bad_setting_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["silver", "--conf-dir", str(CONF_DIR),
                   "--conf", "silver.store_visits.radius_m=0"])
    assert status == 2
    assert "silver.store_visits.radius_m: must be positive" in capsys.readouterr().err
