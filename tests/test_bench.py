"""The benchmark command still runs and prints its figures (timings are reported, never asserted)."""

from __future__ import annotations

import subprocess
import sys

from hazflow.config import PROJECT_ROOT


def test_aggregation_benchmark_prints_key_value_lines():
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "aggregate_nshm.py"), "disagg_mean"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    assert lines["disagg_mean.composites"] == "979776" and lines["disagg_mean.components"] == "912"
    assert float(lines["disagg_mean.seconds"]) > 0
