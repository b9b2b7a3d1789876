"""Benchmark: the one-pass disaggregation engine against `oq engine --run` per level, on DEMO.

    .venv/bin/python bench/disagg_engine.py [--sites WLG CHC AKL] [--imts PGA "SA(0.5)"]
        [--poes 0.02 0.05 0.1 0.18 0.39 0.63 0.86] [--leaves CRU-1 ...] [--parallel 2]

Sets up a scratch store (DEMO hazard realizations of every leaf at the sites, aggregated over the
logic tree), then runs the same disaggregation targets with both engines into two copies of it, as
`disagg_realizations` does (plan, passes, OpenQuake, ingest), `--parallel` OpenQuake processes at
once. The targets are the requested PoEs that each site's aggregated mean curve reaches (a PoE beyond
a curve is no target: levels are never extrapolated; DEMO's small model reaches 63 % and 86 % in 50
years at none or few sites). Prints `key: value` lines:

- `oq_cpu_s`, `hazardlib_cpu_s`, `hazardlib_apart_cpu_s`: CPU seconds (user + system) of every
  OpenQuake process, start-up included as production pays it; `cpu_ratio`: oq / hazardlib. `hazardlib_apart`
  is the one-pass engine with every site a calculation of its own (`HAZFLOW_ONEPASS_SHARE_SITES=0`),
  as NSHM's leaves are computed (their multi-fault and point-like sources keep sites apart; DEMO's
  interface leaves, plain faults, let a pass's sites share one calculation): `cpu_ratio_apart`;
- `oq_wall_s`, `hazardlib_wall_s`, `wall_ratio`: wall seconds of the runs;
- `*_passes`, `*_processes`, `*_peak_rss_mb`: passes (one per run with oq; one per leaf x site group
  with hazardlib), OpenQuake processes started (the passes of a lane share one), and the largest
  process's peak memory;
- `max_rel_diff`, `max_rel_diff_apart`: the largest relative difference between oq's and the one-pass
  engine's stored matrices, over every bin above 1e-12 in either (a bin at or below it in one must be
  so in the other);
- `contributors_cpu_overhead`, `contributors_bytes_overhead`: what recording contributors (`hazardlib`,
  the default) costs against the same runs without (`hazardlib_plain`): OpenQuake CPU, and the bytes of
  the stored realizations (encoded as the aws store keeps them) and of the datastores kept as artifacts;
- `verdict`: `met` when both CPU ratios >= 10 and both differences <= 1e-6 (exit status 0), else
  `not met` (1).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from hazflow.config import Config
from hazflow.exceptions import BadRequest
from hazflow.ingest.realizations import ingest_batch, ingest_job
from hazflow.model.nshm import NSHM_POES
from hazflow.model.sites import resolve_sites
from hazflow.openquake.engines import SITES_PER_PASS
from hazflow.openquake.runner import engine_version
from hazflow.plan.disagg import plan_disagg
from hazflow.plan.passes import group_into_passes
from hazflow.plan.request import DisaggRequest
from hazflow.run.batch import lanes, run_batch
from hazflow.run.job import run_job
from hazflow.steps.hazard_aggregation import aggregate_hazard_batch, plan_hazard_aggregation
from hazflow.steps.hazard_realizations import plan_hazard
from hazflow.store import Store
from hazflow.store.codec import encode

# variant: the engine, whether a pass's sites may share a calculation (HAZFLOW_ONEPASS_SHARE_SITES), and
# whether the runs record contributors (the one-pass engine's default; `hazardlib_plain` without, to cost them)
VARIANTS = {
    "oq": ("oq", "1", False),
    "hazardlib": ("hazardlib", "1", True),
    "hazardlib_apart": ("hazardlib", "0", True),
    "hazardlib_plain": ("hazardlib", "1", False),
}


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


def run_engine(variant: str, config: Config, requests: list[DisaggRequest], oq: str) -> dict[str, float]:
    """Plan, run and ingest every request as `variant` says; timings and sizes from the ledger."""
    engine, share, contributors = VARIANTS[variant]
    os.environ["HAZFLOW_ONEPASS_SHARE_SITES"] = share  # read when keys are made and passes rendered
    store = config.open_store()
    plans = [
        plan_disagg(
            replace(r, disagg_engine=engine, contributors=contributors), store, oq, batch_cap=1, max_passes_per_batch=10**6
        )
        for r in requests
    ]
    # the sites were planned apart (each has its own reachable PoEs); a pass takes a leaf's sites together, as one request would
    passes = group_into_passes([job for plan in plans for job in plan.specs(0)], SITES_PER_PASS)
    start = time.monotonic()
    run_batch(passes, store, config)
    wall = time.monotonic() - start
    jobs = [job for p in passes for job in p.jobs]
    ingest_batch(jobs, store)
    entries = [store.ledger_get(job.key) for job in jobs]
    rows = [
        r for job in jobs for imt in job.imts for r in store.get_disagg_realizations("DEMO", job.sites[0].code, 400, imt, job.poe)
    ]
    kept = {e.artifact_key or e.job_key for e in entries if e}  # a pass keeps its sites' datastores under its own key
    folders = [config.store_root / "artifacts" / key[:2] / key for key in kept]
    datastores = [f for folder in folders if folder.is_dir() for f in folder.glob("*.hdf5")]
    return {
        "row_bytes": sum(len(encode(r)) for r in {(r.leaf, r.gmm, r.site, r.imt, r.poe): r for r in rows}.values()),
        "artifact_bytes": sum(f.stat().st_size for f in datastores),
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
        for variant in VARIANTS:
            shutil.copytree(root / "hazard", root / variant)
            figures[variant] = run_engine(variant, replace(config, store_root=root / variant), requests, oq)
        reference = Config(store_root=root / "oq").open_store()
        diffs = {v: max_rel_diff(reference, Config(store_root=root / v).open_store(), requests) for v in VARIANTS if v != "oq"}
    runs = figures["oq"]["runs"]
    print(f"runs: {runs}  (leaf x site x PoE, {len(args.imts)} IMTs each)")
    for variant in VARIANTS:
        f = figures[variant]
        print(f"{variant}_passes: {f['passes']}")
        print(f"{variant}_processes: {f['processes']}")
        print(f"{variant}_cpu_s: {f['cpu_s']:.1f}")
        print(f"{variant}_wall_s: {f['wall_s']:.1f}")
        print(f"{variant}_peak_rss_mb: {f['peak_rss_mb']:.0f}")
    ratios = {v: figures["oq"]["cpu_s"] / figures[v]["cpu_s"] for v in diffs}
    print(f"cpu_ratio: {ratios['hazardlib']:.1f}")
    print(f"wall_ratio: {figures['oq']['wall_s'] / figures['hazardlib']['wall_s']:.1f}")
    print(f"max_rel_diff: {diffs['hazardlib']:.2e}")
    print(f"cpu_ratio_apart: {ratios['hazardlib_apart']:.1f}  (every site a calculation of its own, as NSHM's leaves)")
    print(f"wall_ratio_apart: {figures['oq']['wall_s'] / figures['hazardlib_apart']['wall_s']:.1f}")
    print(f"max_rel_diff_apart: {diffs['hazardlib_apart']:.2e}")
    on, off = figures["hazardlib"], figures["hazardlib_plain"]
    cpu_cost = on["cpu_s"] / off["cpu_s"] - 1
    on_bytes, off_bytes = on["row_bytes"] + on["artifact_bytes"], off["row_bytes"] + off["artifact_bytes"]
    print(
        f"contributors_cpu_overhead: {cpu_cost:.1%}  (hazardlib, recording contributors, against hazardlib_plain; target <= 20 %)"
    )
    print(f"contributors_row_bytes: {on['row_bytes']:,} against {off['row_bytes']:,}  (every stored realization, encoded)")
    print(f"contributors_datastore_bytes: {on['artifact_bytes']:,} against {off['artifact_bytes']:,}")
    print(f"contributors_bytes_overhead: {on_bytes / off_bytes - 1:.1%}  (rows and datastores; target <= 10 %)")
    met = min(ratios[v] for v in ratios if v != "hazardlib_plain") >= 10 and max(diffs.values()) <= 1e-6
    print(f"verdict: {'met' if met else 'not met'} (target cpu_ratio >= 10 with max_rel_diff <= 1e-6, both ways)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
