import sys

from journeylake.cli import main

sys.exit(main())
