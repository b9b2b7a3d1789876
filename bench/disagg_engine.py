"""Benchmark: the one-pass disaggregation engine against `oq engine --run` per level, on DEMO.

    .venv/bin/python bench/disagg_engine.py [--sites WLG CHC AKL] [--imts PGA "SA(0.5)"]
        [--poes 0.02 0.05 0.1 0.18 0.39 0.63 0.86] [--leaves CRU-1 ...] [--parallel 2]

Sets up a scratch store (DEMO hazard realizations of every leaf at the sites, aggregated over the
logic tree), then runs the same disaggregation targets with both engines into two copies of it, as
`disagg_realizations` does (plan, passes, OpenQuake, ingest), `--parallel` OpenQuake processes at
once. The targets are the requested PoEs that each site's aggregated mean curve reaches (a PoE beyond
a curve is no target: levels are never extrapolated; DEMO's small model reaches 63 % and 86 % in 50
years at none or few sites). Prints `key: value` lines:

- `oq_cpu_s`, `hazardlib_cpu_s`: CPU seconds (user + system) of every OpenQuake process, start-up
  included as production pays it; `cpu_ratio`: oq / hazardlib;
- `oq_wall_s`, `hazardlib_wall_s`, `wall_ratio`: wall seconds of the runs;
- `*_passes`, `*_processes`, `*_peak_rss_mb`: passes (one per run with oq; one per leaf x site group
  with hazardlib), OpenQuake processes started (the passes of a lane share one), and the largest
  process's peak memory;
- `max_rel_diff`: the largest relative difference between the engines' stored matrices, over every
  bin above 1e-12 in either (a bin at or below it in one must be so in the other);
- `verdict`: `met` when cpu_ratio >= 10 and max_rel_diff <= 1e-6 (exit status 0), else `not met` (1).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from hazflow.aggregate.hazard import aggregate_hazard_batch, plan_hazard_aggregation
from hazflow.config import Config
from hazflow.exceptions import BadRequest
from hazflow.ingest.realizations import ingest_batch, ingest_job
from hazflow.model.nshm import NSHM_POES
from hazflow.model.sites import resolve_sites
from hazflow.openquake.engines import SITES_PER_PASS
from hazflow.openquake.runner import engine_version
from hazflow.plan.disagg import plan_disagg
from hazflow.plan.hazard import plan_hazard
from hazflow.plan.passes import group_into_passes
from hazflow.plan.request import DisaggRequest
from hazflow.run.batch import lanes, run_batch
from hazflow.run.job import run_job
from hazflow.store import Store

ENGINES = ("oq", "hazardlib")


def hazard_store(config: Config, sites: list[str], imts: list[str]) -> None:
    """Every DEMO leaf's hazard realizations at the sites, aggregated (mean only): the curves levels are read off."""
    params = {"model": "DEMO", "sites": sites, "vs30s": [400], "imts": imts, "leaves": ["all"]}
    store = config.open_store()
    specs = plan_hazard(params, config)
    with ThreadPoolExecutor(config.oq_parallel) as pool:
        list(pool.map(lambda spec: run_job(spec, store, config), specs))
    for spec in specs:
        ingest_job(spec, store)
    for batch in plan_hazard_aggregation(params | {"quantiles": []}, config):
        aggregate_hazard_batch(params | {"quantiles": []}, batch, config)


def run_engine(engine: str, config: Config, requests: list[DisaggRequest], oq: str) -> dict[str, float]:
    """Plan, run and ingest every request with `engine`; timings and sizes from the ledger."""
    store = config.open_store()
    plans = [plan_disagg(replace(r, disagg_engine=engine), store, oq, batch_cap=1, max_passes_per_batch=10**6) for r in requests]
    # the sites were planned apart (each has its own reachable PoEs); a pass takes a leaf's sites together, as one request would
    passes = group_into_passes([job for plan in plans for job in plan.specs(0)], SITES_PER_PASS)
    start = time.monotonic()
    run_batch(passes, store, config)
    wall = time.monotonic() - start
    jobs = [job for p in passes for job in p.jobs]
    ingest_batch(jobs, store)
    entries = [store.ledger_get(job.key) for job in jobs]
    return {
        "passes": len(passes),
        "processes": len(lanes(passes, config.oq_parallel)) if engine == "hazardlib" else len(passes),
        "runs": len(jobs),
        "cpu_s": sum(e.cpu_seconds for e in entries if e),
        "wall_s": wall,
        "peak_rss_mb": max(e.max_rss_mb for e in entries if e),
    }


