"""spark-submit entry point: `spark-submit jobs/tables.py --env cluster ...` (see deploy/)."""

import sys

from journeylake.core.job_runner import run_main
from journeylake.explore.table_list import main

if __name__ == "__main__":
    sys.exit(run_main("tables", main))
