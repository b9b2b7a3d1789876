"""Aggregation speed and memory at NSHM_v1.0.4 scale, on synthetic component realizations.

The composite tree is the real one (nzshm-model's NSHM_v1.0.4: 979,776 composite branches,
912 component realizations); the component values are random but shaped like the real thing:
hazard curves on the 44 NSHM levels, and disaggregations of 20,400 bins (3 TRT x 25 mag x
17 dist x 16 eps, mostly zero). Each case runs in a fresh process so its peak memory is its own.

    .venv/bin/python bench/aggregate_nshm.py            # all cases
    .venv/bin/python bench/aggregate_nshm.py hazard     # one case

Prints `key: value` lines (`seconds` is per target; hazard: the mean over five targets sharing
one tree, the first one also building the tree's cached layout). Targets (issue: aggregation
engine): hazard <= 0.5 s and <= 1 GB per target; disaggregation exact mean <= 0.2 s; quantiles from 10,000 sampled composites <= 5 s.
"""

from __future__ import annotations

import json
import multiprocessing
import resource
import sys
import time

import numpy as np


def _tree():
    from hazflow.aggregate.tree import build_tree
    from hazflow.model.logic_tree import load_model

    return build_tree(load_model("NSHM_v1.0.4"))


def synthetic_hazard(n_components: int, seed: int = 0) -> np.ndarray:
    """(n_components, 44) annual PoE curves decreasing with level, spread over two decades."""
    from hazflow.model.settings import NSHM_LEVELS

    rng = np.random.default_rng(seed)
    levels = np.asarray(NSHM_LEVELS)
    scale = 10 ** rng.uniform(-4, -1.5, (n_components, 1))
    slope = rng.uniform(2.0, 6.0, (n_components, 1))
    return scale * np.exp(-slope * levels[None, :]) * (rng.random((n_components, 1)) > 0.05)


def synthetic_disagg(n_components: int, seed: int = 0) -> np.ndarray:
    """(n_components, 20,400) bin probabilities peaked like a real disaggregation.

    Each component has a Gaussian bump in (mag, dist, eps) near a site-wide centre (the same
    sources dominate every branch), so a few dozen bins carry most of the total.
    """
    rng = np.random.default_rng(seed)
    mag, dist, eps = np.meshgrid(np.arange(25), np.arange(17), np.arange(16), indexing="ij")
    values = np.zeros((n_components, 3, 25, 17, 16))
    for c in range(n_components):
        trt = rng.choice(3, p=[0.7, 0.25, 0.05])
        centre = rng.normal([12.0, 5.0, 9.0], [1.0, 0.7, 0.8])
        bump = np.exp(-(((mag - centre[0]) / 2.5) ** 2 + ((dist - centre[1]) / 1.5) ** 2 + ((eps - centre[2]) / 2.0) ** 2))
        values[c, trt] = 10 ** rng.uniform(-4, -2.5) * bump * (bump > 1e-3)
    return values.reshape(n_components, -1)


def _case(name: str, queue) -> None:
    from hazflow.aggregate.engine import aggregate, exact_mean_rate

    tree = _tree()
    n = len(tree.components)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if name == "hazard":
        # five targets, as one task aggregates the five IMTs of a (site, VS30) with one tree
        targets = [synthetic_hazard(n, seed) for seed in range(5)]
        probs = targets[0]
        times = []
        for target in targets:
            start = time.perf_counter()
            result = aggregate(tree, target)
            times.append(time.perf_counter() - start)
        seconds = sum(times) / len(times)
        out = {"first_target_seconds": round(times[0], 3), "method": result.method, "statistics": len(result.stats)}
    elif name == "disagg_mean":
        probs = synthetic_disagg(n)
        start = time.perf_counter()
        exact_mean_rate(tree, probs)  # the mean aggregate() computes
        seconds = time.perf_counter() - start
        out = {}
    else:
        probs = synthetic_disagg(n)
        start = time.perf_counter()
        result = aggregate(tree, probs, n_samples=10_000)
        seconds = time.perf_counter() - start
        out = {"method": result.method, "samples": result.n_samples, "convergence": round(result.convergence, 5)}
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024  # kB -> MB
    queue.put({"case": name, "composites": tree.n_composites, "components": n, "bins": probs.shape[1],
               "seconds": round(seconds, 3), "peak_extra_mb": round(peak, 1), **out})  # fmt: skip


def main(cases: list[str]) -> None:
    ctx = multiprocessing.get_context("spawn")
    for name in cases:
        queue = ctx.Queue()
        proc = ctx.Process(target=_case, args=(name, queue))
        proc.start()
        result = queue.get(timeout=1800)
        proc.join()
        for key, value in result.items():
            print(f"{name}.{key}: {value}" if key != "case" else f"case: {value}")
        print(f"{name}.json: {json.dumps(result)}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["hazard", "disagg_mean", "disagg_quantiles"])