def max_rel_diff(a: Store, b: Store, requests: list[DisaggRequest], floor: float = 1e-12) -> float:
    worst = 0.0
    for r in requests:
        for site in r.sites:
            for imt in r.imts:
                for poe in r.poes:
                    rows = {(x.leaf, x.gmm): x for x in a.get_disagg_realizations("DEMO", site.code, 400, imt, poe)}
                    other = {(x.leaf, x.gmm): x for x in b.get_disagg_realizations("DEMO", site.code, 400, imt, poe)}
                    if rows.keys() != other.keys() or not rows:
                        raise SystemExit(f"the engines stored different realizations at {site.id} {imt} {poe}")
                    for key, x in rows.items():
                        u, v = x.values, other[key].values
                        big = (np.abs(u) > floor) | (np.abs(v) > floor)
                        if np.any(np.abs(u[~big]) > floor) or np.any(np.abs(v[~big]) > floor):
                            raise SystemExit("a bin is above the floor in one engine only")
                        if big.any():
                            worst = max(
                                worst, float((np.abs(u[big] - v[big]) / np.maximum(np.abs(u[big]), np.abs(v[big]))).max())
                            )
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", nargs="+", default=["WLG", "CHC", "AKL"])
    parser.add_argument("--imts", nargs="+", default=["PGA", "SA(0.5)"])
    parser.add_argument("--poes", nargs="+", type=float, default=list(NSHM_POES))
    parser.add_argument("--leaves", nargs="+", default=["all"])
    parser.add_argument("--parallel", type=int, default=2, help="OpenQuake processes at once (the cores)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="disagg-engine.") as tmp:
        root = Path(tmp)
        config = Config(store_root=root / "hazard", work_dir=root / "work", oq_parallel=args.parallel)
        oq = engine_version(config.oq_python)
        start = time.monotonic()
        hazard_store(config, args.sites, args.imts)
        print(f"setup_s: {time.monotonic() - start:.1f}  (hazard realizations and mean curves of every DEMO leaf)")
        requests = []
        for site in resolve_sites(args.sites):
            reached = []
            for poe in args.poes:
                params = {
                    "model": "DEMO",
                    "sites": [site.id],
                    "vs30s": [400],
                    "imts": args.imts,
                    "poes": [poe],
                    "leaves": args.leaves,
                }
                try:
                    plan_disagg(DisaggRequest.parse(params), config.open_store(), oq)
                    reached.append(poe)
                except BadRequest:  # beyond this site's mean curve
                    pass
            print(f"targets_{site.id}: PoEs {reached} of {args.poes} (the others are beyond its mean curve)")
            if reached:
                requests.append(DisaggRequest.parse(params | {"poes": reached}))
        figures = {}
        for engine in ENGINES:
            shutil.copytree(root / "hazard", root / engine)
            figures[engine] = run_engine(engine, replace(config, store_root=root / engine), requests, oq)
        diff = max_rel_diff(
            Config(store_root=root / "oq").open_store(), Config(store_root=root / "hazardlib").open_store(), requests
        )
    runs = figures["oq"]["runs"]
    print(f"runs: {runs}  (leaf x site x PoE, {len(args.imts)} IMTs each)")
    for engine in ENGINES:
        f = figures[engine]
        print(f"{engine}_passes: {f['passes']}")
        print(f"{engine}_processes: {f['processes']}")
        print(f"{engine}_cpu_s: {f['cpu_s']:.1f}")
        print(f"{engine}_wall_s: {f['wall_s']:.1f}")
        print(f"{engine}_peak_rss_mb: {f['peak_rss_mb']:.0f}")
    ratio = figures["oq"]["cpu_s"] / figures["hazardlib"]["cpu_s"]
    print(f"cpu_ratio: {ratio:.1f}")
    print(f"wall_ratio: {figures['oq']['wall_s'] / figures['hazardlib']['wall_s']:.1f}")
    print(f"max_rel_diff: {diff:.2e}")
    met = ratio >= 10 and diff <= 1e-6
    print(f"verdict: {'met' if met else 'not met'} (target cpu_ratio >= 10 with max_rel_diff <= 1e-6)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
