"""spark-submit entry point: `spark-submit jobs/replay.py --env cluster ...` (see deploy/)."""

import sys

from journeylake.core.job_runner import run_main
from journeylake.streaming.replay import main

if __name__ == "__main__":
    sys.exit(run_main("replay", main))
