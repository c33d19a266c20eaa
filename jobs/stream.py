"""spark-submit entry point: `spark-submit jobs/stream.py --env cluster ...` (see deploy/)."""

import sys

from journeylake.core.job_runner import run_main
from journeylake.streaming.job import main

if __name__ == "__main__":
    sys.exit(run_main("stream", main))
