"""The one-pass engine against `oq engine --run` per level, value by value, on real DEMO leaves.

Both engines run the same targets (2 sites, 2 IMTs, 3 levels each) through hazflow's own path:
passes for `hazardlib`, one engine run per leaf x site x PoE for `oq`; both are ingested and the
stored realizations compared bin by bin: within 1e-6 relative on every bin above 1e-12 (the engine
stores rupture contexts in float32, so the two agree to about 1e-8, not to the last bit).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hazflow.config import Config
from hazflow.exceptions import DataIntegrityError
from hazflow.ingest.realizations import ingest_batch
from hazflow.model.settings import DISAGG_OUTPUTS
from hazflow.model.sites import resolve_sites
from hazflow.openquake import render
from hazflow.openquake.datastore import read_disaggregation
from hazflow.openquake.engines import SITES_PER_PASS
from hazflow.openquake.prepare import render_job, render_pass
from hazflow.openquake.runner import run_job, run_pass
from hazflow.openquake.spec import DisaggPass, JobSpec
from hazflow.plan.jobs import disagg_job
from hazflow.plan.passes import group_into_passes
from hazflow.run.batch import run_batch

pytestmark = pytest.mark.openquake

LEVELS = {"PGA": (0.1, 0.3, 0.6), "SA(0.5)": (0.2, 0.5, 1.0)}  # g, at three PoEs
POES = (0.39, 0.1, 0.02)


def targets(demo, leaf: str, oq_version: str, engine: str, sites: tuple[str, ...] = ("WLG", "CHC")) -> list[JobSpec]:
    return [
        disagg_job(demo, demo.leaf(leaf), 400, site, poe, {imt: LEVELS[imt][p] for imt in LEVELS}, oq_version, engine)
        for site in resolve_sites(list(sites))
        for p, poe in enumerate(POES)
    ]


def raw_disaggregation(path: Path, imls: tuple[float, ...]) -> tuple[np.ndarray, list[str]]:
    """(rlz, TRT, Mag, Dist, Eps, IMT) at the level `imls` of the datastore at `path`, and its TRT names:
    read straight from OpenQuake's layout (hazflow's reader takes one region per leaf)."""
    import h5py

    with h5py.File(path, "r") as f:
        levels = f["hmap3"][0]  # (IMT, level)
        (p,) = [i for i in range(levels.shape[1]) if np.allclose(levels[:, i], imls, rtol=1e-9)]
        data = f["disagg-rlzs/TRT_Mag_Dist_Eps"][0][..., p, :]  # (TRT, Mag, Dist, Eps, IMT, Z)
        order = np.argsort(f["best_rlzs"][0])
        return np.moveaxis(data[..., order], -1, 0), [t.decode() for t in f["disagg-bins/TRT"][()]]


def compare(a: np.ndarray, b: np.ndarray, floor: float = 1e-12) -> float:
    """The largest relative difference over bins above `floor` in either; bins at or below it must be so in both."""
    big = (np.abs(a) > floor) | (np.abs(b) > floor)
    assert np.all(np.abs(a[~big]) <= floor) and np.all(np.abs(b[~big]) <= floor)
    return float((np.abs(a[big] - b[big]) / np.maximum(np.abs(a[big]), np.abs(b[big]))).max()) if big.any() else 0.0


@dataclass
class BothEngines:
    """The same targets run with both engines through hazflow's own path (passes, OpenQuake, ingest)."""

    stored: dict[str, dict[tuple, Any]]  # engine -> (site, IMT, PoE, GMM) -> stored realization
    states: dict[str, list[str]]
    passes: dict[str, list[DisaggPass]]
    stores: dict[str, Any]
    worst: float  # the largest relative difference over every stored bin (`compare`)


