"""spark-submit entry point: `spark-submit jobs/ingest.py --env cluster ...` (see deploy/)."""

import sys

from journeylake.bronze.job import main
from journeylake.core.job_runner import run_main

if __name__ == "__main__":
    sys.exit(run_main("ingest", main))
