"""Aggregation speed and memory at NSHM_v1.0.4 scale, on two shapes of component realizations.

The composite tree is the real one (nzshm-model's NSHM_v1.0.4: 979,776 composite branches, 912
component realizations, blocks of 108, 756 and 12 values). Component values come in two shapes:

- `close` (realistic): at one site, component curves lie close together. Their spread is measured
  on DEMO's stored hazard realizations (run `make demo` first): per level, the log10 spread across
  GMM branches of one leaf and across the leaves of one fault system, and each fault system's mean
  curve. NSHM's components are then that fault system's curve shifted by a leaf term and a GMM
  term (shared by every leaf of the region, as a GMM branch is), each scaled by DEMO's spread.
- `wide`: curves spread over 2.5 decades, the round-1 benchmark's shape.

Disaggregations: 20,400 bins (3 TRT x 25 mag x 17 dist x 16 eps) of which about 5 % are non-zero,
a bump per component in its leaf's region, amplitudes spread as in the hazard case of that shape.

    .venv/bin/python bench/aggregate_nshm.py                       # every case
    .venv/bin/python bench/aggregate_nshm.py hazard.close --compare  # one case, old method timed too

Prints `key: value` lines: per case, seconds per target on one thread and on the default threads
(one per core; the engine's `threads` parameter), the median (and the best) of `--repeats` runs
after a warm-up (the first call loads numba's compiled kernels from its cache, or compiles them
once); the method; the peak memory of one aggregation, twice: what numpy allocates (tracemalloc)
and the resident memory the call adds at its peak (`peak_rss_mb_*`: the process's high-water
mark reset before the call; it also sees numba's arrays, which tracemalloc does not); and the
peak of the case's process over its start (the synthetic data and `--compare` included).
`--compare` times, in the same run, meet-in-the-middle's numpy search (the method the compiled
search replaced, every bin, `search="numpy"`) and prints the ratio and the largest difference;
then full enumeration (the method before meet-in-the-middle) and its ratio (for disaggregations
on 40 live bins spread over them, as enumeration takes about 0.5 s per bin), comparing both
methods' quantiles with each other and with every composite enumerated in extended precision.
Targets (issue 14): hazard <= 30 ms per target on one thread on both shapes; exact disaggregation
statistics <= 2 s per target on one thread; peak memory <= 300 MB. `contributions` times the split
of one disaggregation target over the tree that each summary holds (issue 15: no target; it adds
to the disaggregation's seconds per target); `contributors` its contributors table (sources and faults,
NSHM-like counts: `CONTRIBUTORS`).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import multiprocessing
import os
import resource
import statistics
import time
import tracemalloc
from typing import Any

import numpy as np

CASES = ("hazard.close", "hazard.wide", "disagg.close", "disagg.wide", "disagg_mean", "contributions", "contributors")
CONTRIBUTORS = {"CRU": 120, "HIK": 12, "PUY": 6, "SLAB": 0}  # named faults a realization lists above the floor, + a background
DEMO_SITES = ("-41.300~174.780", "-43.530~172.630", "-36.870~174.770")  # WLG, CHC, AKL
COMPARE_BINS = 40


def _tree():
    from hazflow.aggregate.tree import build_tree
    from hazflow.model.logic_tree import load_model

    return build_tree(load_model("NSHM_v1.0.4"))


def _model():
    from hazflow.model.logic_tree import load_model

    return load_model("NSHM_v1.0.4")


def synthetic_contributors(tree, seed: int = 0) -> list:
    """A realization per component with NSHM-like contributors (`CONTRIBUTORS` parent faults of its
    fault system, log-uniform rates over four decades, a background, the rest), in tree order."""
    from hazflow.store import DisaggRealization
    from hazflow.store.records import contributor_rows

    rng = np.random.default_rng(seed)
    fault_system = {leaf.id: leaf.fault_system for leaf in _model().leaves}
    rows = []
    for leaf, gmm in tree.components:
        fs = fault_system[leaf]
        names = [f"SRC-{fs}@{fs} fault {k}" for k in range(CONTRIBUTORS[fs])] + [f"bg-{leaf}", "the rest"]
        kinds = ["fault"] * CONTRIBUTORS[fs] + ["background", "rest"]
        n = len(names)
        table = contributor_rows(names, kinds, 10.0 ** rng.uniform(-8, -4, n), rng.uniform(5, 9, n), rng.uniform(1, 300, n),
                                 rng.uniform(-1, 2, n), rng.uniform(166, 179, n), rng.uniform(-47, -34, n))  # fmt: skip
        rows.append(DisaggRealization("NSHM_v1.0.4", leaf, gmm, "WLG", 400.0, "PGA", 0.1, 0.3, ("TRT", "Mag", "Dist", "Eps"),
                                      ("t",), {}, np.zeros((1, 1, 1, 1)), contributors=table))  # fmt: skip
    return rows


def demo_spread() -> dict[str, Any]:
    """Per level (44,): median log10 spread across GMM branches of a leaf (`gmm`) and across the
    leaves of a fault system (`source`), over DEMO's sites, IMTs and fault systems; and each fault
    system's mean log10 curve at WLG PGA (`base`). Read from the local store `make demo` fills."""
    from hazflow.config import Config
    from hazflow.model.logic_tree import load_model

    demo = load_model("DEMO")
    store = Config.from_env().open_store()
    gmm_spread, source_spread, base = [], [], {}
    for site in DEMO_SITES:
        for imt in ("PGA", "SA(0.5)"):
            rows = store.get_hazard_realizations("DEMO", site, 400.0, imt)
            if not rows:
                raise SystemExit(f"no DEMO hazard realizations for {site} {imt} in the store: run `make demo` first")
            logp = {(r.leaf, r.gmm): np.log10(np.maximum(r.values, 1e-15)) for r in rows}
            for fs in dict.fromkeys(leaf.fault_system for leaf in demo.leaves):
                leaves = [leaf.id for leaf in demo.leaves if leaf.fault_system == fs]
                gmms = sorted({g for (leaf, g) in logp if leaf in leaves})
                curves = np.array([[logp[(leaf, g)] for g in gmms] for leaf in leaves])  # (leaves, gmms, 44)
                if len(gmms) > 1:
                    gmm_spread.append(curves.std(axis=1).mean(axis=0))
                if len(leaves) > 1:
                    source_spread.append(curves.std(axis=0).mean(axis=0))
                if site == DEMO_SITES[0] and imt == "PGA":
                    base[fs] = curves.mean(axis=(0, 1))
    return {
        "gmm": np.median(gmm_spread, axis=0),
        "source": np.median(source_spread, axis=0),
        "base": base,
        "levels": np.asarray(rows[0].levels),
    }


