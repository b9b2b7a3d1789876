"""coverage_backfill through real Airflow: a deliberately incomplete DEMO coverage is filled, and the
next run starts nothing."""

from __future__ import annotations

import json
import shutil

import pytest
from hazflow_tools.runs import queued_runs

from tests.dags.conftest import dags_test, drop_queued_run

pytestmark = [pytest.mark.airflow, pytest.mark.openquake]


def test_fills_an_incomplete_coverage_and_then_starts_nothing(disaggregated, tmp_path):
    conf, shared_root, _ = disaggregated  # WLG, PGA, three leaves: 10 % in 50 years done, 2 % not
    store_root = tmp_path / "store"
    shutil.copytree(shared_root, store_root)  # the session's store stays as the other tests expect it
    manifest = tmp_path / "coverage.json"
    manifest.write_text(json.dumps([{k: conf[k] for k in ("model", "sites", "vs30s", "imts", "leaves")} | {"poes": [0.1, 0.02]}]))
    params = {"manifest": str(manifest), "wait": False}  # `airflow dags test` has no scheduler to wait for

    run = dags_test("coverage_backfill", params, store_root, logical_date="2026-11-02")
    assert run.code == 0, run.log[-3000:]
    (gap,) = run.xcom("gaps", key="gaps")  # one site, 3 of 6 OpenQuake runs to do
    assert (gap["entry"], gap["site"], gap["vs30"], gap["poes"], gap["runs"], gap["planned"]) == (
        0,
        "WLG",
        400,
        [0.1, 0.02],
        3,
        6,
    )
    (started,) = queued_runs("disagg_realizations", f"{run.run_id}__fill_0")
    logical_date, fill = started
    assert fill == conf | {"poes": [0.1, 0.02], "runner": "local", "disagg_engine": "hazardlib"}

    # what a scheduler would do next: run the started disagg_realizations run
    filled = dags_test("disagg_realizations", fill, store_root, logical_date=logical_date)
    try:
        assert filled.code == 0, filled.log[-3000:]
        summary = filled.summary()
        assert (summary["skipped"], summary["openquake_runs"], summary["states"]) == (3, 3, {"done": 3})
    finally:
        drop_queued_run(filled)

    run = dags_test("coverage_backfill", params, store_root, logical_date="2026-11-03")
    assert run.code == 0, run.log[-3000:]
    assert run.xcom("gaps", key="gaps") == [] and run.xcom("gaps") == []  # coverage complete: nothing to fill
    assert queued_runs("disagg_realizations", f"{run.run_id}__fill_0") == []
