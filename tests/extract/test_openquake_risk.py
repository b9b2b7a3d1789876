"""The DEMO bundle of a box around Wellington (NSHM's 0.1 degree grid: 6 sites, PGA and SA(0.5)),
its hazard computed first (`compute`: 6 classical runs, one per leaf, the sites together), then
imported by OpenQuake: read back through OpenQuake's own reader, and run through classical_risk and
classical_damage with a tiny exposure, vulnerability and fragility model made here."""

from __future__ import annotations

import json
import shutil
import subprocess

import h5py
import numpy as np
import pytest

from hazflow.extract.request import AreaRequest
from hazflow.openquake.runner import run_job
from hazflow.steps.area_extract import extract_area
from tests.extract.conftest import AREA
from tests.support.risk_inputs import write_risk_model

pytestmark = pytest.mark.openquake

# OpenQuake's reader of hazard_curves_csv (commonlib.readinput.get_pmap_from_csv), on the bundle's job_risk.ini
READ_BACK = """
import json, sys
from openquake.commonlib import readinput
oq = readinput.get_oqparam(sys.argv[1])
mesh, pmap = readinput.get_pmap_from_csv(oq, oq.inputs["hazard_curves"])
print(json.dumps({"lons": mesh.lons.tolist(), "lats": mesh.lats.tolist(), "imtls": {k: list(v) for k, v in oq.imtls.items()},
                  "investigation_time": oq.investigation_time, "poes": pmap.array[:, :, 0].tolist()}))
"""


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, base_config):
    """(config, request, manifest, folder) of the computed DEMO bundle, in a store of its own."""
    root = tmp_path_factory.mktemp("area")
    config = type(base_config)(store_root=root / "store", work_dir=root / "work")
    params = AREA | {"compute": True}
    manifest = extract_area(params, config, root / "bundles")
    return config, AreaRequest.parse(params), manifest, root / "bundles" / manifest.name


def test_compute_ran_one_classical_job_per_leaf_for_the_six_sites(bundle):
    _, request, manifest, _ = bundle
    assert len(request.sites) == 6
    assert manifest.computed == {"sites": 6, "jobs": 6, "openquake_runs": 6}
    assert manifest.provenance["oq_version"] == {"3.26.2": 12} and list(manifest.provenance["composites"]) == ["72"]


def test_openquake_reads_back_the_stored_aggregate(bundle):
    config, request, _, folder = bundle
    write_risk_model(folder, [])  # get_oqparam checks the files the ini names exist
    out = subprocess.run([str(config.oq_python), "-c", READ_BACK, str(folder / "job_risk.ini")],
                         capture_output=True, text=True, check=True, timeout=300)  # fmt: skip
    read = json.loads(out.stdout.strip().splitlines()[-1])
    assert read["investigation_time"] == 1.0 and list(read["imtls"]) == ["PGA", "SA(0.5)"]
    store = config.open_store()
    for i, site in enumerate(request.sites):
        assert (round(read["lons"][i], 3), round(read["lats"][i], 3)) == (site.lon, site.lat)
        start = 0
        for imt, levels in read["imtls"].items():
            stored = store.get_hazard_aggregates("DEMO", site.code, 400.0, imt, "mean")[0]
            assert levels == pytest.approx(stored.levels.tolist(), rel=1e-12)
            np.testing.assert_allclose(read["poes"][i][start : start + len(levels)], stored.values, rtol=2e-7, atol=1e-30)
            start += len(levels)


@pytest.mark.parametrize("mode", ["risk", "damage"])
def test_openquake_risk_runs_on_the_bundle(bundle, tmp_path, mode):
    config, request, _, folder = bundle
    jobdir = tmp_path / "job"
    shutil.copytree(folder, jobdir)
    write_risk_model(jobdir, [(s.lon, s.lat) for s in request.sites])  # one asset at each site
    result = run_job(jobdir / f"job_{mode}.ini", config.openquake())
    assert result.state == "done"
    with h5py.File(result.hdf5) as f:
        assert f["sitecol"]["lon"].shape == (6,)
        if mode == "risk":
            curves = f["loss_curves-stats"][()]["structural"]
            losses, poes = curves["losses"], curves["poes"]
            assert losses.shape[0] == 6 and np.isfinite(losses).all() and np.isfinite(poes).all()
            assert (poes >= 0).all() and (poes <= 1).all() and poes.max() > 0  # the hazard reaches the assets
            avg = f["avg_losses-stats"]["structural"][()]
            assert np.isfinite(avg).all() and (avg > 0).all()
        else:
            damages = f["damages-rlzs"][()]
            states = np.stack([damages[name][:, 0] for name in damages.dtype.names], axis=1)  # (assets, damage states)
            assert states.shape == (6, 4) and np.isfinite(states).all()
            np.testing.assert_allclose(states.sum(axis=1), 1.0, rtol=1e-5)  # one building each, in some state
            assert (states[:, 1:].sum(axis=1) > 0).all()


def test_a_rerun_starts_no_openquake_job_and_rewrites_the_bundle(bundle, tmp_path):
    config, request, first, _ = bundle
    again = extract_area(AREA | {"compute": True}, config, tmp_path)
    assert again.computed == {"sites": 0, "jobs": 0, "openquake_runs": 0}
    assert again.files == first.files and again.provenance == first.provenance
    assert (tmp_path / request.name / "hazard_curves" / "hazard_curve-mean-PGA.csv").read_text() == (
        (type(tmp_path)(first.folder) / "hazard_curves" / "hazard_curve-mean-PGA.csv").read_text()
    )
