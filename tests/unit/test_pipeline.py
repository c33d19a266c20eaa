"""`journeylake run --from / --to`: which steps a part of the pipeline is."""

from __future__ import annotations

import argparse

import pytest

from journeylake.pipeline import STEPS, main, steps_between


def test_the_whole_pipeline_by_default_and_a_part_between_two_steps() -> None:
    assert steps_between("generate", "dashboard") == list(STEPS)
    assert steps_between("silver", "train") == ["silver", "gold", "train"]
    assert steps_between("kpis", "kpis") == ["kpis"]


def test_a_part_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="--from score comes after --to gold"):
        steps_between("score", "gold")


def test_the_command_line_refuses_it_before_any_spark_work(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--from", "score", "--to", "gold"])
    assert stopped.value.code == 2
    assert "--from score comes after --to gold" in capsys.readouterr().err
