"""Run -> artifacts -> ingest -> ledger, with real OpenQuake, and the idempotency promises."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hazflow.config import Config
from hazflow.exceptions import DataIntegrityError, OpenQuakeError
from hazflow.ingest.realizations import ingest_job
from hazflow.plan.jobs import respec
from hazflow.plan.request import HazardRequest
from hazflow.run.job import HDF5_NAME, datastore_name, run_job
from hazflow.store import LedgerEntry
from hazflow.store.records import DisaggRealization

pytestmark = pytest.mark.openquake


@pytest.fixture(scope="module")
def slab_done(tmp_path_factory, oq_version):
    """SLAB-1 at WLG and CHC, run and ingested once for this module."""
    root = tmp_path_factory.mktemp("realizations")
    config = Config(store_root=root / "store", work_dir=root / "work")
    spec = HazardRequest.parse(
        {"model": "DEMO", "sites": ["WLG", "CHC"], "vs30s": [400], "imts": ["PGA", "SA(0.5)"], "leaves": ["SLAB-1"]}
    ).jobs(oq_version)[0]
    store = config.open_store()
    ran = run_job(spec, store, config)
    done = ingest_job(spec, store)
    return config, store, spec, ran, done


def test_run_then_ingest(slab_done, demo):
    config, store, spec, ran, done = slab_done
    assert (ran.state, ran.skipped, done.state, done.skipped) == ("ran", False, "done", False)
    assert done.rows == 2 * 2 * 2  # sites x GMM branches x IMTs
    entry = store.ledger_get(spec.key)
    assert entry.state == "done" and entry.attempts == 1 and entry.oq_seconds > 0 and entry.hdf5_bytes > 100_000
    assert entry.oq_version == "3.26.2" and entry.settings_digest == demo.settings.digest()
    assert json.loads(entry.spec)["leaf"] == "SLAB-1"
    for name in ("calc.hdf5", "oq.log", "job.ini", "site_model.csv", "gsim_logic_tree.xml"):
        assert store.artifact(spec.key, name).is_file()
    assert not list(config.work_dir.iterdir()), "the temporary job folder is removed"


def test_realizations_carry_gmm_ids_and_provenance(slab_done, demo):
    _, store, spec, _, _ = slab_done
    wlg = store.get_hazard_realizations("DEMO", "-41.300~174.780", 400, "PGA")
    assert [r.gmm for r in wlg] == sorted(g.id for g in demo.gmms_for("Subduction Intraslab"))
    assert all(r.job_key == spec.key and r.leaf == "SLAB-1" for r in wlg)
    assert all(r.values[0] > 1e-4 for r in wlg)
    # Christchurch is beyond the slab source's cut-off: zero contribution, stored as zeros
    chc = store.get_hazard_realizations("DEMO", "-43.530~172.630", 400, "PGA")
    assert len(chc) == 2 and all(not r.values.any() for r in chc)


def test_rerun_starts_no_openquake_job(slab_done, tmp_path):
    config, store, spec, _, _ = slab_done
    no_openquake = replace(config, oq_python=tmp_path / "absent")  # any OpenQuake start would fail
    again = run_job(spec, store, no_openquake)
    assert again.skipped and again.state == "done"
    assert ingest_job(spec, store).skipped
    assert store.ledger_get(spec.key).attempts == 1


def test_forced_ingest_rewrites_the_same_rows(slab_done):
    _, store, spec, _, done = slab_done
    before = store.get_hazard_realizations("DEMO", "-41.300~174.780", 400, "SA(0.5)")
    again = ingest_job(spec, store, force=True)
    after = store.get_hazard_realizations("DEMO", "-41.300~174.780", 400, "SA(0.5)")
    assert not again.skipped and again.rows == done.rows
    assert len(after) == len(before)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a.values, b.values)


def test_a_failed_run_is_in_the_ledger_and_raises(config, demo, oq_version):
    spec = HazardRequest.parse({"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "leaves": ["SLAB-1"]}).jobs(
        oq_version
    )[0]
    bad = respec(spec, demo, gmms=(("[NoSuchGMPE2099]", 1.0),))
    store = config.open_store()
    with pytest.raises(OpenQuakeError):
        run_job(bad, store, config)
    entry = store.ledger_get(bad.key)
    assert entry.state == "failed" and "NoSuchGMPE2099" in entry.error and entry.attempts == 1
    assert entry.error_class == "OpenQuakeError" and "NoSuchGMPE2099" in entry.log_tail  # OpenQuake's own log
    with pytest.raises(DataIntegrityError, match="'failed', not run"):
        ingest_job(bad, store)


def _ledger_ran(spec, **kw) -> LedgerEntry:
    return LedgerEntry(spec.key, spec.kind, spec.model, spec.leaf, spec.vs30, tuple(s.code for s in spec.sites), spec.imts,
                       "ran", poe=spec.poe, oq_version=spec.oq_version, spec=json.dumps(spec.to_dict()), **kw)  # fmt: skip


def test_ingest_of_a_disaggregation(config, disagg_run):
    store = config.open_store()
    spec = disagg_run.spec
    store.put_artifacts(spec.key, {datastore_name(spec): disagg_run.result.hdf5})
    store.ledger_record(_ledger_ran(spec))
    out = ingest_job(spec, store)
    assert (out.state, out.rows) == ("done", 3 * 2)  # GMM branches x IMTs
    rows: list[DisaggRealization] = store.get_disagg_realizations("DEMO", "-41.300~174.780", 400, "PGA", 0.1)
    assert len(rows) == 3 and {r.iml for r in rows} == {0.3}
    assert rows[0].values.shape == (1, 25, 17, 16) and sum(r.values.sum() for r in rows) > 0


def test_ingest_of_an_empty_result_stores_zeros(config, demo, oq_version):
    store = config.open_store()
    spec = HazardRequest.parse(
        {"model": "DEMO", "sites": ["-43.950~-176.560"], "vs30s": [400], "imts": ["PGA"], "leaves": ["CRU-1"]}
    ).jobs(oq_version)[0]
    store.ledger_record(_ledger_ran(spec, empty=True))
    out = ingest_job(spec, store)
    assert (out.state, out.rows) == ("no_ruptures", 3)
    rows = store.get_hazard_realizations("DEMO", "-43.950~-176.560", 400, "PGA")
    assert len(rows) == 3 and all(not r.values.any() for r in rows)
    assert store.ledger_get(spec.key).state == "no_ruptures"


def test_ingest_rejects_a_datastore_of_other_sites(config, classical_run, oq_version):
    store = config.open_store()
    other = HazardRequest.parse(
        {"model": "DEMO", "sites": ["CHC"], "vs30s": [400], "imts": ["PGA", "SA(0.5)"], "leaves": ["HIK-1"]}
    ).jobs(oq_version)[0]
    store.put_artifacts(other.key, {HDF5_NAME: classical_run.result.hdf5})
    store.ledger_record(_ledger_ran(other))
    with pytest.raises(DataIntegrityError, match="not one of the job's sites"):
        ingest_job(other, store)
    assert store.get_hazard_realizations("DEMO", "-43.530~172.630", 400, "PGA") == []
    assert Path(store.artifact(other.key, HDF5_NAME)).exists()
