"""The SA periods each ground-motion model can compute: the span of its coefficient tables. Runs in
the OpenQuake venv, as a subprocess:

    python -m hazflow.openquake.gmm_periods < gmms.json > spans.json

A GMM evaluates SA(T) by interpolating its `CoeffsTable` (hazardlib) in log period between the
periods it tabulates, and refuses a period outside them (`KeyError` deep inside a run). So the span
a GMM supports is the periods every one of its tables covers: [the longest of their shortest, the
shortest of their longest]. `gmms.json` is a list of GMM logic
tree `uncertaintyModel` texts (`[Stafford2022]\\nmu_branch = "Central"`); the output maps each text
to `{"gsim": class name, "min": s, "max": s, "tables": [names]}`, plus `"openquake"`: the engine's
version. `hazflow.model.periods` keeps the result per model, as a table in the package.

Imports only the standard library and OpenQuake: it must run in OpenQuake's own Python.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from typing import Any


def span(uncertainty: str) -> dict[str, Any]:
    """[min, max] SA period (s) that every coefficient table of one GMM (its instance and class) covers."""
    from openquake.hazardlib import valid
    from openquake.hazardlib.gsim.coeffs_table import CoeffsTable

    gsim = valid.gsim(uncertainty)
    tables: dict[str, Any] = {}
    for name in dir(gsim):
        if name.startswith("__"):
            continue
        value = getattr(gsim, name, None)
        if isinstance(value, CoeffsTable) and value.sa_coeffs:
            tables[name] = value
    if not tables:
        raise SystemExit(f"{uncertainty!r}: no coefficient table with SA periods")
    spans = [[imt.period for imt in table.sa_coeffs] for table in tables.values()]
    low, high = max(min(p) for p in spans), min(max(p) for p in spans)
    return {"gsim": type(gsim).__name__, "min": low, "max": high, "tables": sorted(tables)}


def main() -> int:
    gmms = json.load(sys.stdin)
    result: dict[str, Any] = {"openquake": version("openquake.engine"), "gmms": {g: span(g) for g in gmms}}
    json.dump(result, sys.stdout, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
