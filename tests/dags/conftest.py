"""Real `airflow dags test` runs shared by the DAG tests."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from hazflow.config import PROJECT_ROOT

SUBSET = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "leaves": ["CRU-1", "HIK-1", "SLAB-1"]}


def dags_test(
    dag_id: str, conf: dict, store_root: Path, logical_date: str | None = None, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """`airflow dags test` with the store under `store_root` (work folder beside it); `env` adds to or overrides that."""
    env = {
        **os.environ,
        "HAZFLOW_STORE_ROOT": str(store_root),
        "HAZFLOW_WORK_DIR": str(store_root.parent / "work"),
        **(env or {}),
    }
    cmd = [str(PROJECT_ROOT / ".venv" / "bin" / "airflow"), "dags", "test", dag_id, *([logical_date] if logical_date else [])]
    out = subprocess.run([*cmd, "-c", json.dumps(conf)], capture_output=True, text=True, env=env, timeout=900)
    return out.returncode, out.stdout + out.stderr


def run_id_of(dag_id: str, log: str) -> str:
    match = re.search(rf"DagRun Finished: dag_id={dag_id}, logical_date=[^,]+, run_id=([^,]+),", log)
    assert match, log[-3000:]
    return match.group(1)


def triggered_run(triggering_log: str) -> tuple[str, dict] | None:
    """(logical date, conf) of the disagg_aggregation run a disagg_realizations run started, if queued."""
    from hazflow_airflow.triggered import queued_runs

    runs = queued_runs("disagg_aggregation", f"{run_id_of('disagg_realizations', triggering_log)}__disagg_aggregation")
    return runs[0] if runs else None


def drop_queued_run(triggering_log: str) -> None:
    """Delete the aggregation run a test triggered but does not execute (no scheduler picks it up later)."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    run_id = f"{run_id_of('disagg_realizations', triggering_log)}__disagg_aggregation"
    with create_session() as session:
        session.query(DagRun).filter(DagRun.dag_id == "disagg_aggregation", DagRun.run_id == run_id).delete()


def summary_of(dag_id: str, log: str) -> dict:
    match = re.search(rf"{dag_id} summary: (\{{.*\}})", log)
    assert match, log[-3000:]
    return ast.literal_eval(match.group(1))


@pytest.fixture(scope="session")
def realizations_run(tmp_path_factory):
    """hazard_realizations for one leaf of each DEMO fault system at WLG, PGA: three real OpenQuake jobs."""
    store_root = tmp_path_factory.mktemp("dag") / "store"
    code, log = dags_test("hazard_realizations", SUBSET, store_root)
    return SUBSET, store_root, code, log


@pytest.fixture(scope="session")
def hazard_aggregated(realizations_run):
    """hazard_aggregation of the subset (mean, std, cov and three quantiles)."""
    conf, store_root, code, log = realizations_run
    assert code == 0, log[-3000:]
    code, log = dags_test("hazard_aggregation", conf | {"quantiles": [0.1, 0.5, 0.9]}, store_root)
    return conf, store_root, code, log


@pytest.fixture(scope="session")
def disagg_realizations_run(hazard_aggregated):
    """disagg_realizations of the subset at 10 % in 50 years, levels read off the aggregated curve: three OpenQuake runs."""
    conf, store_root, code, log = hazard_aggregated
    assert code == 0, log[-3000:]
    conf = conf | {"poes": [0.1]}
    code, log = dags_test("disagg_realizations", conf, store_root)
    return conf, store_root, code, log


@pytest.fixture(scope="session")
def disaggregated(disagg_realizations_run):
    conf, store_root, code, log = disagg_realizations_run
    assert code == 0, log[-3000:]
    return conf, store_root, log
