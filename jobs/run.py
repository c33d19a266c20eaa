"""spark-submit entry point: `spark-submit jobs/run.py --env cluster ...` (see deploy/)."""

import sys

from journeylake.jobs.common import run_main
from journeylake.jobs.run import main

if __name__ == "__main__":
    sys.exit(run_main("run", main))
