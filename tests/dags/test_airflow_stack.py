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
def stack():
    with project_stack() as running:
        yield running


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
