"""Every deploy/ script or file the code, configuration and docs name exists (a reference to a
deploy/spark-sql.sh that was never written once sent users looking)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAMED = re.compile(r"\bdeploy/[\w./-]*\w")


def test_every_deploy_path_that_is_named_exists() -> None:
    texts = [*ROOT.glob("lib/journeylake/**/*.py"), *ROOT.glob("conf/**/*.yaml"),
             *ROOT.glob("docs/*.md"), ROOT / "README.md", ROOT / "DEVELOPERS.md",
             ROOT / "Makefile", *ROOT.glob("jobs/*.py")]
    named = {(path.relative_to(ROOT), ref) for path in texts
             for ref in NAMED.findall(path.read_text())}
    assert named, "no deploy/ reference found: the pattern is wrong"
    missing = sorted((str(path), ref) for path, ref in named if not (ROOT / ref).exists())
    assert not missing, missing
