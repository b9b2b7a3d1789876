"""disagg_realizations through real Airflow on a tiny request: WLG, PGA, 10 % in 50 years, three leaves."""

from __future__ import annotations

import pytest

from hazflow.store import open_store
from tests.dags.conftest import dags_test, drop_queued_run, triggered_run

pytestmark = [pytest.mark.airflow, pytest.mark.openquake]


def test_runs_ingests_and_summarises(disaggregated):
    conf, store_root, run = disaggregated
    planned = run.xcom("plan", key="plan")
    assert (planned["jobs"], planned["runs"], planned["skipped"], len(run.xcom("plan"))) == (3, 3, 0, 3)
    for task in ("local.run", "local.ingest"):
        assert run.labels(task) == [f"WLG vs30=400 PGA 10%/50yr {leaf}" for leaf in conf["leaves"]]
    summary = run.summary()
    assert summary["jobs"] == summary["runs"] == summary["to_do"] == summary["openquake_runs"] == 3
    assert summary["states"] == {"done": 3} and summary["skipped"] == 0 and summary["oq_seconds"] > 0
    store = open_store("local", str(store_root))
    assert len(store.get_disagg_realizations("DEMO", "-41.300~174.780", 400.0, "PGA", 0.1)) == 3 + 2 + 2  # leaf x GMM branch
    assert summary["rows_ingested"] == 7
    assert run.states()["start_aggregation"] == "success" and run.code == 0
    seconds = run.seconds()  # what the demo and bench/demo_disagg.py report: the run's and each task's wall time
    assert {"dag_run", "plan", "runner", "local.run", "local.ingest", "summary", "start_aggregation"} <= seconds.keys()
    assert 0 < seconds["local.run"] < seconds["dag_run"] and not any(task.startswith("ecs.") for task in seconds)
    assert seconds["plan"] + seconds["local.run"] + seconds["local.ingest"] <= seconds["dag_run"]
    ecs_group = {task: state for task, state in run.states().items() if task.startswith("ecs.")}
    assert set(ecs_group) == {"ecs.stage", "ecs.run_task", "ecs.collect", "ecs.ingest"}
    assert set(ecs_group.values()) == {"skipped"}  # the branch took the local runner


def test_retriggering_a_finished_request_runs_no_openquake_job(disaggregated):
    conf, store_root, _ = disaggregated
    run = dags_test("disagg_realizations", conf, store_root)
    try:
        assert run.code == 0, run.log[-3000:]
        summary = run.summary()
        assert (summary["skipped"], summary["to_do"], summary["openquake_runs"]) == (3, 0, 0)
        assert run.labels("local.run") == []  # nothing mapped: the plan has no batch
        assert triggered_run(run) is not None  # the aggregation is still started (it is idempotent)
        print(f"re-triggered run took {run.seconds()['dag_run']:.1f} s")  # reported, not asserted
    finally:
        drop_queued_run(run)


def test_force_reruns_openquake(disaggregated):
    conf, store_root, _ = disaggregated
    run = dags_test("disagg_realizations", conf | {"leaves": ["SLAB-1"], "force": True}, store_root)
    try:
        assert run.code == 0, run.log[-3000:]
        summary = run.summary()
        assert (summary["skipped"], summary["openquake_runs"], summary["states"]) == (0, 1, {"done": 1})
    finally:
        drop_queued_run(run)


def test_a_bad_request_fails_at_plan_before_any_run(disaggregated):
    conf, store_root, _ = disaggregated
    before = len(open_store("local", str(store_root)).ledger_list())
    run = dags_test("disagg_realizations", conf | {"imts": ["SA(1.5)"]}, store_root)
    assert run.code == 1
    assert "imts: no aggregated mean hazard curve of DEMO for WLG vs30=400 SA(1.5): run hazard_aggregation first" in run.log
    states = run.states()
    assert states["plan"] == "failed" and states.get("start_aggregation") != "success"
    assert not any(task.startswith(("local.run[", "ecs.stage[")) for task in states)
    assert len(open_store("local", str(store_root)).ledger_list()) == before
