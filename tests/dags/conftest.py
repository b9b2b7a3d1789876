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


def dags_test(dag_id: str, conf: dict, store_root: Path) -> tuple[int, str]:
    env = {**os.environ, "HAZFLOW_STORE_ROOT": str(store_root), "HAZFLOW_WORK_DIR": str(store_root.parent / "work")}
    cmd = [str(PROJECT_ROOT / ".venv" / "bin" / "airflow"), "dags", "test", dag_id, "-c", json.dumps(conf)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    return out.returncode, out.stdout + out.stderr


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
def disaggregated(hazard_aggregated):
    """Disaggregations of the subset at 10 % in 50 years, planned from the aggregated curve: three OpenQuake jobs."""
    conf, store_root, code, log = hazard_aggregated
    assert code == 0, log[-3000:]
    env = {**os.environ, "HAZFLOW_STORE_ROOT": str(store_root), "HAZFLOW_WORK_DIR": str(store_root.parent / "work")}
    cmd = [str(PROJECT_ROOT / ".venv" / "bin" / "python"), "-m", "hazflow", "disagg", "--sites", "WLG", "--imts", "PGA",
           "--poes", "0.1", "--leaves", *conf["leaves"]]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return conf | {"poes": [0.1]}, store_root, out.stdout
