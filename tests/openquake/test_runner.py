from __future__ import annotations

from dataclasses import replace

import pytest

from hazflow.exceptions import OpenQuakeError
from hazflow.openquake.prepare import render_job
from hazflow.openquake.runner import OpenQuakeConfig, run_job
from hazflow.plan.jobs import respec
from hazflow.plan.request import HazardRequest

pytestmark = pytest.mark.openquake


def test_a_classical_run_leaves_a_datastore(classical_run):
    assert classical_run.result.state == "done"
    assert classical_run.result.hdf5.stat().st_size > 100_000
    assert "oq engine" in classical_run.result.log.read_text() or classical_run.result.log.stat().st_size > 0


def test_far_from_every_source_is_an_empty_result(demo, base_config, oq_version, tmp_path):
    """Chatham Islands are > 800 km from every DEMO crustal source: zero contribution, not a failure."""
    spec = HazardRequest.parse(
        {"model": "DEMO", "sites": ["-43.950~-176.560"], "vs30s": [400], "imts": ["PGA"], "leaves": ["CRU-1"]}
    ).jobs(oq_version)[0]
    result = run_job(render_job(spec, demo, tmp_path), base_config.openquake())
    assert result.state == "no_ruptures"


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
def test_a_failure_carries_the_log_tail(demo, base_config, oq_version, tmp_path, warm):
    spec = HazardRequest.parse({"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "leaves": ["SLAB-1"]}).jobs(
        oq_version
    )[0]
    bad = respec(spec, demo, gmms=(("[NoSuchGMPE2099]", 1.0),))
    with pytest.raises(OpenQuakeError, match="failed with exit code 1") as info:
        run_job(render_job(bad, demo, tmp_path), replace(base_config.openquake(), warm=warm))
    assert "NoSuchGMPE2099" in info.value.log_tail
    assert "tail of the OpenQuake log" in str(info.value)


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
def test_a_job_over_its_time_limit_is_killed(demo, base_config, oq_version, tmp_path, warm):
    """The limit is the run's own (a warm run's time starts when its fork does, after the warm
    process's start-up); 0.2 s is less than either kind of run takes."""
    spec = HazardRequest.parse({"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "leaves": ["SLAB-1"]}).jobs(
        oq_version
    )[0]
    config = OpenQuakeConfig(base_config.oq_python, timeout_s=0.2, numba_cache_dir=base_config.numba_cache_dir, warm=warm)
    with pytest.raises(OpenQuakeError, match="timed out after 0.2 s"):
        run_job(render_job(spec, demo, tmp_path), config)


def test_missing_openquake_venv(tmp_path):
    with pytest.raises(OpenQuakeError, match="make setup"):
        OpenQuakeConfig(tmp_path / "no-python")
