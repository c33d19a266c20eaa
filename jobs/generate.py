"""spark-submit entry point: `spark-submit jobs/generate.py --env cluster ...` (see deploy/)."""

import sys

from journeylake.jobs.generate import main

if __name__ == "__main__":
    sys.exit(main())
