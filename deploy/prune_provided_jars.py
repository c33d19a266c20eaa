"""Delete jars from a folder when Spark already ships the same artifact (any version).

Usage: python prune_provided_jars.py JAR_DIR SPARK_JARS_DIR
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# "hadoop-client-runtime-3.4.2.jar" -> "hadoop-client-runtime"; the version is the first
# dash-separated part that starts with a digit.
_ARTIFACT = re.compile(r"^(?P<name>.+?)-\d[^/]*\.jar$")


def artifact_name(jar: Path) -> str:
    match = _ARTIFACT.match(jar.name)
    return match.group("name") if match else jar.stem


def main(jar_dir: str, spark_jars: str) -> None:
    provided = {artifact_name(jar) for jar in Path(spark_jars).glob("*.jar")}
    for jar in sorted(Path(jar_dir).rglob("*.jar")):
        if artifact_name(jar) in provided:
            jar.unlink()
            print(f"jars: {jar.name} is provided by Spark, skipped")


if __name__ == "__main__":
    main(*sys.argv[1:3])
