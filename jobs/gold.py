"""spark-submit entry point: `spark-submit jobs/gold.py --env cluster ...` (see deploy/)."""

import sys

from journeylake.core.job_runner import run_main
from journeylake.gold.job import main

if __name__ == "__main__":
    sys.exit(run_main("gold", main))
