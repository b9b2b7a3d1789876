"""Hazard aggregation throughput through the store: a grid slice of NSHM-shaped realizations
aggregated end to end (read, aggregate, write), as `hazard_aggregation`'s tasks do.

A scratch local store receives NSHM_v1.0.4's 912 component realizations (44 levels) for every
(site, IMT) of a slice of the nzshm-common grid NZ_0_1_NB_1_1 around Wellington, at one VS30:
`--sites` sites x 5 IMTs = targets (default 400 x 5 = 2,000). Curves are shaped as in
`bench/aggregate_nshm.py`'s close case (DEMO's measured spread; run `make demo` first), shifted per
site and IMT. Then `--workers` processes (default: one per core) each aggregate their share of the
sites with `hazflow.aggregate.hazard.aggregate_hazard` (one thread each), the function
`hazard_aggregation`'s tasks call, timing the store's reads and writes and the engine apart.

    .venv/bin/python bench/aggregate_grid.py [--sites 400] [--workers 2]

Prints `key: value` lines: targets, wall seconds, targets per second, and per target the read,
aggregate and write seconds (summed over workers, so they add up to about workers x wall).
Target (issue 14): >= 25 targets/s on this 2-core machine, so that one NSHM VS30 (about 101,000
targets) aggregates in about an hour.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

IMTS = ("PGA", "SA(0.2)", "SA(0.5)", "SA(1.0)", "SA(3.0)")
VS30 = 400.0
IMT_SHIFT = {"PGA": 0.0, "SA(0.2)": 0.3, "SA(0.5)": 0.1, "SA(1.0)": -0.3, "SA(3.0)": -0.9}  # log10, by period


def grid_slice(n_sites: int) -> list[str]:
    """The n grid points of NZ_0_1_NB_1_1 nearest Wellington, as `lat~lon` site ids."""
    from nzshm_common.grids import load_grid

    points = np.array(load_grid("NZ_0_1_NB_1_1"))  # (n, 2) lat, lon
    nearest = np.argsort(np.hypot(points[:, 0] + 41.3, points[:, 1] - 174.78))[:n_sites]
    return [f"{lat:.3f}~{lon:.3f}" for lat, lon in points[np.sort(nearest)]]


def fill(root: Path, sites: list[str]) -> None:
    """Every component realization of every (site, IMT), one ledger entry per leaf (as a leaf x VS30
    job writes them)."""
    from aggregate_nshm import demo_spread

    from hazflow.model.logic_tree import load_model
    from hazflow.model.sites import resolve_sites
    from hazflow.store import HazardRealization, LedgerEntry
    from hazflow.store.local import LocalStore

    nshm = load_model("NSHM_v1.0.4")
    spread = demo_spread()
    base = dict(spread["base"], PUY=spread["base"]["HIK"] - 1.0)
    levels = np.asarray(spread["levels"])
    codes = [s.code for s in resolve_sites(sites)]
    store = LocalStore(root)
    rng = np.random.default_rng(0)
    site_shift = rng.normal(0, 0.3, len(codes))
    gmm_z = {g.id: rng.normal() for g in nshm.gmm_branches}
    for leaf in nshm.leaves:
        leaf_z = rng.normal()
        rows = []
        for g in nshm.gmms_for(leaf.trt):
            curve = base[leaf.fault_system] + spread["source"] * leaf_z + spread["gmm"] * gmm_z[g.id]
            for code, shift in zip(codes, site_shift, strict=True):
                for imt in IMTS:
                    values = np.minimum(10.0 ** (curve + shift + IMT_SHIFT[imt]), 0.999)
                    rows.append(
                        HazardRealization(
                            "NSHM_v1.0.4", leaf.id, g.id, code, VS30, imt, levels, values, f"bench-{leaf.id}", "3.26.2", "bench"
                        )
                    )
        entry = LedgerEntry(
            f"bench-{leaf.id}", "hazard", "NSHM_v1.0.4", leaf.id, VS30, tuple(codes), IMTS, "done", rows=len(rows)
        )
        store.put_hazard_realizations(rows, entry)


def work(root: str, sites: list[str], queue) -> None:
    """Aggregate the given sites for every IMT; (targets, read s, aggregate s, write s)."""
    import hazflow.aggregate.hazard as hazard
    from hazflow.aggregate.tree import build_tree
    from hazflow.model.logic_tree import load_model
    from hazflow.model.sites import resolve_sites
    from hazflow.store.local import LocalStore

    model = load_model("NSHM_v1.0.4")
    tree = build_tree(model)
    store = LocalStore(root)
    spent = {"read": 0.0, "aggregate": 0.0, "write": 0.0}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - start

        return wrapper

    store.get_hazard_realizations = timed("read", store.get_hazard_realizations)  # type: ignore[method-assign]
    store.put_hazard_aggregates = timed("write", store.put_hazard_aggregates)  # type: ignore[method-assign]
    engine = hazard.aggregate
    hazard.aggregate = timed("aggregate", lambda *a, **k: engine(*a, **{**k, "threads": 1}))  # type: ignore[assignment]
    targets = 0
    for site in resolve_sites(sites):
        targets += len(hazard.aggregate_hazard(store, model, tree, site, VS30, IMTS))
    queue.put((targets // 20, spent["read"], spent["aggregate"], spent["write"]))  # 20 statistics per target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=400, help="grid points (x 5 IMTs = targets)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes aggregating side by side")
    args = parser.parse_args()
    sites = grid_slice(args.sites)
    with tempfile.TemporaryDirectory(prefix="hazflow-grid-") as tmp:
        start = time.perf_counter()
        fill(Path(tmp), sites)
        print(f"store_fill_seconds: {time.perf_counter() - start:.1f}")
        print(f"store_mb: {sum(p.stat().st_size for p in Path(tmp).rglob('*') if p.is_file()) / 2**20:.0f}")
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        shares = [sites[w :: args.workers] for w in range(args.workers)]
        start = time.perf_counter()
        procs = [ctx.Process(target=work, args=(tmp, share, queue)) for share in shares if share]
        for proc in procs:
            proc.start()
        results = [queue.get(timeout=7200) for _ in procs]
        for proc in procs:
            proc.join()
        wall = time.perf_counter() - start
    targets = sum(r[0] for r in results)
    print(
        f"targets: {targets} ({len(sites)} sites x {len(IMTS)} IMTs, {len(procs)} workers, 912 components, 44 levels, 20 statistics)"
    )
    print(f"wall_seconds: {wall:.1f}")
    print(f"targets_per_second: {targets / wall:.1f}")
    for n, name in enumerate(("read", "aggregate", "write"), start=1):
        print(f"{name}_seconds_per_target: {sum(r[n] for r in results) / targets:.4f}")
    print(f"nshm_vs30_hours_at_this_rate: {101_000 / (targets / wall) / 3600:.2f}")


if __name__ == "__main__":
    main()
