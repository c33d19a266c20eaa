"""spark-submit entry point: `spark-submit jobs/generate.py --env cluster ...` (see deploy/)."""

import sys

from journeylake.jobs.common import run_main
from journeylake.jobs.generate import main

if __name__ == "__main__":
    sys.exit(run_main("generate", main))
