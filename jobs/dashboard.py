"""spark-submit entry point: `spark-submit jobs/dashboard.py --env cluster ...` (see deploy/)."""

import sys

from journeylake.core.job_runner import run_main
from journeylake.dashboard.job import main

if __name__ == "__main__":
    sys.exit(run_main("dashboard", main))
