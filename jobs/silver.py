"""spark-submit entry point: `spark-submit jobs/silver.py --env cluster ...` (see deploy/)."""

import sys

from journeylake.jobs.common import run_main
from journeylake.jobs.silver import main

if __name__ == "__main__":
    sys.exit(run_main("silver", main))
