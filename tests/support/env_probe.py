"""Prints its environment as JSON: what a run of a warm process (`hazflow.openquake.warm`) was given."""

import json
import os
import sys

json.dump(dict(os.environ), sys.stdout)
