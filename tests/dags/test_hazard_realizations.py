"""hazard_realizations through real Airflow (`airflow dags test`, SQLite) on a tiny DEMO request."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from hazflow.config import PROJECT_ROOT
from hazflow.store import open_store

pytestmark = [pytest.mark.airflow, pytest.mark.openquake]


def dags_test(conf: dict, store_root: Path) -> tuple[int, str]:
    env = {**os.environ, "HAZFLOW_STORE_ROOT": str(store_root), "HAZFLOW_WORK_DIR": str(store_root.parent / "work")}
    cmd = [str(PROJECT_ROOT / ".venv" / "bin" / "airflow"), "dags", "test", "hazard_realizations", "-c", json.dumps(conf)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    return out.returncode, out.stdout + out.stderr


def summary_of(log: str) -> dict:
    match = re.search(r"hazard_realizations summary: (\{.*\})", log)
    assert match, log[-3000:]
    return ast.literal_eval(match.group(1))


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    store_root = tmp_path_factory.mktemp("dag") / "store"
    conf = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "leaves": ["SLAB-1"]}
    code, log = dags_test(conf, store_root)
    return conf, store_root, code, log


def test_a_tiny_request_runs_end_to_end(first_run):
    _, store_root, code, log = first_run
    assert code == 0, log[-3000:]
    assert "state=success" in log
    assert "rendered_map_index='SLAB-1 vs30=400'" in log  # the mapped instance's label in the UI
    summary = summary_of(log)
    assert summary["states"] == {"done": 1} and summary["openquake_runs"] == 1 and summary["rows_ingested"] == 2
    store = open_store("local", str(store_root))
    (entry,) = store.ledger_list()
    assert (entry.leaf, entry.state, entry.sites) == ("SLAB-1", "done", ("-41.300~174.780",))
    assert len(store.get_hazard_realizations("DEMO", "-41.300~174.780", 400, "PGA")) == 2


def test_retriggering_runs_no_openquake_job(first_run):
    conf, store_root, _, _ = first_run
    code, log = dags_test(conf, store_root)
    assert code == 0, log[-3000:]
    summary = summary_of(log)
    assert summary["openquake_runs"] == 0 and summary["reused"] == 1 and summary["oq_seconds"] == 0
    (entry,) = open_store("local", str(store_root)).ledger_list()
    assert entry.attempts == 1


def test_a_bad_request_fails_at_plan_and_writes_nothing(tmp_path):
    store_root = tmp_path / "store"
    conf = {"model": "DEMO", "sites": ["WLG", "NOWHERE"], "vs30s": [400], "imts": ["PGA"], "leaves": ["SLAB-1"]}
    code, log = dags_test(conf, store_root)
    assert code == 1
    assert "sites: unknown site or list 'NOWHERE'" in log
    assert "state=failed" in log
    assert "task_id=run" not in log.split("sites: unknown site")[1]  # nothing after plan ran
    assert not store_root.exists()
