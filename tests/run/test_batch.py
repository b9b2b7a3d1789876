"""One batch of real DEMO disaggregations: parallel runs, a failure that spares the others, reuse."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hazflow.exceptions import BadRequest, OpenQuakeError
from hazflow.ingest.realizations import ingest_batch
from hazflow.model.sites import resolve_sites
from hazflow.plan.jobs import disagg_job
from hazflow.run.batch import run_batch

pytestmark = pytest.mark.openquake


def test_a_failed_run_spares_the_batch_and_a_rerun_repeats_only_it(config, demo, oq_version):
    site = resolve_sites(["WLG"])[0]
    good = disagg_job(demo, demo.leaf("SLAB-1"), 400, site, 0.1, {"PGA": 0.3}, oq_version)
    bad = disagg_job(demo, demo.leaf("HIK-1"), 400, site, 0.1, {"PGA": 0.3}, oq_version)
    bad = replace(bad, settings=bad.settings.with_overrides(rupture_mesh_spacing=0.0))  # OpenQuake refuses it
    store, parallel = config.open_store(), replace(config, oq_parallel=2)
    with pytest.raises(OpenQuakeError, match=r"1 of 2 OpenQuake runs failed \(WLG vs30=400 PGA 10%/50yr HIK-1\)") as info:
        run_batch([good, bad], store, parallel)
    assert info.value.log_tail  # the failing job's own log
    assert store.ledger_get(good.key).state == "ran" and store.ledger_get(bad.key).state == "failed"

    again = run_batch([good], store, parallel)  # the retry: what ran is reused, not run again
    assert again[0].skipped and again[0].oq_seconds == store.ledger_get(good.key).oq_seconds
    done = ingest_batch([good], store)
    assert done[0].state in {"done", "no_ruptures"} and done[0].rows == len(demo.gmms_for("Subduction Intraslab"))
    assert ingest_batch([good], store)[0].skipped


@pytest.mark.parametrize("value, ok", [("3", 3), ("0", None), ("two", None)])
def test_parallel_jobs_setting(value, ok):
    from hazflow.config import Config

    if ok is None:
        with pytest.raises(BadRequest, match="HAZFLOW_OQ_PARALLEL"):
            Config.from_env({"HAZFLOW_OQ_PARALLEL": value})
    else:
        assert Config.from_env({"HAZFLOW_OQ_PARALLEL": value}).oq_parallel == ok
