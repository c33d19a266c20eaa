"""spark-submit entry point: `spark-submit jobs/ingest.py --env cluster ...` (see deploy/)."""

import sys

from journeylake.jobs.ingest import main

if __name__ == "__main__":
    sys.exit(main())
