"""`make airflow` / `make airflow-stop`: PostgreSQL and Airflow's four processes started, healthy,
running a REST-triggered DAG run with the LocalExecutor, taking `airflow backfill create` beside the
running scheduler (which SQLite refused: "database is locked"), then stopped, leaving nothing running."""

from __future__ import annotations

import json

import pytest

from tests.support.airflow_scheduler import wait_for
from tests.support.airflow_stack import project_stack

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def stack(nshm_sources):
    """One stack for the module, deployed with a source root of NSHM-format archives (test size)."""
    with project_stack({"HAZFLOW_NSHM_SOURCES": str(nshm_sources)}) as running:
        yield running


def finished(stack, dag_id: str, run_id: str, timeout_s: float = 600) -> str:
    path = f"/dags/{dag_id}/dagRuns/{run_id}"
    return wait_for(
        f"{dag_id} {run_id} to end",
        lambda: (s := stack.api("GET", path)["state"]) in ("success", "failed") and s,
        timeout_s,
        3,
    )


def test_start_prints_the_ui_and_login_and_every_component_is_healthy(stack):
    assert f"Airflow UI: {stack.url}  login: admin / " in stack.started
    status = json.loads(stack.script("status").stdout)
    assert status["postgres"] is True and all(status["processes"].values())
    assert status["health"] == {
        "metadatabase": "healthy",
        "scheduler": "healthy",
        "triggerer": "healthy",
        "dag_processor": "healthy",
    }
    assert (stack.var / "postgres" / "data" / "PG_VERSION").exists()  # the database lives under var/


def test_a_rest_triggered_run_is_scheduled_and_executed(stack):
    wait_for("the DAGs to be parsed", lambda: "hazard_aggregation" in stack.airflow("dags", "list").stdout, 180, 3)
    # unscheduled DAGs are unpaused from creation (what another DAG starts must run); the scheduled one is not
    assert stack.api("GET", "/dags/hazard_aggregation")["is_paused"] is False
    assert stack.api("GET", "/dags/coverage_backfill")["is_paused"] is True
    conf = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"]}  # no realizations in this store
    run = stack.api("POST", "/dags/hazard_aggregation/dagRuns", {"logical_date": None, "conf": conf})
    path = f"/dags/hazard_aggregation/dagRuns/{run['dag_run_id']}"
    state = wait_for(
        "the run to end",
        lambda: stack.api("GET", path)["state"] in ("success", "failed") and stack.api("GET", path)["state"],
        240,
        3,
    )
    assert state == "failed"  # plan refuses, listing the missing realizations: the executor ran the task
    tasks = {t["task_id"]: t["state"] for t in stack.api("GET", f"{path}/taskInstances")["task_instances"]}
    assert tasks["plan"] == "failed"


def test_backfill_create_works_beside_the_running_scheduler(stack):
    done = stack.airflow(
        "backfill", "create", "--dag-id", "coverage_backfill", "--from-date", "2026-11-20", "--to-date", "2026-11-21"
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    runs = stack.api("GET", "/dags/coverage_backfill/dagRuns")["dag_runs"]
    assert {r["dag_run_id"] for r in runs} >= {"backfill__2026-11-20T00:00:00+00:00", "backfill__2026-11-21T00:00:00+00:00"}


NSHM_REQUEST = {
    "model": "NSHM_v1.0.4", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA", "SA(0.5)"],
    "leaves": ["PUY-1", "HIK-1", "CRU-1", "SLAB-1"],
}  # fmt: skip


def test_the_nshm_chain_runs_from_source_archives_under_the_scheduler(stack):
    """NSHM_v1.0.4 leaves of every fault system from their archives, as a user runs the chain:
    hazard_realizations (which starts hazard_aggregation), then disagg_realizations at the level read
    off those curves (which starts disagg_aggregation and its export)."""
    from hazflow.store import open_store

    wait_for("the DAGs to be parsed", lambda: "disagg_aggregation" in stack.airflow("dags", "list").stdout, 180, 3)
    hazard = stack.api("POST", "/dags/hazard_realizations/dagRuns", {"logical_date": None, "conf": NSHM_REQUEST})
    assert finished(stack, "hazard_realizations", hazard["dag_run_id"]) == "success"
    assert finished(stack, "hazard_aggregation", f"{hazard['dag_run_id']}__hazard_aggregation") == "success"
    conf = NSHM_REQUEST | {"poes": [0.1]}
    disagg = stack.api("POST", "/dags/disagg_realizations/dagRuns", {"logical_date": None, "conf": conf})
    assert finished(stack, "disagg_realizations", disagg["dag_run_id"]) == "success"
    aggregation = f"{disagg['dag_run_id']}__disagg_aggregation"
    assert finished(stack, "disagg_aggregation", aggregation) == "success"
    tasks = {
        t["task_id"]: t["state"]
        for t in stack.api("GET", f"/dags/disagg_aggregation/dagRuns/{aggregation}/taskInstances")["task_instances"]
    }
    assert tasks["export"] == "success"

    store = open_store("local", str(stack.var / "store"))
    ran = {e.leaf: e.state for e in store.ledger_list(model="NSHM_v1.0.4", kind="disagg")}
    assert ran == {"PUY-1": "no_ruptures", "HIK-1": "done", "CRU-1": "done", "SLAB-1": "done"}  # Puysegur: beyond WLG's cut-off
    rows = store.get_disagg_realizations("NSHM_v1.0.4", "-41.300~174.780", 400, "PGA", 0.1)
    assert len(rows) == 12 + 12 + 21 + 12  # every leaf x GMM branch of its region
    exported = store.reports("exports/NSHM_v1.0.4/")
    assert {name.rsplit(".", 1)[-1] for name in exported} >= {"json", "csv", "parquet"}, exported
    kept = list((stack.var / "store" / "artifacts").glob("*/nshm-source-*"))
    assert len([k for k in kept if "-id-" not in k.name]) == 7  # the 7 archives of the 4 leaves, once each


def test_stop_leaves_nothing_running(stack):  # last: stops the module's stack (its fixture's stop is then a no-op)
    assert stack.script("stop").returncode == 0
    status = stack.script("status")
    assert status.returncode == 1
    expected = {
        "postgres": False,
        "processes": dict.fromkeys(("api-server", "scheduler", "dag-processor", "triggerer")),
        "health": {},
    }
    assert json.loads(status.stdout) == expected
    assert not list((stack.var / "airflow" / "stack").glob("*.pid"))
