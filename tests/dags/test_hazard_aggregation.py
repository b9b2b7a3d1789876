"""hazard_aggregation through real Airflow on the realizations of the hazard_realizations test run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hazflow.plan.imtl import level_at_poe
from hazflow.store import open_store
from tests.dags.conftest import dags_test

pytestmark = [pytest.mark.airflow, pytest.mark.openquake]


def test_aggregates_the_subset_and_keeps_plots(hazard_aggregated):
    conf, store_root, run = hazard_aggregated
    assert run.code == 0, run.log[-3000:]
    assert run.labels("aggregate") == ["WLG vs30=400"]
    summary = run.summary()
    assert summary["targets"] == 1 and summary["statistics"] == 6
    store = open_store("local", str(store_root))
    aggs = {a.agg: a for a in store.get_hazard_aggregates("DEMO", "-41.300~174.780", 400.0, "PGA")}
    assert set(aggs) == {"mean", "std", "cov", "0.1", "0.5", "0.9"}
    assert json.loads(aggs["mean"].provenance)["renormalised"] is True  # a subset of the leaves
    mean, low, high = aggs["mean"].values, aggs["0.1"].values, aggs["0.9"].values
    assert np.all(low <= high) and np.all(np.diff(mean) <= 0) and mean[0] > 1e-3
    assert 0.05 < level_at_poe(aggs["mean"].levels, mean, 0.1) < 1.0
    assert store.reports("hazard/DEMO/WLG") == ["hazard/DEMO/WLG/DEMO-WLG-vs400-PGA.png"]
    assert summary["plots"] == [store.report_uri("hazard/DEMO/WLG/DEMO-WLG-vs400-PGA.png")]


def test_missing_realizations_fail_at_plan_listing_them(realizations_run):
    conf, store_root, _ = realizations_run
    run = dags_test("hazard_aggregation", conf | {"leaves": ["all"], "sites": ["WLG"]}, store_root)
    assert run.code == 1
    assert "8 of 15 component realizations missing for WLG vs30=400 PGA: CRU-2 x" in run.log
    assert "HIK-2 x Atkinson2022SInter" in run.log
