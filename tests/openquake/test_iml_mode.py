"""IML mode against PoE mode on real DEMO runs: disaggregating at a level given directly stores what
disaggregating at the PoE that level has on the mean curve stores, value by value."""

from __future__ import annotations

import numpy as np
import pytest

from hazflow.config import Config
from hazflow.ingest.realizations import ingest_batch
from hazflow.plan.disagg import plan_disagg
from hazflow.plan.request import DisaggRequest
from hazflow.run.batch import run_batch
from hazflow.store import HazardAggregate

pytestmark = pytest.mark.openquake

WLG = "-41.300~174.780"


def _disaggregate(request: DisaggRequest, store, config, oq_version):
    plan = plan_disagg(request, store, oq_version)
    for b in range(len(plan.batches)):
        run_batch(plan.passes_of(b), store, config)
        assert {o.state for o in ingest_batch(plan.specs(b), store)} == {"done"}
    return plan


def test_iml_mode_equals_poe_mode_at_the_same_level(demo, oq_version, tmp_path):
    config = Config(store_root=tmp_path / "store", work_dir=tmp_path / "work", oq_parallel=2)
    store = config.open_store()
    levels = np.asarray(demo.settings.levels)
    store.put_hazard_aggregates(
        [HazardAggregate("DEMO", WLG, 400.0, imt, "mean", levels, 0.05 * np.exp(-k * levels)) for imt, k in (("PGA", 6.0), ("SA(0.5)", 4.0))]
    )  # fmt: skip
    base = {
        "model": "DEMO",
        "sites": ["WLG"],
        "vs30s": [400],
        "imts": ["PGA", "SA(0.5)"],
        "leaves": ["CRU-1"],
        "disagg_engine": "hazardlib",
    }
    by_poe = _disaggregate(DisaggRequest.parse(base | {"poes": [0.1]}), store, config, oq_version)
    (group,) = by_poe.groups
    by_level = _disaggregate(
        DisaggRequest.parse(base | {"poes": [], "imls": dict(zip(("PGA", "SA(0.5)"), group.imls, strict=True))}),
        store, config, oq_version,
    )  # fmt: skip
    assert len(by_level.groups) == 2 and set(by_level.keys).isdisjoint(by_poe.keys)
    compared = 0
    for g in by_level.groups:
        (imt,) = g.imts
        assert g.poe == pytest.approx(0.1, rel=1e-5)
        levels_given = {r.gmm: r for r in store.get_disagg_realizations("DEMO", WLG, 400, imt, g.poe)}
        at_poe = {r.gmm: r for r in store.get_disagg_realizations("DEMO", WLG, 400, imt, 0.1)}
        assert levels_given.keys() == at_poe.keys() and len(at_poe) == len(demo.gmms_for(demo.leaf("CRU-1").trt))
        for gmm, r in at_poe.items():
            assert levels_given[gmm].iml == r.iml and r.values.sum() > 0
            np.testing.assert_allclose(levels_given[gmm].values, r.values, rtol=1e-9, atol=0)
            compared += 1
    assert compared == 2 * len(demo.gmms_for(demo.leaf("CRU-1").trt))
