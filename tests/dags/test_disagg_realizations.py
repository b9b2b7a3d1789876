"""disagg_realizations through real Airflow on a tiny request: WLG, PGA, 10 % in 50 years, three leaves."""

from __future__ import annotations

import re

import pytest

from hazflow.store import open_store
from tests.dags.conftest import dags_test, drop_queued_run, summary_of, triggered_run

pytestmark = [pytest.mark.airflow, pytest.mark.openquake]


def test_runs_ingests_and_summarises(disaggregated):
    conf, store_root, log = disaggregated
    assert re.search(r"plan disagg-\w+: 3 jobs = 3 OpenQuake runs; 0 already done, 3 to do in 3 batch\(es\)", log)
    for leaf in conf["leaves"]:
        assert f"rendered_map_index='WLG vs30=400 PGA 10%/50yr {leaf}'" in log  # run and ingest, labelled
    summary = summary_of("disagg_realizations", log)
    assert summary["jobs"] == summary["runs"] == summary["to_do"] == summary["openquake_runs"] == 3
    assert summary["states"] == {"done": 3} and summary["skipped"] == 0 and summary["oq_seconds"] > 0
    store = open_store("local", str(store_root))
    assert len(store.get_disagg_realizations("DEMO", "-41.300~174.780", 400.0, "PGA", 0.1)) == 3 + 2 + 2  # leaf x GMM branch
    assert summary["rows_ingested"] == 7
    assert "task_id=start_aggregation" in log and "DagRun Finished: dag_id=disagg_realizations" in log


def test_retriggering_a_finished_request_runs_no_openquake_job(disaggregated):
    conf, store_root, _ = disaggregated
    code, log = dags_test("disagg_realizations", conf, store_root)
    try:
        assert code == 0, log[-3000:]
        summary = summary_of("disagg_realizations", log)
        assert (summary["skipped"], summary["to_do"], summary["openquake_runs"]) == (3, 0, 0)
        assert "task_id=run map_index" not in log  # nothing mapped: the plan has no batch
        assert triggered_run(log) is not None  # the aggregation is still started (it is idempotent)
        duration = re.search(r"DagRun Finished: dag_id=disagg_realizations.*run_duration=([\d.]+)", log)
        print(f"re-triggered run took {float(duration.group(1)):.1f} s")  # reported, not asserted
    finally:
        drop_queued_run(log)


def test_force_reruns_openquake(disaggregated):
    conf, store_root, _ = disaggregated
    code, log = dags_test("disagg_realizations", conf | {"leaves": ["SLAB-1"], "force": True}, store_root)
    try:
        assert code == 0, log[-3000:]
        summary = summary_of("disagg_realizations", log)
        assert (summary["skipped"], summary["openquake_runs"], summary["states"]) == (0, 1, {"done": 1})
    finally:
        drop_queued_run(log)


def test_a_bad_request_fails_at_plan_before_any_run(disaggregated):
    conf, store_root, _ = disaggregated
    before = len(open_store("local", str(store_root)).ledger_list())
    code, log = dags_test("disagg_realizations", conf | {"imts": ["SA(1.5)"]}, store_root)
    assert code == 1
    assert "imts: no aggregated mean hazard curve of DEMO for WLG vs30=400 SA(1.5): run hazard_aggregation first" in log
    assert "task_id=run map_index" not in log and "task_id=start_aggregation" not in log
    assert len(open_store("local", str(store_root)).ledger_list()) == before
