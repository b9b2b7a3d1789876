"""disagg_aggregation through real Airflow on real DEMO disaggregations (three leaves at WLG)."""

from __future__ import annotations

import json

import pytest

from hazflow.model.nshm import DEFAULT_QUANTILES
from hazflow.store import open_store
from tests.dags.conftest import dags_test, triggered_run

pytestmark = [pytest.mark.airflow, pytest.mark.openquake]


def test_the_run_disagg_realizations_started_aggregates_with_closure_and_plot(disaggregated):
    """The aggregation run that disagg_realizations triggered, executed as a scheduler would."""
    conf, store_root, realized = disaggregated
    queued = triggered_run(realized)
    assert queued, "disagg_realizations started no disagg_aggregation run"
    logical_date, triggered_conf = queued
    # exactly the realization set just produced, with its settings, target statistic and (no) given levels
    assert triggered_conf == conf | {"vs30s": [400.0], "epsilon_star": False, "target_stat": "mean", "imls": {}}
    run = dags_test("disagg_aggregation", triggered_conf, store_root, logical_date)
    assert run.code == 0, run.log[-3000:]
    assert run.labels("aggregate") == ["WLG vs30=400 PGA 10%/50yr"]
    summary = run.summary()
    # the disaggregation accounts for the hazard at the level read off the same subset's mean curve
    assert summary["closure"]["WLG vs30=400 PGA 10%/50yr"] == pytest.approx(1.0, abs=0.02)
    store = open_store("local", str(store_root))
    aggs = {a.agg: a for a in store.get_disagg_aggregates("DEMO", "-41.300~174.780", 400.0, "PGA", 0.1)}
    assert set(aggs) == {"mean", "std", "cov"} | {f"{q:g}" for q in DEFAULT_QUANTILES}
    assert aggs["mean"].values.shape == (3, 25, 17, 16) and aggs["mean"].values.sum() > 0
    assert json.loads(aggs["mean"].provenance)["jobs"] == 3
    stem = "disagg/DEMO/WLG/DEMO-WLG-vs400-PGA-poe10"
    kept = [f"{stem}-contributions.png", f"{stem}-contributors.png", f"{stem}-mre.png", f"{stem}-summary.json", f"{stem}.png"]
    assert store.reports("disagg/DEMO/WLG") == kept
    assert "mean M" in summary["summary"]["WLG vs30=400 PGA 10%/50yr"]
    # which sources drive it: the contributors the one-pass runs recorded, named across leaves by the model
    document = json.loads(store.read_report(f"{stem}-summary.json"))
    table = document["contributors"]
    names = [row["name"] for row in table]
    assert {"Wellington fault", "Hikurangi interface", "Wellington region background"} <= set(names) and names[-1] == "the rest"
    assert sum(row["percent"] for row in table) == pytest.approx(100.0, abs=1e-9)
    assert sum(row["rate"] for row in table) == pytest.approx(document["contributions"]["total_rate"], rel=1e-6)
    wf = table[names.index("Wellington fault")]
    assert wf["kind"] == "fault" and wf["fault_systems"] == ["CRU"] and 0 < wf["r"] < 20 and wf["azimuth"] is not None
    assert "contributors: " in summary["summary"]["WLG vs30=400 PGA 10%/50yr"]
    # the export task kept the target's JSON and CSVs (bins and contributors), and the THS datasets, in the store
    exports = summary["exports"]
    assert (exports["json"], exports["csv"]) == (1, 2) and exports["parquet"] >= 2
    assert exports["folder"] == store.report_uri("exports/DEMO")
    assert store.reports("exports/DEMO/json") == ["exports/DEMO/json/WLG/DEMO-WLG-vs400-PGA-poe10.json"]
    assert triggered_run(realized) is None  # the queued run is the one that ran


def test_missing_disaggregations_fail_at_plan(disaggregated):
    conf, store_root, _ = disaggregated
    run = dags_test("disagg_aggregation", conf | {"imts": ["PGA"], "poes": [0.02]}, store_root)
    assert run.code == 1
    assert "7 of 7 disaggregation realizations missing for WLG vs30=400 PGA 2%/50yr" in run.log
