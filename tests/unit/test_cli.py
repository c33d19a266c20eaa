"""The console script: help, and user errors as one readable line with exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from journeylake.cli import main
from journeylake.silver.pseudonymisation import KEY_ENV, KEY_FILE_ENV
from tests.conftest import CONF_DIR

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ("generate", "ingest", "silver", "gold", "train", "score", "kpis", "stream", "replay",
            "dashboard", "forget", "run", "tables", "sql")


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    listed = capsys.readouterr().out
    assert [line.split()[0] for line in listed.split("commands:")[1].splitlines()
            if line.startswith("  ")] == list(PIPELINE)


@pytest.mark.parametrize("command", PIPELINE)
def test_each_command_reaches_its_own_job(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A command mapped to the wrong module would show another job's usage.
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: journeylake {command} ")


@pytest.mark.parametrize("entry_point", sorted(p.name for p in (ROOT / "jobs").glob("*.py")))
def test_each_spark_submit_entry_point_runs_its_job(entry_point: str) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "jobs" / entry_point), "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    command = entry_point.removesuffix(".py")
    assert result.stdout.startswith(f"usage: journeylake {command} "), result.stdout


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


def test_an_anomaly_the_generator_cannot_plant_stops_it_before_spark(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_session(*_: object) -> None:
        raise AssertionError("a Spark session was started")

    monkeypatch.setattr("journeylake.generator.job.build_session", no_session)
    status = main(["generate", "--conf-dir", str(CONF_DIR), "--out", str(tmp_path),
                   "--anomaly", "kind=outage,date=2026-06-20"])
    assert status == 2
    error = capsys.readouterr().err
    assert "generate.anomalies[0].kind: 'outage' is not one of checkout_broken" in error
