"""spark-submit entry point: `spark-submit jobs/forget.py --env cluster ...` (see deploy/)."""

import sys

from journeylake.core.job_runner import run_main
from journeylake.privacy.job import main

if __name__ == "__main__":
    sys.exit(run_main("forget", main))
