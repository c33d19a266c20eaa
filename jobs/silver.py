"""spark-submit entry point: `spark-submit jobs/silver.py --env cluster ...` (see deploy/)."""

import sys

from journeylake.jobs.silver import main

if __name__ == "__main__":
    sys.exit(main())
