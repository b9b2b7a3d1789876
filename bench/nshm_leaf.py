"""Benchmark: what one NSHM leaf costs, measured: the engine at one PoE against the one-pass engine at
NSHM's seven, on NSHM-format leaves of every fault system.

    .venv/bin/python bench/nshm_leaf.py [--scale test|nshm] [--site WLG] [--sites N]
        [--leaves PUY-1 HIK-1 CRU-1 SLAB-1] [--sources DIR]

For each leaf (one per fault system), from archives written by `bench/nshm_sources.py` at `--scale`
(or those in `--sources`), run through hazflow's own inputs (`HAZFLOW_NSHM_SOURCES`, NSHM_v1.0.4's
settings and GMM tree from nzshm-model):

1. a classical hazard run of the leaf at the sites, five NSHM IMTs; the levels of NSHM's seven PoEs
   are read off the leaf's own mean curve (its GMM branches weighted);
2. the engine (`oq engine --run`, as runzi ran NSHM): one run per site at 10 % in 50 years, five IMTs;
3. the one-pass engine: one pass of the leaf with every site's seven PoEs and five IMTs.

With `--sites N` the pass holds the N NZ sites nearest `--site` (every one its own engine run), the
figures per site. Prints `key: value` lines per leaf (prefixed `<leaf>_`):

- `oq_cpu_s`, `oq_wall_s`, `oq_peak_rss_mb`: the engine's one-PoE runs (CPU summed over sites,
  start-up included as production pays it; the largest process's peak memory);
- `onepass_cpu_s`, `onepass_wall_s`, `onepass_peak_rss_mb`: the seven-PoE pass;
- `ruptures`, `contexts`: ruptures of the leaf's sources, rupture contexts built (per site, summed);
- `stage_<sources|contexts|gmms|disagg>_s`: time per stage of the one-pass calculation(s), from
  OpenQuake's own `performance_data`;
- `max_rel_diff`: the largest relative difference between the engines at the level both ran, over
  every bin above 1e-12 (each site against its own single-site engine run);
- `cpu_ratio`: 7 x the engine's one-PoE CPU / the one-pass seven-PoE CPU (per site: both per site);
- `contributors_cpu_overhead`, `contributors_bytes_overhead`: what recording contributors (by source
  and fault) costs the pass: its CPU (the pass's own, the smaller of two runs each way, alternating),
  and the bytes of its realizations at 10 % in 50 years (encoded as stored) and of its datastores.

Then `cpu_ratio_min` over the leaves with ruptures, `max_peak_rss_mb`, and `verdict` (cpu_ratio >= 10
per site, and peak RSS <= 3,500 MB: eight processes on an m5.2xlarge).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from hazflow.config import PROJECT_ROOT, Config
from hazflow.ingest.realizations import contributor_table_of
from hazflow.model.logic_tree import HazardModel
from hazflow.model.nshm import NSHM_IMTS, NSHM_POES
from hazflow.model.sites import Site, resolve_sites
from hazflow.openquake.datastore import open_datastore, read_disaggregation, read_hazard_curves, read_source_rates
from hazflow.openquake.prepare import render_job, render_pass
from hazflow.openquake.runner import OpenQuakeConfig, engine_version, run_job, run_pass
from hazflow.openquake.spec import DisaggPass, JobSpec
from hazflow.plan.imtl import levels_at_poes
from hazflow.plan.jobs import disagg_job, hazard_job
from hazflow.plan.passes import group_into_passes
from hazflow.store import DisaggRealization
from hazflow.store.codec import encode

logger = logging.getLogger("bench.nshm_leaf")

LEAVES = ("PUY-1", "HIK-1", "CRU-1", "SLAB-1")
ENGINE_POE = 0.1  # the engine's one PoE (10 % in 50 years)
PEAK_RSS_TARGET_MB = 3500.0
CPU_RATIO_TARGET = 10.0

# OpenQuake's performance_data operations by stage of a one-pass calculation
STAGES = {
    "sources": ("importing inputs", "composite source model", "total read_source_model", "total preclassical"),
    "contexts": ("total classical_disagg", "saving rup_data"),
    "gmms": ("disagg mean_std",),
    "disagg": ("disagg by eps", "composing pnes", "disagg matrix", "aggregating disagg matrices", "saving disagg results"),
}


def nearest_sites(code: str, n: int) -> list[Site]:
    """`code` and the n - 1 NZ sites (nzshm-common's list) nearest it."""
    (first,) = resolve_sites([code])
    others = [s for s in resolve_sites(["NZ"]) if s.code != first.code]
    others.sort(key=lambda s: math.hypot(s.lat - first.lat, (s.lon - first.lon) * math.cos(math.radians(first.lat))))
    return [first, *others[: n - 1]]


def performance(path: Path) -> tuple[dict[str, float], int, int]:
    """(seconds per stage, ruptures, contexts) of one calculation's datastore."""
    with open_datastore(path) as f:
        rows = f["performance_data"][()]
        info = f["source_info"][()] if "source_info" in f else None
    seconds = {stage: 0.0 for stage in STAGES}
    for row in rows:
        op = row["operation"].decode()
        for stage, ops in STAGES.items():
            if op in ops:
                seconds[stage] += float(row["time_sec"])
    ruptures = int(info["num_ruptures"].sum()) if info is not None else 0
    contexts = int(info["num_ctxs"].sum()) if info is not None else 0
    return seconds, ruptures, contexts


def rel_diff(a: np.ndarray, b: np.ndarray, floor: float = 1e-12) -> float:
    big = (np.abs(a) > floor) | (np.abs(b) > floor)
    if not big.any():
        return 0.0
    return float((np.abs(a[big] - b[big]) / np.maximum(np.abs(a[big]), np.abs(b[big]))).max())


def leaf_mean_rates(
    leaf_id: str, sites: list[Site], config: Config, work: Path, oq_version: str
) -> tuple[dict[str, np.ndarray] | None, np.ndarray, float]:
    """A classical run of the leaf at the sites (five NSHM IMTs): per site code its mean annual rate
    of exceedance (IMT, level), its GMM branches weighted (None: no ruptures); the levels; its CPU s."""
    from hazflow.model.logic_tree import load_model

    model = load_model("NSHM_v1.0.4")
    spec = hazard_job(model, model.leaf(leaf_id), 400.0, tuple(sites), NSHM_IMTS, oq_version)
    folder = work / f"{leaf_id}-hazard"
    folder.mkdir()
    ran = run_job(render_job(spec, model, folder), config.openquake())
    if ran.state == "no_ruptures" or ran.hdf5 is None:
        return None, np.asarray(model.settings.levels), ran.usage.cpu_seconds
    curves = read_hazard_curves(ran.hdf5)
    weights = np.array([r.weight for r in curves.realizations])
    rates = -np.log1p(-np.clip(curves.values, 0.0, 1.0 - 1e-16))  # (site, rlz, IMT, level), per year
    by_place = {(round(s.lon, 3), round(s.lat, 3)): i for i, s in enumerate(curves.sites)}
    order = [curves.imts.index(imt) for imt in NSHM_IMTS]
    means = {
        site.code: np.einsum("r,rml->ml", weights, rates[by_place[(round(site.lon, 3), round(site.lat, 3))]])[order]
        / weights.sum()
        for site in sites
    }
    return means, curves.levels, ran.usage.cpu_seconds


def target_levels(rates: dict[str, np.ndarray], levels: np.ndarray) -> tuple[tuple[float, ...], dict[str, np.ndarray]]:
    """The NSHM PoEs that the summed mean curve (the leaves' fault systems together, as the campaign
    reads its levels off the model's mean curve) reaches at every site, and per site their levels
    (IMT, PoE)."""
    poes = tuple(
        poe for poe in NSHM_POES
        if all(bool(np.all(-np.expm1(-r.max(axis=1)) >= 1 - (1 - poe) ** (1 / 50))) for r in rates.values())
    )  # fmt: skip
    out = {}
    for code, rate in rates.items():
        annual = -np.expm1(-rate)  # (IMT, level) annual PoE
        out[code] = np.array([levels_at_poes(levels, annual[m], poes) for m in range(len(NSHM_IMTS))])
    return poes, out


def measure_leaf(
    leaf_id: str,
    sites: list[Site],
    poes: tuple[float, ...],
    levels: dict[str, np.ndarray],
    config: Config,
    work: Path,
    oq_version: str,
) -> dict[str, object]:
    """The engine at 10 % in 50 years and the one-pass engine at `poes`, for one leaf (see the module docstring)."""
    from hazflow.model.logic_tree import load_model

    model = load_model("NSHM_v1.0.4")
    leaf = model.leaf(leaf_id)
    oq = config.openquake()
    p = poes.index(ENGINE_POE)

    # the engine: one run per site at 10 % in 50 years, five IMTs
    oq_cpu = oq_wall = oq_rss = 0.0
    engine_files: dict[str, Path | None] = {}
    for site in sites:
        spec = disagg_job(
            model, leaf, 400.0, site, ENGINE_POE, dict(zip(NSHM_IMTS, levels[site.code][:, p], strict=True)), oq_version, "oq"
        )
        jobdir = work / f"{leaf_id}-oq-{site.id}"
        jobdir.mkdir()
        result = run_job(render_job(spec, model, jobdir), oq)
        oq_cpu += result.usage.cpu_seconds
        oq_wall += result.usage.seconds
        oq_rss = max(oq_rss, result.usage.max_rss_mb)
        engine_files[site.code] = result.hdf5 if result.state == "done" else None

    # the one-pass engine: every site's PoEs and five IMTs in one pass
    jobs: list[JobSpec] = [
        disagg_job(
            model, leaf, 400.0, site, poe, dict(zip(NSHM_IMTS, levels[site.code][:, k], strict=True)), oq_version, "hazardlib"
        )
        for site in sites
        for k, poe in enumerate(poes)
    ]
    (one_pass,) = group_into_passes(jobs, len(sites))
    passdir = work / f"{leaf_id}-onepass"
    passdir.mkdir()
    result_pass = run_pass(render_pass(one_pass, model, passdir), oq)
    stages = {stage: 0.0 for stage in STAGES}
    ruptures = contexts = 0
    worst = 0.0
    seen: set[Path] = set()
    states = []
    for site_result, site in zip(result_pass.sites, sites, strict=True):
        states.append(site_result.state)
        reference = engine_files[site.code]
        if site_result.hdf5 is None or site_result.state == "no_ruptures":
            assert reference is None, f"{leaf_id} {site.id}: the engine found ruptures, the one-pass engine none"
            continue
        if site_result.hdf5 not in seen:
            seen.add(site_result.hdf5)
            seconds, n_rup, n_ctx = performance(site_result.hdf5)
            stages = {k: stages[k] + seconds[k] for k in STAGES}
            ruptures = max(ruptures, n_rup)
            contexts += n_ctx
        imls = tuple(float(x) for x in levels[site.code][:, p])
        mine = read_disaggregation(site_result.hdf5, imls=imls, lonlat=(site.lon, site.lat))
        if reference is None:
            raise AssertionError(f"{leaf_id} {site.id}: the one-pass engine found ruptures, the engine none")
        theirs = read_disaggregation(reference, imls=imls, lonlat=(site.lon, site.lat))
        worst = max(worst, rel_diff(mine.values, theirs.values))
    usage = result_pass.usage
    n = len(sites)
    cost = contributors_cost(one_pass, model, passdir, work / f"{leaf_id}-contributors", oq, sites, levels, p)
    return {
        "states": ",".join(states),
        "oq_runs": n,
        "oq_cpu_s": round(oq_cpu, 2),
        "oq_wall_s": round(oq_wall, 2),
        "oq_peak_rss_mb": round(oq_rss),
        "onepass_runs": len(jobs),
        "onepass_cpu_s": round(usage.cpu_seconds, 2),
        "onepass_wall_s": round(usage.seconds, 2),
        "onepass_peak_rss_mb": round(usage.max_rss_mb),
        "ruptures": ruptures,
        "contexts": contexts,
        **{f"stage_{k}_s": round(v, 2) for k, v in stages.items()},
        "max_rel_diff": f"{worst:.2e}",
        "oq_cpu_s_per_site": round(oq_cpu / n, 2),
        "onepass_cpu_s_per_site": round(usage.cpu_seconds / n, 2),
        "cpu_ratio": round(len(poes) * oq_cpu / usage.cpu_seconds, 2),
        **cost,
    }


def contributors_cost(
    one_pass: DisaggPass,
    model: HazardModel,
    plain_dir: Path,
    folder: Path,
    oq: OpenQuakeConfig,
    sites: list[Site],
    levels: dict[str, np.ndarray],
    p: int,
) -> dict[str, object]:
    """What recording contributors costs the pass (the default of the one-pass engine): the same pass
    run again with them, then each once more, alternating (the pass's own CPU, without OpenQuake's
    start-up: the smaller of two); the bytes of the realizations stored at the engine's PoE (encoded
    as the aws store keeps them) and of the datastores, with and without."""
    with_them = DisaggPass(tuple(replace(job, contributors=True) for job in one_pass.jobs))
    folder.mkdir()
    pass_files = {False: plain_dir / "pass.json", True: render_pass(with_them, model, folder)}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    results = {}
    for on in (True, False, True, False):
        results[on] = run_pass(pass_files[on], oq)
        cpu[on].append(json.loads((pass_files[on].parent / "result.json").read_text())["cpu_seconds"])
    row_bytes = {False: 0, True: 0}
    datastores = {on: {s.hdf5 for s in results[on].sites if s.hdf5 is not None} for on in (False, True)}
    for site_result, site in zip(results[True].sites, sites, strict=True):
        if site_result.hdf5 is None or site_result.state == "no_ruptures":
            continue
        imls = tuple(float(x) for x in levels[site.code][:, p])
        disagg = read_disaggregation(site_result.hdf5, imls=imls, lonlat=(site.lon, site.lat))
        rates = read_source_rates(site_result.hdf5, imls, (site.lon, site.lat))
        for r in range(len(disagg.realizations)):
            for i, imt in enumerate(disagg.imts):
                row = DisaggRealization(model.name, one_pass.leaf, str(r), site.code, 400.0, imt, ENGINE_POE, float(imls[i]),
                                        disagg.axes, disagg.trts, disagg.bin_edges, disagg.values[r, i])  # fmt: skip
                row_bytes[False] += len(encode(row))
                row_bytes[True] += len(encode(replace(row, contributors=contributor_table_of(rates, r, i))))
    store_bytes = {on: row_bytes[on] + sum(path.stat().st_size for path in datastores[on]) for on in (False, True)}
    return {
        "contributors_cpu_s": round(min(cpu[True]), 2),
        "plain_cpu_s": round(min(cpu[False]), 2),
        "contributors_cpu_overhead": f"{min(cpu[True]) / min(cpu[False]) - 1:.1%}",
        "contributors_row_bytes": f"{row_bytes[True]:,} against {row_bytes[False]:,}",
        "contributors_bytes_overhead": f"{store_bytes[True] / store_bytes[False] - 1:.1%}",
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=("test", "nshm"), default="test")
    parser.add_argument("--site", default="WLG", help="the site (with --sites N: the first of N nearest sites)")
    parser.add_argument("--sites", type=int, default=1, help="sites in the pass (default 1)")
    parser.add_argument("--leaves", nargs="+", default=list(LEAVES))
    parser.add_argument("--sources", type=Path, help="archives already written (default: written now at --scale)")
    parser.add_argument("--keep", type=Path, help="keep every run's folder here (default: a scratch folder, removed)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    with tempfile.TemporaryDirectory(prefix="nshm-leaf-") as tmp:
        scratch = args.keep or Path(tmp)
        scratch.mkdir(parents=True, exist_ok=True)
        sources = args.sources
        if sources is None:
            sources = scratch / "sources"
            start = time.monotonic()
            subprocess.run(
                [sys.executable, str(PROJECT_ROOT / "bench" / "nshm_sources.py"), "--dest", str(sources), "--scale", args.scale,
                 "--leaves", *args.leaves],
                check=True, capture_output=True,
            )  # fmt: skip
            print(f"sources_s: {time.monotonic() - start:.1f}  ({args.scale} size, {', '.join(args.leaves)})")
        os.environ["HAZFLOW_NSHM_SOURCES"] = str(sources)
        os.environ["HAZFLOW_STORE_ROOT"] = str(scratch / "store")
        os.environ["HAZFLOW_WORK_DIR"] = str(scratch / "work")
        config = Config.from_env()
        oq_version = engine_version(config.oq_python)
        sites = nearest_sites(args.site, args.sites)
        print(f"scale: {args.scale}")
        print(f"sites: {' '.join(s.id for s in sites)}")
        print(f"openquake: {oq_version}")
        work = scratch / "runs"
        work.mkdir()
        total: dict[str, np.ndarray] = {}
        grid = np.asarray([])
        for leaf_id in args.leaves:  # each leaf's own hazard run; the levels from their sum
            means, grid, cpu = leaf_mean_rates(leaf_id, sites, config, work, oq_version)
            print(
                f"{leaf_id}_hazard_cpu_s: {cpu:.1f}"
                + ("  (no ruptures: every site beyond every cut-off)" if means is None else "")
            )
            for code, rate in (means or {}).items():
                total[code] = total.get(code, 0.0) + rate
        if not total:
            print("verdict: no leaf has a source within reach of these sites")
            return 1
        poes, levels = target_levels(total, grid)
        print(
            f"poes: {' '.join(f'{p:g}' for p in poes)}  (of NSHM's {len(NSHM_POES)}: those the leaves' summed mean curve reaches at every site)"
        )
        for site in sites:
            print(
                f"levels_{site.id}: "
                + "; ".join(f"{imt} " + " ".join(f"{x:.4g}" for x in levels[site.code][m]) for m, imt in enumerate(NSHM_IMTS))
            )
        ratios, peaks = [], []
        for leaf_id in args.leaves:
            figures = measure_leaf(leaf_id, sites, poes, levels, config, work, oq_version)
            for key, value in figures.items():
                print(f"{leaf_id}_{key}: {value}")
            if set(str(figures["states"]).split(",")) != {"no_ruptures"}:
                ratios.append(float(figures["cpu_ratio"]))  # type: ignore[arg-type]
            peaks.append(max(float(figures["oq_peak_rss_mb"]), float(figures["onepass_peak_rss_mb"])))  # type: ignore[arg-type]
        if not ratios:
            print("verdict: no leaf had targets at these sites")
            return 1
        print(f"cpu_ratio_min: {min(ratios):.2f}  (7 x engine one-PoE CPU / one-pass seven-PoE CPU, per site)")
        print(f"max_peak_rss_mb: {max(peaks):.0f}  (target <= {PEAK_RSS_TARGET_MB:.0f}: eight processes on an m5.2xlarge)")
        met = min(ratios) >= CPU_RATIO_TARGET and max(peaks) <= PEAK_RSS_TARGET_MB
        print(
            f"verdict: {'met' if met else 'not met'} (target cpu_ratio >= {CPU_RATIO_TARGET:g}, peak RSS <= {PEAK_RSS_TARGET_MB:.0f} MB)"
        )
        return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
