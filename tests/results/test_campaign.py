"""The Campaign view's numbers: a real DEMO plan's runs as a leaf x site grid by ledger state, a
failure with its class and log tail, and the totals, from each store backend."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hazflow.exceptions import BadRequest
from hazflow.model.settings import NSHM_LEVELS
from hazflow.plan.disagg import plan_disagg
from hazflow.plan.request import DisaggRequest
from hazflow.results.campaign import disagg_campaign, plan_id_of
from hazflow.results.hazard import NothingStored
from hazflow.store import HazardAggregate, LedgerEntry

REQUEST = {
    "model": "DEMO",
    "sites": ["WLG", "CHC"],
    "vs30s": [400],
    "imts": ["PGA"],
    "poes": [0.1, 0.02],
    "leaves": ["CRU-1", "HIK-1", "SLAB-1"],
}


@pytest.fixture(scope="module")
def planned(module_store):
    """A DEMO plan of 12 runs (3 leaves x 2 sites x 2 PoEs) kept in the module_store; of its runs, in the
    ledger: 7 done (one of them empty), 1 no_ruptures, 1 failed; 3 to do."""
    request = DisaggRequest.parse(REQUEST, runnable=False)
    levels = np.asarray(NSHM_LEVELS)
    module_store.put_hazard_aggregates(
        [HazardAggregate("DEMO", s.code, 400.0, "PGA", "mean", levels, 0.05 * np.exp(-4.0 * levels)) for s in request.sites]
    )
    plan = plan_disagg(replace(request, disagg_engine="oq"), module_store, "3.26.2")
    module_store.put_plan(plan.plan_id, plan.to_document())
    leaves = REQUEST["leaves"]
    for i, ((leaf, group), key) in enumerate(zip(plan.runs, plan.keys, strict=True)):
        base = LedgerEntry(key, "disagg", "DEMO", leaves[leaf], 400.0, (plan.groups[group].site.code,), ("PGA",), "done",
                           poe=plan.groups[group].poe, cpu_seconds=360.0)  # fmt: skip
        if i < 7:
            module_store.ledger_record(replace(base, empty=(i == 6)))
        elif i == 7:
            module_store.ledger_record(replace(base, state="no_ruptures"))
        elif i == 8:
            module_store.ledger_record(replace(base, state="failed", error="OpenQuake job failed with exit code 1: boom", error_class="OpenQuakeError",
                                        log_tail="\n".join(f"line {n}" for n in range(40))))  # fmt: skip
    return plan


def test_the_grid_counts_each_cells_runs_by_state(module_store, planned):
    got = disagg_campaign(module_store, planned.plan_id)
    assert got["leaves"] == ["CRU-1", "HIK-1", "SLAB-1"] and got["sites"] == ["WLG", "CHC"]
    cells = [count for by_site in got["cells"].values() for cell in by_site.values() for count in cell.values()]
    assert sum(cells) == len(planned.keys) == 12
    assert got["totals"]["by_state"] == {"done": 6, "no ruptures": 2, "failed": 1, "to do": 3}
    assert (got["totals"]["left"], got["totals"]["reused"], got["totals"]["planned"]) == (4, 0, 12)
    assert got["totals"]["cpu_hours"] == pytest.approx(9 * 360 / 3600)  # every entry's share, the failed one's included


def test_a_failure_keeps_its_class_and_the_last_lines_of_openquakes_log(module_store, planned):
    (failure,) = disagg_campaign(module_store, planned.plan_id)["failures"]
    assert (failure["error_class"], failure["error"]) == ("OpenQuakeError", "OpenQuake job failed with exit code 1: boom")
    assert failure["log_tail"].splitlines() == [f"line {n}" for n in range(10, 40)]
    assert failure["leaf"] in REQUEST["leaves"] and failure["site"] in ("WLG", "CHC")


def test_a_missing_plan_or_run_is_refused(module_store):
    with pytest.raises(NothingStored):
        disagg_campaign(module_store, "no-such-plan")
    with pytest.raises(BadRequest, match="no plan yet"):
        plan_id_of(None)
    assert plan_id_of({"plan_id": "abc", "batches": []}) == "abc"


def test_a_hazard_runs_jobs_are_a_leaf_by_vs30_grid_with_the_reused_ones_counted(module_store):
    """Six DEMO classical jobs (3 leaves x 2 VS30s) as a hazard_realizations plan maps them: one done
    before the run started (reused), three done by it, one failed, one to do."""
    from hazflow.plan.request import HazardRequest
    from hazflow.results.campaign import hazard_campaign
    from hazflow.steps.hazard_realizations import job_batches

    request = HazardRequest.parse(
        {"model": "DEMO", "sites": ["WLG"], "vs30s": [250, 750], "imts": ["PGA"], "leaves": ["CRU-1", "HIK-1", "SLAB-1"]}
    )
    specs = request.jobs("3.26.2")
    for i, spec in enumerate(specs[:5]):
        entry = LedgerEntry(spec.key, "hazard", "DEMO", spec.leaf, spec.vs30, ("-41.300~174.780",), ("PGA",), "done", cpu_seconds=720.0,
                            finished_at="2026-12-01T00:00:00+00:00" if i == 0 else "2026-12-06T10:00:00+00:00")  # fmt: skip
        module_store.ledger_record(
            replace(entry, state="failed", error="boom", error_class="OpenQuakeError") if i == 4 else entry
        )
    got = hazard_campaign(module_store, job_batches(specs), started_at="2026-12-06T09:00:00+00:00")
    assert (got["columns"], got["sites"], got["leaves"]) == ("VS30", ["vs30=250", "vs30=750"], ["CRU-1", "HIK-1", "SLAB-1"])
    assert got["totals"]["by_state"] == {"done": 4, "failed": 1, "to do": 1}
    assert (got["totals"]["reused"], got["totals"]["left"], got["totals"]["jobs"]) == (1, 2, 6)
    assert got["totals"]["cpu_hours"] == pytest.approx(4 * 720 / 3600)  # the run's own: the reused job's CPU is not this run's
    (failure,) = got["failures"]
    assert (failure["leaf"], failure["site"], failure["error_class"]) == (
        specs[4].leaf,
        f"vs30={specs[4].vs30:g}",
        "OpenQuakeError",
    )
    with pytest.raises(BadRequest, match="no plan yet"):
        hazard_campaign(module_store, None)