def close_hazard(tree, spread: dict[str, Any], seed: int) -> np.ndarray:
    """(912, 44) NSHM components: each fault system's DEMO curve (PUY: HIK's, a decade lower),
    shifted by a leaf term and a GMM-branch term scaled by DEMO's measured spreads."""
    from hazflow.model.logic_tree import load_model

    nshm = load_model("NSHM_v1.0.4")
    rng = np.random.default_rng(seed)
    leaf_z = {leaf.id: rng.normal() for leaf in nshm.leaves}
    gmm_z = {g.id: rng.normal() for g in nshm.gmm_branches}
    base = dict(spread["base"], PUY=spread["base"]["HIK"] - 1.0)
    out = np.empty((len(tree.components), len(spread["levels"])))
    for i, (leaf, gmm) in enumerate(tree.components):
        fs = nshm.leaf(leaf).fault_system
        out[i] = base[fs] + spread["source"] * leaf_z[leaf] + spread["gmm"] * gmm_z[gmm]
    return np.minimum(10.0**out, 0.999)


def wide_hazard(n_components: int, seed: int) -> np.ndarray:
    """(n_components, 44) annual PoE curves decreasing with level, spread over 2.5 decades."""
    from hazflow.model.settings import NSHM_LEVELS

    rng = np.random.default_rng(seed)
    levels = np.asarray(NSHM_LEVELS)
    scale = 10 ** rng.uniform(-4, -1.5, (n_components, 1))
    slope = rng.uniform(2.0, 6.0, (n_components, 1))
    return scale * np.exp(-slope * levels[None, :]) * (rng.random((n_components, 1)) > 0.05)


def synthetic_disagg(tree, log_spread: float, seed: int = 0) -> np.ndarray:
    """(912, 20,400) bin probabilities: per component a bump in (mag, dist, eps) near a site-wide
    centre, in its leaf's region, amplitude 10^(-3 + log_spread * z); bins below 25 % of a bump's
    peak are zero, which leaves about 5 % of the bins non-zero over all components (as issue 14
    states NSHM's are)."""
    from hazflow.model.logic_tree import load_model

    nshm = load_model("NSHM_v1.0.4")
    rng = np.random.default_rng(seed)
    mag, dist, eps = np.meshgrid(np.arange(25), np.arange(17), np.arange(16), indexing="ij")
    values = np.zeros((len(tree.components), len(nshm.trts), 25, 17, 16))
    for c, (leaf, _) in enumerate(tree.components):
        centre = rng.normal([12.0, 5.0, 9.0], [1.0, 0.7, 0.8])
        bump = np.exp(-(((mag - centre[0]) / 2.5) ** 2 + ((dist - centre[1]) / 1.5) ** 2 + ((eps - centre[2]) / 2.0) ** 2))
        amplitude = 10 ** (-3.0 + log_spread * rng.normal())
        values[c, nshm.trts.index(nshm.leaf(leaf).trt)] = amplitude * bump * (bump > 0.25)
    return np.minimum(values.reshape(len(tree.components), -1), 0.999)


