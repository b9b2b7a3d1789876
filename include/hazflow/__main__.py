import sys

from hazflow.cli import main

sys.exit(main())
