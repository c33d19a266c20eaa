"""spark-submit entry point: `spark-submit jobs/gold.py --env cluster ...` (see deploy/)."""

import sys

from journeylake.jobs.common import run_main
from journeylake.jobs.gold import main

if __name__ == "__main__":
    sys.exit(run_main("gold", main))