def exact_quantiles(tree, probs: np.ndarray, quantiles) -> np.ndarray:
    """(Q, B) the midpoint-convention quantiles with every composite enumerated and its position
    summed in extended precision (np.longdouble): the yardstick both methods are measured against,
    since each rounds the cumulative weights in float64 its own way."""
    from hazflow.aggregate.engine import composite_rates

    weights = tree.composite_weights().astype(np.longdouble)
    out = np.empty((len(quantiles), probs.shape[1]))
    for b in range(probs.shape[1]):
        values = composite_rates(tree, -np.log1p(-probs[:, b : b + 1]))[0]
        order = np.lexsort((np.arange(len(values)), values))  # stable: ties in canonical order
        v, w = values[order].astype(np.longdouble), weights[order]
        cum = np.cumsum(w)
        positions = (cum - w / 2) / cum[-1]
        for n, q in enumerate(quantiles):
            j = int(np.searchsorted(positions, np.longdouble(q), side="right")) - 1
            if j < 0:
                rate = v[0]
            elif j >= len(v) - 1 or positions[j] == q:
                rate = v[j]
            else:
                rate = v[j] + (v[j + 1] - v[j]) * (np.longdouble(q) - positions[j]) / (positions[j + 1] - positions[j])
            out[n, b] = -np.expm1(-float(rate))
    return out


def _rel(got: np.ndarray, want: np.ndarray) -> float:
    return float(f"{np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-300)):.3g}")


def _quantile_rows(result) -> np.ndarray:
    return np.array([v for k, v in result.stats.items() if k not in ("mean", "std", "cov")])


