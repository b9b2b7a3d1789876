"""`python -m hazflow ...`: the command line (see `hazflow.cli`)."""

import sys

from hazflow.cli import main

if __name__ == "__main__":
    sys.exit(main())
