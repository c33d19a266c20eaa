"""spark-submit entry point: `spark-submit jobs/kpis.py --env cluster ...` (see deploy/)."""

import sys

from journeylake.core.job_runner import run_main
from journeylake.kpis.job import main

if __name__ == "__main__":
    sys.exit(run_main("kpis", main))