def _rss_peak_mb(run) -> float | None:
    """The resident memory one call adds at its peak (MB): the process's high-water mark is reset
    first (Linux: /proc/self/clear_refs). Unlike tracemalloc, it sees numba's allocations, which
    bypass Python's allocators. The C heap is trimmed first (glibc's malloc_trim), so memory freed
    by earlier calls and kept by malloc is not counted as free room. None where the kernel does not
    offer it."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    before = _status_kb("VmRSS")
    run()
    return round((_status_kb("VmHWM") - before) / 1024, 1)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def _timed(run, repeats: int) -> tuple[float, float]:
    """Median and best wall seconds of `repeats` runs after a warm-up (the tree's cached layout,
    numpy's first calls); the machine is a shared VM, so both are printed."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def _case(name: str, compare: bool, repeats: int, queue) -> None:
    from hazflow.aggregate.engine import aggregate, exact_mean_rate

    tree = _tree()
    n = len(tree.components)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out: dict[str, Any] = {"case": name, "composites": tree.n_composites, "components": n}
    kind, _, shape = name.partition(".")
    if kind == "disagg_mean":
        probs = synthetic_disagg(tree, 0.5)
        out["seconds"] = round(_timed(lambda: exact_mean_rate(tree, probs), repeats)[0], 4)
    elif kind == "contributions":  # a target's split over the tree: by leaf, by fault system, over every composite
        from hazflow.aggregate.contributions import component_rates, contributions

        rates = component_rates(synthetic_disagg(tree, 0.25))
        split = contributions(tree, rates)
        out["method"], out["composites_enumerated"] = split.method, split.composites
        median, best = _timed(lambda: contributions(tree, rates), repeats)
        out["seconds"], out["seconds_best"] = round(median, 4), round(best, 4)
    elif kind == "contributors":  # a target's contributors table over the tree: sources and faults, their spread
        from hazflow.aggregate.contributors import contributor_table
        from hazflow.model.sites import resolve_sites

        rows = synthetic_contributors(tree)
        (site,) = resolve_sites(["WLG"])
        model = _model()
        table = contributor_table(model, tree, rows, site)
        assert table is not None
        out["contributors"], out["method"], out["composites_spread"] = len(table.rows), table.method, table.composites
        median, best = _timed(lambda: contributor_table(model, tree, rows, site), repeats)
        out["seconds"], out["seconds_best"] = round(median, 4), round(best, 4)
    else:
        if kind == "hazard":
            probs = close_hazard(tree, demo_spread(), seed=1) if shape == "close" else wide_hazard(n, seed=1)
        else:
            probs = synthetic_disagg(tree, 0.25 if shape == "close" else 0.75)
        live = np.flatnonzero(probs.any(axis=0))
        out["bins"], out["live_bins"] = probs.shape[1], len(live)
        positive = probs[:, live] > 0
        with np.errstate(divide="ignore"):
            log_spread = np.nanstd(np.where(positive, np.log10(probs[:, live]), np.nan), axis=0)
        out["median_log10_spread_across_components"] = round(float(np.median(log_spread)), 3)
        aggregate(tree, probs, threads=1)  # warm: numba loads its compiled kernels (or compiles them, once)
        tracemalloc.start()
        result = aggregate(tree, probs, threads=1)
        out["peak_mb_aggregate_1_thread"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        tracemalloc.reset_peak()
        aggregate(tree, probs)
        out["peak_mb_aggregate_default_threads"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        tracemalloc.stop()
        out["peak_rss_mb_aggregate_1_thread"] = _rss_peak_mb(lambda: aggregate(tree, probs, threads=1))
        out["peak_rss_mb_aggregate_default_threads"] = _rss_peak_mb(lambda: aggregate(tree, probs))
        out["method"], out["statistics"] = result.method, len(result.stats)
        median, best = _timed(lambda: aggregate(tree, probs, threads=1), repeats)
        out["seconds_1_thread"], out["seconds_1_thread_best"] = round(median, 4), round(best, 4)
        median, best = _timed(lambda: aggregate(tree, probs), repeats)
        out["seconds_default_threads"], out["seconds_default_threads_best"] = round(median, 4), round(best, 4)
        out["threads_default"] = os.cpu_count()
        if compare:
            spread_out = live[np.linspace(0, len(live) - 1, min(COMPARE_BINS, len(live))).astype(int)]
            sub = probs if kind == "hazard" else probs[:, spread_out]
            old = _timed(lambda: aggregate(tree, sub, method="enumeration", threads=1), 1)[0]
            new = _timed(lambda: aggregate(tree, sub, threads=1), repeats)[0]
            exact = aggregate(tree, sub, method="enumeration")
            fast = aggregate(tree, sub)
            quantiles = [k for k in exact.stats if k not in ("mean", "std", "cov")]
            got = np.array([fast.stats[k] for k in quantiles])
            want = np.array([exact.stats[k] for k in quantiles])
            truth = exact_quantiles(tree, sub, [float(k) for k in quantiles])
            numpy_search = _timed(lambda: aggregate(tree, probs, threads=1, search="numpy"), repeats)[0]
            out["numpy_search_seconds_1_thread"] = round(numpy_search, 4)  # every bin, as seconds_1_thread
            out["ratio_numpy_search_over_compiled"] = round(numpy_search / out["seconds_1_thread"], 2)
            out["max_rel_diff_compiled_vs_numpy_search"] = _rel(
                _quantile_rows(result), _quantile_rows(aggregate(tree, probs, search="numpy"))
            )
            out["compare_bins"] = sub.shape[1]
            out["enumeration_seconds_1_thread"] = round(old, 4)
            out["mitm_seconds_1_thread"] = round(new, 4)
            out["ratio_enumeration_over_mitm"] = round(old / new, 1)
            out["max_rel_diff_mitm_vs_enumeration"] = _rel(got, want)
            # against extended precision: where a quantile sits between composites far apart in rate
            # and weight, each method's float64 rounding of the cumulative weights moves it
            out["max_rel_diff_mitm_vs_extended_precision"] = _rel(got, truth)
            out["max_rel_diff_enumeration_vs_extended_precision"] = _rel(want, truth)
            out["nonzero_quantiles_compared"] = int(np.count_nonzero(want))
    out["process_peak_extra_mb"] = round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024, 1)  # with the data
    queue.put(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", help=f"some of {', '.join(CASES)} (default: all)")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also time the numpy search and full enumeration, the methods before, and print the ratios",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per figure (median)")
    args = parser.parse_args()
    unknown = sorted(set(args.cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {', '.join(CASES)}")
    ctx = multiprocessing.get_context("spawn")
    for name in args.cases or CASES:
        queue = ctx.Queue()
        proc = ctx.Process(target=_case, args=(name, args.compare, args.repeats, queue))  # its own peak memory
        proc.start()
        result = queue.get(timeout=3600)
        proc.join()
        for key, value in result.items():
            print(f"{name}.{key}: {value}" if key != "case" else f"case: {value}")
        print(f"{name}.json: {json.dumps(result)}")


if __name__ == "__main__":
    main()