def run_both_engines(model_name: str, jobs_of: Callable[[str], list[JobSpec]], tmp_path: Path) -> BothEngines:
    """`jobs_of(engine)` run by `oq` (one engine run each) and by `hazardlib` (one pass), ingested and
    compared matrix by matrix; the states, keys and bins must agree (the caller bounds `worst`)."""
    stored, states, passes, stores = {}, {}, {}, {}
    for engine in ("oq", "hazardlib"):
        config = Config(store_root=tmp_path / engine / "store", work_dir=tmp_path / engine / "work", oq_parallel=2)
        jobs = jobs_of(engine)
        passes[engine] = group_into_passes(jobs, SITES_PER_PASS)
        assert len(passes[engine]) == (len(jobs) if engine == "oq" else 1)  # an engine run per job, or one pass
        stores[engine] = store = config.open_store()
        run_batch(passes[engine], store, config)
        states[engine] = [o.state for o in ingest_batch(jobs, store)]
        stored[engine] = {
            (r.site, r.imt, r.poe, r.gmm): r
            for job in jobs
            for imt in job.imts
            for r in store.get_disagg_realizations(model_name, job.sites[0].code, job.vs30, imt, job.poe)
        }
    assert states["oq"] == states["hazardlib"] and "done" in states["oq"]
    assert stored["oq"].keys() == stored["hazardlib"].keys()
    worst = 0.0
    for key, reference in stored["oq"].items():
        one = stored["hazardlib"][key]
        assert one.iml == reference.iml and one.trts == reference.trts and one.axes == reference.axes
        worst = max(worst, compare(one.values, reference.values))
    return BothEngines(stored, states, passes, stores, worst)


@pytest.mark.parametrize("leaf", ["CRU-1", "HIK-1", "SLAB-1"])  # crustal, interface, slab
def test_one_pass_equals_the_engine_per_level(demo, oq_version, tmp_path, leaf):
    both = run_both_engines("DEMO", lambda engine: targets(demo, leaf, oq_version, engine), tmp_path)  # 2 sites x 3 PoEs
    assert len(both.stored["oq"]) == 2 * 2 * 3 * len(demo.gmms_for(demo.leaf(leaf).trt))  # SLAB-1 does not reach CHC: zeros there
    print(f"{leaf}: largest relative difference of {len(both.stored['oq'])} stored matrices: {both.worst:.2e}")
    assert both.worst <= 1e-6
    (one_pass,) = both.passes["hazardlib"]
    entry = both.stores["hazardlib"].ledger_get(one_pass.jobs[0].key)
    assert (entry.engine, entry.pass_jobs, entry.artifact_key) == ("hazardlib", 6, one_pass.key) and entry.cpu_seconds > 0


def test_a_leaf_of_two_tectonic_regions_in_one_pass(demo, oq_version, base_config, tmp_path):
    """OpenQuake's own calculator handles a source model of two regions (hazflow's models give a leaf
    one); crustal and interface sources of DEMO together, one site, three levels against three runs."""
    cru, hik = demo.leaf("CRU-2"), demo.leaf("HIK-1")

    def gsim(trt: str) -> str:
        return "".join(
            f'<logicTreeBranch branchID="{trt[:3]}{i}"><uncertaintyModel>{g.uncertainty}</uncertaintyModel>'
            f"<uncertaintyWeight>{g.weight!r}</uncertaintyWeight></logicTreeBranch>"
            for i, g in enumerate(demo.gmms_for(trt))
        )

    def two_regions(folder: Path) -> None:
        """Turn a rendered CRU-2 job into one over CRU-2's and HIK-1's sources, with both regions' GMM branches."""
        names = [p.name for p in demo.source_paths(hik)]
        for src in demo.source_paths(hik):
            shutil.copyfile(src, folder / src.name)
        slt = (folder / "source_model_logic_tree.xml").read_text()
        start = slt.index("<uncertaintyModel>") + len("<uncertaintyModel>")
        (folder / "source_model_logic_tree.xml").write_text(slt[:start] + " ".join(names) + " " + slt[start:])
        sets = "".join(
            f'<logicTreeBranchSet uncertaintyType="gmpeModel" branchSetID="BS{i}" applyToTectonicRegionType="{trt}">{gsim(trt)}</logicTreeBranchSet>'
            for i, trt in enumerate((cru.trt, hik.trt))
        )
        (folder / "gsim_logic_tree.xml").write_text(
            '<?xml version="1.0" encoding="utf-8"?>\n<nrml xmlns="http://openquake.org/xmlns/nrml/0.5"><logicTree logicTreeID="G">'
            f"{sets}</logicTree></nrml>\n"
        )
        cutoffs = {trt: [tuple(p) for p in demo.settings.maximum_distance[trt]] for trt in (cru.trt, hik.trt)}
        ini = (folder / "job.ini").read_text()
        line = next(x for x in ini.splitlines() if x.startswith("maximum_distance"))
        (folder / "job.ini").write_text(ini.replace(line, f"maximum_distance = {cutoffs!r}"))

    jobs = targets(demo, "CRU-2", oq_version, "hazardlib", sites=("WLG",))
    passdir = tmp_path / "pass"
    passdir.mkdir()
    pass_file = render_pass(DisaggPass(tuple(jobs)), demo, passdir)
    two_regions(passdir)
    (site,) = run_pass(pass_file, base_config.openquake()).sites
    worst = 0.0
    for job in jobs:
        rundir = tmp_path / f"run{job.poe}"
        rundir.mkdir()
        render_job(replace(job, engine="oq"), demo, rundir)
        two_regions(rundir)
        reference, trts = raw_disaggregation(run_job(rundir / "job.ini", base_config.openquake()).hdf5, job.imls)
        one, one_trts = raw_disaggregation(site.hdf5, job.imls)
        assert one_trts == trts == [cru.trt, hik.trt] and one.shape[0] == 3 * 2  # realizations: 3 x 2 GMM branches
        assert np.all(one[:, 1].sum(axis=(1, 2, 3, 4)) > 0)  # the interface bin is not empty
        worst = max(worst, compare(one, reference))
    print(f"two regions: largest relative difference {worst:.2e}")
    assert worst <= 1e-6 and json.loads((passdir / "result.json").read_text())["sites"][0]["state"] == "done"


