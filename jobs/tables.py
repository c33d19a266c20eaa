"""spark-submit entry point: `spark-submit jobs/tables.py --env cluster ...` (see deploy/)."""

import sys

from journeylake.jobs.tables import main

if __name__ == "__main__":
    sys.exit(main())
