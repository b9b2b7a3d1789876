"""disagg_aggregation through real Airflow on real DEMO disaggregations (three leaves at WLG)."""

from __future__ import annotations

import json

import pytest

from hazflow.store import open_store
from tests.dags.conftest import dags_test, summary_of

pytestmark = [pytest.mark.airflow, pytest.mark.openquake]


def test_disaggregations_were_planned_from_the_aggregated_curve(disaggregated):
    _, _, stdout = disaggregated
    assert "target WLG vs30=400 PGA 10%/50yr: IML" in stdout
    assert stdout.count("ran in") == 3


def test_aggregates_with_closure_and_plot(disaggregated):
    conf, store_root, _ = disaggregated
    code, log = dags_test("disagg_aggregation", conf | {"imts": ["PGA"], "quantiles": [0.5]}, store_root)
    assert code == 0, log[-3000:]
    assert "rendered_map_index='WLG vs30=400 PGA 10%/50yr'" in log
    summary = summary_of("disagg_aggregation", log)
    # the disaggregation accounts for the hazard at the level read off the same subset's mean curve
    assert summary["closure"]["WLG vs30=400 PGA 10%/50yr"] == pytest.approx(1.0, abs=0.02)
    store = open_store("local", str(store_root))
    aggs = {a.agg: a for a in store.get_disagg_aggregates("DEMO", "-41.300~174.780", 400.0, "PGA", 0.1)}
    assert set(aggs) == {"mean", "std", "cov", "0.5"}
    assert aggs["mean"].values.shape == (3, 25, 17, 16) and aggs["mean"].values.sum() > 0
    assert json.loads(aggs["mean"].provenance)["jobs"] == 3
    assert store.reports("disagg/DEMO/WLG") == ["disagg/DEMO/WLG/DEMO-WLG-vs400-PGA-poe10.png"]


def test_missing_disaggregations_fail_at_plan(disaggregated):
    conf, store_root, _ = disaggregated
    code, log = dags_test("disagg_aggregation", conf | {"imts": ["PGA"], "poes": [0.02]}, store_root)
    assert code == 1
    assert "7 of 7 disaggregation realizations missing for WLG vs30=400 PGA 2%/50yr" in log