def test_a_site_beyond_every_source_is_an_empty_result_beside_one_that_is_not(demo, oq_version, base_config, tmp_path):
    jobs = targets(demo, "SLAB-1", oq_version, "hazardlib", sites=("WLG", "-43.950~-176.560"))
    result = run_pass(render_pass(DisaggPass(tuple(jobs)), demo, tmp_path), base_config.openquake())
    assert [(s.code, s.state) for s in result.sites] == [("-41.300~174.780", "done"), ("-43.950~-176.560", "no_ruptures")]
    assert result.usage.cpu_seconds > 0 and result.usage.max_rss_mb > 50


def test_sites_sharing_a_calculation_get_what_their_own_calculations_give(demo, oq_version, base_config, tmp_path, monkeypatch):
    """HIK-1 (finite faults only): WLG at three PoEs, CHC at one (its level repeated to three) and a site
    beyond every source, as one calculation; every stored kind at every site and level within 1e-6 of
    the sites' own single-site calculations (float32 contexts: about 1e-8), the far site empty."""
    far = "-43.950~-176.560"
    jobs = [
        job
        for job in targets(demo, "HIK-1", oq_version, "hazardlib", sites=("WLG", "CHC", far))
        if job.sites[0].id != "CHC" or job.poe == 0.1
    ]
    results = {}
    for mode in ("shared", "apart"):
        if mode == "apart":
            monkeypatch.setattr(render, "sites_share_calculation", lambda paths: False)
        folder = tmp_path / mode
        folder.mkdir()
        pass_file = render_pass(DisaggPass(tuple(jobs)), demo, folder)
        assert len(json.loads(pass_file.read_text())["calculations"]) == (1 if mode == "shared" else 3)
        results[mode] = {s.code: s for s in run_pass(pass_file, base_config.openquake()).sites}
    shared, apart = results["shared"], results["apart"]
    assert len({s.hdf5 for s in shared.values()}) == 1 and len({s.hdf5 for s in apart.values()}) == 3
    assert [(s.code, s.state) for s in shared.values()] == [(s.code, s.state) for s in apart.values()]
    assert [s.state for s in shared.values()] == ["done", "done", "no_ruptures"]
    worst, compared = 0.0, 0
    for job in jobs[:-3]:  # the far site's jobs are the last three
        site = job.sites[0]
        for kind in DISAGG_OUTPUTS:
            one, alone = (
                read_disaggregation(r[site.code].hdf5, kind, imls=job.imls, lonlat=(site.lon, site.lat)) for r in (shared, apart)
            )
            assert one.site.id == alone.site.id == site.id[:8] and np.array_equal(one.imls, alone.imls)
            assert one.values.shape == alone.values.shape and one.values.sum() > 0
            worst, compared = max(worst, compare(one.values, alone.values)), compared + 1
    one_file = shared[jobs[0].sites[0].code].hdf5
    with pytest.raises(DataIntegrityError, match="3 sites; say which"):
        read_disaggregation(one_file, imls=jobs[0].imls)  # a shared datastore: the site must be named
    with pytest.raises(DataIntegrityError, match="0 sites at lon 175.0"):
        read_disaggregation(one_file, imls=jobs[0].imls, lonlat=(175.0, -41.3))
    print(f"shared calculation: largest relative difference of {compared} matrices: {worst:.2e}")
    assert compared == 4 * len(DISAGG_OUTPUTS) and worst <= 1e-6
