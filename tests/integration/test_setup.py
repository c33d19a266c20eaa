"""Set-up is safe to repeat: a second resolution of the jars with nothing changed does no work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_resolving_the_jars_again_changes_nothing() -> None:
    jar_dir = Path(os.environ.get("JOURNEYLAKE_JARS_DIR", ROOT / ".jars"))
    before = {jar: jar.stat().st_mtime_ns for jar in jar_dir.rglob("*.jar")}
    assert any(jar.name.startswith("delta-spark_") for jar in before)
    result = subprocess.run(
        [str(ROOT / "deploy" / "resolve-jars.sh"), str(jar_dir), sys.executable],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout, result.stdout
    after = {jar: jar.stat().st_mtime_ns for jar in jar_dir.rglob("*.jar")}
    assert after == before
