"""hazard_realizations through real Airflow (`airflow dags test`, SQLite) on a small DEMO request."""

from __future__ import annotations

import pytest

from hazflow.store import open_store
from tests.dags.conftest import dags_test

pytestmark = [pytest.mark.airflow, pytest.mark.openquake]


def test_a_small_request_runs_end_to_end(realizations_run):
    _, store_root, run = realizations_run
    assert run.code == 0, run.log[-3000:]
    assert set(run.states().values()) == {"success"}
    assert run.labels("run") == ["CRU-1 vs30=400", "HIK-1 vs30=400", "SLAB-1 vs30=400"]  # the mapped instances in the UI
    summary = run.summary()
    # realizations: CRU-1 x 3 GMMs + HIK-1 x 2 + SLAB-1 x 2
    assert summary["states"] == {"done": 3} and summary["openquake_runs"] == 3 and summary["rows_ingested"] == 7
    store = open_store("local", str(store_root))
    assert [(e.leaf, e.state, e.sites) for e in store.ledger_list(kind="hazard")] == [
        (leaf, "done", ("-41.300~174.780",)) for leaf in ("CRU-1", "HIK-1", "SLAB-1")
    ]
    assert len(store.get_hazard_realizations("DEMO", "-41.300~174.780", 400, "PGA")) == 7


def test_it_starts_hazard_aggregation_for_exactly_its_realization_set(realizations_run):
    from hazflow_tools.runs import queued_runs

    conf, _, run = realizations_run
    assert run.code == 0, run.log[-3000:]
    expected = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400.0], "imts": ["PGA"], "leaves": conf["leaves"]}
    assert run.summary()["aggregation_conf"] == expected
    assert [c for _, c in queued_runs("hazard_aggregation", f"{run.run_id}__hazard_aggregation")] == [expected]
    assert run.states()["start_aggregation"] == "success"


def test_retriggering_runs_no_openquake_job(realizations_run):
    conf, store_root, _ = realizations_run
    run = dags_test("hazard_realizations", conf, store_root)
    assert run.code == 0, run.log[-3000:]
    summary = run.summary()
    assert summary["openquake_runs"] == 0 and summary["reused"] == 3 and summary["oq_seconds"] == 0
    assert all(e.attempts == 1 for e in open_store("local", str(store_root)).ledger_list(kind="hazard"))


def test_a_bad_request_fails_at_plan_and_writes_nothing(tmp_path):
    store_root = tmp_path / "store"
    conf = {"model": "DEMO", "sites": ["WLG", "NOWHERE"], "vs30s": [400], "imts": ["PGA"], "leaves": ["SLAB-1"]}
    run = dags_test("hazard_realizations", conf, store_root)
    assert run.code == 1
    assert "sites: unknown site or list 'NOWHERE'" in run.log
    assert run.states()["plan"] == "failed"
    assert not any(task.startswith("run[") for task in run.states())  # nothing after plan ran
    assert not store_root.exists()
