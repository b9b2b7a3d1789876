"""Benchmark: OpenQuake runs started cold (a process each) against forks of a warm OpenQuake process,
in the same run, on the same jobs.

    .venv/bin/python bench/warm_openquake.py [--runs 6] [--leaf CRU-1] [--engine oq|hazardlib]

Renders `--runs` DEMO disaggregation jobs of `--leaf` (WLG, CHC, AKL, ... in turn, VS30 400, PGA and
SA(0.5) at 10 % in 50 years) and runs each twice, one run at a time: cold (`HAZFLOW_OQ_WARM=0`), then
warm, as a batch does. The warm side starts its warm process on its first run, whose CPU includes the
warm process's start-up, so the totals compare what each way spends. Prints `key: value` lines:

- `cold_cpu_s`, `warm_cpu_s`, `cpu_ratio` (cold / warm): CPU seconds of every run, start-up included;
- `cold_wall_s`, `warm_wall_s`, `wall_ratio`;
- `cold_cpu_per_run_s`, `warm_cpu_per_run_s`: the median run's CPU (the warm side's median is a fork's);
- `equal`: whether every run's disaggregation matrices are the same, warm and cold, to the last bit.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from hazflow.config import Config
from hazflow.model.logic_tree import load_model
from hazflow.model.sites import resolve_sites
from hazflow.openquake.datastore import open_datastore
from hazflow.openquake.prepare import render_job, render_pass
from hazflow.openquake.runner import engine_version, run_job, run_pass
from hazflow.plan.jobs import disagg_job
from hazflow.plan.passes import group_into_passes

SITES = ("WLG", "CHC", "AKL", "DUD", "NPE", "NSN", "ZQN", "HLZ")


def matrices(hdf5: Path) -> np.ndarray:
    """Every disaggregation matrix of a run's datastore (`disagg-rlzs/<kind>`), flattened into one array."""
    with open_datastore(hdf5) as f:
        group = f["disagg-rlzs"]
        return np.concatenate([np.asarray(group[kind][()]).ravel() for kind in sorted(group)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--leaf", default="CRU-1")
    parser.add_argument("--engine", choices=("oq", "hazardlib"), default="oq")
    args = parser.parse_args(argv)
    model, config = load_model("DEMO"), Config()
    version = engine_version(config.oq_python)
    sites = resolve_sites([SITES[i % len(SITES)] for i in range(args.runs)])
    jobs = [
        disagg_job(model, model.leaf(args.leaf), 400, site, 0.1, {"PGA": 0.3, "SA(0.5)": 0.5}, version, args.engine)
        for site in sites
    ]
    figures: dict[str, list[tuple[float, float]]] = {}
    results: dict[str, list[np.ndarray | None]] = {}
    with tempfile.TemporaryDirectory(prefix="hazflow-bench-warm-") as scratch:
        for mode in ("cold", "warm"):
            openquake = replace(config.openquake(), warm=mode == "warm")
            figures[mode], results[mode] = [], []
            for i, job in enumerate(jobs):
                folder = Path(scratch) / mode / str(i)
                folder.mkdir(parents=True)
                start = time.monotonic()
                if args.engine == "oq":
                    ran = run_job(render_job(job, model, folder), openquake)
                    cpu, hdf5 = ran.usage.cpu_seconds, ran.hdf5 if ran.state == "done" else None
                else:
                    (one,) = group_into_passes([job], 1)
                    passed = run_pass(render_pass(one, model, folder), openquake)
                    site = passed.sites[0]
                    cpu, hdf5 = passed.usage.cpu_seconds, site.hdf5 if site.state == "done" else None
                figures[mode].append((time.monotonic() - start, cpu))
                results[mode].append(matrices(hdf5) if hdf5 else None)
    total = {mode: (sum(w for w, _ in runs), sum(c for _, c in runs)) for mode, runs in figures.items()}
    equal = all(
        (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))
        for a, b in zip(results["cold"], results["warm"], strict=True)
    )
    print(f"runs: {args.runs} ({args.engine}, DEMO {args.leaf}, one at a time)")
    for mode in ("cold", "warm"):
        print(f"{mode}_cpu_s: {total[mode][1]:.1f}")
        print(f"{mode}_wall_s: {total[mode][0]:.1f}")
        print(f"{mode}_cpu_per_run_s: {statistics.median(c for _, c in figures[mode]):.2f}")
    print(f"cpu_ratio: {total['cold'][1] / total['warm'][1]:.2f}")
    print(f"wall_ratio: {total['cold'][0] / total['warm'][0]:.2f}")
    print(f"equal: {str(equal).lower()}")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
