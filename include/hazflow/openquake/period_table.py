"""Build the table of SA periods each model's GMMs support (`hazflow.model.periods` reads it) from
the installed OpenQuake: one subprocess of its venv (`hazflow.openquake.gmm_periods`) for every GMM
of every known model. Run it after upgrading OpenQuake or adding a model:

    python -m hazflow.openquake.period_table      # rewrites include/hazflow/model/data/gmm_periods.json

A test (marker openquake) recomputes it and fails when the committed table differs.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from hazflow.config import Config
from hazflow.model.logic_tree import load_model
from hazflow.model.nshm import KNOWN_MODELS
from hazflow.model.periods import TABLE_PATH
from hazflow.openquake.runner import INHERITED_ENV

logger = logging.getLogger(__name__)


def gmm_spans(uncertainties: list[str], python: Path) -> dict[str, Any]:
    """`hazflow.openquake.gmm_periods` of these GMM texts, run in OpenQuake's Python."""
    env = {k: v for k, v in os.environ.items() if k in INHERITED_ENV}
    env |= {"PYTHONPATH": str(Path(__file__).resolve().parents[2]), "CI": "1", "OQ_DISTRIBUTE": "no"}
    out = subprocess.run(
        [str(python), "-m", "hazflow.openquake.gmm_periods"],
        input=json.dumps(uncertainties), capture_output=True, text=True, env=env, check=True, timeout=600,
    )  # fmt: skip
    return dict(json.loads(out.stdout))


def build_table(python: Path, models: tuple[str, ...] = KNOWN_MODELS) -> dict[str, Any]:
    """Per model: the span every GMM of it supports ([the longest of their shortest SA periods, the
    shortest of their longest], s) and each GMM branch's own; plus the OpenQuake version read from."""
    branches = {name: load_model(name).gmm_branches for name in models}
    texts = sorted({b.uncertainty for bs in branches.values() for b in bs})
    spans = gmm_spans(texts, python)
    table: dict[str, Any] = {"openquake": spans["openquake"], "models": {}}
    for name, bs in branches.items():
        gmms = {b.id: {"min": spans["gmms"][b.uncertainty]["min"], "max": spans["gmms"][b.uncertainty]["max"]} for b in bs}
        table["models"][name] = {
            "min": max(g["min"] for g in gmms.values()),
            "max": min(g["max"] for g in gmms.values()),
            "gmms": dict(sorted(gmms.items())),
        }
    return table


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    table = build_table(Config.from_env().oq_python)
    TABLE_PATH.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    for name, row in table["models"].items():
        logger.info("%s: SA periods %g to %g s (%d GMM branches)", name, row["min"], row["max"], len(row["gmms"]))
    logger.info("wrote %s (openquake.engine %s)", TABLE_PATH, table["openquake"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
