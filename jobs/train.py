"""spark-submit entry point: `spark-submit jobs/train.py --env cluster ...` (see deploy/)."""

import sys

from journeylake.core.job_runner import run_main
from journeylake.models.job import main_train

if __name__ == "__main__":
    sys.exit(run_main("train", main_train))
